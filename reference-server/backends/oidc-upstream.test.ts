/**
 * The shared upstream helpers on inputs the mock IdP never produces: id_tokens crafted with a
 * local key (azp, several audiences, at_hash, algorithms, age), token responses of odd shapes,
 * and endpoint precedence.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../config.ts';
import { buildAuthorizationUrl, UpstreamEndpoints, userClaims, verifyIdToken } from './oidc-upstream.ts';
import { UpstreamError } from './types.ts';
import { basicAuthorization, exchangeCode, shown, type UpstreamClient } from './upstream-http.ts';
import { newTransaction } from './upstream-test-client.ts';

const ISSUER = 'https://idp.example';
const CLIENT = 'our-client';
const NONCE = 'our-nonce-123';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
let jwks: ReturnType<typeof createLocalJWKSet>;

beforeAll(async () => {
  jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] });
});

async function idToken(claims: JWTPayload, alg = 'RS256'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: ISSUER,
    sub: 'user-1',
    aud: CLIENT,
    nonce: NONCE,
    iat: now,
    exp: now + 600,
    ...claims,
  })
    .setProtectedHeader({ alg, kid: 'k1' })
    .sign(privateKey);
}

function verify(token: string, accessToken?: string) {
  return verifyIdToken(token, {
    provider: 'Test',
    jwks,
    issuers: () => [ISSUER],
    clientId: CLIENT,
    nonce: NONCE,
    leeway: 5,
    ...(accessToken ? { accessToken } : {}),
  });
}

async function failure(promise: Promise<unknown>): Promise<[string, string]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return [(error as UpstreamError).code, (error as UpstreamError).message];
}

describe('verifyIdToken', () => {
  it('accepts a well-formed token and returns its payload', async () => {
    const payload = await verify(await idToken({ azp: CLIENT, email: 'a@example.com' }));
    expect(payload).toMatchObject({ iss: ISSUER, sub: 'user-1', aud: CLIENT, email: 'a@example.com' });
  });

  it('refuses an azp other than our client', async () => {
    expect(await failure(verify(await idToken({ azp: 'someone-else' })))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "azp" is not our client',
    ]);
  });

  it('refuses several audiences without azp (OIDC Core 3.1.3.7 items 4-5)', async () => {
    expect(await failure(verify(await idToken({ aud: [CLIENT, 'other-api'] })))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "azp" is not our client',
    ]);
    await expect(verify(await idToken({ aud: [CLIENT, 'other-api'], azp: CLIENT }))).resolves.toMatchObject({
      sub: 'user-1',
    });
  });

  it('refuses an at_hash that does not match the access token, accepts one that does', async () => {
    const half = createHash('sha256')
      .update('the-access-token')
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    await expect(verify(await idToken({ at_hash: half }), 'the-access-token')).resolves.toMatchObject({
      at_hash: half,
    });
    expect(await failure(verify(await idToken({ at_hash: half }), 'another-access-token'))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "at_hash" does not match the access token',
    ]);
  });

  it('refuses algorithms other than RS256 (RS384 with the same key)', async () => {
    expect(await failure(verify(await idToken({}, 'RS384')))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token uses an algorithm other than RS256',
    ]);
  });

  it('refuses a token issued more than ten minutes ago even if not expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await failure(verify(await idToken({ iat: now - 3600, exp: now + 3600 })))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "iat" is too old',
    ]);
  });

  it('refuses a token issued in the future (beyond the leeway)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await failure(verify(await idToken({ iat: now + 600, exp: now + 1200 })))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "iat" is in the future',
    ]);
  });

  it('refuses a missing nonce, a missing sub, and a garbled token', async () => {
    expect(await failure(verify(await idToken({ nonce: undefined })))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "nonce" is not the one we sent',
    ]);
    expect(await failure(verify(await idToken({ sub: undefined })))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token "sub" is invalid (missing)',
    ]);
    expect(await failure(verify('not.a.jwt'))).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Test id_token is malformed',
    ]);
  });

  it('userClaims drops the registered and protocol claims', () => {
    expect(
      userClaims({
        iss: 'i',
        sub: 's',
        aud: 'a',
        exp: 1,
        iat: 1,
        nonce: 'n',
        azp: 'z',
        at_hash: 'h',
        hd: 'x',
        name: 'N',
      }),
    ).toEqual({ hd: 'x', name: 'N' });
  });
});

describe('buildAuthorizationUrl', () => {
  it('keeps the endpoint’s own query, drops `resource`, and lets no extra set it', () => {
    const txn = newTransaction();
    const url = buildAuthorizationUrl(
      'Test',
      'https://idp.example/authorize?tenant=x&resource=https%3A%2F%2Fr',
      txn,
      {
        clientId: CLIENT,
        scope: ['openid'],
        oidc: true,
        extra: { resource: 'https://mcp.example/mcp', prompt: 'consent' },
      },
    );
    expect(url.searchParams.get('tenant')).toBe('x');
    expect(url.searchParams.has('resource')).toBe(false);
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.get('nonce')).toBe(txn.nonce);
  });

  it('refuses a missing state or, for OIDC, a missing nonce', () => {
    const txn = newTransaction();
    const build = (input: typeof txn) =>
      buildAuthorizationUrl('Test', 'https://idp.example/authorize', input, {
        clientId: CLIENT,
        scope: [],
        oidc: true,
      });
    expect(() => build({ ...txn, state: '' })).toThrow('Test authorization needs our "state"');
    expect(() => build({ ...txn, nonce: '' })).toThrow('Test authorization needs our "nonce"');
  });
});

describe('exchangeCode', () => {
  const request = {
    tokenUrl: 'https://idp.example/token',
    clientId: CLIENT,
    clientSecret: 's3cret',
    auth: 'client_secret_post' as const,
    code: 'the-code',
    codeVerifier: 'v'.repeat(43),
    redirectUri: 'https://us.example/cb',
  };
  const answering = (body: string, status = 200): UpstreamClient => ({
    provider: 'Test',
    fetch: async () => new Response(body, { status, headers: { 'content-type': 'application/json' } }),
  });

  it('keeps only the known fields; expires_in as a number', async () => {
    const tokens = await exchangeCode(
      answering(JSON.stringify({ access_token: 'at', token_type: 'bearer', expires_in: '3600', extra: 'x' })),
      request,
    );
    expect(tokens).toEqual({ access_token: 'at', token_type: 'bearer', expires_in: 3600 });
  });

  it('refuses a token_type other than Bearer, naming it and not the token', async () => {
    const [code, message] = await failure(
      exchangeCode(answering(JSON.stringify({ access_token: 'secret-at', token_type: 'DPoP' })), request),
    );
    expect([code, message]).toEqual(['ERR_UPSTREAM_TOKEN', 'Test "token_type" DPoP is not Bearer']);
  });

  it('refuses a 200 without access_token, a non-JSON 200, and a non-JSON 400', async () => {
    expect(await failure(exchangeCode(answering('{}'), request))).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Test token response has no "access_token"',
    ]);
    expect(await failure(exchangeCode(answering('access_token=x&token_type=bearer'), request))).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Test token response is not a JSON object',
    ]);
    expect(await failure(exchangeCode(answering('<html>', 400), request))).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Test token endpoint answered HTTP 400',
    ]);
  });

  it('an error code with odd characters is shown safely', async () => {
    expect(
      await failure(exchangeCode(answering(JSON.stringify({ error: 'bad"\r\nerror' }), 400), request)),
    ).toEqual(['ERR_UPSTREAM_TOKEN', 'Test refused the code: bad???error']);
    expect(shown('x'.repeat(100))).toHaveLength(64);
  });

  it('client_secret_basic form-encodes the credentials (RFC 6749 2.3.1)', () => {
    expect(basicAuthorization('a b', 'p:w+')).toBe(`Basic ${Buffer.from('a+b:p%3Aw%2B').toString('base64')}`);
  });
});

describe('UpstreamEndpoints', () => {
  const client: UpstreamClient = {
    provider: 'Google',
    fetch: async () =>
      Response.json({ issuer: 'https://disc.example', token_endpoint: 'https://disc.example/token' }),
  };
  const settings = (upstream: Record<string, string>) =>
    loadSettings({
      env: {},
      overrides: {
        auth: 'google',
        'oauth.base_url': 'http://127.0.0.1:8000',
        'oauth.client_id': 'c',
        'oauth.client_secret': 's',
        upstream: { google: upstream },
      },
    });

  it('built-in defaults without discovery when nothing is overridden', async () => {
    const e = new UpstreamEndpoints(client, settings({}), 'google', { preferDiscovery: false });
    expect(await e.get('token_url')).toBe('https://oauth2.googleapis.com/token');
    expect(await e.get('issuer')).toBe('https://accounts.google.com');
  });

  it('an explicit discovery_url moves the endpoints it names; explicit keys still win', async () => {
    const e = new UpstreamEndpoints(
      client,
      settings({
        discovery_url: 'https://disc.example/.well-known/openid-configuration',
        jwks_uri: 'https://k.example/',
      }),
      'google',
      { preferDiscovery: false },
    );
    expect(await e.get('token_url')).toBe('https://disc.example/token');
    expect(await e.get('issuer')).toBe('https://disc.example');
    expect(await e.get('jwks_uri')).toBe('https://k.example/');
    // Not in the document: the built-in default.
    expect(await e.get('authorize_url')).toBe('https://accounts.google.com/o/oauth2/v2/auth');
  });

  it('a discovered endpoint over plain http on a public host is refused', async () => {
    const insecure: UpstreamClient = {
      provider: 'Google',
      fetch: async () =>
        Response.json({ issuer: 'https://disc.example', token_endpoint: 'http://disc.example/token' }),
    };
    const e = new UpstreamEndpoints(
      insecure,
      settings({ discovery_url: 'https://disc.example/.well-known/openid-configuration' }),
      'google',
      { preferDiscovery: false },
    );
    expect(await failure(e.get('token_url'))).toEqual([
      'ERR_UPSTREAM_CONFIG',
      'Google discovery "token_endpoint" http://disc.example/token is not an https URL',
    ]);
  });
});
