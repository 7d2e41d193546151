/**
 * Authenticated encryption of values kept at rest (upstream tokens, private signing keys).
 *
 * AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per value and a 128-bit tag. The key is
 * derived from a server secret with HKDF-SHA-256 (RFC 5869), one key per purpose. An optional
 * context (a record id) is bound as additional authenticated data, so a sealed value moved to
 * another record does not open. Format, all parts base64url:
 *   `v1.<key id>.<iv>.<ciphertext>.<tag>`
 * The key id (a hash of the derived key) lets several secrets be configured during a rotation:
 * the first seals, all of them open.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { SealError } from '../errors.ts';

/** A string produced by `Sealer.seal`; the store accepts only this type for upstream tokens. */
export type Sealed = string & { readonly __brand: 'Sealed' };

export interface Sealer {
  /** The key id that new values are sealed with. */
  readonly keyId: string;
  seal(plaintext: string, context?: string): Sealed;
  /** @throws SealError on a malformed, unknown-key or tampered value, or a wrong context. */
  open(sealed: string, context?: string): string;
  sealJson(value: unknown, context?: string): Sealed;
  openJson<T = unknown>(sealed: string, context?: string): T;
}

export const SEAL_VERSION = 'v1';
export const MIN_SECRET_LENGTH = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT = 'mcc-reference-server/seal/v1';

interface Key {
  id: string;
  key: Buffer;
}

function deriveKey(secret: string | Uint8Array, purpose: string): Key {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length < MIN_SECRET_LENGTH) {
    throw new SealError('ERR_SEAL_SECRET', `seal secret must be at least ${MIN_SECRET_LENGTH} bytes`);
  }
  const key = Buffer.from(hkdfSync('sha256', bytes, SALT, `aes-256-gcm:${purpose}`, 32));
  const id = createHash('sha256').update(key).update('key-id').digest('base64url').slice(0, 8);
  return { id, key };
}

function aad(keyId: string, context: string | undefined): Buffer {
  return Buffer.from(`${SEAL_VERSION}.${keyId}|${context ?? ''}`, 'utf8');
}

/**
 * A sealer for one purpose (`upstream-tokens`, `signing-keys`...). `secrets[0]` seals; every
 * secret can open (rotation).
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export function createSealer(
  secrets: string | Uint8Array | readonly (string | Uint8Array)[],
  purpose = 'default',
): Sealer {
  const list = typeof secrets === 'string' || secrets instanceof Uint8Array ? [secrets] : [...secrets];
  if (list.length === 0) throw new SealError('ERR_SEAL_SECRET', 'seal needs at least one secret');
  const keys = list.map((s) => deriveKey(s, purpose));
  const current = keys[0]!;

  const seal = (plaintext: string, context?: string): Sealed => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(current.id, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      SEAL_VERSION,
      current.id,
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      tag.toString('base64url'),
    ].join('.') as Sealed;
  };

  const open = (sealed: string, context?: string): string => {
    if (typeof sealed !== 'string')
      throw new SealError('ERR_SEAL_MALFORMED', 'sealed value must be a string');
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts.some((p, i) => i !== 3 && p === '')) {
      throw new SealError('ERR_SEAL_MALFORMED', 'sealed value must have 5 parts');
    }
    const [version, keyId, ivText, ctText, tagText] = parts as [string, string, string, string, string];
    if (version !== SEAL_VERSION)
      throw new SealError('ERR_SEAL_VERSION', `sealed value has version "${version}"`);
    const key = keys.find((k) => k.id === keyId);
    if (!key) throw new SealError('ERR_SEAL_KEY_UNKNOWN', `sealed value uses unknown key "${keyId}"`);
    const b64 = /^[A-Za-z0-9_-]*$/;
    if (![ivText, ctText, tagText].every((p) => b64.test(p))) {
      throw new SealError('ERR_SEAL_MALFORMED', 'sealed value is not base64url');
    }
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SealError('ERR_SEAL_MALFORMED', 'sealed value has a bad IV or tag length');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(key.id, context));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SealError('ERR_SEAL_AUTH', 'sealed value failed authentication');
    }
  };

  return {
    keyId: current.id,
    seal,
    open,
    sealJson: (value, context) => seal(JSON.stringify(value), context),
    openJson: <T>(sealed: string, context?: string) => JSON.parse(open(sealed, context)) as T,
  };
}
