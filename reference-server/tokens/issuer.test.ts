import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenError, type TokenErrorCode } from '../errors.ts';
import { MemoryStore } from '../store/memory.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { AccessTokens, RESERVED_CLAIMS, SigningKeys } from './issuer.ts';
import { createSealer } from './seal.ts';

const ISSUER = 'https://mcp.example.com';
const RESOURCE = 'https://mcp.example.com/mcp';
const T0 = 1_800_000_000;

let now = T0;
const clock = () => now;

async function expectTokenError(
  promise: Promise<unknown>,
  code: TokenErrorCode,
  message?: string,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TokenError);
  expect((caught as TokenError).code).toBe(code);
  if (message !== undefined) expect((caught as TokenError).message).toBe(message);
}

async function setup(store = new MemoryStore({ now: clock })) {
  const keys = await SigningKeys.load({ store });
  const tokens = new AccessTokens({
    keys,
    issuer: ISSUER,
    audience: RESOURCE,
    ttl: 3600,
    leeway: 5,
    now: clock,
  });
  return { store, keys, tokens };
}

const input = { sub: 'U1', clientId: 'client-1', scope: ['mcp', 'openid'], familyId: 'fam-1' };

beforeEach(() => {
  now = T0;
});

describe('AccessTokens.issue', () => {
  it('writes an RFC 9068 header: ES256, the active kid, typ at+jwt', async () => {
    const { tokens, keys } = await setup();
    const issued = await tokens.issue(input);
    expect(decodeProtectedHeader(issued.token)).toEqual({
      alg: 'ES256',
      kid: keys.active().kid,
      typ: 'at+jwt',
    });
    expect(issued.kid).toBe(keys.active().kid);
  });

  it('writes iss, aud, sub, client_id, scope, iat, nbf, exp, jti, token_use and sid', async () => {
    const { tokens } = await setup();
    const issued = await tokens.issue(input);
    const payload = decodeJwt(issued.token);
    expect(payload).toEqual({
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'U1',
      client_id: 'client-1',
      scope: 'mcp openid',
      iat: T0,
      nbf: T0,
      exp: T0 + 3600,
      jti: issued.jti,
      token_use: 'access',
      sid: 'fam-1',
    });
    expect(issued.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(issued).toMatchObject({ issuedAt: T0, expiresAt: T0 + 3600, expiresIn: 3600 });
  });

  it('uses a per-token lifetime and a fresh jti each time', async () => {
    const { tokens } = await setup();
    const a = await tokens.issue({ ...input, ttl: 60 });
    const b = await tokens.issue(input);
    expect(decodeJwt(a.token).exp).toBe(T0 + 60);
    expect(a.jti).not.toBe(b.jti);
  });

  it('carries extra claims (passthrough), nested as given', async () => {
    const { tokens } = await setup();
    const issued = await tokens.issue({ ...input, claims: { upstream_claims: { roles: ['admin'] } } });
    expect(decodeJwt(issued.token)['upstream_claims']).toEqual({ roles: ['admin'] });
    const verified = await tokens.verify(issued.token);
    expect(verified.claims['upstream_claims']).toEqual({ roles: ['admin'] });
  });

  it.each(RESERVED_CLAIMS)('refuses to let an extra claim set the reserved "%s"', async (name) => {
    const { tokens } = await setup();
    await expectTokenError(
      tokens.issue({ ...input, claims: { [name]: 'https://evil.example' } }),
      'ERR_JWT_RESERVED_CLAIM',
      `claim "${name}" is reserved`,
    );
  });

  it('refuses a scope value that is not a scope token', async () => {
    const { tokens } = await setup();
    await expectTokenError(
      tokens.issue({ ...input, scope: ['mcp read'] }),
      'ERR_JWT_CLAIM',
      'scope "mcp read" is not a scope token',
    );
  });
});

describe('AccessTokens.verify: accepted', () => {
  it('returns the claims and the scopes', async () => {
    const { tokens, keys } = await setup();
    const issued = await tokens.issue(input);
    const verified = await tokens.verify(issued.token);
    expect(verified.kid).toBe(keys.active().kid);
    expect(verified.scopes).toEqual(['mcp', 'openid']);
    expect(verified.claims).toMatchObject({
      sub: 'U1',
      client_id: 'client-1',
      token_use: 'access',
      sid: 'fam-1',
    });
  });

  it('accepts an empty scope', async () => {
    const { tokens } = await setup();
    const verified = await tokens.verify((await tokens.issue({ ...input, scope: [] })).token);
    expect(verified.scopes).toEqual([]);
    expect(verified.claims.scope).toBe('');
  });

  it('accepts a token within the leeway after exp, and refuses it past the leeway', async () => {
    const { tokens } = await setup();
    const issued = await tokens.issue(input);
    now = T0 + 3600 + 4;
    expect((await tokens.verify(issued.token)).claims.sub).toBe('U1');
    now = T0 + 3600 + 6;
    await expectTokenError(
      tokens.verify(issued.token),
      'ERR_JWT_EXPIRED',
      '"exp" claim timestamp check failed',
    );
  });

  it('accepts typ application/at+jwt (RFC 9068 4)', async () => {
    const { tokens, keys } = await setup();
    const { kid, privateKey } = keys.active();
    const token = await new SignJWT({ client_id: 'c', scope: '', token_use: 'access' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'application/at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(RESOURCE)
      .setSubject('U1')
      .setIssuedAt(T0)
      .setExpirationTime(T0 + 60)
      .setJti('j')
      .sign(privateKey);
    expect((await tokens.verify(token)).claims.sub).toBe('U1');
  });

  it('checks another audience when asked', async () => {
    const { tokens } = await setup();
    const issued = await tokens.issue(input);
    await expectTokenError(
      tokens.verify(issued.token, { audience: 'https://other.example/mcp' }),
      'ERR_JWT_AUD',
      'unexpected "aud" claim value',
    );
  });
});

describe('AccessTokens.verify: security edge 29 (every rejected token)', () => {
  type Sign = (keys: SigningKeys) => Promise<string>;
  const good: JWTPayload = {
    iss: ISSUER,
    aud: RESOURCE,
    sub: 'U1',
    client_id: 'client-1',
    scope: 'mcp',
    iat: T0,
    nbf: T0,
    exp: T0 + 600,
    jti: 'jti-1',
    token_use: 'access',
  };
  const signWith =
    (payload: JWTPayload, header: Record<string, unknown> = {}): Sign =>
    async (keys) => {
      const { kid, privateKey } = keys.active();
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt', ...header })
        .sign(privateKey);
    };
  const without = (claim: string): JWTPayload => {
    const p = { ...good };
    delete p[claim];
    return p;
  };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  const cases: [string, Sign, TokenErrorCode, string?][] = [
    ['garbage', async () => 'not-a-jwt', 'ERR_JWT_MALFORMED', 'token is not a well-formed JWT'],
    ['three garbage parts', async () => 'a.b.c', 'ERR_JWT_MALFORMED', 'token header is not valid'],
    ['an empty string', async () => '', 'ERR_JWT_MALFORMED'],
    [
      'alg none',
      async (keys) => `${b64({ alg: 'none', kid: keys.active().kid, typ: 'at+jwt' })}.${b64(good)}.`,
      'ERR_JWT_ALG',
      '"alg" "none" is not allowed',
    ],
    [
      'HS256 signed with the public key (algorithm confusion)',
      async (keys) => {
        const jwk = keys.jwks().keys[0]!;
        const secret = new TextEncoder().encode(JSON.stringify(jwk));
        return new SignJWT(good)
          .setProtectedHeader({ alg: 'HS256', kid: jwk.kid!, typ: 'at+jwt' })
          .sign(secret);
      },
      'ERR_JWT_ALG',
      '"alg" "HS256" is not allowed',
    ],
    [
      'RS256 from another key',
      async (keys) => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT(good)
          .setProtectedHeader({ alg: 'RS256', kid: keys.active().kid, typ: 'at+jwt' })
          .sign(privateKey);
      },
      'ERR_JWT_ALG',
    ],
    [
      'an unknown kid',
      async () => {
        const { privateKey } = await generateKeyPair('ES256');
        return new SignJWT(good)
          .setProtectedHeader({ alg: 'ES256', kid: 'nope', typ: 'at+jwt' })
          .sign(privateKey);
      },
      'ERR_JWT_KID',
      '"kid" "nope" is not one of our keys',
    ],
    ['no kid', signWith(good, { kid: undefined }), 'ERR_JWT_KID', 'token has no "kid"'],
    [
      'an untrusted key claiming our kid',
      async (keys) => {
        const { privateKey } = await generateKeyPair('ES256');
        return new SignJWT(good)
          .setProtectedHeader({ alg: 'ES256', kid: keys.active().kid, typ: 'at+jwt' })
          .sign(privateKey);
      },
      'ERR_JWT_SIGNATURE',
      'signature verification failed',
    ],
    [
      'a tampered payload',
      async (keys) => {
        const token = await signWith(good)(keys);
        const [h, , s] = token.split('.');
        return `${h}.${b64({ ...good, sub: 'U2' })}.${s}`;
      },
      'ERR_JWT_SIGNATURE',
    ],
    [
      'the wrong issuer',
      signWith({ ...good, iss: 'https://evil.example' }),
      'ERR_JWT_ISS',
      'unexpected "iss" claim value',
    ],
    ['the issuer with a trailing slash', signWith({ ...good, iss: `${ISSUER}/` }), 'ERR_JWT_ISS'],
    ['the wrong audience', signWith({ ...good, aud: 'https://other.example/mcp' }), 'ERR_JWT_AUD'],
    ['the upstream client id as audience', signWith({ ...good, aud: 'upstream-client-id' }), 'ERR_JWT_AUD'],
    ['expired', signWith({ ...good, iat: T0 - 7200, nbf: T0 - 7200, exp: T0 - 60 }), 'ERR_JWT_EXPIRED'],
    [
      'not yet valid',
      signWith({ ...good, nbf: T0 + 600, exp: T0 + 1200 }),
      'ERR_JWT_NOT_YET_VALID',
      '"nbf" claim timestamp check failed',
    ],
    ['issued in the future', signWith({ ...good, iat: T0 + 600, nbf: undefined }), 'ERR_JWT_NOT_YET_VALID'],
    ['typ JWT', signWith(good, { typ: 'JWT' }), 'ERR_JWT_TYP', '"typ" "JWT" is not at+jwt'],
    ['no typ', signWith(good, { typ: undefined }), 'ERR_JWT_TYP'],
    [
      'a refresh token_use',
      signWith({ ...good, token_use: 'refresh' }),
      'ERR_JWT_TOKEN_USE',
      '"token_use" "refresh" is not "access"',
    ],
    ['an id token_use', signWith({ ...good, token_use: 'id' }), 'ERR_JWT_TOKEN_USE'],
    ['no token_use', signWith(without('token_use')), 'ERR_JWT_TOKEN_USE'],
    ['no client_id', signWith(without('client_id')), 'ERR_JWT_CLAIM'],
    ['no jti', signWith(without('jti')), 'ERR_JWT_CLAIM'],
    ['no sub', signWith(without('sub')), 'ERR_JWT_CLAIM'],
    ['no exp', signWith(without('exp')), 'ERR_JWT_CLAIM'],
    ['a numeric client_id', signWith({ ...good, client_id: 7 }), 'ERR_JWT_CLAIM'],
    [
      'a list scope',
      signWith({ ...good, scope: ['mcp'] }),
      'ERR_JWT_CLAIM',
      '"scope" claim must be a string',
    ],
  ];

  it.each(cases)('refuses %s', async (_name, sign, code, message) => {
    const { tokens, keys } = await setup();
    await expectTokenError(tokens.verify(await sign(keys)), code, message);
  });

  it('accepts the well-formed token the cases above are mutated from', async () => {
    const { tokens, keys } = await setup();
    const verified = await tokens.verify(await signWith(good)(keys));
    expect(verified.claims).toMatchObject({ sub: 'U1', client_id: 'client-1', token_use: 'access' });
  });

  it('refuses an HS256 token keyed with the PEM public key', async () => {
    const { tokens, keys } = await setup();
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const token = await new SignJWT(good)
      .setProtectedHeader({ alg: 'HS256', kid: keys.active().kid, typ: 'at+jwt' })
      .sign(new TextEncoder().encode(pem));
    await expectTokenError(tokens.verify(token), 'ERR_JWT_ALG');
  });
});

describe('SigningKeys', () => {
  it('publishes the public key only, with kid, alg and use', async () => {
    const { keys } = await setup();
    const jwks = keys.jwks();
    expect(jwks.keys).toHaveLength(1);
    const [jwk] = jwks.keys;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: keys.active().kid, alg: 'ES256', use: 'sig' });
    expect(jwk).not.toHaveProperty('d');
  });

  it('persists its key: a second load uses the same kid and verifies earlier tokens', async () => {
    const { store, tokens, keys } = await setup();
    const issued = await tokens.issue(input);
    const again = await SigningKeys.load({ store });
    expect(again.active().kid).toBe(keys.active().kid);
    const verifier = new AccessTokens({ keys: again, issuer: ISSUER, audience: RESOURCE, now: clock });
    expect((await verifier.verify(issued.token)).claims.sub).toBe('U1');
    expect(await store.listSigningKeys()).toHaveLength(1);
  });

  it('rotates: new tokens use the new key, old tokens still verify, the JWKS lists the new key first', async () => {
    const { tokens, keys, store } = await setup();
    const before = await tokens.issue(input);
    const oldKid = keys.active().kid;
    now += 10;
    const newKid = await keys.rotate();
    expect(newKid).not.toBe(oldKid);
    expect(keys.active().kid).toBe(newKid);
    const after = await tokens.issue(input);
    expect(decodeProtectedHeader(after.token).kid).toBe(newKid);
    expect((await tokens.verify(before.token)).kid).toBe(oldKid);
    expect((await tokens.verify(after.token)).kid).toBe(newKid);
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    const stored = await store.listSigningKeys();
    expect(stored.map((k) => [k.kid, k.retiredAt])).toEqual([
      [oldKid, T0 + 10],
      [newKid, undefined],
    ]);
  });

  it('prunes retired keys after the retention, and their tokens stop verifying', async () => {
    const { tokens, keys } = await setup();
    const before = await tokens.issue({ ...input, ttl: 60 });
    const oldKid = keys.active().kid;
    await keys.rotate();
    expect(await keys.prune(3600)).toEqual([]);
    now += 3600;
    expect(await keys.prune(3600)).toEqual([oldKid]);
    expect(keys.jwks().keys.map((k) => k.kid)).toEqual([keys.active().kid]);
    await expectTokenError(tokens.verify(before.token), 'ERR_JWT_KID');
  });

  it('finds a key another instance created (reload on an unknown kid)', async () => {
    const store = new MemoryStore({ now: clock });
    const a = await setup(store);
    const b = await setup(store);
    expect(b.keys.active().kid).toBe(a.keys.active().kid);
    await b.keys.rotate();
    const fromB = await b.tokens.issue(input);
    expect((await a.tokens.verify(fromB.token)).kid).toBe(b.keys.active().kid);
  });

  it('refuses a stored key of another algorithm', async () => {
    const store = new MemoryStore({ now: clock });
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    await store.putSigningKey({
      kid: 'rsa',
      alg: 'RS256' as 'ES256',
      publicJwk: { ...(await exportJWK(publicKey)) },
      privateKey: JSON.stringify(await exportJWK(privateKey)),
      createdAt: T0,
    });
    await expectTokenError(SigningKeys.load({ store }), 'ERR_KEY_INVALID', 'signing key "rsa" is not ES256');
  });

  describe('sealed at rest in SQLite, across a restart', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'rs-keys-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('stores the private key sealed and verifies old tokens after reopening', async () => {
      const sealer = createSealer('a-signing-key-secret-of-enough-length-42', 'signing-keys');
      const first = new SqliteStore({ dataDir: dir, now: clock });
      const keys = await SigningKeys.load({ store: first, sealer });
      const tokens = new AccessTokens({ keys, issuer: ISSUER, audience: RESOURCE, now: clock });
      const issued = await tokens.issue(input);
      const [record] = await first.listSigningKeys();
      expect(record!.privateKey.startsWith('v1.')).toBe(true);
      expect(record!.privateKey).not.toContain('"d"');
      await first.close();

      const second = new SqliteStore({ dataDir: dir, now: clock });
      const reloaded = await SigningKeys.load({ store: second, sealer });
      expect(reloaded.active().kid).toBe(keys.active().kid);
      const verifier = new AccessTokens({ keys: reloaded, issuer: ISSUER, audience: RESOURCE, now: clock });
      expect((await verifier.verify(issued.token)).claims.sub).toBe('U1');
      await expectTokenError(
        SigningKeys.load({ store: second }),
        'ERR_KEY_INVALID',
        `signing key "${keys.active().kid}" is sealed and no secret is configured`,
      );
      await second.close();
    });
  });
});
