import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MockIdp } from '../app.ts';
import type { IssuedEntry } from '../journal.ts';
import { loginThroughPage } from '../login-client.ts';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import { GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, google, SCOPE_EMAIL, SCOPE_PROFILE } from './google.ts';

/** Where the mock sends codes; never fetched (redirects are read, not followed). */
const REDIRECT_URI = 'http://127.0.0.1:8765/oauth/callback';
const insecure = { [oauth.allowInsecureRequests]: true };

let running: RunningMockIdp;
let idp: MockIdp;
let issuer: string;
let tokenUrl: string;
let jwksUrl: string;
let www: string;

beforeAll(async () => {
  // Only the Google shape, so this file does not depend on the other providers.
  running = await startMockIdp({ definitions: [google] });
  idp = running.idp;
  issuer = `${running.url}/google`;
  tokenUrl = `${running.url}/google-oauth2/token`;
  jwksUrl = `${running.url}/google-www/oauth2/v3/certs`;
  www = `${running.url}/google-www`;
});
afterAll(() => running.stop());
beforeEach(() => idp.reset());

// --- helpers --------------------------------------------------------------------------------

async function control(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') {
  const res = await fetch(`${running.url}/_mock/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function fault(endpoint: string, action: Record<string, unknown>) {
  const res = await control('faults', { provider: 'google', endpoint, action, times: 1 });
  expect(res.status).toBe(201);
}

function authUrl(params: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    client_id: GOOGLE_CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email profile',
    state: 'st-1',
    ...params,
  };
  const defined = Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined);
  return `${issuer}/o/oauth2/v2/auth?${new URLSearchParams(defined)}`;
}

/** Queues the persona and runs /authorize; returns the redirect back to the client. */
async function authorize(persona: string, params: Record<string, string | undefined> = {}): Promise<URL> {
  await control('next-login', { persona, provider: 'google' });
  const res = await fetch(authUrl(params), { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

async function tokenRequest(params: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

function exchange(code: string, extra: Record<string, string> = {}) {
  return tokenRequest({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    client_id: GOOGLE_CLIENT_ID,
    client_secret: GOOGLE_CLIENT_SECRET,
    ...extra,
  });
}

/** Authorization plus code exchange; asserts success and returns the token response. */
async function signIn(persona: string, params: Record<string, string | undefined> = {}) {
  const back = await authorize(persona, params);
  const code = back.searchParams.get('code');
  expect(code).toMatch(/^4\/0A[A-Za-z0-9_-]{70}$/);
  const res = await exchange(code!);
  expect(res.status).toBe(200);
  return res.body as {
    access_token: string;
    expires_in: number;
    scope: string;
    token_type: string;
    id_token?: string;
    refresh_token?: string;
  };
}

async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const jwks = () => createRemoteJWKSet(new URL(jwksUrl));
const now = () => Math.floor(Date.now() / 1000);

// --- clients --------------------------------------------------------------------------------

describe('google: a certified client (oauth4webapi)', () => {
  async function discover() {
    const issuerUrl = new URL(issuer);
    const res = await oauth.discoveryRequest(issuerUrl, insecure);
    return oauth.processDiscoveryResponse(issuerUrl, res);
  }

  it('discovers the Google document: endpoints on the four Google hosts, RS256, PKCE plain and S256', async () => {
    const as = await discover();
    expect(as).toEqual({
      issuer,
      authorization_endpoint: `${issuer}/o/oauth2/v2/auth`,
      token_endpoint: tokenUrl,
      userinfo_endpoint: `${running.url}/google-openidconnect/v1/userinfo`,
      revocation_endpoint: `${running.url}/google-oauth2/revoke`,
      jwks_uri: jwksUrl,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'email', 'profile'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      claims_supported: [
        'aud',
        'email',
        'email_verified',
        'exp',
        'family_name',
        'given_name',
        'iat',
        'iss',
        'name',
        'picture',
        'sub',
      ],
      code_challenge_methods_supported: ['plain', 'S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
    });
  });

  it('completes discovery, PKCE authorization (next-login), code exchange, id_token and userinfo', async () => {
    const as = await discover();
    const client: oauth.Client = { client_id: GOOGLE_CLIENT_ID };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: GOOGLE_CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid email profile',
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();

    await control('next-login', { persona: 'alice', provider: 'google' });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    // Google echoes the asked and the expanded scope names, with authuser and prompt.
    expect(location.searchParams.get('scope')).toBe(`openid email profile ${SCOPE_EMAIL} ${SCOPE_PROFILE}`);
    expect(location.searchParams.get('authuser')).toBe('0');
    const params = oauth.validateAuthResponse(as, client, location, state);

    const tokenRes = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.ClientSecretPost(GOOGLE_CLIENT_SECRET),
      params,
      REDIRECT_URI,
      verifier,
      insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenRes, {
      expectedNonce: nonce,
      requireIdToken: true,
    });
    expect(tokens.access_token).toMatch(/^ya29\.a0/);
    expect(tokens.token_type).toBe('bearer'); // oauth4webapi lowercases; the wire value is checked below
    expect(tokens.expires_in).toBe(3599);
    expect(tokens.scope).toBe(`${SCOPE_EMAIL} ${SCOPE_PROFILE} openid`);
    expect(tokens.refresh_token).toBeUndefined();

    // oauth4webapi checks the claims; the signature is checked against the published JWKS.
    const claims = oauth.getValidatedIdTokenClaims(tokens)!;
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, jwks(), {
      issuer,
      audience: GOOGLE_CLIENT_ID,
    });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(protectedHeader.kid).toEqual(expect.any(String));
    const atHash = createHash('sha256')
      .update(tokens.access_token)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    expect(payload).toEqual({
      iss: issuer,
      azp: GOOGLE_CLIENT_ID,
      aud: GOOGLE_CLIENT_ID,
      sub: '110000000000000000001',
      email: 'alice@example.com',
      email_verified: true,
      at_hash: atHash,
      nonce,
      name: 'Alice Example',
      picture: expect.stringMatching(/^https:\/\//),
      given_name: 'Alice',
      family_name: 'Example',
      locale: 'en',
      iat: claims.iat,
      exp: claims.iat + 3600,
    });

    const info = await oauth.processUserInfoResponse(
      as,
      client,
      claims.sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
    );
    expect(info).toEqual({
      sub: '110000000000000000001',
      name: 'Alice Example',
      given_name: 'Alice',
      family_name: 'Example',
      picture: payload['picture'],
      email: 'alice@example.com',
      email_verified: true,
      locale: 'en',
    });

    // Every code and token was journaled.
    const issued = idp.journalEntries({ provider: 'google', type: 'issued' }) as IssuedEntry[];
    expect(issued.map((e) => e.kind).sort()).toEqual(['access_token', 'code', 'id_token']);
    expect(issued.find((e) => e.kind === 'access_token')?.value).toBe(tokens.access_token);
    expect(issued.every((e) => e.persona === 'alice' && e.client === GOOGLE_CLIENT_ID)).toBe(true);
  });

  it('completes the flow through the login page, with client_secret_basic', async () => {
    const as = await discover();
    const client: oauth.Client = { client_id: GOOGLE_CLIENT_ID };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: GOOGLE_CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: `openid ${SCOPE_EMAIL}`,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();

    const page = await loginThroughPage(url, 'bob');
    expect(page.status).toBe(302);
    expect(page.page).toContain('Google (mock identity provider)');
    const params = oauth.validateAuthResponse(as, client, new URL(page.location!), state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(GOOGLE_CLIENT_SECRET),
        params,
        REDIRECT_URI,
        verifier,
        insecure,
      ),
      { requireIdToken: true },
    );
    const { payload } = await jwtVerify(tokens.id_token!, jwks(), { issuer, audience: GOOGLE_CLIENT_ID });
    // bob's Google block overrides the address; only the email scope was asked, so no profile.
    expect(payload['email']).toBe('BOB.SMITH@example.com');
    expect(payload['email_verified']).toBe(true);
    expect(payload['sub']).toBe('110000000000000000002');
    expect(payload).not.toHaveProperty('name');
    const info = await oauth.processUserInfoResponse(
      as,
      client,
      payload.sub!,
      await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
    );
    expect(info).toEqual({
      sub: '110000000000000000002',
      email: 'BOB.SMITH@example.com',
      email_verified: true,
    });
  });
});

// --- authorization --------------------------------------------------------------------------

describe('google: authorization request', () => {
  it('requires scope: a missing scope is an error page, not a redirect', async () => {
    await control('next-login', { persona: 'alice', provider: 'google' });
    const res = await fetch(authUrl({ scope: undefined }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('Error 400: invalid_request');
    expect(html).toContain('Missing required parameter: scope');
    expect(idp.journalEntries({ type: 'issued' })).toEqual([]);
  });

  it('accepts short scope names and full URLs alike, and reports URL forms at the token endpoint', async () => {
    const short = await signIn('alice', { scope: 'email profile' });
    const full = await signIn('alice', { scope: `${SCOPE_EMAIL} ${SCOPE_PROFILE}` });
    // Google adds openid to email/profile and so also returns an id_token.
    expect(short.scope).toBe(`${SCOPE_EMAIL} ${SCOPE_PROFILE} openid`);
    expect(full.scope).toBe(short.scope);
    expect(decodeJwt(short.id_token!)['email']).toBe('alice@example.com');
    expect(decodeJwt(full.id_token!)['name']).toBe('Alice Example');
  });

  it('answers a scope without openid, email or profile with tokens but no id_token', async () => {
    const tokens = await signIn('alice', { scope: 'https://www.googleapis.com/auth/drive.readonly' });
    expect(tokens.scope).toBe('https://www.googleapis.com/auth/drive.readonly');
    expect(tokens).not.toHaveProperty('id_token');
    expect(tokens.access_token).toMatch(/^ya29\./);
  });

  it('refuses an unknown scope with invalid_scope', async () => {
    const res = await fetch(authUrl({ scope: 'openid repo' }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Error 400: invalid_scope');
    expect(html).toContain('invalid=[repo]');
  });

  it('shows redirect_uri_mismatch as an error page, never a redirect', async () => {
    await control('next-login', { persona: 'alice', provider: 'google' });
    const res = await fetch(authUrl({ redirect_uri: 'https://evil.example/callback' }), {
      redirect: 'manual',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Error 400: redirect_uri_mismatch');
    expect(html).toContain('https://evil.example/callback');
    expect(idp.journalEntries({ type: 'issued' })).toEqual([]);
  });

  it('shows an unknown client as a 401 invalid_client page', async () => {
    const res = await fetch(authUrl({ client_id: 'nobody.apps.googleusercontent.com' }), {
      redirect: 'manual',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Error 401: invalid_client');
    expect(html).toContain('The OAuth client was not found.');
  });

  it('refuses a response_type other than code and an unknown code_challenge_method', async () => {
    const token = await fetch(authUrl({ response_type: 'token' }), { redirect: 'manual' });
    expect(token.status).toBe(400);
    expect(token.headers.get('location')).toBeNull();
    expect(await token.text()).toContain('unsupported_response_type');
    const pkce = await fetch(authUrl({ code_challenge: 'a'.repeat(43), code_challenge_method: 'S512' }), {
      redirect: 'manual',
    });
    expect(pkce.status).toBe(400);
    expect(await pkce.text()).toContain('Invalid code_challenge_method: S512');
  });

  it('sends access_denied to the client when the user cancels on the login page', async () => {
    const page = await loginThroughPage(authUrl({ state: 'deny-me' }), 'alice', { action: 'deny' });
    expect(page.status).toBe(302);
    const back = new URL(page.location!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('deny-me');
    expect(back.searchParams.has('code')).toBe(false);
  });
});

// --- token endpoint -------------------------------------------------------------------------

describe('google: token endpoint', () => {
  it('returns a refresh token only with access_type=offline, only the first time, unless prompt=consent', async () => {
    const online = await signIn('alice');
    expect(online).not.toHaveProperty('refresh_token');

    const first = await signIn('alice', { access_type: 'offline' });
    expect(first.refresh_token).toMatch(/^1\/\/0/);
    const second = await signIn('alice', { access_type: 'offline' });
    expect(second).not.toHaveProperty('refresh_token');
    expect(second.access_token).toMatch(/^ya29\./);

    // Another persona at the same client is a first consent of its own.
    const other = await signIn('dave', { access_type: 'offline' });
    expect(other.refresh_token).toMatch(/^1\/\/0/);

    const again = await signIn('alice', { access_type: 'offline', prompt: 'consent' });
    expect(again.refresh_token).toMatch(/^1\/\/0/);
    expect(again.refresh_token).not.toBe(first.refresh_token);
  });

  it('refreshes: a new access token and id_token, no new refresh token', async () => {
    const first = await signIn('alice', { access_type: 'offline', scope: 'openid email' });
    const res = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
      client_id: GOOGLE_CLIENT_ID,
      client_secret: GOOGLE_CLIENT_SECRET,
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      access_token: expect.stringMatching(/^ya29\./),
      expires_in: 3599,
      scope: `${SCOPE_EMAIL} openid`,
      token_type: 'Bearer',
      id_token: expect.any(String),
    });
    expect(res.body['access_token']).not.toBe(first.access_token);
    const { payload } = await jwtVerify(res.body['id_token'] as string, jwks(), {
      issuer,
      audience: GOOGLE_CLIENT_ID,
    });
    expect(payload['email']).toBe('alice@example.com');
    expect(payload).not.toHaveProperty('nonce');

    // A refresh token of this client is refused to another client.
    idp.registerClient('google', {
      clientId: 'other.apps.googleusercontent.com',
      clientSecret: 'GOCSPX-other',
    });
    const stolen = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
      client_id: 'other.apps.googleusercontent.com',
      client_secret: 'GOCSPX-other',
    });
    expect(stolen.status).toBe(401);
    expect(stolen.body).toEqual({ error: 'unauthorized_client', error_description: 'Unauthorized' });
  });

  it('makes codes single-use: the replay fails and revokes what the first exchange issued', async () => {
    const back = await authorize('alice');
    const code = back.searchParams.get('code')!;
    const first = await exchange(code);
    expect(first.status).toBe(200);
    const replay = await exchange(code);
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({ error: 'invalid_grant', error_description: 'Bad Request' });
    expect(replay.body).not.toHaveProperty('access_token');
    const info = await getJson(
      `${running.url}/google-oauth2/tokeninfo?access_token=${first.body['access_token']}`,
    );
    expect(info.status).toBe(400);
    expect(info.body).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
  });

  it('answers an unknown code with invalid_grant "Malformed auth code."', async () => {
    const res = await exchange('4/0Anot-a-real-code');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'Malformed auth code.' });
  });

  it('checks PKCE: a missing or wrong verifier is invalid_grant, the right one works (S256 and plain)', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const s256 = {
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };

    const missing = await exchange((await authorize('alice', s256)).searchParams.get('code')!);
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid_grant', error_description: 'Missing code verifier.' });

    const wrong = await exchange((await authorize('alice', s256)).searchParams.get('code')!, {
      code_verifier: oauth.generateRandomCodeVerifier(),
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid code verifier.' });

    const right = await exchange((await authorize('alice', s256)).searchParams.get('code')!, {
      code_verifier: verifier,
    });
    expect(right.status).toBe(200);
    expect(right.body['access_token']).toMatch(/^ya29\./);

    // Without a method the challenge is plain (RFC 7636 4.3).
    const plain = await exchange(
      (await authorize('alice', { code_challenge: verifier })).searchParams.get('code')!,
      {
        code_verifier: verifier,
      },
    );
    expect(plain.status).toBe(200);
    expect(plain.body['token_type']).toBe('Bearer');
  });

  it('authenticates the client the way Google does', async () => {
    const code = async () => (await authorize('alice')).searchParams.get('code')!;

    const wrongSecret = await exchange(await code(), { client_secret: 'GOCSPX-wrong' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body).toEqual({ error: 'invalid_client', error_description: 'Unauthorized' });

    const unknown = await exchange(await code(), { client_id: 'nobody.apps.googleusercontent.com' });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual({
      error: 'invalid_client',
      error_description: 'The OAuth client was not found.',
    });

    const noClient = await tokenRequest({
      grant_type: 'authorization_code',
      code: await code(),
      redirect_uri: REDIRECT_URI,
    });
    expect(noClient.status).toBe(400);
    expect(noClient.body).toEqual({
      error: 'invalid_request',
      error_description: 'Could not determine client ID from request.',
    });

    const noSecret = await exchange(await code(), { client_secret: '' });
    expect(noSecret.status).toBe(400);
    expect(noSecret.body).toEqual({
      error: 'invalid_request',
      error_description: 'client_secret is missing.',
    });

    const basic = Buffer.from(`${GOOGLE_CLIENT_ID}:${GOOGLE_CLIENT_SECRET}`).toString('base64');
    const viaBasic = await tokenRequest(
      { grant_type: 'authorization_code', code: await code(), redirect_uri: REDIRECT_URI },
      { authorization: `Basic ${basic}` },
    );
    expect(viaBasic.status).toBe(200);
    expect(viaBasic.body['token_type']).toBe('Bearer');
    expect(viaBasic.headers.get('cache-control')).toContain('no-store');
  });

  it('refuses bad grant types and a missing or different redirect_uri', async () => {
    const grant = await tokenRequest({ grant_type: 'password', client_id: GOOGLE_CLIENT_ID });
    expect(grant.status).toBe(400);
    expect(grant.body).toEqual({
      error: 'unsupported_grant_type',
      error_description: 'Invalid grant_type: password',
    });

    const code = (await authorize('alice')).searchParams.get('code')!;
    const missing = await tokenRequest({
      grant_type: 'authorization_code',
      code,
      client_id: GOOGLE_CLIENT_ID,
      client_secret: GOOGLE_CLIENT_SECRET,
    });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({
      error: 'invalid_request',
      error_description: 'Missing parameter: redirect_uri',
    });

    const other = await exchange(code, { redirect_uri: 'http://127.0.0.1:8765/elsewhere' });
    expect(other.status).toBe(400);
    expect(other.body).toEqual({ error: 'redirect_uri_mismatch', error_description: 'Bad Request' });
  });
});

// --- identity quirks ------------------------------------------------------------------------

describe('google: personas', () => {
  it('adds hd only for the Workspace persona (judy)', async () => {
    const judy = await signIn('judy');
    const alice = await signIn('alice');
    expect(decodeJwt(judy.id_token!)['hd']).toBe('example.com');
    expect(decodeJwt(alice.id_token!)).not.toHaveProperty('hd');
    const v2 = await getJson(`${www}/oauth2/v2/userinfo`, bearer(judy.access_token));
    expect(v2.status).toBe(200);
    expect(v2.body['hd']).toBe('example.com');
    const v2alice = await getJson(`${www}/oauth2/v2/userinfo`, bearer(alice.access_token));
    expect(v2alice.body).not.toHaveProperty('hd');
    // judy.smith and judysmith are different accounts with different subjects.
    const dots = decodeJwt((await signIn('judy-dots')).id_token!);
    const nodots = decodeJwt((await signIn('judy-nodots')).id_token!);
    expect([dots['email'], nodots['email']]).toEqual(['judy.smith@gmail.com', 'judysmith@gmail.com']);
    expect(dots.sub).not.toBe(nodots.sub);
    expect(dots).not.toHaveProperty('hd');
  });

  it('leaves email out without the email scope, and for a persona without an address (erin)', async () => {
    const tokens = await signIn('alice', { scope: 'openid profile' });
    const claims = decodeJwt(tokens.id_token!);
    expect(claims).not.toHaveProperty('email');
    expect(claims).not.toHaveProperty('email_verified');
    expect(claims['name']).toBe('Alice Example');
    const v2 = await getJson(`${www}/oauth2/v2/userinfo`, bearer(tokens.access_token));
    expect(v2.status).toBe(200);
    expect(v2.body).not.toHaveProperty('email');
    expect(v2.body['id']).toBe('110000000000000000001');
    const info = await getJson(`${running.url}/google-oauth2/tokeninfo?access_token=${tokens.access_token}`);
    expect(info.status).toBe(200);
    expect(info.body).not.toHaveProperty('email');

    const erin = decodeJwt((await signIn('erin')).id_token!);
    expect(erin.sub).toBe('110000000000000000005');
    expect(erin).not.toHaveProperty('email');
    expect(erin).not.toHaveProperty('email_verified');
  });

  it('reports email_verified false for carol, as a boolean in the id_token and v1 tokeninfo', async () => {
    const tokens = await signIn('carol');
    const claims = decodeJwt(tokens.id_token!);
    expect(claims['email']).toBe('alice@example.com');
    expect(claims['email_verified']).toBe(false);
    const v1 = await getJson(`${www}/oauth2/v1/tokeninfo?access_token=${tokens.access_token}`);
    expect(v1.body['verified_email']).toBe(false);
    const v3 = await getJson(`${running.url}/google-oauth2/tokeninfo?access_token=${tokens.access_token}`);
    expect(v3.body['email_verified']).toBe('false'); // tokeninfo (v3) answers strings
  });

  it('uses the bare issuer form (no scheme) for liam, and the https form for others', async () => {
    const liam = await signIn('liam');
    const { payload } = await jwtVerify(liam.id_token!, jwks(), { audience: GOOGLE_CLIENT_ID });
    expect(payload.iss).toBe(issuer.replace(/^http:\/\//, ''));
    expect(payload.iss).toBe(`127.0.0.1:${running.port}/google`);
    expect(decodeJwt((await signIn('alice')).id_token!).iss).toBe(issuer);
  });

  it('at the real hostnames: Google URLs, issuer https://accounts.google.com, bare form accounts.google.com', async () => {
    // In-process, as msw or the HTTPS proxy would call it; nothing leaves the process.
    const discovery = await idp.fetch(
      new Request('https://accounts.google.com/.well-known/openid-configuration'),
    );
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({
      issuer: 'https://accounts.google.com',
      authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      token_endpoint: 'https://oauth2.googleapis.com/token',
      userinfo_endpoint: 'https://openidconnect.googleapis.com/v1/userinfo',
      revocation_endpoint: 'https://oauth2.googleapis.com/revoke',
      jwks_uri: 'https://www.googleapis.com/oauth2/v3/certs',
    });
    const issuers: Record<string, unknown> = {};
    for (const persona of ['liam', 'alice']) {
      idp.nextLogin(persona, { provider: 'google' });
      const back = await idp.fetch(
        new Request(authUrl().replace(issuer, 'https://accounts.google.com'), { redirect: 'manual' }),
      );
      expect(back.status).toBe(302);
      const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
      const res = await idp.fetch(
        new Request('https://oauth2.googleapis.com/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: REDIRECT_URI,
            client_id: GOOGLE_CLIENT_ID,
            client_secret: GOOGLE_CLIENT_SECRET,
          }),
        }),
      );
      expect(res.status).toBe(200);
      issuers[persona] = decodeJwt(((await res.json()) as { id_token: string }).id_token).iss;
    }
    expect(issuers).toEqual({ liam: 'accounts.google.com', alice: 'https://accounts.google.com' });
  });

  it('derives a stable numeric sub for a persona without a Google block', async () => {
    const a = decodeJwt((await signIn('carol-exchange')).id_token!);
    const b = decodeJwt((await signIn('carol-exchange')).id_token!);
    expect(a.sub).toMatch(/^1\d{20}$/);
    expect(a.sub).toBe(b.sub);
  });

  it('shows each persona in the Google shape through /_mock/personas', async () => {
    const { status, body } = await control('personas');
    expect(status).toBe(200);
    const personas = body['personas'] as Array<{
      id: string;
      identities: Record<string, Record<string, unknown>>;
    }>;
    const judy = personas.find((p) => p.id === 'judy')!.identities['google']!;
    expect(judy['sub']).toBe('110000000000000000010');
    expect(judy['id_token']).toMatchObject({
      hd: 'example.com',
      email: 'judy@example.com',
      email_verified: true,
    });
    expect(judy['userinfo_v2']).toMatchObject({
      id: '110000000000000000010',
      verified_email: true,
      hd: 'example.com',
    });
    expect(personas.find((p) => p.id === 'liam')!.identities['google']!['issuer_form']).toBe('bare');
  });
});

// --- userinfo, tokeninfo, revoke ------------------------------------------------------------

describe('google: userinfo, tokeninfo and revocation', () => {
  it('serves both userinfo shapes: OIDC (sub...) and v2 (id, verified_email...)', async () => {
    const tokens = await signIn('alice');
    const oidc = await getJson(
      `${running.url}/google-openidconnect/v1/userinfo`,
      bearer(tokens.access_token),
    );
    expect(oidc.status).toBe(200);
    expect(oidc.body).toMatchObject({
      sub: '110000000000000000001',
      email: 'alice@example.com',
      email_verified: true,
    });
    expect(oidc.body).not.toHaveProperty('id');
    const v2 = await getJson(`${www}/oauth2/v2/userinfo`, bearer(tokens.access_token));
    expect(v2.status).toBe(200);
    expect(v2.body).toEqual({
      id: '110000000000000000001',
      email: 'alice@example.com',
      verified_email: true,
      name: 'Alice Example',
      given_name: 'Alice',
      family_name: 'Example',
      picture: oidc.body['picture'],
      locale: 'en',
    });
    // The v3 alias on www answers the OIDC shape; the token may also come as a query parameter.
    const v3 = await getJson(`${www}/oauth2/v3/userinfo?access_token=${tokens.access_token}`);
    expect(v3.body).toEqual(oidc.body);
  });

  it('refuses a bad token at userinfo with 401 and a Bearer challenge, in each shape', async () => {
    const oidc = await getJson(`${running.url}/google-openidconnect/v1/userinfo`, bearer('ya29.bogus'));
    expect(oidc.status).toBe(401);
    expect(oidc.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(oidc.body).toEqual({ error: 'invalid_request', error_description: 'Invalid Credentials' });

    const v2 = await getJson(`${www}/oauth2/v2/userinfo`, bearer('ya29.bogus'));
    expect(v2.status).toBe(401);
    expect(v2.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(v2.body).toMatchObject({
      error: {
        code: 401,
        status: 'UNAUTHENTICATED',
        errors: [{ reason: 'authError', message: 'Invalid Credentials' }],
      },
    });
    const none = await getJson(`${www}/oauth2/v2/userinfo`);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: 401, errors: [{ reason: 'required' }] } });
  });

  it('serves both tokeninfo endpoints with the audience equal to the client_id', async () => {
    const tokens = await signIn('alice', { access_type: 'offline' });
    const v3 = await getJson(`${running.url}/google-oauth2/tokeninfo?access_token=${tokens.access_token}`);
    expect(v3.status).toBe(200);
    expect(v3.body).toEqual({
      azp: GOOGLE_CLIENT_ID,
      aud: GOOGLE_CLIENT_ID,
      sub: '110000000000000000001',
      scope: `${SCOPE_EMAIL} ${SCOPE_PROFILE} openid`,
      exp: expect.stringMatching(/^\d+$/),
      expires_in: expect.stringMatching(/^\d+$/),
      email: 'alice@example.com',
      email_verified: 'true',
      access_type: 'offline',
    });
    expect(Number(v3.body['exp'])).toBeGreaterThan(now());
    expect(Number(v3.body['expires_in'])).toBeLessThanOrEqual(3599);

    // The Bearer-header form (google-auth-library's getTokenInfo) gives the same answer.
    const posted = await fetch(`${running.url}/google-oauth2/tokeninfo`, {
      method: 'POST',
      headers: { ...bearer(tokens.access_token), 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(posted.status).toBe(200);
    expect(((await posted.json()) as Record<string, unknown>)['aud']).toBe(GOOGLE_CLIENT_ID);

    const v1 = await getJson(`${www}/oauth2/v1/tokeninfo?access_token=${tokens.access_token}`);
    expect(v1.status).toBe(200);
    expect(v1.body).toEqual({
      issued_to: GOOGLE_CLIENT_ID,
      audience: GOOGLE_CLIENT_ID,
      user_id: '110000000000000000001',
      scope: `${SCOPE_EMAIL} ${SCOPE_PROFILE} openid`,
      expires_in: expect.any(Number),
      email: 'alice@example.com',
      verified_email: true,
      access_type: 'offline',
    });

    for (const url of [`${running.url}/google-oauth2/tokeninfo`, `${www}/oauth2/v1/tokeninfo`]) {
      const bad = await getJson(`${url}?access_token=ya29.bogus`);
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
    }
  });

  it('answers tokeninfo?id_token= with the verified claims as strings', async () => {
    const tokens = await signIn('alice');
    const info = await getJson(`${running.url}/google-oauth2/tokeninfo?id_token=${tokens.id_token}`);
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({
      iss: issuer,
      aud: GOOGLE_CLIENT_ID,
      sub: '110000000000000000001',
      email_verified: 'true',
      exp: expect.stringMatching(/^\d+$/),
      alg: 'RS256',
      kid: decodeProtectedHeader(tokens.id_token!).kid,
    });
    const forged = `${tokens.id_token!.slice(0, -4)}AAAA`;
    const bad = await getJson(`${running.url}/google-oauth2/tokeninfo?id_token=${forged}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
  });

  it('revokes: tokeninfo, userinfo and refresh then fail, and a second revoke is invalid_token', async () => {
    const tokens = await signIn('alice', { access_type: 'offline' });
    const revoke = (token: string) =>
      fetch(`${running.url}/google-oauth2/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
    const ok = await revoke(tokens.access_token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({});

    const info = await getJson(`${running.url}/google-oauth2/tokeninfo?access_token=${tokens.access_token}`);
    expect(info.status).toBe(400);
    expect(info.body).toEqual({ error: 'invalid_token', error_description: 'Invalid Value' });
    const user = await getJson(`${www}/oauth2/v2/userinfo`, bearer(tokens.access_token));
    expect(user.status).toBe(401);
    // Revoking the access token also revoked the refresh token of the same grant.
    const refreshed = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
      client_id: GOOGLE_CLIENT_ID,
      client_secret: GOOGLE_CLIENT_SECRET,
    });
    expect(refreshed.status).toBe(400);
    expect(refreshed.body).toEqual({
      error: 'invalid_grant',
      error_description: 'Token has been expired or revoked.',
    });

    const again = await revoke(tokens.access_token);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({
      error: 'invalid_token',
      error_description: 'Token expired or revoked',
    });

    // With the grant revoked, the next offline sign-in is a first consent again.
    expect((await signIn('alice', { access_type: 'offline' })).refresh_token).toMatch(/^1\/\/0/);
  });
});

// --- faults ---------------------------------------------------------------------------------

describe('google: faults', () => {
  it('renders an injected token error in Google shape', async () => {
    const code = (await authorize('alice')).searchParams.get('code')!;
    await fault('token', { kind: 'error', error: 'invalid_grant' });
    const res = await exchange(code);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'Bad Request' });
    await fault('token', { kind: 'error', error: 'invalid_client' });
    const client = await exchange(code);
    expect(client.status).toBe(401);
    expect(client.body).toEqual({ error: 'invalid_client', error_description: 'Unauthorized' });
    // The code was not consumed by the failed attempts.
    expect((await exchange(code)).status).toBe(200);
  });

  it('sends an injected authorization error back to a valid redirect_uri', async () => {
    await fault('authorize', { kind: 'error', error: 'access_denied' });
    const res = await fetch(authUrl({ state: 'faulted' }), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(REDIRECT_URI);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('faulted');
    expect(back.searchParams.has('code')).toBe(false);
  });

  it('answers an injected userinfo_v2 error in the Google API error shape', async () => {
    const tokens = await signIn('alice');
    await fault('userinfo_v2', {
      kind: 'error',
      error: 'rateLimitExceeded',
      status: 403,
      description: 'Quota',
    });
    const res = await getJson(`${www}/oauth2/v2/userinfo`, bearer(tokens.access_token));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      error: {
        code: 403,
        message: 'Quota',
        status: 'PERMISSION_DENIED',
        errors: [{ reason: 'rateLimitExceeded' }],
      },
    });
  });

  it('token defect expired: the id_token has already expired', async () => {
    await fault('token', { kind: 'token', defect: 'expired' });
    const tokens = await signIn('alice');
    const claims = decodeJwt(tokens.id_token!);
    expect(claims.exp!).toBeLessThan(now());
    await expect(
      jwtVerify(tokens.id_token!, jwks(), { issuer, audience: GOOGLE_CLIENT_ID }),
    ).rejects.toBeInstanceOf(joseErrors.JWTExpired);
    // Only the faulted exchange is affected.
    const next = await signIn('alice');
    expect(decodeJwt(next.id_token!).exp!).toBeGreaterThan(now());
  });

  it('token defect wrong-iss: the id_token names another issuer', async () => {
    await fault('token', { kind: 'token', defect: 'wrong-iss' });
    const tokens = await signIn('alice');
    const { payload } = await jwtVerify(tokens.id_token!, jwks(), { audience: GOOGLE_CLIENT_ID });
    expect(payload.iss).toBe('https://issuer.invalid/');
    expect(payload.iss).not.toBe(issuer);
  });

  it('token defect wrong-aud: the id_token is for another audience', async () => {
    await fault('token', { kind: 'token', defect: 'wrong-aud' });
    const tokens = await signIn('alice');
    const { payload } = await jwtVerify(tokens.id_token!, jwks(), { issuer });
    expect(payload.aud).toBe('urn:mock:wrong-audience');
    expect(payload.azp).toBe(GOOGLE_CLIENT_ID);
  });

  it('token defect bad-signature: the published keys do not verify the id_token', async () => {
    await fault('token', { kind: 'token', defect: 'bad-signature' });
    const tokens = await signIn('alice');
    const { keys } = (await getJson(jwksUrl)).body as { keys: Array<{ kid: string }> };
    expect(keys.map((k) => k.kid)).toContain(decodeProtectedHeader(tokens.id_token!).kid);
    await expect(
      jwtVerify(tokens.id_token!, jwks(), { issuer, audience: GOOGLE_CLIENT_ID }),
    ).rejects.toBeInstanceOf(joseErrors.JWSSignatureVerificationFailed);
    expect(decodeJwt(tokens.id_token!).iss).toBe(issuer);
  });

  it('rotate-key: a new kid signs, and the old key stays in the JWKS', async () => {
    const before = await signIn('alice');
    const oldKid = decodeProtectedHeader(before.id_token!).kid;
    await fault('token', { kind: 'rotate-key' });
    const after = await signIn('alice');
    const newKid = decodeProtectedHeader(after.id_token!).kid;
    expect(newKid).toEqual(expect.any(String));
    expect(newKid).not.toBe(oldKid);
    const res = await getJson(jwksUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('max-age=0');
    const kids = (res.body['keys'] as Array<{ kid: string }>).map((k) => k.kid);
    expect(kids).toEqual([newKid, oldKid]);
    // Fresh key sets verify both tokens.
    await jwtVerify(before.id_token!, createRemoteJWKSet(new URL(jwksUrl)), {
      issuer,
      audience: GOOGLE_CLIENT_ID,
    });
    await jwtVerify(after.id_token!, createRemoteJWKSet(new URL(jwksUrl)), {
      issuer,
      audience: GOOGLE_CLIENT_ID,
    });
  });

  it('delay: the delayed answer is intact and the fault is used up', async () => {
    await fault('discovery', { kind: 'delay', ms: 25 });
    expect((await control('faults')).body['faults']).toHaveLength(1);
    const res = await getJson(`${issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.body['issuer']).toBe(issuer);
    expect((await control('faults')).body['faults']).toEqual([]);
  });

  it('5xx: the endpoint answers the injected status once', async () => {
    await fault('token', { kind: 'status', status: 503 });
    const code = (await authorize('alice')).searchParams.get('code')!;
    const failed = await exchange(code);
    expect(failed.status).toBe(503);
    expect(failed.body['error']).toBe('server_error');
    expect(failed.body).not.toHaveProperty('access_token');
    const retried = await exchange(code);
    expect(retried.status).toBe(200);
    expect(retried.body['access_token']).toMatch(/^ya29\./);
  });
});
