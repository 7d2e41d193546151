import { describe, expect, it } from 'vitest';
import { SealError } from '../errors.ts';
import { createSealer, SEAL_VERSION } from './seal.ts';

const SECRET = 'a-test-secret-that-is-long-enough-0123456789';
const OTHER = 'another-test-secret-long-enough-9876543210xx';

function sealError(fn: () => unknown): SealError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    return error as SealError;
  }
  throw new Error('expected a SealError');
}

describe('createSealer', () => {
  it('round-trips a value and hides it', () => {
    const sealer = createSealer(SECRET, 'upstream-tokens');
    const sealed = sealer.seal('gho_secretUpstreamToken');
    expect(sealed).not.toContain('gho_secretUpstreamToken');
    expect(sealed).not.toContain(Buffer.from('gho_secretUpstreamToken').toString('base64url'));
    expect(sealer.open(sealed)).toBe('gho_secretUpstreamToken');
  });

  it('writes the versioned format v1.<key id>.<iv>.<ciphertext>.<tag> with a 96-bit IV and a 128-bit tag', () => {
    const sealer = createSealer(SECRET);
    const parts = sealer.seal('x').split('.');
    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe(SEAL_VERSION);
    expect(parts[1]).toBe(sealer.keyId);
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(16);
  });

  it('uses a fresh IV each time, so equal values seal differently', () => {
    const sealer = createSealer(SECRET);
    const a = sealer.seal('same');
    const b = sealer.seal('same');
    expect(a).not.toBe(b);
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
    expect(sealer.open(a)).toBe('same');
    expect(sealer.open(b)).toBe('same');
  });

  it('seals and opens JSON', () => {
    const sealer = createSealer(SECRET);
    const value = { access_token: 'ya29.x', refresh_token: '1//y', expires_in: 3599 };
    expect(sealer.openJson(sealer.sealJson(value, 'rec-1'), 'rec-1')).toEqual(value);
  });

  it('seals the empty string', () => {
    const sealer = createSealer(SECRET);
    expect(sealer.open(sealer.seal(''))).toBe('');
  });

  it('derives a different key per purpose from the same secret', () => {
    const a = createSealer(SECRET, 'upstream-tokens');
    const b = createSealer(SECRET, 'signing-keys');
    expect(a.keyId).not.toBe(b.keyId);
    const e = sealError(() => b.open(a.seal('x')));
    expect(e.code).toBe('ERR_SEAL_KEY_UNKNOWN');
    expect(e.message).toBe(`sealed value uses unknown key "${a.keyId}"`);
  });

  it('binds the context: a value moved to another record does not open', () => {
    const sealer = createSealer(SECRET);
    const sealed = sealer.seal('token', 'record-1');
    expect(sealer.open(sealed, 'record-1')).toBe('token');
    const e = sealError(() => sealer.open(sealed, 'record-2'));
    expect(e.code).toBe('ERR_SEAL_AUTH');
    expect(e.message).toBe('sealed value failed authentication');
    expect(sealError(() => sealer.open(sealed)).code).toBe('ERR_SEAL_AUTH');
  });

  it('detects a flipped bit in the ciphertext, the tag or the IV', () => {
    const sealer = createSealer(SECRET);
    const sealed = sealer.seal('a value long enough to flip bits in');
    for (const index of [2, 3, 4]) {
      const parts = sealed.split('.');
      const bytes = Buffer.from(parts[index]!, 'base64url');
      bytes[0] = bytes[0]! ^ 1;
      parts[index] = bytes.toString('base64url');
      const e = sealError(() => sealer.open(parts.join('.')));
      expect(e.code).toBe('ERR_SEAL_AUTH');
    }
  });

  it('opens values sealed with an older secret during rotation, and seals with the first', () => {
    const old = createSealer(OTHER);
    const sealedOld = old.seal('from before');
    const rotated = createSealer([SECRET, OTHER]);
    expect(rotated.open(sealedOld)).toBe('from before');
    expect(rotated.keyId).toBe(createSealer(SECRET).keyId);
    expect(sealError(() => old.open(rotated.seal('new'))).code).toBe('ERR_SEAL_KEY_UNKNOWN');
  });

  it('refuses a short secret and an empty list', () => {
    const e = sealError(() => createSealer('too-short'));
    expect(e.code).toBe('ERR_SEAL_SECRET');
    expect(e.message).toBe('seal secret must be at least 32 bytes');
    expect(sealError(() => createSealer([])).code).toBe('ERR_SEAL_SECRET');
  });

  it('accepts a binary secret', () => {
    const sealer = createSealer(new Uint8Array(32).fill(7));
    expect(sealer.open(sealer.seal('bin'))).toBe('bin');
  });

  it.each([
    ['', 'ERR_SEAL_MALFORMED', 'sealed value must have 5 parts'],
    ['v1.a.b.c', 'ERR_SEAL_MALFORMED', 'sealed value must have 5 parts'],
    ['v1..b.c.d', 'ERR_SEAL_MALFORMED', 'sealed value must have 5 parts'],
    ['v2.k.iv.ct.tag', 'ERR_SEAL_VERSION', 'sealed value has version "v2"'],
    ['v1.nokey.iv.ct.tag', 'ERR_SEAL_KEY_UNKNOWN', 'sealed value uses unknown key "nokey"'],
  ])('refuses %j with %s', (value, code, message) => {
    const sealer = createSealer(SECRET);
    const e = sealError(() => sealer.open(value));
    expect(e.code).toBe(code);
    expect(e.message).toBe(message);
  });

  it('refuses a bad IV length and non-base64url parts', () => {
    const sealer = createSealer(SECRET);
    const parts = sealer.seal('x').split('.');
    const shortIv = [parts[0], parts[1], 'AAAA', parts[3], parts[4]].join('.');
    const e = sealError(() => sealer.open(shortIv));
    expect(e.code).toBe('ERR_SEAL_MALFORMED');
    expect(e.message).toBe('sealed value has a bad IV or tag length');
    const notB64 = [parts[0], parts[1], parts[2], 'a+b/', parts[4]].join('.');
    expect(sealError(() => sealer.open(notB64)).message).toBe('sealed value is not base64url');
  });
});
