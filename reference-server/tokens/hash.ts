/**
 * Opaque tokens (refresh tokens, authorization codes, client secrets, transaction ids) and their
 * storage form. Values are 256 random bits, base64url (RFC 4648 5) without padding; the store keeps
 * only the SHA-256 of each, so a copy of the database cannot be replayed (RFC 9700 4.14; RFC 6819 5.1.4.1.3).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of randomness in every opaque value (256 bits; RFC 6749 10.10 asks for at most 2^-128 guess odds). */
export const OPAQUE_TOKEN_BYTES = 32;

/**
 * A fresh opaque value: 43 base64url characters, optionally after a short prefix that names its
 * kind (`mcc_rt_...`), which helps secret scanners and makes a token's type plain in logs.
 */
export function generateOpaqueToken(prefix = ''): string {
  if (prefix !== '' && !/^[a-z][a-z0-9_]{0,15}$/.test(prefix))
    throw new TypeError(`invalid token prefix "${prefix}"`);
  return prefix + randomBytes(OPAQUE_TOKEN_BYTES).toString('base64url');
}

/** SHA-256 of an opaque value, base64url: the only form a store keeps. */
export function hashToken(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** Constant-time check of a presented secret against a stored hash (client secrets). */
export function matchesHash(value: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(value));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
