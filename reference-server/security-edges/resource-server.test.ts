/**
 * Security edges 28-30 (reference/security-edges.md, "Resource server"), proven at the MCP
 * endpoint of two reference servers: `proxy` (github backend: our own ES256 tokens) and `jwt` (the
 * generic backend in front of the mock's Keycloak-shaped `oidc` provider: the IdP's tokens).
 *
 * Rejected tokens come from three places: the mock's token faults (validly signed tokens with a
 * wrong iss/aud, expired, not yet valid, signed by an untrusted key, alg none), forgeries built
 * here with jose (alg none, HS256 keyed with the public key, an unknown kid, an untrusted key
 * under a genuine kid), and for our own tokens the server's real signing key with one claim
 * wrong (so each refusal is proven to come from that one check).
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9728
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
import {
  decodeJwt,
  decodeProtectedHeader,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenDefect } from '../../mock-idp/faults.ts';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import {
  type Answer,
  bearerChallenge,
  expectTokenRefused,
  idpTokens,
  jsonOf,
  mcpRequest,
  prmUrl,
  providerOf,
  registerClient,
  signIn,
  startMock,
  startServer,
  type Target,
  tokensFor,
  whoami,
} from './harness.ts';

let mock: RunningMockIdp;
let proxy: Target;
let jwt: Target;

beforeAll(async () => {
  mock = await startMock();
  proxy = await startServer(mock, 'github');
  jwt = await startServer(mock, 'jwt');
});
afterAll(async () => {
  await proxy.stop();
  await jwt.stop();
  await mock.stop();
});

const bearer = (token: string) => `Bearer ${token}`;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** An access token the mock's `oidc` provider issues for our jwt server, optionally defective. */
async function idpAccessToken(options: { defect?: TokenDefect; scope?: string } = {}): Promise<string> {
  if (options.defect) {
    mock.idp.addFault({
      provider: 'oidc',
      endpoint: 'token',
      action: { kind: 'token', defect: options.defect },
      times: 1,
    });
  }
  const tokens = await idpTokens(mock, 'oidc', 'alice', {
    resource: jwt.mcpUrl,
    ...(options.scope ? { scope: options.scope } : {}),
  });
  return tokens['access_token'] as string;
}

/** The refusal for one token, with the reason the challenge gives. */
function expectRefusedFor(a: Answer, target: Target, reason: RegExp): void {
  expectTokenRefused(a, target);
  expect(bearerChallenge(a)['error_description']).toMatch(reason);
}

describe('edge 28: the bearer challenge and the protected resource metadata', () => {
  for (const method of ['POST', 'GET', 'DELETE'] as const) {
    it(`${method} without a token: 401 with resource_metadata and no error code`, async () => {
      for (const target of [proxy, jwt]) {
        const a = await mcpRequest(target.mcpUrl, undefined, method);
        expect(a.status).toBe(401);
        expect(a.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${prmUrl(target.mcpUrl)}"`);
        expect(a.headers.get('access-control-expose-headers')).toContain('www-authenticate');
      }
    });

    it(`${method} with a bad token: 401 invalid_token with resource_metadata`, async () => {
      for (const target of [proxy, jwt]) {
        expectTokenRefused(await mcpRequest(target.mcpUrl, 'Bearer not-a-token', method), target);
      }
    });
  }

  it('the metadata URL of the challenge serves resource = our canonical URL and our authorization server', async () => {
    const a = await mcpRequest(proxy.mcpUrl, undefined);
    const url = bearerChallenge(a)['resource_metadata']!;
    const prm = jsonOf({ ...(await fetchAnswer(url)) });
    expect(prm['resource']).toBe(proxy.mcpUrl);
    expect(prm['authorization_servers']).toEqual([proxy.url]);
    const as = jsonOf(await fetchAnswer(`${proxy.url}/.well-known/oauth-authorization-server`));
    expect(as['issuer']).toBe(proxy.url);
    // The root form (RFC 9728 3.1 for a resource without a path component) says the same.
    expect(jsonOf(await fetchAnswer(`${proxy.url}/.well-known/oauth-protected-resource`))['resource']).toBe(
      proxy.mcpUrl,
    );
  });

  it('a server whose IdP issues the tokens lists that IdP as its authorization server', async () => {
    const prm = jsonOf(await fetchAnswer(prmUrl(jwt.mcpUrl)));
    expect(prm['resource']).toBe(jwt.mcpUrl);
    expect(prm['authorization_servers']).toEqual([providerOf(mock, 'oidc').issuer]);
  });
});

async function fetchAnswer(url: string): Promise<Answer> {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

describe('edge 29: rejected tokens at the IdP-token server (jwt backend)', () => {
  let genuine: string;
  let claims: JWTPayload;
  beforeAll(async () => {
    genuine = await idpAccessToken();
    claims = { ...decodeJwt(genuine), iat: now(), exp: now() + 600 };
  });

  it('accepts the genuine token (control)', async () => {
    expect((await whoami(jwt.mcpUrl, genuine)).user.id).toBe('U1');
  });

  const faults: Array<[TokenDefect, RegExp]> = [
    ['wrong-iss', /\biss\b/],
    ['wrong-aud', /\baud\b/],
    ['expired', /\bexp\b/],
    ['not-yet-valid', /\bnbf\b/],
    ['bad-signature', /signature/],
    ['alg-none', /\balg\b/],
  ];
  for (const [defect, reason] of faults) {
    it(`refuses a token the IdP issued with the "${defect}" defect`, async () => {
      const token = await idpAccessToken({ defect });
      expectRefusedFor(await mcpRequest(jwt.mcpUrl, bearer(token)), jwt, reason);
    });
  }

  it('refuses garbage and a non-JWT', async () => {
    for (const token of ['garbage', 'a.b.c', 'x'.repeat(12_000)]) {
      expectTokenRefused(await mcpRequest(jwt.mcpUrl, bearer(token)), jwt);
    }
  });

  it('refuses alg none built here, with the genuine claims', async () => {
    const forged = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expectRefusedFor(await mcpRequest(jwt.mcpUrl, bearer(forged)), jwt, /\balg\b/);
  });

  it('refuses HS256 keyed with the published RSA public key (algorithm confusion)', async () => {
    const jwks = (await (await fetch(providerOf(mock, 'oidc').endpoints['jwks']!)).json()) as { keys: JWK[] };
    const jwk = jwks.keys[0]!;
    const pem = await exportSPKI((await importJWK(jwk, 'RS256')) as CryptoKey);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwk.kid! })
      .sign(new TextEncoder().encode(pem));
    expectRefusedFor(await mcpRequest(jwt.mcpUrl, bearer(forged)), jwt, /\balg\b/);
  });

  it('refuses an unknown kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'kid-nobody-published' })
      .sign(privateKey);
    expectRefusedFor(await mcpRequest(jwt.mcpUrl, bearer(forged)), jwt, /\bkid\b/);
  });

  it('refuses a token signed by an untrusted key under the genuine kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: decodeProtectedHeader(genuine).kid! })
      .sign(privateKey);
    expectRefusedFor(await mcpRequest(jwt.mcpUrl, bearer(forged)), jwt, /signature/);
  });
});

describe('edge 29: rejected tokens at the proxy (our own tokens)', () => {
  let genuine: string;
  let claims: JWTPayload;
  let kid: string;
  let sign: (payload: JWTPayload, header?: Record<string, unknown>) => Promise<string>;
  beforeAll(async () => {
    genuine = (await tokensFor(proxy, await signIn(proxy, await registerClient(proxy)))).access_token;
    claims = decodeJwt(genuine);
    const active = proxy.server.app.runtime.keys.active();
    kid = active.kid;
    sign = (payload, header = {}) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid, ...header })
        .sign(active.privateKey);
  });

  it('accepts the genuine token, and the same claims re-signed with our key (controls)', async () => {
    expect((await whoami(proxy.mcpUrl, genuine)).user.id).toBe('U1');
    expect((await whoami(proxy.mcpUrl, await sign(claims))).user.id).toBe('U1');
  });

  const variants: Array<[string, () => JWTPayload, RegExp]> = [
    ['a wrong issuer', () => ({ ...claims, iss: 'https://issuer.invalid' }), /\biss\b/],
    ['a wrong audience', () => ({ ...claims, aud: 'https://other.example/mcp' }), /\baud\b/],
    [
      'an expired token',
      () => ({ ...claims, iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }),
      /\bexp\b/,
    ],
    ['a token not yet valid', () => ({ ...claims, nbf: now() + 3600 }), /\bnbf\b/],
    ['a token issued in the future', () => ({ ...claims, iat: now() + 3600 }), /\biat\b/],
    ['token_use refresh', () => ({ ...claims, token_use: 'refresh' }), /\btoken_use\b/],
    ['no token_use', () => ({ ...claims, token_use: undefined }), /\btoken_use\b/],
  ];
  for (const [label, payload, reason] of variants) {
    it(`refuses ${label}, signed with our own key`, async () => {
      expectRefusedFor(await mcpRequest(proxy.mcpUrl, bearer(await sign(payload()))), proxy, reason);
    });
  }

  it('refuses typ JWT instead of at+jwt, signed with our own key', async () => {
    expectRefusedFor(
      await mcpRequest(proxy.mcpUrl, bearer(await sign(claims, { typ: 'JWT' }))),
      proxy,
      /\btyp\b/,
    );
  });

  it('refuses alg none with our claims', async () => {
    const forged = `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`;
    expectRefusedFor(await mcpRequest(proxy.mcpUrl, bearer(forged)), proxy, /\balg\b/);
  });

  it('refuses HS256 keyed with our published public key', async () => {
    const jwk = proxy.server.app.runtime.keys.jwks().keys[0]!;
    const pem = await exportSPKI((await importJWK(jwk, 'ES256')) as CryptoKey);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid })
      .sign(new TextEncoder().encode(pem));
    expectRefusedFor(await mcpRequest(proxy.mcpUrl, bearer(forged)), proxy, /\balg\b/);
  });

  it('refuses an unknown kid and an untrusted key under our kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const unknown = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'es256-unknown' })
      .sign(privateKey);
    expectRefusedFor(await mcpRequest(proxy.mcpUrl, bearer(unknown)), proxy, /\bkid\b/);
    const untrusted = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
      .sign(privateKey);
    expectRefusedFor(await mcpRequest(proxy.mcpUrl, bearer(untrusted)), proxy, /signature/);
  });

  it('refuses garbage and a tampered payload', async () => {
    const [h, , sig] = genuine.split('.');
    const tampered = `${h}.${b64({ ...claims, sub: 'U2' })}.${sig}`;
    for (const token of ['garbage', 'a.b.c', tampered]) {
      expectTokenRefused(await mcpRequest(proxy.mcpUrl, bearer(token)), proxy);
    }
  });
});

/**
 * Item 29 lists "malformed header -> 401"; RFC 6750 3.1 has the resource server answer a
 * malformed request with 400 `invalid_request`, which is what this server does (and what
 * reference-server/malformed-input.test.ts and suites/bearer.yaml `malformed-header` accept).
 * Either way the request is refused, carries the challenge with resource_metadata, and never
 * reaches the MCP server.
 */
describe('edge 29: malformed Authorization headers are refused with the challenge', () => {
  for (const header of [
    'Bearer',
    'Bearer ',
    'Bearer a b',
    'Bearer "quoted"',
    'Bearer tok,en',
    'Basic dXNlcjpwYXNz',
    'Token abc',
  ]) {
    it(`${JSON.stringify(header)}: 400 invalid_request, resource_metadata, no MCP answer`, async () => {
      for (const target of [proxy, jwt]) {
        const a = await mcpRequest(target.mcpUrl, header);
        expect(a.status).toBe(400);
        const challenge = bearerChallenge(a);
        expect(challenge['error']).toBe('invalid_request');
        expect(challenge['resource_metadata']).toBe(prmUrl(target.mcpUrl));
        expect(jsonOf(a)['error']).toBe('invalid_request');
        expect(a.body).not.toContain('"result"');
      }
    });
  }
});

describe('edge 30: insufficient scope is 403 with the scope needed', () => {
  it('jwt backend: a token without the required scope gets 403 insufficient_scope', async () => {
    // The mock's Keycloak adds its default client scopes (profile, email); `roles` is optional.
    const strict = await startServer(mock, 'jwt', { overrides: { 'jwt.required_scopes': ['roles'] } });
    try {
      const narrow = (await idpTokens(mock, 'oidc', 'alice', { resource: strict.mcpUrl, scope: 'openid' }))[
        'access_token'
      ] as string;
      expect(String(decodeJwt(narrow)['scope']).split(' ')).not.toContain('roles');
      const a = await mcpRequest(strict.mcpUrl, bearer(narrow));
      expect(a.status).toBe(403);
      const challenge = bearerChallenge(a);
      expect(challenge['error']).toBe('insufficient_scope');
      expect(challenge['scope']).toBe('roles');
      expect(challenge['resource_metadata']).toBe(prmUrl(strict.mcpUrl));
      expect(jsonOf(a)['error']).toBe('insufficient_scope');
      // Control: with the scope, the same user gets through.
      const wide = (
        await idpTokens(mock, 'oidc', 'alice', { resource: strict.mcpUrl, scope: 'openid roles' })
      )['access_token'] as string;
      expect((await whoami(strict.mcpUrl, wide)).user.id).toBe('U1');
    } finally {
      await strict.stop();
    }
  });

  it('proxy: a token granted a narrower scope gets 403 naming the required scope', async () => {
    const strict = await startServer(mock, 'github', { overrides: { 'jwt.required_scopes': ['mcp:tools'] } });
    try {
      const unauthenticated = await mcpRequest(strict.mcpUrl, undefined);
      expect(bearerChallenge(unauthenticated)['scope']).toBe('mcp:tools');
      const client = await registerClient(strict);
      const narrow = await tokensFor(
        strict,
        await signIn(strict, client, 'alice', { extra: { scope: 'mcp' } }),
      );
      expect(narrow.scope).toBe('mcp');
      const a = await mcpRequest(strict.mcpUrl, bearer(narrow.access_token));
      expect(a.status).toBe(403);
      expect(bearerChallenge(a)).toMatchObject({ error: 'insufficient_scope', scope: 'mcp:tools' });
      const full = await tokensFor(strict, await signIn(strict, client));
      expect(full.scope).toBe('mcp:tools');
      expect((await whoami(strict.mcpUrl, full.access_token)).user.id).toBe('U1');
    } finally {
      await strict.stop();
    }
  });
});
