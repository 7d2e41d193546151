import { createHash, X509Certificate } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MockIdp } from '../app.ts';
import { loginThroughPage } from '../login-client.ts';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import { ENTRA_HOME_TENANT, ENTRA_SPA_APP, ENTRA_WEB_APP, entra } from './entra.ts';

const HOME = ENTRA_HOME_TENANT;
const GRACE_TENANT = '0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b';
const CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const WEB = ENTRA_WEB_APP.clientId;
const SECRET = ENTRA_WEB_APP.clientSecret!;
const SPA = ENTRA_SPA_APP.clientId;
const REDIRECT = 'http://127.0.0.1:8765/callback';
const API_SCOPE = `api://${WEB}/access_as_user`;
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let running: RunningMockIdp;
let login: string;
let graph: string;

beforeAll(async () => {
  running = await startMockIdp({ definitions: [entra] });
  login = `${running.url}/entra`;
  graph = `${running.url}/entra-graph`;
});
afterAll(() => running.stop());
beforeEach(() => running.idp.reset());

// --- helpers ---------------------------------------------------------------------------------

async function control(path: string, body?: unknown): Promise<Response> {
  return fetch(`${running.url}/_mock/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function queue(persona: string): Promise<void> {
  expect((await control('next-login', { persona, provider: 'entra' })).status).toBe(200);
}

async function addFault(endpoint: string, action: Record<string, unknown>, times = 1): Promise<void> {
  expect((await control('faults', { provider: 'entra', endpoint, action, times })).status).toBe(201);
}

function authorizeUrl(tenant: string, params: Record<string, string> = {}): URL {
  const url = new URL(`${login}/${tenant}/oauth2/v2.0/authorize`);
  url.search = new URLSearchParams({
    client_id: WEB,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid profile email offline_access',
    state: 'st-1',
    ...params,
  }).toString();
  return url;
}

const authorize = (url: URL) => fetch(url, { redirect: 'manual' });

/** The parameters sent back to the redirect URI (query or fragment). */
function callbackParams(response: Response): URLSearchParams {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  return location.hash ? new URLSearchParams(location.hash.slice(1)) : location.searchParams;
}

interface CodeOptions {
  tenant?: string;
  scope?: string;
  clientId?: string;
  redirectUri?: string;
  pkce?: boolean;
}

async function codeFor(
  persona: string,
  options: CodeOptions = {},
): Promise<{ code: string; verifier: string }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const pkce: Record<string, string> =
    options.pkce === false
      ? {}
      : { code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' };
  await queue(persona);
  const params = callbackParams(
    await authorize(
      authorizeUrl(options.tenant ?? HOME, {
        client_id: options.clientId ?? WEB,
        redirect_uri: options.redirectUri ?? REDIRECT,
        ...(options.scope ? { scope: options.scope } : {}),
        ...pkce,
      }),
    ),
  );
  const code = params.get('code');
  expect(code).toMatch(/^1\.AR[A-Za-z0-9_-]{280}$/);
  return { code: code!, verifier };
}

function token(tenant: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${login}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
}

type Tokens = Record<string, unknown> & { access_token: string; id_token?: string; refresh_token?: string };

async function signIn(persona: string, options: CodeOptions = {}): Promise<Tokens> {
  const tenant = options.tenant ?? HOME;
  const { code, verifier } = await codeFor(persona, options);
  const res = await token(tenant, {
    grant_type: 'authorization_code',
    client_id: WEB,
    client_secret: SECRET,
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

async function jwks(tenant = HOME): Promise<JSONWebKeySet> {
  const res = await fetch(`${login}/${tenant}/discovery/v2.0/keys`);
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

async function verify(jwt: string, options: JWTVerifyOptions = {}): Promise<JWTPayload> {
  return (await jwtVerify(jwt, createLocalJWKSet(await jwks()), options)).payload;
}

const TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/;

/** Asserts Entra's token-endpoint error body, with its AADSTS number. */
async function expectAadError(res: Response, status: number, error: string, code: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toEqual({
    error,
    error_description: expect.stringMatching(
      new RegExp(
        `^AADSTS${code}: [^\\r\\n]+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`,
      ),
    ),
    error_codes: [code],
    timestamp: expect.stringMatching(TIMESTAMP),
    trace_id: expect.stringMatching(GUID_RE),
    correlation_id: expect.stringMatching(GUID_RE),
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
  return body['error_description'] as string;
}

async function issuedCodes(): Promise<number> {
  const body = (await (await control('journal?type=issued')).json()) as { entries: Array<{ kind: string }> };
  return body.entries.filter((e) => e.kind === 'code').length;
}

// --- end-to-end with an OpenID-certified client ----------------------------------------------

describe('oauth4webapi client', () => {
  it('signs in through common with PKCE, checking the templated issuer per tenant as MSAL does', async () => {
    const issuerUrl = new URL(`${login}/common/v2.0`);
    const discovery = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...insecure });
    expect(discovery.status).toBe(200);
    // RFC 8414 issuer validation cannot pass: the document's issuer is a template.
    await expect(oauth.processDiscoveryResponse(issuerUrl, discovery.clone())).rejects.toMatchObject({
      code: oauth.JSON_ATTRIBUTE_COMPARISON,
    });
    const metadata = (await discovery.json()) as oauth.AuthorizationServer;
    expect(metadata.issuer).toBe(`${login}/{tenantid}/v2.0`);
    expect(metadata.authorization_endpoint).toBe(`${login}/common/oauth2/v2.0/authorize`);
    expect(metadata.userinfo_endpoint).toBe(`${graph}/oidc/userinfo`);

    const client: oauth.Client = { client_id: WEB };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(metadata.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: WEB,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid profile email offline_access',
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    await queue('alice');
    const redirect = await authorize(url);
    expect(redirect.status).toBe(302);
    const params = oauth.validateAuthResponse(
      metadata,
      client,
      new URL(redirect.headers.get('location')!),
      state,
    );

    const response = await oauth.authorizationCodeGrantRequest(
      metadata,
      client,
      oauth.ClientSecretPost(SECRET),
      params,
      REDIRECT,
      verifier,
      insecure,
    );
    const raw = (await response.clone().json()) as Tokens;
    const tid = decodeJwt(raw.id_token!)['tid'] as string;
    const as = { ...metadata, issuer: metadata.issuer.replace('{tenantid}', tid) };
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: nonce,
      requireIdToken: true,
    });
    expect(result.expires_in).toBe(3599);
    expect(result.refresh_token).toEqual(expect.any(String));
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    expect(claims).toMatchObject({
      iss: `${login}/${HOME}/v2.0`,
      aud: WEB,
      tid: HOME,
      oid: '6f1c2a44-0a1d-4b8e-9c41-000000000001',
      nonce,
      email: 'alice@example.com',
      preferred_username: 'alice@example.com',
      ver: '2.0',
    });

    const { payload, protectedHeader } = await jwtVerify(
      result.id_token!,
      createLocalJWKSet((await (await fetch(metadata.jwks_uri!)).json()) as JSONWebKeySet),
      { issuer: as.issuer, audience: WEB },
    );
    expect(payload['sub']).toBe(claims.sub);
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: expect.any(String) });

    const info = await oauth.processUserInfoResponse(
      metadata,
      client,
      claims.sub,
      await oauth.userInfoRequest(metadata, client, result.access_token, insecure),
    );
    expect(info).toEqual({
      sub: claims.sub,
      name: 'Alice Example',
      family_name: 'Example',
      given_name: 'Alice',
      picture: `${graph}/v1.0/me/photo/$value`,
      email: 'alice@example.com',
    });
  });

  it('signs in through a tenant GUID with standard validation, the login page and Basic auth', async () => {
    const issuerUrl = new URL(`${login}/${HOME}/v2.0`);
    const as = await oauth.processDiscoveryResponse(
      issuerUrl,
      await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...insecure }),
    );
    expect(as.issuer).toBe(`${login}/${HOME}/v2.0`);
    const client: oauth.Client = { client_id: WEB };
    const verifier = oauth.generateRandomCodeVerifier();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: WEB,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid profile email',
      state: 'page-state',
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const page = await loginThroughPage(url, 'bob');
    expect(page.status).toBe(302);
    const params = oauth.validateAuthResponse(as, client, new URL(page.location!), 'page-state');
    const result = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(SECRET),
        params,
        REDIRECT,
        verifier,
        insecure,
      ),
      { expectedNonce: nonce, requireIdToken: true },
    );
    expect(result.refresh_token).toBeUndefined();
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    expect(claims).toMatchObject({
      preferred_username: 'Bob.Smith@Example.COM',
      email: 'Bob.Smith@Example.COM',
      xms_edov: true,
      roles: ['viewer'],
      groups: ['sales'],
    });
    await verify(result.id_token!, { issuer: as.issuer, audience: WEB });
    const info = await oauth.processUserInfoResponse(
      as,
      client,
      claims.sub,
      await oauth.userInfoRequest(as, client, result.access_token, insecure),
    );
    expect(info).toMatchObject({ sub: claims.sub, name: 'Bob Smith', email: 'Bob.Smith@Example.COM' });
  });
});

// --- discovery and keys ----------------------------------------------------------------------

describe('discovery and keys', () => {
  it('publishes x5c certificates and the templated issuer in the key set', async () => {
    const { keys } = await jwks('common');
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(Object.keys(key)).toEqual(['kty', 'use', 'kid', 'x5t', 'n', 'e', 'x5c', 'issuer']);
    expect(key).toMatchObject({ kty: 'RSA', use: 'sig', e: 'AQAB', issuer: `${login}/{tenantid}/v2.0` });
    const der = Buffer.from(key.x5c![0]!, 'base64');
    const cert = new X509Certificate(der);
    expect(cert.subject).toBe('CN=accounts.accesscontrol.windows.net');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.export({ format: 'jwk' })).toMatchObject({ n: key.n, e: key.e });
    expect(key.x5t).toBe(createHash('sha1').update(der).digest('base64url'));

    const tokens = await signIn('alice');
    expect(decodeProtectedHeader(tokens.id_token!)).toMatchObject({ kid: key.kid, x5t: key.x5t });

    const v1 = (await (await fetch(`${login}/common/discovery/keys`)).json()) as JSONWebKeySet;
    expect(v1.keys.map((k) => [k.kid, (k as Record<string, unknown>)['issuer']])).toEqual([
      [key.kid, undefined],
    ]);
  });

  it('gives a concrete issuer for a tenant GUID, a domain and consumers', async () => {
    const doc = async (tenant: string) => {
      const res = await fetch(`${login}/${tenant}/v2.0/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };
    expect(await doc(HOME)).toMatchObject({
      issuer: `${login}/${HOME}/v2.0`,
      token_endpoint: `${login}/${HOME}/oauth2/v2.0/token`,
      tenant_region_scope: 'NA',
      subject_types_supported: ['pairwise'],
    });
    expect(await doc('contoso.onmicrosoft.com')).toMatchObject({
      issuer: `${login}/${HOME}/v2.0`,
      authorization_endpoint: `${login}/${HOME}/oauth2/v2.0/authorize`,
    });
    expect(await doc('consumers')).toMatchObject({
      issuer: `${login}/${CONSUMER_TENANT}/v2.0`,
      jwks_uri: `${login}/consumers/discovery/v2.0/keys`,
    });
    expect(await doc('organizations')).toMatchObject({
      issuer: `${login}/{tenantid}/v2.0`,
      tenant_region_scope: null,
    });
  });

  it('refuses an unknown tenant with AADSTS90002', async () => {
    const res = await fetch(`${login}/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration`);
    const description = await expectAadError(res, 400, 'invalid_tenant', 90002);
    expect(description).toContain("Tenant 'nosuch.onmicrosoft.com' not found");
  });
});

// --- authorize -------------------------------------------------------------------------------

describe('authorize', () => {
  it('requires scope (AADSTS900144, sent to the redirect URI)', async () => {
    await queue('alice');
    const url = authorizeUrl(HOME);
    url.searchParams.delete('scope');
    const params = callbackParams(await authorize(url));
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('error_description')).toMatch(
      /^AADSTS900144: The request body must contain the following parameter: 'scope'\.\r\nTrace ID: /,
    );
    expect(params.get('state')).toBe('st-1');
    expect(params.get('code')).toBeNull();
    expect(await issuedCodes()).toBe(0);
  });

  it('refuses the RFC 8707 resource parameter (AADSTS901002)', async () => {
    await queue('alice');
    const params = callbackParams(
      await authorize(authorizeUrl(HOME, { resource: 'https://mcp.example/mcp' })),
    );
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('error_description')).toMatch(
      /^AADSTS901002: The 'resource' request parameter is not supported\.\r\n/,
    );
    expect(params.get('code')).toBeNull();
    expect(await issuedCodes()).toBe(0);
  });

  it('shows an error page, never a redirect, for an unknown client or an unregistered redirect URI', async () => {
    const unknown = await authorize(
      authorizeUrl(HOME, { client_id: '11111111-2222-4333-8444-555555555555' }),
    );
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('location')).toBeNull();
    expect(await unknown.text()).toContain('AADSTS700016: Application with identifier');

    const evil = await authorize(authorizeUrl(HOME, { redirect_uri: 'https://evil.example/cb' }));
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
    expect(await evil.text()).toContain('AADSTS50011: The redirect URI &#39;https://evil.example/cb&#39;');
    expect(await issuedCodes()).toBe(0);
  });

  it('answers prompt=none with login_required when no session (queued login) exists', async () => {
    const params = callbackParams(await authorize(authorizeUrl(HOME, { prompt: 'none' })));
    expect(params.get('error')).toBe('login_required');
    expect(params.get('error_description')).toMatch(/^AADSTS50058: /);
    await queue('alice');
    expect(callbackParams(await authorize(authorizeUrl(HOME, { prompt: 'none' }))).get('code')).toEqual(
      expect.any(String),
    );
  });

  it('answers in form_post mode with an auto-posting form', async () => {
    await queue('alice');
    const res = await authorize(authorizeUrl(HOME, { response_mode: 'form_post' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain(`<form method="post" action="${REDIRECT}">`);
    const fields = Object.fromEntries(
      [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]),
    );
    expect(fields).toEqual({
      code: expect.stringMatching(/^1\.AR/),
      session_state: expect.stringMatching(GUID_RE),
      state: 'st-1',
    });
    const res2 = await token(HOME, {
      grant_type: 'authorization_code',
      client_id: WEB,
      client_secret: SECRET,
      code: fields['code']!,
      redirect_uri: REDIRECT,
    });
    expect(res2.status).toBe(200);
    expect(await res2.json()).toMatchObject({ token_type: 'Bearer', id_token: expect.any(String) });
  });

  it('answers response_type=code id_token in the fragment with an ID token carrying c_hash', async () => {
    const url = authorizeUrl(HOME, { response_type: 'code id_token', nonce: 'n-hybrid' });
    const page = await loginThroughPage(url, 'alice');
    expect(page.status).toBe(302);
    const location = new URL(page.location!);
    expect(location.search).toBe('');
    const params = new URLSearchParams(location.hash.slice(1));
    const code = params.get('code')!;
    const claims = await verify(params.get('id_token')!, { issuer: `${login}/${HOME}/v2.0`, audience: WEB });
    expect(claims).toMatchObject({
      nonce: 'n-hybrid',
      c_hash: createHash('sha256').update(code).digest().subarray(0, 16).toString('base64url'),
      oid: '6f1c2a44-0a1d-4b8e-9c41-000000000001',
    });
    expect(params.get('state')).toBe('st-1');

    const missingNonce = callbackParams(
      await authorize(authorizeUrl(HOME, { response_type: 'code id_token' })),
    );
    expect(missingNonce.get('error')).toBe('invalid_request');
    expect(missingNonce.get('error_description')).toMatch(/^AADSTS900144: .*'nonce'/);
  });
});

// --- tokens ----------------------------------------------------------------------------------

describe('token responses', () => {
  it('returns a refresh token only with offline_access, and a new one on every refresh', async () => {
    const without = await signIn('alice', { scope: 'openid profile' });
    expect(without).not.toHaveProperty('refresh_token');
    expect(without).toMatchObject({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 });

    const withOffline = await signIn('alice', { scope: 'openid offline_access' });
    expect(withOffline.refresh_token).toMatch(/^1\.AR/);
    const refresh = (refreshToken: string) =>
      token(HOME, {
        grant_type: 'refresh_token',
        client_id: WEB,
        client_secret: SECRET,
        refresh_token: refreshToken,
      });
    const res = await refresh(withOffline.refresh_token!);
    expect(res.status).toBe(200);
    const refreshed = (await res.json()) as Tokens;
    expect(refreshed.refresh_token).toMatch(/^1\.AR/);
    expect(refreshed.refresh_token).not.toBe(withOffline.refresh_token);
    expect(refreshed.access_token).not.toBe(withOffline.access_token);
    expect(decodeJwt(refreshed.id_token!)).toMatchObject({ oid: '6f1c2a44-0a1d-4b8e-9c41-000000000001' });
    // Entra does not revoke the refresh token it was sent (clients are expected to drop it).
    expect((await refresh(withOffline.refresh_token!)).status).toBe(200);
    await expectAadError(await refresh('1.ARnot-a-refresh-token'), 400, 'invalid_grant', 9002313);
  });

  it('returns an ID token only with openid', async () => {
    const tokens = await signIn('alice', { scope: 'offline_access https://graph.microsoft.com/User.Read' });
    expect(tokens).not.toHaveProperty('id_token');
    expect(tokens).toMatchObject({
      scope: 'https://graph.microsoft.com/User.Read',
      access_token: expect.any(String),
      refresh_token: expect.any(String),
    });
  });

  it('issues a v2 access token for api:// scopes and an opaque-to-the-app token for Graph', async () => {
    const api = await signIn('alice', { scope: `openid offline_access ${API_SCOPE}` });
    expect(api['scope']).toBe(API_SCOPE);
    const claims = await verify(api.access_token, { issuer: `${login}/${HOME}/v2.0`, audience: WEB });
    const idClaims = decodeJwt(api.id_token!);
    expect(claims).toMatchObject({
      aud: WEB,
      scp: 'access_as_user',
      azp: WEB,
      azpacr: '1',
      oid: '6f1c2a44-0a1d-4b8e-9c41-000000000001',
      tid: HOME,
      sub: idClaims.sub,
      roles: ['admin', 'editor'],
      ver: '2.0',
    });

    const graphTokens = await signIn('alice', {
      scope: 'openid profile https://graph.microsoft.com/User.Read',
    });
    expect(graphTokens['scope']).toBe('openid profile https://graph.microsoft.com/User.Read');
    const header = decodeProtectedHeader(graphTokens.access_token);
    expect(header).toMatchObject({ alg: 'RS256', nonce: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(decodeJwt(graphTokens.access_token)).toMatchObject({
      aud: GRAPH_APP_ID,
      iss: `https://sts.windows.net/${HOME}/`,
      appid: WEB,
      scp: 'openid profile User.Read',
      ver: '1.0',
    });
    await expect(verify(graphTokens.access_token)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('gives liam a v1 access token (sts.windows.net issuer) that v2 validation refuses', async () => {
    const tokens = await signIn('liam', { scope: `openid ${API_SCOPE}` });
    const claims = await verify(tokens.access_token);
    expect(claims).toMatchObject({
      iss: `https://sts.windows.net/${HOME}/`,
      aud: `api://${WEB}`,
      appid: WEB,
      ver: '1.0',
    });
    expect(claims).not.toHaveProperty('azp');
    await expect(verify(tokens.access_token, { issuer: `${login}/${HOME}/v2.0` })).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    });
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ iss: `${login}/${HOME}/v2.0`, ver: '2.0' });
  });

  it('signs grace in with her own tid through common, with an email that is not domain-verified', async () => {
    const tokens = await signIn('grace', { tenant: 'common' });
    const claims = await verify(tokens.id_token!, { issuer: `${login}/${GRACE_TENANT}/v2.0`, audience: WEB });
    expect(claims).toMatchObject({
      tid: GRACE_TENANT,
      email: 'alice@example.com',
      xms_edov: false,
      preferred_username: 'grace@fabrikam.onmicrosoft.com',
    });
    expect(claims['xms_edov']).not.toBe(true);
    expect((await signIn('grace', { tenant: GRACE_TENANT })).id_token).toEqual(expect.any(String));

    // The home tenant named in the path: she is not a member there.
    const { code, verifier } = await codeFor('grace', { tenant: HOME });
    const res = await token(HOME, {
      grant_type: 'authorization_code',
      client_id: WEB,
      client_secret: SECRET,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    const description = await expectAadError(res, 400, 'invalid_grant', 50020);
    expect(description).toContain("User account 'grace@fabrikam.onmicrosoft.com'");
  });

  it('gives heidi no email claim, only a UPN-looking preferred_username', async () => {
    const tokens = await signIn('heidi');
    const claims = decodeJwt(tokens.id_token!);
    expect(claims).not.toHaveProperty('email');
    expect(claims).not.toHaveProperty('xms_edov');
    expect(claims['preferred_username']).toBe('frank@example.com');
    const info = await fetch(`${graph}/oidc/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(info.status).toBe(200);
    const body = (await info.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('email');
    expect(body).toMatchObject({ sub: claims.sub, name: 'Heidi NoEmail' });
  });

  it('makes sub pairwise per application while oid stays the same', async () => {
    const other = '8c9d0e1f-2a3b-4c5d-8e6f-7a8b9c0d1e2f';
    const otherSecret = 'xyz8Q~Pq1.Rs2_Tu3-Vw4~Xy5zA6bC7dE8fG9hJ0';
    const reg = await control('clients', { provider: 'entra', client_id: other, client_secret: otherSecret });
    expect(reg.status).toBe(201);
    const first = decodeJwt((await signIn('alice')).id_token!);
    const { code, verifier } = await codeFor('alice', { clientId: other });
    const res = await token(HOME, {
      grant_type: 'authorization_code',
      client_id: other,
      client_secret: otherSecret,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(res.status).toBe(200);
    const second = decodeJwt(((await res.json()) as Tokens).id_token!);
    expect(second.aud).toBe(other);
    expect(second['oid']).toBe(first['oid']);
    expect(second.sub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(second.sub).not.toBe(first.sub);
  });
});

describe('token endpoint errors', () => {
  const redeem = (code: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    token(
      HOME,
      {
        grant_type: 'authorization_code',
        client_id: WEB,
        client_secret: SECRET,
        code,
        redirect_uri: REDIRECT,
        ...extra,
      },
      headers,
    );

  it('refuses an unknown code with AADSTS9002313', async () => {
    await expectAadError(await redeem('1.ARnot-a-code'), 400, 'invalid_grant', 9002313);
  });

  it('refuses a replayed code with AADSTS54005', async () => {
    const { code, verifier } = await codeFor('alice');
    expect((await redeem(code, { code_verifier: verifier })).status).toBe(200);
    await expectAadError(await redeem(code, { code_verifier: verifier }), 400, 'invalid_grant', 54005);
  });

  it('refuses a wrong code_verifier with AADSTS501481', async () => {
    const { code } = await codeFor('alice');
    await expectAadError(
      await redeem(code, { code_verifier: oauth.generateRandomCodeVerifier() }),
      400,
      'invalid_grant',
      501481,
    );
  });

  it('refuses a wrong secret with 401 AADSTS7000215 and accepts HTTP Basic', async () => {
    const { code, verifier } = await codeFor('alice');
    const bad = await redeem(code, { code_verifier: verifier, client_secret: 'abc8Q~wrong' });
    await expectAadError(bad, 401, 'invalid_client', 7000215);
    const basic = Buffer.from(`${encodeURIComponent(WEB)}:${encodeURIComponent(SECRET)}`).toString('base64');
    const res = await token(
      HOME,
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier },
      { authorization: `Basic ${basic}` },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ token_type: 'Bearer', id_token: expect.any(String) });
  });

  it('refuses an unknown client (AADSTS700016) and a client assertion it cannot verify (AADSTS700027)', async () => {
    const { code, verifier } = await codeFor('alice');
    await expectAadError(
      await redeem(code, { client_id: '11111111-2222-4333-8444-555555555555' }),
      400,
      'unauthorized_client',
      700016,
    );
    const onlyAssertion = await token(HOME, {
      grant_type: 'authorization_code',
      client_id: WEB,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln',
    });
    await expectAadError(onlyAssertion, 401, 'invalid_client', 700027);
  });

  it('accepts a form body only', async () => {
    const res = await fetch(`${login}/${HOME}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code', client_id: WEB }),
    });
    await expectAadError(res, 400, 'invalid_request', 900144);
  });
});

describe('SPA redirect type', () => {
  const SPA_REDIRECT = ENTRA_SPA_APP.redirectUris[0]!;
  const redeemSpa = (
    code: string,
    verifier: string | undefined,
    headers: Record<string, string>,
    extra = {},
  ) =>
    token(
      HOME,
      {
        grant_type: 'authorization_code',
        client_id: SPA,
        code,
        redirect_uri: SPA_REDIRECT,
        ...(verifier ? { code_verifier: verifier } : {}),
        ...extra,
      },
      headers,
    );

  async function spaCode(pkce = true) {
    const verifier = oauth.generateRandomCodeVerifier();
    await queue('alice');
    const res = await authorize(
      authorizeUrl(HOME, {
        client_id: SPA,
        redirect_uri: SPA_REDIRECT,
        ...(pkce
          ? {
              code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
              code_challenge_method: 'S256',
            }
          : {}),
      }),
    );
    expect(res.status).toBe(302);
    return { code: new URL(res.headers.get('location')!).searchParams.get('code')!, verifier };
  }

  it('requires an Origin header, refuses a secret and then redeems with CORS', async () => {
    const { code, verifier } = await spaCode();
    await expectAadError(await redeemSpa(code, verifier, {}), 400, 'invalid_request', 9002327);
    await expectAadError(
      await redeemSpa(code, verifier, { origin: 'http://localhost:6274' }, { client_secret: 'anything' }),
      401,
      'invalid_client',
      700025,
    );
    const ok = await redeemSpa(code, verifier, { origin: 'http://localhost:6274' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    const body = (await ok.json()) as Tokens;
    expect(decodeJwt(body.id_token!)).toMatchObject({ aud: SPA });
    expect(decodeJwt(body.access_token)).toMatchObject({ appid: SPA, appidacr: '0' });
  });

  it('requires PKCE for a SPA code (AADSTS9002325)', async () => {
    const { code } = await spaCode(false);
    await expectAadError(
      await redeemSpa(code, undefined, { origin: 'http://localhost:6274' }),
      400,
      'invalid_request',
      9002325,
    );
  });

  it('refuses a cross-origin redemption for the web client (AADSTS9002326)', async () => {
    const { code, verifier } = await codeFor('alice');
    const res = await token(
      HOME,
      {
        grant_type: 'authorization_code',
        client_id: WEB,
        client_secret: SECRET,
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      },
      { origin: 'http://localhost:6274' },
    );
    await expectAadError(res, 400, 'invalid_request', 9002326);
  });
});

// --- faults ----------------------------------------------------------------------------------

describe('faults', () => {
  it('answers an injected token error in the AADSTS shape', async () => {
    await addFault('token', { kind: 'error', error: 'invalid_grant' });
    const { code, verifier } = await codeFor('alice');
    const form = {
      grant_type: 'authorization_code',
      client_id: WEB,
      client_secret: SECRET,
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    };
    const description = await expectAadError(await token(HOME, form), 400, 'invalid_grant', 70008);
    expect(description).toContain('expired due to inactivity');
    // The fault was used up and the code was never consumed.
    expect((await token(HOME, form)).status).toBe(200);
  });

  it('keeps an AADSTS number given in the fault description', async () => {
    await addFault('token', {
      kind: 'error',
      error: 'invalid_grant',
      description: 'AADSTS50173: The provided grant has expired due to it being revoked.',
    });
    const res = await token(HOME, { grant_type: 'refresh_token', client_id: WEB, client_secret: SECRET });
    const description = await expectAadError(res, 400, 'invalid_grant', 50173);
    expect(description).toMatch(/^AADSTS50173: The provided grant has expired due to it being revoked\.\r\n/);
  });

  it('redirects an injected interaction_required at authorize', async () => {
    await addFault('authorize', { kind: 'error', error: 'interaction_required' });
    await queue('alice');
    const params = callbackParams(await authorize(authorizeUrl(HOME, { response_mode: 'fragment' })));
    expect(params.get('error')).toBe('interaction_required');
    expect(params.get('error_description')).toMatch(/^AADSTS50076: /);
    expect(params.get('state')).toBe('st-1');
    expect(params.get('code')).toBeNull();
    expect(await issuedCodes()).toBe(0);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const defects: Array<[string, (jwt: string) => Promise<void>]> = [
    ['expired', async (jwt) => expect(decodeJwt(jwt).exp!).toBeLessThan(now())],
    ['not-yet-valid', async (jwt) => expect(decodeJwt(jwt).nbf!).toBeGreaterThan(now())],
    ['wrong-iss', async (jwt) => expect(decodeJwt(jwt).iss).toBe('https://issuer.invalid/')],
    ['wrong-aud', async (jwt) => expect(decodeJwt(jwt).aud).toBe('urn:mock:wrong-audience')],
    [
      'bad-signature',
      async (jwt) => {
        await expect(verify(jwt)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
      },
    ],
    [
      'alg-none',
      async (jwt) => {
        expect(decodeProtectedHeader(jwt).alg).toBe('none');
        expect(jwt.endsWith('.')).toBe(true);
      },
    ],
  ];
  it.each(defects)('makes every JWT of one token response defective: %s', async (defect, check) => {
    await addFault('token', { kind: 'token', defect });
    const tokens = await signIn('alice', { scope: `openid ${API_SCOPE}` });
    await check(tokens.id_token!);
    await check(tokens.access_token);
    // The next response is sound again.
    const clean = await signIn('alice', { scope: `openid ${API_SCOPE}` });
    await verify(clean.id_token!, { issuer: `${login}/${HOME}/v2.0`, audience: WEB });
    await verify(clean.access_token, { issuer: `${login}/${HOME}/v2.0`, audience: WEB });
  });

  it('rotates the signing key and keeps the old one published with its certificate', async () => {
    const before = await signIn('alice');
    const oldKid = decodeProtectedHeader(before.id_token!).kid;
    await addFault('token', { kind: 'rotate-key' });
    const after = await signIn('alice');
    const newKid = decodeProtectedHeader(after.id_token!).kid;
    expect(newKid).not.toBe(oldKid);
    const { keys } = await jwks();
    expect(keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    for (const key of keys) {
      const cert = new X509Certificate(Buffer.from(key.x5c![0]!, 'base64'));
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(cert.publicKey.export({ format: 'jwk' }).n).toBe(key.n);
    }
    await verify(before.id_token!, { issuer: `${login}/${HOME}/v2.0` });
    await verify(after.id_token!, { issuer: `${login}/${HOME}/v2.0` });
  });

  it('delays an answer without changing it', async () => {
    await addFault('token', { kind: 'delay', ms: 30 });
    const tokens = await signIn('alice');
    expect(tokens).toMatchObject({ token_type: 'Bearer', id_token: expect.any(String) });
    const faults = (await (await control('faults')).json()) as { faults: unknown[] };
    expect(faults.faults).toEqual([]);
  });

  it('answers an injected 5xx', async () => {
    await addFault('discovery', { kind: 'status', status: 503 });
    const res = await fetch(`${login}/common/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'server_error' });
    const again = await fetch(`${login}/common/v2.0/.well-known/openid-configuration`);
    expect(again.status).toBe(200);
  });
});

describe('userinfo', () => {
  it('refuses a missing token and an access token for another audience in Graph error shape', async () => {
    const none = await fetch(`${graph}/oidc/userinfo`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm=""/);
    expect(await none.json()).toMatchObject({
      error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' },
    });
    const api = await signIn('alice', { scope: `openid ${API_SCOPE}` });
    const wrong = await fetch(`${graph}/oidc/userinfo`, {
      headers: { authorization: `Bearer ${api.access_token}` },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({
      error: {
        code: 'InvalidAuthenticationToken',
        message: 'Access token validation failure. Invalid audience.',
        innerError: { 'request-id': expect.stringMatching(GUID_RE) },
      },
    });
  });
});

describe('identity', () => {
  it('describes a persona as its ID token claims', () => {
    const grace = running.idp.personas.personas.find((p) => p.id === 'grace')!;
    expect(entra.identity(grace)).toEqual({
      aud: WEB,
      iss: `https://login.microsoftonline.com/${GRACE_TENANT}/v2.0`,
      email: 'alice@example.com',
      xms_edov: false,
      name: 'Grace Takeover',
      oid: '6f1c2a44-0a1d-4b8e-9c41-000000000007',
      preferred_username: 'grace@fabrikam.onmicrosoft.com',
      sub: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      tid: GRACE_TENANT,
      ver: '2.0',
    });
  });
});

describe('logout and settings', () => {
  it('logs out to a registered post-logout URI, or shows a page', async () => {
    const query = new URLSearchParams({ post_logout_redirect_uri: REDIRECT, client_id: WEB, state: 'bye' });
    const res = await fetch(`${login}/${HOME}/oauth2/v2.0/logout?${query}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${REDIRECT}?state=bye`);
    const other = await fetch(
      `${login}/${HOME}/oauth2/v2.0/logout?post_logout_redirect_uri=https://evil.example/`,
      {
        redirect: 'manual',
      },
    );
    expect(other.status).toBe(200);
    expect(other.headers.get('location')).toBeNull();
    expect(await other.text()).toContain('You signed out of your account');
  });

  it('follows the app-registration settings', async () => {
    const set = async (settings: Record<string, unknown>) =>
      expect((await control('settings', { provider: 'entra', settings })).status).toBe(200);
    await set({ requested_access_token_version: 1 });
    const v1 = await signIn('alice', { scope: `openid ${API_SCOPE}` });
    expect(decodeJwt(v1.access_token)).toMatchObject({ ver: '1.0', iss: `https://sts.windows.net/${HOME}/` });

    await set({ custom_claims: true });
    const oscar = decodeJwt((await signIn('oscar')).id_token!);
    expect(oscar).toMatchObject({
      iss: `${login}/${HOME}/v2.0`,
      aud: WEB,
      roles: ['auditor'],
      profile: { team: { name: 'Audit', region: 'eu-west-1' }, level: 3 },
    });
    expect(oscar).not.toHaveProperty('scope');
    expect((oscar['notes'] as string).length).toBe(3_000);

    await set({ id_token_issuance: false });
    const params = callbackParams(
      await authorize(authorizeUrl(HOME, { response_type: 'code id_token', nonce: 'n' })),
    );
    expect(params.get('error')).toBe('unsupported_response_type');
    expect(params.get('error_description')).toMatch(/^AADSTS700054: /);
  });
});

describe('at the real hostnames', () => {
  it('builds every URL on login.microsoftonline.com and graph.microsoft.com', async () => {
    const idp = new MockIdp({ definitions: [entra] });
    const res = await idp.fetch(
      new Request('https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration'),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0',
      jwks_uri: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    });
    idp.nextLogin('alice', { provider: 'entra' });
    const redirect = await idp.fetch(
      new Request(authorizeUrl(HOME).toString().replace(login, 'https://login.microsoftonline.com')),
    );
    const code = callbackParams(redirect).get('code')!;
    const res2 = await idp.fetch(
      new Request(`https://login.microsoftonline.com/${HOME}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: WEB,
          client_secret: SECRET,
          code,
          redirect_uri: REDIRECT,
        }),
      }),
    );
    expect(res2.status).toBe(200);
    const tokens = (await res2.json()) as Tokens;
    expect(decodeJwt(tokens.id_token!).iss).toBe(`https://login.microsoftonline.com/${HOME}/v2.0`);
    const info = await idp.fetch(
      new Request('https://graph.microsoft.com/oidc/userinfo', {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      }),
    );
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ picture: 'https://graph.microsoft.com/v1.0/me/photo/$value' });
  });
});
