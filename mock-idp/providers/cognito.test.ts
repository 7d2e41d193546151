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
import { COGNITO_POOL_ID, cognito } from './cognito.ts';

// Serve the Cognito shape alone, so these tests depend on no other provider file.
vi.mock('./index.ts', async () => ({ allProviders: [(await import('./cognito.ts')).cognito] }));

const CONFIDENTIAL = cognito.clients[0]!;
const PUBLIC = cognito.clients[1]!;
const SECRET = CONFIDENTIAL.clientSecret!;
const CB = 'http://127.0.0.1:9999/callback';
const ALL_SCOPES = 'openid email phone profile aws.cognito.signin.user.admin';
const insecure = { [o.allowInsecureRequests]: true } as const;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

let idp: RunningMockIdp;
let hosted: string;
let issuer: string;

beforeAll(async () => {
  idp = await startMockIdp({ port: 0 });
  hosted = `${idp.url}/cognito`;
  issuer = `${idp.url}/cognito-idp/${COGNITO_POOL_ID}`;
});

afterAll(async () => {
  await idp.stop();
});

beforeEach(async () => {
  await control('/_mock/reset', {});
});

async function control(path: string, body: unknown): Promise<Response> {
  const res = await fetch(`${idp.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

const fault = (endpoint: string, action: Record<string, unknown>, times?: number) =>
  control('/_mock/faults', { provider: 'cognito', endpoint, action, ...(times ? { times } : {}) });

async function discover(): Promise<o.AuthorizationServer> {
  const res = await o.discoveryRequest(new URL(issuer), insecure);
  return o.processDiscoveryResponse(new URL(issuer), res);
}

async function jwks(): Promise<ReturnType<typeof createLocalJWKSet>> {
  const res = await fetch(`${issuer}/.well-known/jwks.json`);
  return createLocalJWKSet((await res.json()) as { keys: JWK[] });
}

interface Authorized {
  code: string;
  verifier: string;
  nonce: string;
  callback: URLSearchParams;
}

async function authorizationUrl(
  as: o.AuthorizationServer,
  clientId: string,
  params: Record<string, string> = {},
) {
  const verifier = o.generateRandomCodeVerifier();
  const state = o.generateRandomState();
  const nonce = o.generateRandomNonce();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CB,
    state,
    nonce,
    scope: ALL_SCOPES,
    code_challenge: await o.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  }).toString();
  return { url, verifier, state, nonce };
}

/** Queues `persona` through /_mock/next-login and follows /oauth2/authorize to the callback. */
async function authorize(
  as: o.AuthorizationServer,
  persona: string,
  clientId = CONFIDENTIAL.clientId,
  params: Record<string, string> = {},
): Promise<Authorized> {
  await control('/_mock/next-login', { persona, provider: 'cognito' });
  const { url, verifier, state, nonce } = await authorizationUrl(as, clientId, params);
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(CB);
  const callback = o.validateAuthResponse(as, { client_id: clientId }, location, state);
  return { code: callback.get('code')!, verifier, nonce, callback };
}

async function exchange(
  as: o.AuthorizationServer,
  a: Authorized,
  client: o.Client = { client_id: CONFIDENTIAL.clientId },
  auth: o.ClientAuth = o.ClientSecretBasic(SECRET),
): Promise<o.TokenEndpointResponse> {
  const res = await o.authorizationCodeGrantRequest(as, client, auth, a.callback, CB, a.verifier, insecure);
  return o.processAuthorizationCodeResponse(as, client, res, { expectedNonce: a.nonce });
}

async function signIn(
  persona: string,
  clientId = CONFIDENTIAL.clientId,
  params: Record<string, string> = {},
) {
  const as = await discover();
  const a = await authorize(as, persona, clientId, params);
  const client = { client_id: clientId };
  const auth = clientId === CONFIDENTIAL.clientId ? o.ClientSecretBasic(SECRET) : o.None();
  return { as, a, tokens: await exchange(as, a, client, auth) };
}

function tokenRequest(
  body: Record<string, string>,
  headers: Record<string, string> = FORM,
): Promise<Response> {
  return fetch(`${hosted}/oauth2/token`, { method: 'POST', headers, body: new URLSearchParams(body) });
}

async function codeFor(persona: string, clientId = CONFIDENTIAL.clientId): Promise<Authorized> {
  return authorize(await discover(), persona, clientId);
}

const codeBody = (a: Authorized, clientId = CONFIDENTIAL.clientId) => ({
  grant_type: 'authorization_code',
  client_id: clientId,
  code: a.code,
  redirect_uri: CB,
  code_verifier: a.verifier,
});

describe('Cognito: a certified client completes the flow', () => {
  it('discovers, authorizes with PKCE through /_mock/next-login, exchanges (Basic), validates and reads userInfo', async () => {
    const as = await discover();
    expect(as.issuer).toBe(issuer);
    expect(as.authorization_endpoint).toBe(`${hosted}/oauth2/authorize`);
    expect(as.userinfo_endpoint).toBe(`${hosted}/oauth2/userInfo`);
    expect(as.jwks_uri).toBe(`${issuer}/.well-known/jwks.json`);
    expect(as.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post']);
    expect(as).not.toHaveProperty('code_challenge_methods_supported');

    const a = await authorize(as, 'alice');
    expect(a.code).toMatch(/^[0-9a-f-]{36}$/);
    const tokens = await exchange(as, a);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.refresh_token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);

    const { payload } = await jwtVerify(tokens.id_token!, await jwks(), {
      issuer,
      audience: CONFIDENTIAL.clientId,
    });
    expect(payload).toMatchObject({
      sub: '0b7e1a52-0001-4c1f-9f7a-3b2d1c000001',
      'cognito:username': 'alice',
      'cognito:groups': ['engineering', 'mcp-admins'],
      email: 'alice@example.com',
      email_verified: true,
      token_use: 'id',
      nonce: a.nonce,
    });
    for (const claim of ['auth_time', 'jti', 'origin_jti', 'event_id', 'at_hash'])
      expect(payload).toHaveProperty(claim);

    const client = { client_id: CONFIDENTIAL.clientId };
    const info = await o.processUserInfoResponse(
      as,
      client,
      String(payload.sub),
      await o.userInfoRequest(as, client, tokens.access_token, insecure),
    );
    expect(info).toMatchObject({
      sub: '0b7e1a52-0001-4c1f-9f7a-3b2d1c000001',
      email: 'alice@example.com',
      email_verified: 'true',
      username: 'alice',
    });
  });

  it('completes the flow through the login page with the public client (client_id in the body)', async () => {
    const as = await discover();
    const { url, verifier, state, nonce } = await authorizationUrl(as, PUBLIC.clientId);
    const login = await loginThroughPage(url, 'bob');
    expect(login.status).toBe(302);
    expect(login.page).toContain('Amazon Cognito');
    const callback = o.validateAuthResponse(
      as,
      { client_id: PUBLIC.clientId },
      new URL(login.location!),
      state,
    );
    const tokens = await exchange(
      as,
      { code: callback.get('code')!, verifier, nonce, callback },
      { client_id: PUBLIC.clientId },
      o.None(),
    );
    const { payload } = await jwtVerify(tokens.id_token!, await jwks(), {
      issuer,
      audience: PUBLIC.clientId,
    });
    expect(payload['cognito:username']).toBe('bob');
    const info = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({
      username: 'bob',
      email: 'Bob.Smith@Example.COM',
      email_verified: 'true',
    });
  });

  it('takes the region from the real hostname', async () => {
    const res = await idp.idp.fetch(
      new Request(
        'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_MockPool01/.well-known/openid-configuration',
      ),
    );
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, string>;
    expect(doc['issuer']).toBe('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_MockPool01');
    expect(doc['token_endpoint']).toBe('https://mock-pool.auth.eu-west-1.amazoncognito.com/oauth2/token');
    const wrongPool = await idp.idp.fetch(
      new Request(
        'https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_MockPool01/.well-known/openid-configuration',
      ),
    );
    expect(wrongPool.status).toBe(404);
    expect(await wrongPool.json()).toEqual({ message: 'User pool us-east-1_MockPool01 does not exist.' });
  });
});

describe('Cognito quirks', () => {
  it('puts client_id and no aud in the access token, token_use in both tokens', async () => {
    const { tokens } = await signIn('alice');
    const { payload } = await jwtVerify(tokens.access_token, await jwks(), { issuer });
    expect(payload).not.toHaveProperty('aud');
    expect(payload).toMatchObject({
      client_id: CONFIDENTIAL.clientId,
      token_use: 'access',
      username: 'alice',
      scope: ALL_SCOPES,
      'cognito:groups': ['engineering', 'mcp-admins'],
      version: 2,
    });
    expect(String(payload['scope']).split(' ')).toContain('aws.cognito.signin.user.admin');
    const id = decodeJwt(tokens.id_token!);
    expect(id['token_use']).toBe('id');
    expect(id.aud).toBe(CONFIDENTIAL.clientId);
    expect(id['origin_jti']).toBe(payload['origin_jti']);

    const narrow = await signIn('alice', CONFIDENTIAL.clientId, { scope: 'openid email' });
    expect(decodeJwt(narrow.tokens.access_token)['scope']).toBe('openid email');
  });

  it('omits cognito:groups for a persona without groups', async () => {
    const { tokens } = await signIn('dave');
    expect(decodeJwt(tokens.id_token!)).not.toHaveProperty('cognito:groups');
    expect(decodeJwt(tokens.access_token)).not.toHaveProperty('cognito:groups');
    const bob = await signIn('bob');
    expect(decodeJwt(bob.tokens.access_token)['cognito:groups']).toEqual(['sales']);
  });

  it('says email_verified false (boolean) in the ID token and "false" (string) at userInfo for carol', async () => {
    const { tokens } = await signIn('carol');
    const id = decodeJwt(tokens.id_token!);
    expect(id['email_verified']).toBe(false);
    const res = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(res.status).toBe(200);
    const info = (await res.json()) as Record<string, unknown>;
    expect(info['email_verified']).toBe('false');
    expect(typeof info['email_verified']).toBe('string');
    expect(info['email']).toBe('alice@example.com');
  });

  it('returns only id_token and access_token on refresh', async () => {
    const { as, tokens } = await signIn('alice');
    const client = { client_id: CONFIDENTIAL.clientId };
    const res = await o.refreshTokenGrantRequest(
      as,
      client,
      o.ClientSecretBasic(SECRET),
      tokens.refresh_token!,
      insecure,
    );
    const body = (await res.clone().json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'token_type']);
    const refreshed = await o.processRefreshTokenResponse(as, client, res);
    expect(refreshed.refresh_token).toBeUndefined();
    const id = decodeJwt(refreshed.id_token!);
    expect(id['origin_jti']).toBe(decodeJwt(tokens.id_token!)['origin_jti']);
    expect(id['auth_time']).toBe(decodeJwt(tokens.id_token!)['auth_time']);
    // The refresh token is not rotated: it still works.
    const again = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! },
      { ...FORM, authorization: basic(CONFIDENTIAL.clientId, SECRET) },
    );
    expect(again.status).toBe(200);
  });

  it('answers token errors with a bare error and no error_description', async () => {
    const auth = { ...FORM, authorization: basic(CONFIDENTIAL.clientId, SECRET) };
    const a = await codeFor('alice');
    const cases: Array<[Record<string, string>, Record<string, string>, string]> = [
      [{ ...codeBody(a), code: 'not-a-code' }, auth, 'invalid_grant'],
      [{ grant_type: 'authorization_code', redirect_uri: CB }, auth, 'invalid_request'],
      [{ grant_type: 'password', username: 'alice', password: 'x' }, auth, 'unsupported_grant_type'],
      [codeBody(a), { ...FORM, authorization: basic(CONFIDENTIAL.clientId, 'wrong') }, 'invalid_client'],
      [{ ...codeBody(a), redirect_uri: 'http://127.0.0.1:9999/other' }, auth, 'unauthorized_client'],
    ];
    for (const [body, headers, error] of cases) {
      const res = await tokenRequest(body, headers);
      expect(res.status, error).toBe(400);
      expect(await res.json()).toEqual({ error });
    }
    // A replayed code: the first redemption works, the second is a bare invalid_grant.
    const b = await codeFor('alice');
    expect((await tokenRequest(codeBody(b), auth)).status).toBe(200);
    const replay = await tokenRequest(codeBody(b), auth);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({ error: 'invalid_grant' });
  });

  it('refuses a token request that is not a form', async () => {
    const a = await codeFor('alice');
    const json = await fetch(`${hosted}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic(CONFIDENTIAL.clientId, SECRET) },
      body: JSON.stringify(codeBody(a)),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toEqual({ error: 'invalid_request' });
    const get = await fetch(`${hosted}/oauth2/token?${new URLSearchParams(codeBody(a))}`);
    expect(get.status).toBe(405);
    expect(await get.json()).toEqual({ error: 'invalid_request' });
    // The code was not spent by the refused requests.
    const ok = await tokenRequest(codeBody(a), {
      ...FORM,
      authorization: basic(CONFIDENTIAL.clientId, SECRET),
    });
    expect(ok.status).toBe(200);
  });

  it('authenticates the confidential client by Basic or body secret, the public one by client_id alone', async () => {
    const a = await codeFor('alice');
    const noSecret = await tokenRequest(codeBody(a));
    expect(noSecret.status).toBe(400);
    expect(await noSecret.json()).toEqual({ error: 'invalid_client' });
    const post = await tokenRequest({ ...codeBody(a), client_secret: SECRET });
    expect(post.status).toBe(200);

    const b = await codeFor('alice');
    const viaBasic = await tokenRequest(
      { ...codeBody(b), client_id: '' },
      { ...FORM, authorization: basic(CONFIDENTIAL.clientId, SECRET) },
    );
    expect(viaBasic.status).toBe(400);
    expect(await viaBasic.json()).toEqual({ error: 'invalid_client' });
    const { client_id: _omit, ...withoutId } = codeBody(b);
    const basicOnly = await tokenRequest(withoutId, {
      ...FORM,
      authorization: basic(CONFIDENTIAL.clientId, SECRET),
    });
    expect(basicOnly.status).toBe(200);

    const c = await codeFor('alice', PUBLIC.clientId);
    const withSecret = await tokenRequest({ ...codeBody(c, PUBLIC.clientId), client_secret: 'anything' });
    expect(withSecret.status).toBe(400);
    expect(await withSecret.json()).toEqual({ error: 'invalid_client' });
    const publicOk = await tokenRequest(codeBody(c, PUBLIC.clientId));
    expect(publicOk.status).toBe(200);
    expect(await publicOk.json()).toHaveProperty('refresh_token');
  });

  it('reports userInfo errors only in WWW-Authenticate', async () => {
    const missing = await fetch(`${hosted}/oauth2/userInfo`);
    expect(missing.status).toBe(400);
    expect(missing.headers.get('www-authenticate')).toBe(
      'error="invalid_request", error_description="Bad OAuth2 request at UserInfo Endpoint"',
    );
    expect(await missing.text()).toBe('');
    const bad = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: 'Bearer not.a.token' },
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe(
      'error="invalid_token", error_description="Access token is expired, disabled, or deleted, or the user has globally signed out."',
    );
    expect(await bad.text()).toBe('');
    // An access token without the openid scope is refused too.
    const a = await authorize(await discover(), 'alice', CONFIDENTIAL.clientId, {
      scope: 'aws.cognito.signin.user.admin',
    });
    const exchanged = await tokenRequest(codeBody(a), {
      ...FORM,
      authorization: basic(CONFIDENTIAL.clientId, SECRET),
    });
    expect(exchanged.status).toBe(200);
    const tokens = (await exchanged.json()) as Record<string, string>;
    expect(tokens).not.toHaveProperty('id_token');
    const noOpenid = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: `Bearer ${tokens['access_token']}` },
    });
    expect(noOpenid.status).toBe(401);
    expect(noOpenid.headers.get('www-authenticate')).toMatch(/^error="invalid_token"/);
  });

  it("shows kim's federated identities in the ID token and as a string at userInfo", async () => {
    const { tokens } = await signIn('kim');
    const id = decodeJwt(tokens.id_token!);
    expect(id['cognito:username']).toBe('Google_117700000000000000011');
    expect(id['identities']).toEqual([
      expect.objectContaining({
        providerName: 'Google',
        providerType: 'Google',
        userId: '117700000000000000011',
        primary: 'true',
        issuer: null,
      }),
    ]);
    expect(id['email_verified']).toBe(true);
    const info = (await (
      await fetch(`${hosted}/oauth2/userInfo`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })
    ).json()) as Record<string, unknown>;
    expect(typeof info['identities']).toBe('string');
    expect(JSON.parse(info['identities'] as string)[0].providerName).toBe('Google');
    expect(info['username']).toBe('Google_117700000000000000011');
  });

  it('gives heidi a phone number and no email', async () => {
    const { tokens } = await signIn('heidi');
    const id = decodeJwt(tokens.id_token!);
    expect(id).toMatchObject({ phone_number: '+15555550108', phone_number_verified: true });
    expect(id).not.toHaveProperty('email');
    expect(id).not.toHaveProperty('email_verified');
    const info = (await (
      await fetch(`${hosted}/oauth2/userInfo`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })
    ).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ phone_number: '+15555550108', phone_number_verified: 'true' });
    expect(info).not.toHaveProperty('email');
  });

  it('maps flat custom claims to custom: attributes', async () => {
    const { tokens } = await signIn('oscar');
    const id = decodeJwt(tokens.id_token!);
    expect(id).toMatchObject({
      'custom:roles': 'auditor',
      'custom:scope': 'admin',
      'custom:iss': 'https://evil.example',
    });
    expect(id.iss).toBe(issuer);
    expect(id).not.toHaveProperty('custom:notes');
    expect(id).not.toHaveProperty('custom:profile');
  });

  it('publishes no RFC 8414 document', async () => {
    const inserted = await fetch(
      `${idp.url}/cognito-idp/.well-known/oauth-authorization-server/${COGNITO_POOL_ID}`,
    );
    expect(inserted.status).toBe(404);
    const appended = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
    expect(appended.status).toBe(404);
    const hostedDoc = await fetch(`${hosted}/.well-known/oauth-authorization-server`);
    expect(hostedDoc.status).toBe(404);
    const oidc = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(oidc.status).toBe(200);
  });

  it('sends an unregistered callback to the hosted /error page and bad parameters back to the client', async () => {
    const as = await discover();
    const { url } = await authorizationUrl(as, CONFIDENTIAL.clientId, {
      redirect_uri: 'https://evil.example/cb',
    });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${hosted}/error`);
    expect(location.searchParams.get('error')).toBe('redirect_mismatch');
    expect((await fetch(location)).status).toBe(400);

    const { url: plain, state } = await authorizationUrl(as, CONFIDENTIAL.clientId, {
      code_challenge_method: 'plain',
    });
    const refused = await fetch(plain, { redirect: 'manual' });
    const back = new URL(refused.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(CB);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('state')).toBe(state);
    expect(back.searchParams.has('code')).toBe(false);
  });

  it('revokes a refresh token and the access tokens it issued', async () => {
    const { tokens } = await signIn('alice');
    const auth = { ...FORM, authorization: basic(CONFIDENTIAL.clientId, SECRET) };
    const jwt = await fetch(`${hosted}/oauth2/revoke`, {
      method: 'POST',
      headers: auth,
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(jwt.status).toBe(400);
    expect(await jwt.json()).toEqual({ error: 'unsupported_token_type' });
    const res = await fetch(`${hosted}/oauth2/revoke`, {
      method: 'POST',
      headers: auth,
      body: new URLSearchParams({ token: tokens.refresh_token! }),
    });
    expect(res.status).toBe(200);
    const refresh = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! },
      auth,
    );
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toEqual({ error: 'invalid_grant' });
    const info = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(401);
  });

  it('issues client_credentials tokens for the resource server scopes', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'mock-api/read' },
      { ...FORM, authorization: basic(CONFIDENTIAL.clientId, SECRET) },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    const { payload } = await jwtVerify(body['access_token']!, await jwks(), { issuer });
    expect(payload).toMatchObject({
      sub: CONFIDENTIAL.clientId,
      client_id: CONFIDENTIAL.clientId,
      scope: 'mock-api/read',
    });
    const publicClient = await tokenRequest({ grant_type: 'client_credentials', client_id: PUBLIC.clientId });
    expect(publicClient.status).toBe(400);
    expect(await publicClient.json()).toEqual({ error: 'unauthorized_client' });
  });
  it('describes itself in /_mock/providers and signs out through /logout', async () => {
    const res = await fetch(`${idp.url}/_mock/providers`);
    const { providers } = (await res.json()) as { providers: Array<Record<string, unknown>> };
    expect(providers[0]).toMatchObject({
      id: 'cognito',
      issuer,
      base_urls: { hosted, idp: `${idp.url}/cognito-idp` },
      endpoints: {
        userinfo: `${hosted}/oauth2/userInfo`,
        discovery: `${issuer}/.well-known/openid-configuration`,
      },
      client: {
        client_id: CONFIDENTIAL.clientId,
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
      },
      clients: [
        { client_id: CONFIDENTIAL.clientId, name: CONFIDENTIAL.name },
        { client_id: PUBLIC.clientId, name: PUBLIC.name },
      ],
    });
    expect(CONFIDENTIAL.clientId).toMatch(/^[a-z0-9]{26}$/);
    expect(PUBLIC.clientId).toMatch(/^[a-z0-9]{26}$/);
    expect(SECRET).toMatch(/^[a-z0-9]{51}$/);

    const out = await fetch(
      `${hosted}/logout?${new URLSearchParams({ client_id: PUBLIC.clientId, logout_uri: CB })}`,
      {
        redirect: 'manual',
      },
    );
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe(CB);
    const evil = await fetch(
      `${hosted}/logout?${new URLSearchParams({ client_id: PUBLIC.clientId, logout_uri: 'https://evil.example/' })}`,
      { redirect: 'manual' },
    );
    expect(evil.status).toBe(302);
    const location = new URL(evil.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${hosted}/error`);
    expect(location.searchParams.get('error')).toBe('redirect_mismatch');
  });
});

describe('Cognito faults', () => {
  it('answers an injected error in its own bare shape', async () => {
    await fault('token', { kind: 'error', error: 'invalid_grant', description: 'ignored by Cognito' }, 1);
    const a = await codeFor('alice');
    const res = await tokenRequest(codeBody(a), {
      ...FORM,
      authorization: basic(CONFIDENTIAL.clientId, SECRET),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_grant' });

    await fault('userinfo', { kind: 'error', error: 'invalid_token' }, 1);
    const { tokens } = await signIn('alice');
    const info = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(401);
    expect(info.headers.get('www-authenticate')).toMatch(
      /^error="invalid_token", error_description="Access token/,
    );
    expect(await info.text()).toBe('');
  });

  it.each([
    ['expired', (p: Record<string, unknown>) => expect(p['exp']).toBeLessThan(Date.now() / 1000)],
    ['not-yet-valid', (p: Record<string, unknown>) => expect(p['nbf']).toBeGreaterThan(Date.now() / 1000)],
    ['wrong-iss', (p: Record<string, unknown>) => expect(p['iss']).toBe('https://issuer.invalid/')],
    ['wrong-aud', (p: Record<string, unknown>) => expect(p['aud']).toBe('urn:mock:wrong-audience')],
  ] as const)('issues %s tokens that validation rejects', async (defect, check) => {
    await fault('token', { kind: 'token', defect });
    const a = await codeFor('alice');
    const res = await tokenRequest(codeBody(a), {
      ...FORM,
      authorization: basic(CONFIDENTIAL.clientId, SECRET),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    check(decodeJwt(body['id_token']!));
    await expect(
      jwtVerify(body['id_token']!, await jwks(), { issuer, audience: CONFIDENTIAL.clientId }),
    ).rejects.toBeInstanceOf(joseErrors.JOSEError);
    check(decodeJwt(body['access_token']!));
  });

  it('issues badly signed and alg none tokens that userInfo refuses', async () => {
    await fault('token', { kind: 'token', defect: 'bad-signature' });
    const a = await codeFor('alice');
    const auth = { ...FORM, authorization: basic(CONFIDENTIAL.clientId, SECRET) };
    const forged = (await (await tokenRequest(codeBody(a), auth)).json()) as Record<string, string>;
    await expect(jwtVerify(forged['id_token']!, await jwks())).rejects.toBeInstanceOf(
      joseErrors.JWSSignatureVerificationFailed,
    );
    const info = await fetch(`${hosted}/oauth2/userInfo`, {
      headers: { authorization: `Bearer ${forged['access_token']}` },
    });
    expect(info.status).toBe(401);

    await fetch(`${idp.url}/_mock/faults`, { method: 'DELETE' });
    await fault('token', { kind: 'token', defect: 'alg-none' });
    const b = await codeFor('alice');
    const unsigned = (await (await tokenRequest(codeBody(b), auth)).json()) as Record<string, string>;
    expect(decodeProtectedHeader(unsigned['id_token']!).alg).toBe('none');
    expect(decodeProtectedHeader(unsigned['access_token']!).alg).toBe('none');
  });

  it('rotates the signing key and keeps the old key published', async () => {
    const before = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const oldKid = before.keys[0]!.kid;
    await fault('token', { kind: 'rotate-key' }, 1);
    const { tokens } = await signIn('alice');
    const kid = decodeProtectedHeader(tokens.id_token!).kid;
    expect(kid).not.toBe(oldKid);
    const after = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(after.keys.map((k) => k.kid)).toEqual([kid, oldKid]);
    await expect(jwtVerify(tokens.id_token!, createLocalJWKSet(after), { issuer })).resolves.toBeTruthy();
  });

  it('delays an answer and then answers normally', async () => {
    await fault('jwks', { kind: 'delay', ms: 200 }, 1);
    const started = Date.now();
    const res = await fetch(`${issuer}/.well-known/jwks.json`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { keys: JWK[] }).keys[0]).toMatchObject({
      kty: 'RSA',
      alg: 'RS256',
      use: 'sig',
    });
  });

  it('answers a 5xx once and then recovers', async () => {
    await fault('userinfo', { kind: 'status', status: 502 }, 1);
    const { tokens } = await signIn('alice');
    const headers = { authorization: `Bearer ${tokens.access_token}` };
    const failed = await fetch(`${hosted}/oauth2/userInfo`, { headers });
    expect(failed.status).toBe(502);
    const ok = await fetch(`${hosted}/oauth2/userInfo`, { headers });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Record<string, unknown>)['username']).toBe('alice');
  });
});

describe('Cognito identity', () => {
  it('shows each persona as ID-token claims plus the userInfo object', () => {
    const identity = cognito.identity({
      id: 'carol',
      name: 'Carol',
      description: '',
      email: 'alice@example.com',
      email_verified: false,
      claims: {},
      expect: { default: null },
      providers: { cognito: { sub: 'abc', username: 'carol', userinfo_email_verified: 'false' } },
    }) as { id_token: Record<string, unknown>; userinfo: Record<string, unknown> };
    expect(identity.id_token).toMatchObject({
      sub: 'abc',
      'cognito:username': 'carol',
      email_verified: false,
    });
    expect(identity.userinfo).toMatchObject({ sub: 'abc', username: 'carol', email_verified: 'false' });
  });
});
