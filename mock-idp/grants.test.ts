import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type AuthorizationTxn, GrantStore, pkceMatches } from './grants.ts';

const verifier = 'a'.repeat(43) + 'B-._~';
const challenge = createHash('sha256').update(verifier).digest('base64url');

function txn(store: GrantStore, extra: Partial<AuthorizationTxn> = {}) {
  return store.createTxn({
    provider: 'p',
    clientId: 'c1',
    redirectUri: 'http://127.0.0.1:9/cb',
    target: 'http://127.0.0.1:9/cb',
    scope: [],
    state: undefined,
    nonce: undefined,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    responseMode: 'query',
    extra: {},
    redirectParams: {},
    ...extra,
  });
}

const good = { clientId: 'c1', redirectUri: 'http://127.0.0.1:9/cb', codeVerifier: verifier };

describe('PKCE (RFC 7636 4.6)', () => {
  it('matches S256 and plain, refuses malformed verifiers', () => {
    expect(pkceMatches(verifier, challenge, 'S256')).toBe(true);
    expect(pkceMatches(verifier, verifier, 'plain')).toBe(true);
    expect(pkceMatches(verifier, verifier, 'S256')).toBe(false);
    expect(pkceMatches('short', createHash('sha256').update('short').digest('base64url'), 'S256')).toBe(
      false,
    );
  });
});

describe('GrantStore codes', () => {
  it('redeems a code once; the replay fails and revokes what the first redemption issued', () => {
    const store = new GrantStore();
    const record = store.createCode(txn(store), 'alice', 'code-1');
    const first = store.redeemCode('p', 'code-1', good);
    expect(first).toEqual({ ok: true, record });
    store.issueToken({
      value: 'tok-1',
      provider: 'p',
      kind: 'access_token',
      persona: 'alice',
      clientId: 'c1',
      scope: [],
      expiresAt: undefined,
      family: 'f1',
      extra: {},
      fromCode: record,
    });
    expect(store.findToken('p', 'tok-1')?.value).toBe('tok-1');
    expect(store.redeemCode('p', 'code-1', good)).toEqual({ ok: false, reason: 'used_code' });
    expect(store.findToken('p', 'tok-1')).toBeUndefined();
  });

  it('binds the code to its client, redirect_uri, provider and verifier', () => {
    const store = new GrantStore();
    const t = txn(store);
    for (const [i, [check, reason]] of (
      [
        [{ ...good, clientId: 'c2' }, 'client_mismatch'],
        [{ ...good, redirectUri: 'http://127.0.0.1:9/other' }, 'redirect_uri_mismatch'],
        [{ ...good, codeVerifier: undefined }, 'verifier_missing'],
        [{ ...good, codeVerifier: 'b'.repeat(43) }, 'verifier_mismatch'],
      ] as const
    ).entries()) {
      store.createCode(t, 'alice', `c-${i}`);
      expect(store.redeemCode('p', `c-${i}`, check)).toEqual({ ok: false, reason });
    }
    store.createCode(t, 'alice', 'other-provider');
    expect(store.redeemCode('q', 'other-provider', good)).toEqual({ ok: false, reason: 'unknown_code' });
    expect(store.redeemCode('p', 'never-issued', good)).toEqual({ ok: false, reason: 'unknown_code' });
  });

  it('refuses a verifier for a code issued without a challenge', () => {
    const store = new GrantStore();
    store.createCode(txn(store, { codeChallenge: undefined, codeChallengeMethod: undefined }), 'alice', 'c');
    expect(store.redeemCode('p', 'c', good)).toEqual({ ok: false, reason: 'verifier_unexpected' });
  });

  it('refuses an expired code', () => {
    const store = new GrantStore();
    store.createCode(txn(store), 'alice', 'old', -1);
    expect(store.redeemCode('p', 'old', good)).toEqual({ ok: false, reason: 'expired_code' });
  });

  it('takes a transaction once', () => {
    const store = new GrantStore();
    const t = txn(store);
    expect(store.takeTxn(t.id)?.id).toBe(t.id);
    expect(store.takeTxn(t.id)).toBeUndefined();
  });
});

describe('GrantStore tokens', () => {
  it('finds live tokens by provider and kind, and revokes whole families', () => {
    const store = new GrantStore();
    const base = {
      provider: 'p',
      persona: 'alice',
      clientId: 'c1',
      scope: [],
      family: 'fam',
      extra: {},
    };
    store.issueToken({ ...base, value: 'a1', kind: 'access_token', expiresAt: undefined });
    store.issueToken({ ...base, value: 'r1', kind: 'refresh_token', expiresAt: undefined });
    store.issueToken({ ...base, value: 'gone', kind: 'access_token', expiresAt: 1 });
    expect(store.findToken('p', 'a1', 'access_token')?.value).toBe('a1');
    expect(store.findToken('p', 'a1', 'refresh_token')).toBeUndefined();
    expect(store.findToken('q', 'a1')).toBeUndefined();
    expect(store.findToken('p', 'gone')).toBeUndefined();
    store.revokeFamilyOf('r1');
    expect(store.findToken('p', 'a1')).toBeUndefined();
    expect(store.anyToken('a1')?.revoked).toBe(true);
  });
});
