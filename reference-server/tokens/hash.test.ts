import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateOpaqueToken, hashToken, matchesHash, OPAQUE_TOKEN_BYTES } from './hash.ts';

describe('generateOpaqueToken', () => {
  it('returns 256 random bits as 43 base64url characters', () => {
    const token = generateOpaqueToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(OPAQUE_TOKEN_BYTES);
  });
  it('puts a kind prefix in front of the random part', () => {
    const token = generateOpaqueToken('mcc_rt_');
    expect(token).toMatch(/^mcc_rt_[A-Za-z0-9_-]{43}$/);
  });
  it('never repeats a value', () => {
    const values = new Set(Array.from({ length: 1000 }, () => generateOpaqueToken()));
    expect(values.size).toBe(1000);
  });
  it.each(['RT_', 'a b', 'x'.repeat(17), '1abc'])('refuses the prefix %j', (prefix) => {
    expect(() => generateOpaqueToken(prefix)).toThrow(`invalid token prefix "${prefix}"`);
  });
});

describe('hashToken', () => {
  it('is the SHA-256 of the value, base64url', () => {
    const expected = createHash('sha256').update('abc').digest('base64url');
    expect(hashToken('abc')).toBe(expected);
    expect(hashToken('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });
  it('differs for values that differ in one character, and never contains the value', () => {
    const token = generateOpaqueToken();
    const other = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect(hashToken(token)).not.toBe(hashToken(other));
    expect(hashToken(token)).not.toContain(token);
  });
});

describe('matchesHash', () => {
  it('accepts the value whose hash is stored', () => {
    const secret = generateOpaqueToken();
    expect(matchesHash(secret, hashToken(secret))).toBe(true);
  });
  it('refuses another value, an empty value and a malformed stored hash', () => {
    const secret = generateOpaqueToken();
    expect(matchesHash(`${secret}x`, hashToken(secret))).toBe(false);
    expect(matchesHash('', hashToken(secret))).toBe(false);
    expect(matchesHash(secret, 'short')).toBe(false);
    expect(matchesHash(secret, secret)).toBe(false);
  });
});
