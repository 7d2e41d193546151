import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JWK,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import * as o from 'oauth4webapi';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loginThroughPage } from '../login-client.ts';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import { AUTH0_API_AUDIENCE, AUTH0_CLAIM_NAMESPACE, auth0 } from './auth0.ts';

// Serve the Auth0 shape alone, so these tests depend on no other provider file.
vi.mock('./index.ts', async () => ({ allProviders: [(await import('./auth0.ts')).auth0] }));

const CLIENT = auth0.clients[0]!;
const SECRET = CLIENT.clientSecret!;
const CB = 'http://127.0.0.1:9999/callback';
const insecure = { [o.allowInsecureRequests]: true } as const;

let idp: RunningMockIdp;
let base: string;
let issuer: string;

beforeAll(async () => {
  idp = await startMockIdp({ port: 0 });
  base = `${idp.url}/auth0`;
  issuer = `${base}/`;
});

afterAll(async () => {
  await idp.stop();
});

beforeEach(async () => {
  await control('/_mock/reset', {});
});

async function control(path: string, body: unknown, method = 'POST'): Promise<Response> {
  const res = await fetch(`${idp.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

const fault = (endpoint: string, action: Record<string, unknown>, times?: number) =>
  control('/_mock/faults', { provider: 'auth0', endpoint, action, ...(times ? { times } : {}) });

async function discover(): Promise<o.AuthorizationServer> {
  const res = await o.discoveryRequest(new URL(issuer), insecure);
  return o.processDiscoveryResponse(new URL(issuer), res);
}

async function jwks(): Promise<ReturnType<typeof createLocalJWKSet>> {
  const res = await fetch(`${base}/.well-known/jwks.json`);
  return createLocalJWKSet((await res.json()) as { keys: JWK[] });
}

interface Authorized {
  code: string;
  verifier: string;
  nonce: string;
  state: string;
  callback: URLSearchParams;
}

/** Builds an authorization URL with PKCE, state and nonce. */
async function authorizationUrl(
  as: o.AuthorizationServer,
  params: Record<string, string> = {},
  clientId = CLIENT.clientId,
) {
  const verifier = o.generateRandomCodeVerifier();
  const state = o.generateRandomState();
  const nonce = o.generateRandomNonce();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: CB,
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: await o.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  }).toString();
  return { url, verifier, state, nonce };
}

/** Queues `persona` through /_mock/next-login and follows /authorize to the callback. */
async function authorize(
  as: o.AuthorizationServer,
  persona: string,
  params: Record<string, string> = {},
  client: o.Client = { client_id: CLIENT.clientId },
): Promise<Authorized> {
  await control('/_mock/next-login', { persona, provider: 'auth0' });
  const { url, verifier, state, nonce } = await authorizationUrl(as, params, client.client_id);
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(CB);
  const callback = o.validateAuthResponse(as, client, location, state);
  return { code: callback.get('code')!, verifier, nonce, state, callback };
}

async function exchange(
  as: o.AuthorizationServer,
  a: Authorized,
  client: o.Client = { client_id: CLIENT.clientId },
  auth: o.ClientAuth = o.ClientSecretPost(SECRET),
): Promise<o.TokenEndpointResponse> {
  const res = await o.authorizationCodeGrantRequest(as, client, auth, a.callback, CB, a.verifier, insecure);
  return o.processAuthorizationCodeResponse(as, client, res, { expectedNonce: a.nonce });
}

/** A raw token request (deliberately malformed ones go through here). */
function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
}

async function signIn(persona: string, params: Record<string, string> = {}) {
  const as = await discover();
  const a = await authorize(as, persona, params);
  return { as, a, tokens: await exchange(as, a) };
}

describe('Auth0: a certified client completes the flow', () => {
  it('discovers, authorizes with PKCE through /_mock/next-login, exchanges, validates and reads userinfo', async () => {
    const as = await discover();
    expect(as.issuer).toBe(issuer);
    expect(as.token_endpoint).toBe(`${base}/oauth/token`);
    expect(as.registration_endpoint).toBe(`${base}/oidc/register`);
    expect(as.code_challenge_methods_supported).toEqual(['S256', 'plain']);

    const a = await authorize(as, 'alice');
    expect(a.code).toMatch(/^[A-Za-z0-9]{45}$/);
    const tokens = await exchange(as, a);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(86400);
    expect(tokens.scope).toBe('openid profile email');
    expect(tokens.refresh_token).toBeUndefined();

    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, await jwks(), {
      issuer,
      audience: CLIENT.clientId,
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toMatchObject({
      sub: 'auth0|alice',
      nickname: 'alice',
      name: 'Alice Example',
      email: 'alice@example.com',
      email_verified: true,
      nonce: a.nonce,
    });
    expect(typeof payload['sid']).toBe('string');
    expect(typeof payload['updated_at']).toBe('string');
    expect(String(payload['picture'])).toMatch(/^https:\/\/s\.gravatar\.com\/avatar\/[0-9a-f]{32}\?/);
    expect(payload.exp! - payload.iat!).toBe(36000);

    const claims = o.getValidatedIdTokenClaims(tokens)!;
    const info = await o.processUserInfoResponse(
      as,
      { client_id: CLIENT.clientId },
      claims.sub,
      await o.userInfoRequest(as, { client_id: CLIENT.clientId }, tokens.access_token, insecure),
    );
    expect(info).toMatchObject({
      sub: 'auth0|alice',
      email: 'alice@example.com',
      email_verified: true,
      nickname: 'alice',
      [`${AUTH0_CLAIM_NAMESPACE}roles`]: ['admin', 'editor'],
    });
  });

  it('completes the same flow through the login page', async () => {
    const as = await discover();
    const { url, verifier, state, nonce } = await authorizationUrl(as);
    const login = await loginThroughPage(url, 'bob');
    expect(login.status).toBe(302);
    expect(login.page).toContain('Auth0');
    const location = new URL(login.location!);
    const callback = o.validateAuthResponse(as, { client_id: CLIENT.clientId }, location, state);
    const tokens = await exchange(as, { code: callback.get('code')!, verifier, nonce, state, callback });
    const { payload } = await jwtVerify(tokens.id_token!, await jwks(), {
      issuer,
      audience: CLIENT.clientId,
    });
    expect(payload['sub']).toBe('auth0|bob');
    expect(payload['email']).toBe('Bob.Smith@Example.COM');
    const info = await fetch(`${base}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ sub: 'auth0|bob', email: 'Bob.Smith@Example.COM' });
  });

  it('answers at the real tenant hostname with that domain as issuer', async () => {
    const res = await idp.idp.fetch(
      new Request('https://acme.eu.auth0.com/.well-known/openid-configuration'),
    );
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, string>;
    expect(doc['issuer']).toBe('https://acme.eu.auth0.com/');
    expect(doc['token_endpoint']).toBe('https://acme.eu.auth0.com/oauth/token');
    expect(doc['jwks_uri']).toBe('https://acme.eu.auth0.com/.well-known/jwks.json');
  });
});

describe('Auth0 quirks', () => {
  it('issues iss with the trailing slash, and without it for liam', async () => {
    const alice = await signIn('alice');
    expect(decodeJwt(alice.tokens.id_token!).iss).toBe(issuer);
    expect(issuer.endsWith('/')).toBe(true);

    const as = await discover();
    const a = await authorize(as, 'liam');
    const res = await o.authorizationCodeGrantRequest(
      as,
      { client_id: CLIENT.clientId },
      o.ClientSecretPost(SECRET),
      a.callback,
      CB,
      a.verifier,
      insecure,
    );
    const body = (await res.clone().json()) as { id_token: string };
    expect(decodeJwt(body.id_token).iss).toBe(base);
    // A strict client refuses the slash-less issuer.
    await expect(
      o.processAuthorizationCodeResponse(as, { client_id: CLIENT.clientId }, res, { expectedNonce: a.nonce }),
    ).rejects.toMatchObject({ code: o.JWT_CLAIM_COMPARISON, message: expect.stringContaining('"iss"') });
  });

  it('gives an opaque access token without an audience (or with only /userinfo)', async () => {
    const plain = await signIn('alice');
    expect(plain.tokens.access_token).toMatch(/^[A-Za-z0-9]{32}$/);
    const userinfoOnly = await signIn('alice', { audience: `${base}/userinfo` });
    expect(userinfoOnly.tokens.access_token).toMatch(/^[A-Za-z0-9]{32}$/);
    const info = await fetch(`${base}/userinfo`, {
      headers: { authorization: `Bearer ${userinfoOnly.tokens.access_token}` },
    });
    expect(info.status).toBe(200);
    expect(((await info.json()) as Record<string, unknown>)['sub']).toBe('auth0|alice');
  });

  it('gives a JWT access token for the API audience, with the userinfo audience added for openid', async () => {
    const { tokens } = await signIn('alice', {
      audience: AUTH0_API_AUDIENCE,
      scope: 'openid profile email read:all write:all unknown:scope',
    });
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, await jwks(), { issuer });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.aud).toEqual([AUTH0_API_AUDIENCE, `${base}/userinfo`]);
    expect(payload).toMatchObject({
      sub: 'auth0|alice',
      azp: CLIENT.clientId,
      scope: 'openid profile email read:all write:all',
      permissions: ['read:all', 'write:all', 'delete:all'],
    });
    expect(payload).not.toHaveProperty('gty');
    expect(tokens.scope).toBe('openid profile email read:all write:all');
    // The array audience makes the token good at /userinfo as well.
    const info = await fetch(`${base}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(200);

    // Without openid: no id_token, and the API is the only audience.
    const as = await discover();
    const a = await authorize(as, 'oscar', { audience: AUTH0_API_AUDIENCE, scope: 'read:all' });
    const res = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    expect(res.status).toBe(200);
    const apiOnly = (await res.json()) as Record<string, unknown>;
    expect(apiOnly).not.toHaveProperty('id_token');
    expect(apiOnly['scope']).toBe('read:all');
    const claims = decodeJwt(apiOnly['access_token'] as string);
    expect(claims.aud).toBe(AUTH0_API_AUDIENCE);
    expect(claims['permissions']).toEqual(['read:all', 'read:audit']);
    const refused = await fetch(`${base}/userinfo`, {
      headers: { authorization: `Bearer ${apiOnly['access_token']}` },
    });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toBe('Unauthorized');
  });

  it('refuses an unknown audience with access_denied "Service not found"', async () => {
    const as = await discover();
    await control('/_mock/next-login', { persona: 'alice', provider: 'auth0' });
    const { url, state } = await authorizationUrl(as, { audience: 'https://nope.example' });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('error_description')).toBe('Service not found: https://nope.example');
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.has('code')).toBe(false);

    const token = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      audience: 'https://nope.example',
    });
    expect(token.status).toBe(403);
    expect(await token.json()).toEqual({
      error: 'access_denied',
      error_description: 'Service not found: https://nope.example',
    });
  });

  it('answers a bad code and a replayed code with 403 invalid_grant, and revokes what the code gave', async () => {
    const bad = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: 'not-a-code',
      redirect_uri: CB,
    });
    expect(bad.status).toBe(403);
    expect(await bad.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Invalid authorization code',
    });

    const { as, a, tokens } = await signIn('alice');
    const replay = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    expect(replay.status).toBe(403);
    expect(await replay.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Invalid authorization code',
    });
    expect(as.issuer).toBe(issuer);
    const info = await fetch(`${base}/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(401);
    expect(info.headers.get('www-authenticate')).toMatch(/^Bearer realm="Users", error="invalid_token"/);
  });

  it('answers a wrong PKCE verifier with 403 invalid_grant "Failed to verify code verifier"', async () => {
    const as = await discover();
    const a = await authorize(as, 'alice');
    const res = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: o.generateRandomCodeVerifier(),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Failed to verify code verifier',
    });
  });

  it('answers a wrong client secret with 401 access_denied "Unauthorized" (body and Basic)', async () => {
    const as = await discover();
    const a = await authorize(as, 'alice');
    const body = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: 'wrong',
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    expect(body.status).toBe(401);
    expect(await body.json()).toEqual({ error: 'access_denied', error_description: 'Unauthorized' });
    const basic = await tokenRequest(
      { grant_type: 'authorization_code', code: a.code, redirect_uri: CB, code_verifier: a.verifier },
      { authorization: `Basic ${Buffer.from(`${CLIENT.clientId}:wrong`).toString('base64')}` },
    );
    expect(basic.status).toBe(401);
    expect(await basic.json()).toEqual({ error: 'access_denied', error_description: 'Unauthorized' });
    // The code survived both refusals: the right secret (Basic, JSON body) still redeems it.
    const ok = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${CLIENT.clientId}:${SECRET}`).toString('base64')}`,
      },
      body: JSON.stringify({
        grant_type: 'authorization_code',
        code: a.code,
        redirect_uri: CB,
        code_verifier: a.verifier,
      }),
    });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Record<string, unknown>)['token_type']).toBe('Bearer');
  });

  it('has DCR off by default and registers a usable client when it is switched on', async () => {
    const registration = {
      client_name: 'MCP client',
      redirect_uris: [CB],
      token_endpoint_auth_method: 'client_secret_post',
    };
    const register = () =>
      fetch(`${base}/oidc/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registration),
      });
    const off = await register();
    expect(off.status).toBe(403);
    expect(await off.json()).toEqual({
      error: 'access_denied',
      error_description: 'Dynamic client registration is disabled for this tenant',
    });

    await control('/_mock/settings', { provider: 'auth0', settings: { dcr: true } });
    const on = await register();
    expect(on.status).toBe(201);
    const client = (await on.json()) as Record<string, unknown>;
    expect(client).toMatchObject({
      client_name: 'MCP client',
      redirect_uris: [CB],
      client_secret_expires_at: 0,
      token_endpoint_auth_method: 'client_secret_post',
    });
    expect(client['client_id']).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(client['client_secret']).toMatch(/^[A-Za-z0-9]{64}$/);

    const as = await discover();
    const dynamic: o.Client = { client_id: client['client_id'] as string };
    const a = await authorize(as, 'alice', {}, dynamic);
    const tokens = await exchange(as, a, dynamic, o.ClientSecretPost(client['client_secret'] as string));
    expect(o.getValidatedIdTokenClaims(tokens)!.aud).toBe(client['client_id']);

    const bad = await fetch(`${base}/oidc/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'x' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Record<string, unknown>)['error']).toBe('invalid_redirect_uri');
  });

  it('issues a refresh token only with offline_access, without rotation by default', async () => {
    const without = await signIn('alice');
    expect(without.tokens.refresh_token).toBeUndefined();

    const { as, tokens } = await signIn('alice', { scope: 'openid profile email offline_access' });
    expect(tokens.refresh_token).toMatch(/^v1\.M[A-Za-z0-9]{86}$/);
    const client = { client_id: CLIENT.clientId };
    const refreshed = await o.processRefreshTokenResponse(
      as,
      client,
      await o.refreshTokenGrantRequest(
        as,
        client,
        o.ClientSecretPost(SECRET),
        tokens.refresh_token!,
        insecure,
      ),
    );
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).toBeUndefined();
    expect(o.getValidatedIdTokenClaims(refreshed)!.sub).toBe('auth0|alice');
    // Without rotation the same refresh token keeps working.
    const again = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      refresh_token: tokens.refresh_token!,
    });
    expect(again.status).toBe(200);
    expect(await again.json()).not.toHaveProperty('refresh_token');
  });

  it('rotates refresh tokens when switched on and revokes the family on reuse', async () => {
    await control('/_mock/settings', { provider: 'auth0', settings: { rotate_refresh_tokens: true } });
    const { tokens } = await signIn('alice', { scope: 'openid offline_access' });
    const refresh = (token: string) =>
      tokenRequest({
        grant_type: 'refresh_token',
        client_id: CLIENT.clientId,
        client_secret: SECRET,
        refresh_token: token,
      });
    const first = await refresh(tokens.refresh_token!);
    expect(first.status).toBe(200);
    const rotated = ((await first.json()) as Record<string, string>)['refresh_token']!;
    expect(rotated).toMatch(/^v1\.M/);
    expect(rotated).not.toBe(tokens.refresh_token);

    const reuse = await refresh(tokens.refresh_token!);
    expect(reuse.status).toBe(403);
    expect(await reuse.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Unknown or invalid refresh token.',
    });
    // Reuse detection invalidated the newer token of the same family too.
    const afterReuse = await refresh(rotated);
    expect(afterReuse.status).toBe(403);
    expect(((await afterReuse.json()) as Record<string, string>)['error']).toBe('invalid_grant');
  });

  it('namespaces custom claims and never adds them under standard names', async () => {
    const alice = decodeJwt((await signIn('alice')).tokens.id_token!);
    expect(alice[`${AUTH0_CLAIM_NAMESPACE}roles`]).toEqual(['admin', 'editor']);
    expect(alice[`${AUTH0_CLAIM_NAMESPACE}groups`]).toEqual(['engineering', 'mcp-admins']);
    expect(alice[`${AUTH0_CLAIM_NAMESPACE}department`]).toMatchObject({ name: 'Engineering' });
    expect(alice).not.toHaveProperty('roles');
    expect(alice).not.toHaveProperty('groups');

    const oscar = decodeJwt((await signIn('oscar')).tokens.id_token!);
    expect(oscar.iss).toBe(issuer);
    expect(oscar.aud).toBe(CLIENT.clientId);
    expect(oscar[`${AUTH0_CLAIM_NAMESPACE}iss`]).toBe('https://evil.example');
    expect(oscar[`${AUTH0_CLAIM_NAMESPACE}aud`]).toBe('https://evil.example/mcp');
    expect(oscar).not.toHaveProperty('scope');
  });

  it("gives frank's two unlinked identities two subjects with the same verified email", async () => {
    const github = decodeJwt((await signIn('frank')).tokens.id_token!);
    const google = decodeJwt((await signIn('frank-google')).tokens.id_token!);
    expect(github).toMatchObject({ sub: 'github|42', email: 'frank@example.com', email_verified: true });
    expect(google).toMatchObject({
      sub: 'google-oauth2|G1',
      email: 'frank@example.com',
      email_verified: true,
    });
    expect(github['nickname']).toBe('frank-gh');
  });

  it('releases email claims only with the email scope, and none for a persona without email', async () => {
    const noEmailScope = decodeJwt((await signIn('alice', { scope: 'openid profile' })).tokens.id_token!);
    expect(noEmailScope).not.toHaveProperty('email');
    expect(noEmailScope['name']).toBe('Alice Example');
    const erin = decodeJwt((await signIn('erin')).tokens.id_token!);
    expect(erin['sub']).toBe('auth0|erin');
    expect(erin).not.toHaveProperty('email');
    expect(erin).not.toHaveProperty('email_verified');
    const carol = decodeJwt((await signIn('carol')).tokens.id_token!);
    expect(carol).toMatchObject({ email: 'alice@example.com', email_verified: false });
  });

  it('sends authorize errors to the redirect URI and shows a page for an unknown callback', async () => {
    const as = await discover();
    const { url } = await authorizationUrl(as, { code_challenge_method: 'S512' });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toBe('Unsupported code_challenge_method: S512');

    const { url: evil } = await authorizationUrl(as, { redirect_uri: 'https://evil.example/cb' });
    const page = await fetch(evil, { redirect: 'manual' });
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).toContain('Callback URL mismatch');
  });

  it('revokes a refresh token at /oauth/revoke', async () => {
    const { tokens } = await signIn('alice', { scope: 'openid offline_access' });
    const res = await fetch(`${base}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: CLIENT.clientId,
        client_secret: SECRET,
        token: tokens.refresh_token,
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const refresh = await tokenRequest({
      grant_type: 'refresh_token',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      refresh_token: tokens.refresh_token!,
    });
    expect(refresh.status).toBe(403);
    expect(await refresh.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Unknown or invalid refresh token.',
    });
  });

  it('journals every code and token it issues', async () => {
    const { a, tokens } = await signIn('alice', { scope: 'openid offline_access' });
    const res = await fetch(`${idp.url}/_mock/journal?provider=auth0&type=issued`);
    const { entries } = (await res.json()) as {
      entries: Array<{ kind: string; value: string; persona: string }>;
    };
    const issued = Object.fromEntries(entries.map((e) => [e.kind, e]));
    expect(issued['code']).toMatchObject({ value: a.code, persona: 'alice' });
    expect(issued['access_token']!.value).toBe(tokens.access_token);
    expect(issued['id_token']!.value).toBe(tokens.id_token);
    expect(issued['refresh_token']!.value).toBe(tokens.refresh_token);
  });
  it('describes itself in /_mock/providers and signs out through /oidc/logout', async () => {
    const res = await fetch(`${idp.url}/_mock/providers`);
    const { providers } = (await res.json()) as { providers: Array<Record<string, unknown>> };
    expect(providers).toHaveLength(1);
    expect(providers[0]).toMatchObject({
      id: 'auth0',
      issuer,
      base_urls: { tenant: base },
      endpoints: { token: `${base}/oauth/token`, register: `${base}/oidc/register` },
      client: { client_id: CLIENT.clientId, client_secret: SECRET, loopback_redirects_allowed: true },
    });
    expect(CLIENT.clientId).toHaveLength(32);
    expect(SECRET).toHaveLength(64);

    const out = await fetch(
      `${base}/oidc/logout?${new URLSearchParams({ client_id: CLIENT.clientId, post_logout_redirect_uri: CB, state: 's1' })}`,
      { redirect: 'manual' },
    );
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe(`${CB}?state=s1`);
    const evil = await fetch(
      `${base}/oidc/logout?${new URLSearchParams({ client_id: CLIENT.clientId, post_logout_redirect_uri: 'https://evil.example/' })}`,
      { redirect: 'manual' },
    );
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
  });

  it('refuses an expired JWT access token at /userinfo', async () => {
    await fault('token', { kind: 'token', defect: 'expired' });
    const as = await discover();
    const a = await authorize(as, 'alice', { audience: AUTH0_API_AUDIENCE });
    const res = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    const token = ((await res.json()) as Record<string, string>)['access_token']!;
    expect(decodeJwt(token).exp).toBeLessThan(Date.now() / 1000);
    const info = await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
    expect(info.status).toBe(401);
    expect(await info.text()).toBe('Unauthorized');
    expect(info.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('Auth0 faults', () => {
  it('answers an injected error in its own shape and status', async () => {
    await fault(
      'token',
      { kind: 'error', error: 'invalid_grant', description: 'Invalid authorization code' },
      1,
    );
    const as = await discover();
    const a = await authorize(as, 'alice');
    const res = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Invalid authorization code',
    });
  });

  it('sends an injected /authorize error to the redirect URI', async () => {
    await fault('authorize', { kind: 'error', error: 'login_required', description: 'Login required' }, 1);
    const as = await discover();
    const { url, state } = await authorizationUrl(as);
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(CB);
    expect(Object.fromEntries(location.searchParams)).toEqual({
      error: 'login_required',
      error_description: 'Login required',
      state,
    });
  });

  it.each([
    ['expired', (p: Record<string, unknown>) => expect(p['exp']).toBeLessThan(Date.now() / 1000)],
    ['not-yet-valid', (p: Record<string, unknown>) => expect(p['nbf']).toBeGreaterThan(Date.now() / 1000)],
    ['wrong-iss', (p: Record<string, unknown>) => expect(p['iss']).toBe('https://issuer.invalid/')],
    ['wrong-aud', (p: Record<string, unknown>) => expect(p['aud']).toBe('urn:mock:wrong-audience')],
  ] as const)('issues a %s id_token that validation rejects', async (defect, check) => {
    await fault('token', { kind: 'token', defect }, 1);
    const a = await authorize(await discover(), 'alice');
    const res = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    expect(res.status).toBe(200);
    const idToken = ((await res.json()) as Record<string, string>)['id_token']!;
    check(decodeJwt(idToken));
    await expect(
      jwtVerify(idToken, await jwks(), { issuer, audience: CLIENT.clientId }),
    ).rejects.toBeInstanceOf(joseErrors.JOSEError);
  });

  it('issues a badly signed id_token and an alg none id_token when asked', async () => {
    const as = await discover();
    await fault('token', { kind: 'token', defect: 'bad-signature' }, 1);
    const a = await authorize(as, 'alice');
    const res = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    });
    const forged = ((await res.json()) as Record<string, string>)['id_token']!;
    await expect(jwtVerify(forged, await jwks())).rejects.toBeInstanceOf(
      joseErrors.JWSSignatureVerificationFailed,
    );

    await fault('token', { kind: 'token', defect: 'alg-none' }, 1);
    const b = await authorize(as, 'alice');
    const none = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: b.code,
      redirect_uri: CB,
      code_verifier: b.verifier,
    });
    const unsigned = ((await none.json()) as Record<string, string>)['id_token']!;
    expect(decodeProtectedHeader(unsigned).alg).toBe('none');
    expect(unsigned.endsWith('.')).toBe(true);
  });

  it('rotates the signing key and keeps the old key published', async () => {
    const before = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(before.keys).toHaveLength(1);
    const oldKid = before.keys[0]!.kid;
    await fault('token', { kind: 'rotate-key' }, 1);
    const { tokens } = await signIn('alice');
    const kid = decodeProtectedHeader(tokens.id_token!).kid;
    expect(kid).not.toBe(oldKid);
    const after = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(after.keys.map((k) => k.kid)).toEqual([kid, oldKid]);
    await expect(jwtVerify(tokens.id_token!, createLocalJWKSet(after), { issuer })).resolves.toBeTruthy();
  });

  it('delays an answer and then answers normally', async () => {
    await fault('discovery', { kind: 'delay', ms: 200 }, 1);
    const started = Date.now();
    const as = await discover();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(as.issuer).toBe(issuer);
    const left = (await (await fetch(`${idp.url}/_mock/faults`)).json()) as { faults: unknown[] };
    expect(left.faults).toEqual([]);
  });

  it('answers a 5xx once and then recovers', async () => {
    await fault('token', { kind: 'status', status: 503 }, 1);
    const as = await discover();
    const a = await authorize(as, 'alice');
    const body = {
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: SECRET,
      code: a.code,
      redirect_uri: CB,
      code_verifier: a.verifier,
    };
    const failed = await tokenRequest(body);
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as Record<string, string>)['error']).toBe('server_error');
    const ok = await tokenRequest(body);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Record<string, string>)['access_token']).toMatch(/^[A-Za-z0-9]{32}$/);
  });
});

describe('Auth0 identity', () => {
  it('shows each persona as its id_token claims', () => {
    const alice = auth0.identity({
      id: 'zed',
      name: 'Zed Zero',
      description: '',
      email: 'zed@example.com',
      email_verified: true,
      claims: { roles: ['viewer'] },
      expect: { default: null },
      providers: {},
    });
    expect(alice).toMatchObject({
      sub: 'auth0|zed',
      nickname: 'zed',
      name: 'Zed Zero',
      email: 'zed@example.com',
      email_verified: true,
      [`${AUTH0_CLAIM_NAMESPACE}roles`]: ['viewer'],
    });
  });
});
