/**
 * Each fault kind on the generic `oidc` flavour, and the protocol edges every flavour shares
 * (single-use codes, PKCE, redirect URI checks, client authentication, revocation).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import {
  CALLBACK,
  codeFlow,
  decodeJwtPart,
  MockControl,
  pkcePair,
  postForm,
  redirectOf,
  verifyWithJwks,
} from './oidc-test-client.ts';

vi.mock('./index.ts', async () => ({ allProviders: (await import('./oidc.ts')).oidcFamily }));

let idp: RunningMockIdp;
let mock: MockControl;
let client: { id: string; secret: string };
let issuer: string;
let tokenUrl: string;
let jwksUrl: string;

beforeAll(async () => {
  idp = await startMockIdp({ port: 0 });
  mock = new MockControl(idp.url);
  const p = await mock.provider('oidc');
  client = { id: p.client.client_id, secret: p.client.client_secret! };
  issuer = p.issuer!;
  tokenUrl = p.endpoints['token']!;
  jwksUrl = p.endpoints['jwks']!;
});

afterAll(async () => {
  await idp.stop();
});

beforeEach(async () => {
  await mock.reset();
});

async function serviceToken(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await postForm(tokenUrl, { grant_type: 'client_credentials' }, client);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function faultsLeft(): Promise<unknown[]> {
  return ((await (await fetch(`${idp.url}/_mock/faults`)).json()) as { faults: unknown[] }).faults;
}

describe('faults on the oidc flavour', () => {
  it('error: the token endpoint answers the injected error in RFC 6749 5.2 shape', async () => {
    await mock.fault(
      'oidc',
      'token',
      { kind: 'error', error: 'temporarily_unavailable', description: 'try later', status: 503 },
      1,
    );
    const failed = await serviceToken();
    expect(failed.status).toBe(503);
    expect(failed.body).toEqual({ error: 'temporarily_unavailable', error_description: 'try later' });
    const next = await serviceToken();
    expect(next.status).toBe(200);
    expect(next.body['access_token']).toBeTruthy();
  });

  it('error: the authorization endpoint sends the injected error to the redirect URI with state and iss', async () => {
    await mock.fault(
      'oidc',
      'authorize',
      { kind: 'error', error: 'login_required', description: 'no session' },
      1,
    );
    const url = new URL(await mock.endpoint('oidc', 'authorize'));
    url.search = new URLSearchParams({
      client_id: client.id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'openid',
      state: 'xyz',
    }).toString();
    const location = await redirectOf(url.toString());
    expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
    expect(Object.fromEntries(location.searchParams)).toEqual({
      error: 'login_required',
      error_description: 'no session',
      state: 'xyz',
      iss: issuer,
    });
  });

  it.each([
    ['expired', 'ERR_JWT_EXPIRED'],
    ['not-yet-valid', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['wrong-iss', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['wrong-aud', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['bad-signature', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'],
    ['alg-none', 'ERR_JOSE_ALG_NOT_ALLOWED'],
  ])('token defect %s: the issued JWT fails verification with %s', async (defect, code) => {
    await mock.fault('oidc', 'token', { kind: 'token', defect }, 1);
    const bad = await serviceToken();
    expect(bad.status).toBe(200);
    const token = String(bad.body['access_token']);
    const header = decodeJwtPart(token, 0);
    const claims = decodeJwtPart(token, 1);
    expect(header['alg']).toBe(defect === 'alg-none' ? 'none' : 'RS256');
    if (defect === 'wrong-iss') expect(claims['iss']).toBe('https://issuer.invalid/');
    if (defect === 'wrong-aud') expect(claims['aud']).toBe('urn:mock:wrong-audience');
    await expect(verifyWithJwks(jwksUrl, token, { issuer, audience: 'account' })).rejects.toMatchObject({
      code,
    });
    // The fault was used once: the next token verifies.
    const good = await serviceToken();
    await expect(
      verifyWithJwks(jwksUrl, String(good.body['access_token']), { issuer, audience: 'account' }),
    ).resolves.toBeTruthy();
  });

  it('token defect with times 1 in a code exchange hits the access token; the id_token stays valid', async () => {
    await mock.fault('oidc', 'token', { kind: 'token', defect: 'expired' }, 1);
    const { status, body } = await codeFlow(mock, 'oidc');
    expect(status).toBe(200);
    await expect(verifyWithJwks(jwksUrl, String(body['access_token']), { issuer })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    });
    const id = await verifyWithJwks(jwksUrl, String(body['id_token']), { issuer, audience: client.id });
    expect(id.payload.sub).toBeTruthy();
  });

  it('rotate-key: new tokens carry a new kid; the old key stays in the JWKS and old tokens still verify', async () => {
    const before = (await (await fetch(jwksUrl)).json()) as { keys: Array<{ kid: string }> };
    expect(before.keys).toHaveLength(1);
    const oldToken = String((await serviceToken()).body['access_token']);
    const oldKid = decodeJwtPart(oldToken, 0)['kid'];
    expect(oldKid).toBe(before.keys[0]!.kid);
    await mock.fault('oidc', 'token', { kind: 'rotate-key' }, 1);
    const newToken = String((await serviceToken()).body['access_token']);
    const newKid = decodeJwtPart(newToken, 0)['kid'];
    expect(newKid).not.toBe(oldKid);
    const after = (await (await fetch(jwksUrl)).json()) as { keys: Array<{ kid: string }> };
    expect(after.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    expect((await verifyWithJwks(jwksUrl, oldToken, { issuer })).kid).toBe(oldKid);
    expect((await verifyWithJwks(jwksUrl, newToken, { issuer })).kid).toBe(newKid);
  });

  it('delay: the answer comes after the delay, and is a normal answer', async () => {
    await mock.fault('oidc', 'token', { kind: 'delay', ms: 300 }, 1);
    const started = performance.now();
    const delayed = await serviceToken();
    const elapsed = performance.now() - started;
    expect(delayed.status).toBe(200);
    expect(delayed.body['token_type']).toBe('Bearer');
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(await faultsLeft()).toEqual([]);
  });

  it('5xx: the endpoint answers the injected status, then recovers', async () => {
    await mock.fault('oidc', 'jwks', { kind: 'status', status: 503 }, 1);
    const down = await fetch(jwksUrl);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({
      error: 'server_error',
      error_description: 'injected upstream failure',
    });
    const up = await fetch(jwksUrl);
    expect(up.status).toBe(200);
    expect(((await up.json()) as { keys: unknown[] }).keys).toHaveLength(1);
  });
});

describe('protocol edges shared by every flavour', () => {
  it('a code is single-use; replaying it revokes the tokens of the first exchange', async () => {
    const first = await codeFlow(mock, 'oidc');
    expect(first.status).toBe(200);
    const replay = await postForm(
      tokenUrl,
      {
        grant_type: 'authorization_code',
        code: first.code,
        redirect_uri: CALLBACK,
        code_verifier: 'x'.repeat(43),
      },
      client,
    );
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({ error: 'invalid_grant', error_description: 'Code not valid' });
    const introspect = await postForm(
      await mock.endpoint('oidc', 'introspect'),
      { token: String(first.body['access_token']) },
      client,
    );
    expect(await introspect.json()).toEqual({ active: false });
  });

  it('PKCE: a wrong verifier is refused; plain is accepted where the provider allows it (Keycloak) and refused elsewhere (Clerk)', async () => {
    const { verifier, challenge } = pkcePair();
    await mock.nextLogin('oidc');
    const url = new URL(await mock.endpoint('oidc', 'authorize'));
    url.search = new URLSearchParams({
      client_id: client.id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    const code = (await redirectOf(url.toString())).searchParams.get('code')!;
    const wrong = await postForm(
      tokenUrl,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: CALLBACK,
        code_verifier: `${verifier.slice(1)}x`,
      },
      client,
    );
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'PKCE verification failed: Code mismatch',
    });

    await mock.nextLogin('oidc');
    url.searchParams.set('code_challenge', verifier);
    url.searchParams.set('code_challenge_method', 'plain');
    const plainCode = (await redirectOf(url.toString())).searchParams.get('code')!;
    const plain = await postForm(
      tokenUrl,
      { grant_type: 'authorization_code', code: plainCode, redirect_uri: CALLBACK, code_verifier: verifier },
      client,
    );
    expect(plain.status).toBe(200);

    const clerk = await mock.provider('clerk');
    const clerkUrl = new URL(clerk.endpoints['authorize']!);
    clerkUrl.search = new URLSearchParams({
      client_id: clerk.client.client_id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      code_challenge: verifier,
      code_challenge_method: 'plain',
    }).toString();
    const refused = await redirectOf(clerkUrl.toString());
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('error_description')).toBe(
      '"code_challenge_method" "plain" is not supported',
    );
  });

  it('never redirects to an unregistered redirect URI or for an unknown client', async () => {
    const url = new URL(await mock.endpoint('oidc', 'authorize'));
    url.search = new URLSearchParams({
      client_id: client.id,
      redirect_uri: 'https://evil.example/cb',
      response_type: 'code',
    }).toString();
    const evil = await fetch(url, { redirect: 'manual' });
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
    expect(await evil.text()).toContain('&#34;redirect_uri&#34; is not registered for this client.');
    url.searchParams.set('client_id', 'nobody');
    url.searchParams.set('redirect_uri', CALLBACK);
    const unknown = await fetch(url, { redirect: 'manual' });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('location')).toBeNull();
    expect(await unknown.text()).toContain('is not registered');
  });

  it('a redirect_uri different from the authorization request is refused at the token endpoint', async () => {
    const { challenge, verifier } = pkcePair();
    await mock.nextLogin('oidc');
    const url = new URL(await mock.endpoint('oidc', 'authorize'));
    url.search = new URLSearchParams({
      client_id: client.id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    const code = (await redirectOf(url.toString())).searchParams.get('code')!;
    const res = await postForm(
      tokenUrl,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: 'http://127.0.0.1:9999/other',
        code_verifier: verifier,
      },
      client,
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_grant', error_description: 'Incorrect redirect_uri' });
  });

  it('client authentication: wrong secret 401 with a Basic challenge; two methods at once refused', async () => {
    const wrong = await postForm(
      tokenUrl,
      { grant_type: 'client_credentials' },
      { id: client.id, secret: 'nope' },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="mock"');
    expect(await wrong.json()).toEqual({
      error: 'invalid_client',
      error_description: 'Invalid client or Invalid client credentials',
    });
    const both = await postForm(
      tokenUrl,
      { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret },
      client,
    );
    expect(both.status).toBe(400);
    expect(await both.json()).toEqual({
      error: 'invalid_request',
      error_description: 'use one client authentication method, not two',
    });
    const post = await postForm(tokenUrl, {
      grant_type: 'client_credentials',
      client_id: client.id,
      client_secret: client.secret,
    });
    expect(post.status).toBe(200);
  });

  it('refuses a JSON token request and a repeated parameter', async () => {
    const asJson = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: client.id,
        client_secret: client.secret,
      }),
    });
    expect(asJson.status).toBe(400);
    expect(await asJson.json()).toEqual({
      error: 'invalid_request',
      error_description: 'the body must be application/x-www-form-urlencoded',
    });
    const repeated = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${client.id}&client_secret=${client.secret}&scope=a&scope=b`,
    });
    expect(repeated.status).toBe(400);
    expect(await repeated.json()).toEqual({
      error: 'invalid_request',
      error_description: '"scope" is repeated',
    });
  });

  it('revocation (RFC 7009): 200 for an unknown token; a revoked refresh token takes its grant with it', async () => {
    const revokeUrl = await mock.endpoint('oidc', 'revoke');
    const unknown = await postForm(revokeUrl, { token: 'never-issued' }, client);
    expect(unknown.status).toBe(200);
    expect(await unknown.text()).toBe('');
    const { body } = await codeFlow(mock, 'oidc');
    const revoked = await postForm(
      revokeUrl,
      { token: String(body['refresh_token']), token_type_hint: 'refresh_token' },
      client,
    );
    expect(revoked.status).toBe(200);
    const introspectUrl = await mock.endpoint('oidc', 'introspect');
    expect(
      await (await postForm(introspectUrl, { token: String(body['access_token']) }, client)).json(),
    ).toEqual({ active: false });
    const refresh = await postForm(
      tokenUrl,
      { grant_type: 'refresh_token', refresh_token: String(body['refresh_token']) },
      client,
    );
    expect(refresh.status).toBe(400);
    // A client_credentials JWT (never stored) is revoked by its jti.
    const service = String((await serviceToken()).body['access_token']);
    expect(await (await postForm(introspectUrl, { token: service }, client)).json()).toMatchObject({
      active: true,
    });
    await postForm(revokeUrl, { token: service }, client);
    expect(await (await postForm(introspectUrl, { token: service }, client)).json()).toEqual({
      active: false,
    });
  });

  it('userinfo refuses a missing or unknown bearer token with RFC 6750 challenges', async () => {
    const url = await mock.endpoint('oidc', 'userinfo');
    const missing = await fetch(url);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer realm="${issuer}"`);
    const unknown = await fetch(url, { headers: { authorization: 'Bearer abc.def.ghi' } });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await unknown.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the access token is invalid or expired',
    });
  });

  it('answers at the real hostnames, keeping the tenant host in every URL (OCI keeps its fixed issuer)', async () => {
    const at = async (url: string) =>
      (await (await idp.idp.fetch(new Request(url))).json()) as Record<string, string>;
    const clerk = await at('https://tenant-42.clerk.accounts.dev/.well-known/openid-configuration');
    expect(clerk['issuer']).toBe('https://tenant-42.clerk.accounts.dev');
    expect(clerk['token_endpoint']).toBe('https://tenant-42.clerk.accounts.dev/oauth/token');
    const kc = await at('https://keycloak.mock.test/realms/acme/.well-known/openid-configuration');
    expect(kc['issuer']).toBe('https://keycloak.mock.test/realms/acme');
    const discord = await at('https://discord.com/.well-known/oauth-authorization-server');
    expect(discord).toMatchObject({
      issuer: 'https://discord.com',
      jwks_uri: 'https://discord.com/api/oauth2/keys',
    });
    const supabase = await at('https://abcd.supabase.co/.well-known/oauth-authorization-server/auth/v1');
    expect(supabase['issuer']).toBe('https://abcd.supabase.co/auth/v1');
    const oci = await at('https://idcs-0f00.identity.oraclecloud.com/.well-known/openid-configuration');
    expect(oci).toMatchObject({
      issuer: 'https://identity.oraclecloud.com/',
      jwks_uri: 'https://idcs-0f00.identity.oraclecloud.com/admin/v1/SigningCert/jwk',
    });
    const me = await idp.idp.fetch(new Request('https://discord.com/api/v10/users/@me'));
    expect(me.status).toBe(401);
    expect(await me.json()).toEqual({ message: '401: Unauthorized', code: 0 });
  });

  it('logout returns to a post_logout_redirect_uri the client may use, else shows a signed-out page', async () => {
    const url = new URL(await mock.endpoint('oidc', 'logout'));
    url.search = new URLSearchParams({
      client_id: client.id,
      post_logout_redirect_uri: CALLBACK,
      state: 'bye',
    }).toString();
    const back = await fetch(url, { redirect: 'manual' });
    expect(back.status).toBe(302);
    expect(back.headers.get('location')).toBe(`${CALLBACK}?state=bye`);
    url.searchParams.set('post_logout_redirect_uri', 'https://evil.example/');
    const page = await fetch(url, { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).toContain('You are signed out.');
  });

  it('lists every endpoint of each flavour in /_mock/providers', async () => {
    const p = await mock.provider('oidc');
    expect(p.issuer).toBe(`${idp.url}/oidc/realms/mock`);
    expect(p.endpoints).toEqual({
      discovery: `${idp.url}/oidc/realms/mock/.well-known/openid-configuration`,
      metadata: `${idp.url}/oidc/.well-known/oauth-authorization-server/realms/mock`,
      authorize: `${idp.url}/oidc/realms/mock/protocol/openid-connect/auth`,
      token: `${idp.url}/oidc/realms/mock/protocol/openid-connect/token`,
      userinfo: `${idp.url}/oidc/realms/mock/protocol/openid-connect/userinfo`,
      jwks: `${idp.url}/oidc/realms/mock/protocol/openid-connect/certs`,
      logout: `${idp.url}/oidc/realms/mock/protocol/openid-connect/logout`,
      introspect: `${idp.url}/oidc/realms/mock/protocol/openid-connect/token/introspect`,
      revoke: `${idp.url}/oidc/realms/mock/protocol/openid-connect/revoke`,
      register: `${idp.url}/oidc/realms/mock/clients-registrations/openid-connect`,
    });
    const discord = await mock.provider('discord');
    expect(discord.endpoints['oauth2_me']).toBe(`${idp.url}/discord/api/oauth2/@me`);
    expect(discord.endpoints['users_me']).toBe(`${idp.url}/discord/api/users/@me`);
    const personas = (await (await fetch(`${idp.url}/_mock/personas`)).json()) as {
      personas: Array<{ id: string; identities: Record<string, Record<string, unknown>> }>;
    };
    const alice = personas.personas.find((x) => x.id === 'alice')!;
    expect(alice.identities['discord']).toMatchObject({
      id: '800000000000000001',
      username: 'alice',
      email: 'alice@example.com',
    });
    expect(alice.identities['oci']).toMatchObject({ sub: 'alice@example.com', sub_mappingattr: 'userName' });
  });
});
