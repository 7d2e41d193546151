import { createHash } from 'node:crypto';
import type { Persona } from '../personas.ts';

/**
 * How a persona appears at one flavour of the OIDC family. Each field comes from the flavour's
 * own block in personas.yaml (`discord:`, `clerk:`...), else from an `oidc:` block, else it is
 * derived from the top-level fields; ids are derived from a hash of the flavour and persona id,
 * so they are stable across runs and differ between flavours.
 */
export interface StandardIdentity {
  sub: string;
  /** `null` when the persona has no address at this flavour. */
  email: string | null;
  email_verified: boolean;
  name: string;
  given_name: string;
  family_name: string;
  preferred_username: string;
}

/** 32 stable bytes for one persona at one flavour. */
export function stableBytes(flavour: string, personaId: string): Buffer {
  return createHash('sha256').update(`${flavour}\u0000${personaId}`).digest();
}

/** An RFC 9562 version-4-shaped UUID from stable bytes. */
export function uuidFrom(bytes: Buffer): string {
  const b = Buffer.from(bytes.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** `length` characters of `alphabet` taken from stable bytes (repeating the hash as needed). */
export function charsFrom(bytes: Buffer, length: number, alphabet = ALNUM): string {
  let out = '';
  let source = bytes;
  for (let i = 0; out.length < length; i++) {
    if (i > 0 && i % source.length === 0) source = createHash('sha256').update(source).digest();
    out += alphabet[source[i % source.length]! % alphabet.length];
  }
  return out;
}

/** A decimal string of `length` digits (no leading zero), like a Discord snowflake. */
export function digitsFrom(bytes: Buffer, length: number): string {
  const digits = charsFrom(bytes, length, '0123456789');
  return digits[0] === '0' ? `1${digits.slice(1)}` : digits;
}

export function upperAlnumFrom(bytes: Buffer, length: number): string {
  return charsFrom(bytes, length, UPPER_ALNUM);
}

/** One field of a persona: the flavour's block, then the `oidc:` block, then `fallback`. */
export function personaField<T>(persona: Persona, flavour: string, key: string, fallback: () => T): T {
  for (const id of flavour === 'oidc' ? ['oidc'] : [flavour, 'oidc']) {
    const block = persona.providers[id];
    if (block && key in block) return block[key] as T;
  }
  return fallback();
}

/** The standard OIDC identity of a persona at a flavour; `subject` formats the derived id. */
export function standardIdentity(
  persona: Persona,
  flavour: string,
  subject: (bytes: Buffer) => string,
): StandardIdentity {
  const field = <T>(key: string, fallback: () => T) => personaField(persona, flavour, key, fallback);
  const name = field('name', () => persona.name);
  const space = name.indexOf(' ');
  const email = field<string | null>('email', () => persona.email);
  return {
    sub: String(field('sub', () => subject(stableBytes(flavour, persona.id)))),
    email,
    email_verified: email === null ? false : field('email_verified', () => persona.email_verified) === true,
    name,
    given_name: field('given_name', () => (space < 0 ? name : name.slice(0, space))),
    family_name: field('family_name', () => (space < 0 ? '' : name.slice(space + 1))),
    preferred_username: field('preferred_username', () => persona.id),
  };
}

/** OIDC Core 5.4: which standard claims each scope value releases. */
const PROFILE_CLAIMS = new Set([
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'updated_at',
]);
const EMAIL_CLAIMS = new Set(['email', 'email_verified']);

/**
 * Filters identity claims by the granted scope (OIDC Core 5.4): profile claims need `profile`,
 * email claims need `email`; `sub` and flavour-specific claims always pass. Empty strings and
 * nulls are dropped, as providers omit claims they do not hold.
 */
export function releasedClaims(
  identity: Record<string, unknown>,
  scope: readonly string[],
  gated: boolean,
): Record<string, unknown> {
  const profile = !gated || scope.includes('profile');
  const email = !gated || scope.includes('email');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(identity)) {
    if (value === null || value === undefined || value === '') continue;
    if (PROFILE_CLAIMS.has(key) && !profile) continue;
    if (EMAIL_CLAIMS.has(key) && !email) continue;
    out[key] = value;
  }
  return out;
}

/**
 * Claim names a persona's custom `claims` may not override in a token: the registered JWT claims
 * (RFC 7519 4.1) and the protocol claims the engine sets itself.
 */
export const PROTECTED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'azp',
  'scope',
  'client_id',
  'nonce',
  'auth_time',
  'at_hash',
  'sid',
  'typ',
  'acr',
  'amr',
  'cnf',
]);

/** A persona's custom claims that may go into a token (the protected names are dropped). */
export function tokenCustomClaims(persona: Persona): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(persona.claims)) {
    if (!PROTECTED_CLAIMS.has(key)) out[key] = value;
  }
  return out;
}
