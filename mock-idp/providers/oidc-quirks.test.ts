/** One test per quirk of each flavour of the OIDC family. */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import { DESCOPE_PROJECT, OCI_ISSUER, PROPELAUTH_INTROSPECTION, SCALEKIT_RESOURCE } from './oidc-flavours.ts';
import {
  CALLBACK,
  codeFlow,
  type DiscordAuthorization,
  decodeJwtPart,
  MockControl,
  pkcePair,
  postForm,
  type Registration,
  redirectOf,
  verifyWithJwks,
} from './oidc-test-client.ts';

vi.mock('./index.ts', async () => ({ allProviders: (await import('./oidc.ts')).oidcFamily }));

let idp: RunningMockIdp;
let mock: MockControl;

beforeAll(async () => {
  idp = await startMockIdp({ port: 0 });
  mock = new MockControl(idp.url);
});

afterAll(async () => {
  await idp.stop();
});

beforeEach(async () => {
  await mock.reset();
});

async function clientOf(id: string): Promise<{ id: string; secret: string }> {
  const p = await mock.provider(id);
  return { id: p.client.client_id, secret: p.client.client_secret! };
}

async function authorizeUrl(id: string, params: Record<string, string>): Promise<string> {
  const url = new URL(await mock.endpoint(id, 'authorize'));
  url.search = new URLSearchParams(params).toString();
  return url.toString();
}

function bearer(token: unknown): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${String(token)}` } };
}

describe('Discord', () => {
  it('adds iss (RFC 9207) to the redirect, on success and on error', async () => {
    const issuer = (await mock.provider('discord')).issuer!;
    const client = await clientOf('discord');
    await mock.nextLogin('discord');
    const { challenge } = pkcePair();
    const ok = await redirectOf(
      await authorizeUrl('discord', {
        client_id: client.id,
        redirect_uri: CALLBACK,
        response_type: 'code',
        scope: 'identify',
        state: 's1',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(ok.searchParams.get('iss')).toBe(issuer);
    expect(ok.searchParams.get('code')).toMatch(/^[A-Za-z0-9]+$/);
    expect(ok.searchParams.get('state')).toBe('s1');
    // No scope: Discord refuses the request, still naming itself.
    const refused = await redirectOf(
      await authorizeUrl('discord', {
        client_id: client.id,
        redirect_uri: CALLBACK,
        response_type: 'code',
        state: 's2',
      }),
    );
    expect(Object.fromEntries(refused.searchParams)).toEqual({
      error: 'invalid_scope',
      error_description: 'a "scope" is required',
      state: 's2',
      iss: issuer,
    });
  });

  it('accepts only S256 for PKCE', async () => {
    const client = await clientOf('discord');
    const { verifier } = pkcePair();
    const refused = await redirectOf(
      await authorizeUrl('discord', {
        client_id: client.id,
        redirect_uri: CALLBACK,
        response_type: 'code',
        scope: 'identify',
        code_challenge: verifier,
        code_challenge_method: 'plain',
      }),
    );
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('error_description')).toBe(
      '"code_challenge_method" "plain" is not supported',
    );
    expect(refused.searchParams.get('code')).toBeNull();
  });

  it('answers /oauth2/@me with application, scopes, ISO expiry and the public user (no email)', async () => {
    const { body } = await codeFlow(mock, 'discord', { scope: 'identify email' });
    const res = await fetch(await mock.endpoint('discord', 'oauth2_me'), bearer(body['access_token']));
    expect(res.status).toBe(200);
    const info = (await res.json()) as DiscordAuthorization;
    expect(Object.keys(info).sort()).toEqual(['application', 'expires', 'scopes', 'user']);
    expect(info['application']).toMatchObject({
      id: (await clientOf('discord')).id,
      name: 'MCP reference server',
    });
    expect(info['expires']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(info['expires']) / 1000).toBeCloseTo(Date.now() / 1000 + 604800, -2);
    expect(info['user']).toMatchObject({ id: '800000000000000001', username: 'alice', discriminator: '0' });
    expect(info['user']).not.toHaveProperty('email');
    expect(info['user']).not.toHaveProperty('verified');
    // Without `identify` there is no user at all.
    const guilds = await codeFlow(mock, 'discord', { scope: 'guilds' });
    const noUser = (await (
      await fetch(await mock.endpoint('discord', 'oauth2_me'), bearer(guilds.body['access_token']))
    ).json()) as Record<string, unknown>;
    expect(noUser['scopes']).toEqual(['guilds']);
    expect(noUser).not.toHaveProperty('user');
  });

  it('shows email and verified on /users/@me only with the email scope', async () => {
    const identify = await codeFlow(mock, 'discord', { scope: 'identify' });
    const plain = (await (
      await fetch(await mock.endpoint('discord', 'users_me'), bearer(identify.body['access_token']))
    ).json()) as Record<string, unknown>;
    expect(plain['id']).toBe('800000000000000001');
    expect(plain).not.toHaveProperty('email');
    expect(plain).not.toHaveProperty('verified');
    const carol = await codeFlow(mock, 'discord', { scope: 'identify email', persona: 'carol' });
    const withEmail = await fetch(
      await mock.endpoint('discord', 'users_me'),
      bearer(carol.body['access_token']),
    );
    expect(withEmail.status).toBe(200);
    expect(await withEmail.json()).toMatchObject({
      id: '800000000000000003',
      username: 'carol',
      email: 'alice@example.com',
      verified: false,
    });
  });

  it("answers errors in Discord's shapes: API {message, code}, token endpoint RFC 6749", async () => {
    const me = await fetch(await mock.endpoint('discord', 'oauth2_me'), bearer('not-a-token'));
    expect(me.status).toBe(401);
    expect(await me.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    const guilds = await codeFlow(mock, 'discord', { scope: 'guilds' });
    const user = await fetch(await mock.endpoint('discord', 'users_me'), bearer(guilds.body['access_token']));
    expect(user.status).toBe(401);
    expect(await user.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    const token = await postForm(
      await mock.endpoint('discord', 'token'),
      { grant_type: 'authorization_code', code: 'bogus', redirect_uri: CALLBACK },
      await clientOf('discord'),
    );
    expect(token.status).toBe(400);
    expect(await token.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Invalid "code" in request.',
    });
  });
});

describe('PropelAuth', () => {
  const base = async (): Promise<Record<string, string>> => ({
    client_id: (await clientOf('propelauth')).id,
    redirect_uri: CALLBACK,
    response_type: 'code',
    state: 'st',
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
    resource: 'https://mcp.example.com/mcp',
  });

  it.each([
    ['state', '"state" is required'],
    ['code_challenge', '"code_challenge" is required with "code_challenge_method"'],
    ['resource', '"resource" is required'],
  ])('refuses an authorization request without %s', async (missing, description) => {
    const params = await base();
    delete params[missing];
    const location = await redirectOf(await authorizeUrl('propelauth', params));
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toBe(description);
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('refuses a plain code_challenge_method and accepts the complete request', async () => {
    const plain = { ...(await base()), code_challenge_method: 'plain' };
    const refused = await redirectOf(await authorizeUrl('propelauth', plain));
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('code')).toBeNull();
    await mock.nextLogin('propelauth');
    const ok = await redirectOf(await authorizeUrl('propelauth', await base()));
    expect(ok.searchParams.get('code')).toBeTruthy();
    expect(ok.searchParams.get('state')).toBe('st');
  });

  it('introspects only with the introspection credentials', async () => {
    const { body } = await codeFlow(mock, 'propelauth', {
      extra: { resource: 'https://mcp.example.com/mcp' },
    });
    const url = await mock.endpoint('propelauth', 'introspect');
    const token = String(body['access_token']);
    const good = await postForm(url, { token }, PROPELAUTH_INTROSPECTION);
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({
      active: true,
      aud: 'https://mcp.example.com/mcp',
      client_id: (await clientOf('propelauth')).id,
      scope: 'openid profile email',
    });
    const asClient = await postForm(url, { token }, await clientOf('propelauth'));
    expect(asClient.status).toBe(401);
    expect(await asClient.json()).toEqual({
      error: 'invalid_client',
      error_description: 'the introspection credentials are not valid',
    });
    const wrong = await postForm(url, { token }, { id: PROPELAUTH_INTROSPECTION.id, secret: 'nope' });
    expect(wrong.status).toBe(401);
    const unknown = await postForm(url, { token: 'f'.repeat(64) }, PROPELAUTH_INTROSPECTION);
    expect(await unknown.json()).toEqual({ active: false });
  });
});

describe('OCI IAM', () => {
  it('names the fixed issuer https://identity.oraclecloud.com/ whatever the host', async () => {
    const discovery = (await (await fetch(await mock.endpoint('oci', 'discovery'))).json()) as Record<
      string,
      string
    >;
    expect(discovery['issuer']).toBe(OCI_ISSUER);
    expect(discovery['jwks_uri']).toBe(`${idp.url}/oci/admin/v1/SigningCert/jwk`);
    expect(discovery['authorization_endpoint']).toBe(`${idp.url}/oci/oauth2/v1/authorize`);
    expect((await mock.provider('oci')).issuer).toBe(OCI_ISSUER);
    const { body } = await codeFlow(mock, 'oci');
    const jwks = discovery['jwks_uri']!;
    const id = await verifyWithJwks(jwks, String(body['id_token']), { issuer: OCI_ISSUER });
    const access = await verifyWithJwks(jwks, String(body['access_token']), { issuer: OCI_ISSUER });
    expect(id.payload).toMatchObject({
      sub: 'alice@example.com',
      sub_mappingattr: 'userName',
      tok_type: 'IT',
    });
    expect(id.payload['user_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(access.payload).toMatchObject({
      tok_type: 'AT',
      aud: 'urn:opc:idm:__myscopes__',
      sub: 'alice@example.com',
    });
  });
});

describe('audience rules', () => {
  it('Scalekit: aud is the resource id, iss the environment URL; resource metadata names the resource issuer', async () => {
    const env = (await mock.provider('scalekit')).issuer!;
    expect(env).toBe(`${idp.url}/scalekit`);
    for (const path of [
      `/.well-known/oauth-authorization-server/resources/${SCALEKIT_RESOURCE}`,
      `/resources/${SCALEKIT_RESOURCE}/.well-known/oauth-authorization-server`,
    ]) {
      const res = await fetch(`${env}${path}`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as Record<string, string>;
      expect(doc['issuer']).toBe(`${env}/resources/${SCALEKIT_RESOURCE}`);
      expect(doc['jwks_uri']).toBe(`${env}/keys`);
    }
    const { body } = await codeFlow(mock, 'scalekit', { extra: { resource: 'https://mcp.example.com/mcp' } });
    const { payload } = await verifyWithJwks(`${env}/keys`, String(body['access_token']), {
      issuer: env,
      audience: SCALEKIT_RESOURCE,
    });
    expect(payload.aud).toBe(SCALEKIT_RESOURCE);
  });

  it('Descope: aud is the project id; the seed config_url form of discovery works', async () => {
    const issuer = (await mock.provider('descope')).issuer!;
    expect(issuer).toBe(`${idp.url}/descope/v1/apps/${DESCOPE_PROJECT}`);
    const seedForm = await fetch(`${idp.url}/descope/${DESCOPE_PROJECT}/.well-known/openid-configuration`);
    expect(seedForm.status).toBe(200);
    const doc = (await seedForm.json()) as Record<string, string>;
    expect(doc['issuer']).toBe(issuer);
    expect(doc['jwks_uri']).toBe(`${idp.url}/descope/${DESCOPE_PROJECT}/.well-known/jwks.json`);
    const { body } = await codeFlow(mock, 'descope', { extra: { resource: 'https://mcp.example.com/mcp' } });
    const { payload } = await verifyWithJwks(doc['jwks_uri']!, String(body['access_token']), {
      issuer,
      audience: DESCOPE_PROJECT,
    });
    expect(payload.aud).toBe(DESCOPE_PROJECT);
  });

  it('Supabase: aud is "authenticated" with role authenticated; iss is {project}/auth/v1', async () => {
    const issuer = (await mock.provider('supabase')).issuer!;
    expect(issuer).toBe(`${idp.url}/supabase/auth/v1`);
    const meta = (await (
      await fetch(`${idp.url}/supabase/auth/v1/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, string>;
    expect(meta['issuer']).toBe(issuer);
    expect(meta['registration_endpoint']).toBe(`${issuer}/oauth/clients/register`);
    const { body } = await codeFlow(mock, 'supabase', { extra: { resource: 'https://mcp.example.com/mcp' } });
    const { payload } = await verifyWithJwks(meta['jwks_uri']!, String(body['access_token']), {
      issuer,
      audience: 'authenticated',
    });
    expect(payload).toMatchObject({
      aud: 'authenticated',
      role: 'authenticated',
      email: 'alice@example.com',
    });
  });

  it('WorkOS AuthKit: aud is the RFC 8707 resource when sent, else the client id', async () => {
    const issuer = (await mock.provider('workos')).issuer!;
    const jwks = await mock.endpoint('workos', 'jwks');
    const bound = await codeFlow(mock, 'workos', { extra: { resource: 'https://mcp.example.com/mcp' } });
    const withResource = await verifyWithJwks(jwks, String(bound.body['access_token']), {
      issuer,
      audience: 'https://mcp.example.com/mcp',
    });
    expect(withResource.payload.aud).toBe('https://mcp.example.com/mcp');
    expect(withResource.payload.sub).toMatch(/^user_01[0-9A-Z]{24}$/);
    const unbound = await codeFlow(mock, 'workos');
    const { payload } = await verifyWithJwks(jwks, String(unbound.body['access_token']), { issuer });
    expect(payload.aud).toBe((await clientOf('workos')).id);
  });
});

describe('Clerk', () => {
  it('answers POST /oauth/token_info with active, aud == client_id, scope and sub; inactive once revoked', async () => {
    const client = await clientOf('clerk');
    const { body } = await codeFlow(mock, 'clerk', { scope: 'openid profile email' });
    const token = String(body['access_token']);
    expect(token).toMatch(/^oat_[A-Za-z0-9]{32}$/);
    expect(body).not.toHaveProperty('refresh_token');
    const url = await mock.endpoint('clerk', 'token_info');
    expect(url).toBe(`${idp.url}/clerk/oauth/token_info`);
    const info = await postForm(url, { token, client_id: client.id, client_secret: client.secret });
    expect(info.status).toBe(200);
    const answer = (await info.json()) as Record<string, unknown>;
    expect(answer).toMatchObject({
      active: true,
      aud: client.id,
      client_id: client.id,
      scope: 'openid profile email',
    });
    expect(answer['sub']).toMatch(/^user_[A-Za-z0-9]{27}$/);
    const anonymous = await postForm(url, { token });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({
      error: 'invalid_client',
      error_description: 'client authentication is required',
    });
    const revoked = await postForm(await mock.endpoint('clerk', 'revoke'), { token }, client);
    expect(revoked.status).toBe(200);
    const after = await postForm(url, { token }, client);
    expect(await after.json()).toEqual({ active: false });
  });

  it('issues a refresh token only with offline_access', async () => {
    const { body } = await codeFlow(mock, 'clerk', { scope: 'openid email offline_access' });
    expect(body['refresh_token']).toMatch(/^ort_[A-Za-z0-9]{32}$/);
  });
});

describe('Keycloak (oidc)', () => {
  it('puts realm_access, resource_access, azp and preferred_username in the access token; aud account', async () => {
    const { body } = await codeFlow(mock, 'oidc', { scope: 'openid' });
    expect(body['scope']).toBe('openid profile email');
    const issuer = (await mock.provider('oidc')).issuer!;
    const { payload } = await verifyWithJwks(
      await mock.endpoint('oidc', 'jwks'),
      String(body['access_token']),
      {
        issuer,
        audience: 'account',
      },
    );
    expect(payload).toMatchObject({
      typ: 'Bearer',
      azp: (await clientOf('oidc')).id,
      preferred_username: 'alice',
      email: 'alice@example.com',
      realm_access: {
        roles: ['admin', 'editor', 'offline_access', 'uma_authorization', 'default-roles-mock'],
      },
      resource_access: { account: { roles: ['manage-account', 'manage-account-links', 'view-profile'] } },
    });
    expect(body).toMatchObject({
      refresh_expires_in: 1800,
      'not-before-policy': 0,
      token_type: 'Bearer',
      expires_in: 300,
    });
  });

  it('serves any realm: the issuer and tokens follow the realm in the path', async () => {
    const doc = (await (
      await fetch(`${idp.url}/oidc/realms/other/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    expect(doc['issuer']).toBe(`${idp.url}/oidc/realms/other`);
    expect(doc['token_endpoint']).toBe(`${idp.url}/oidc/realms/other/protocol/openid-connect/token`);
    const rfc8414 = (await (
      await fetch(`${idp.url}/oidc/.well-known/oauth-authorization-server/realms/other`)
    ).json()) as Record<string, string>;
    expect(rfc8414['issuer']).toBe(doc['issuer']);
    const res = await postForm(
      doc['token_endpoint']!,
      { grant_type: 'client_credentials' },
      await clientOf('oidc'),
    );
    const token = ((await res.json()) as Record<string, string>)['access_token']!;
    expect(decodeJwtPart(token, 1)).toMatchObject({
      iss: doc['issuer'],
      realm_access: { roles: ['offline_access', 'uma_authorization', 'default-roles-other'] },
    });
  });

  it('issues a JWT refresh token, rotates it, and revokes the grant when an old one is reused', async () => {
    const client = await clientOf('oidc');
    const tokenUrl = await mock.endpoint('oidc', 'token');
    const first = await codeFlow(mock, 'oidc');
    const rt1 = String(first.body['refresh_token']);
    expect(decodeJwtPart(rt1, 0)).toMatchObject({ alg: 'HS512', typ: 'JWT' });
    expect(decodeJwtPart(rt1, 1)).toMatchObject({ typ: 'Refresh', azp: client.id });
    const second = await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: rt1 }, client);
    expect(second.status).toBe(200);
    const body2 = (await second.json()) as Record<string, string>;
    const rt2 = body2['refresh_token']!;
    expect(rt2).not.toBe(rt1);
    expect(body2['id_token']).toBeTruthy();
    const reuse = await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: rt1 }, client);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Maximum allowed refresh token reuse exceeded',
    });
    // The whole grant is gone: the newest refresh token and its access token too.
    const after = await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: rt2 }, client);
    expect(after.status).toBe(400);
    expect(((await after.json()) as Record<string, string>)['error']).toBe('invalid_grant');
    const introspect = await postForm(
      await mock.endpoint('oidc', 'introspect'),
      { token: body2['access_token']! },
      client,
    );
    expect(await introspect.json()).toEqual({ active: false });
  });

  it('passes custom claims into the tokens without letting them replace protocol claims', async () => {
    const { body } = await codeFlow(mock, 'oidc', { persona: 'oscar' });
    const issuer = (await mock.provider('oidc')).issuer!;
    const jwks = await mock.endpoint('oidc', 'jwks');
    const client = await clientOf('oidc');
    const id = await verifyWithJwks(jwks, String(body['id_token']), { issuer, audience: client.id });
    expect(id.payload).toMatchObject({
      roles: ['auditor'],
      groups: ['finance', 'audit'],
      profile: { team: { name: 'Audit', region: 'eu-west-1' }, level: 3 },
    });
    expect(String(id.payload['notes'])).toHaveLength(3000);
    const access = await verifyWithJwks(jwks, String(body['access_token']), { issuer, audience: 'account' });
    expect(access.payload.iss).toBe(issuer);
    expect(access.payload['scope']).toBe('openid profile email');
    expect(access.payload['groups']).toEqual(['finance', 'audit']);
    // The oversized claim stays under Node's 16 KiB header limit; userinfo also takes the token
    // in the form body (RFC 6750 2.2).
    expect(String(body['access_token']).length).toBeGreaterThan(4 * 1024);
    expect(String(body['access_token']).length).toBeLessThan(16 * 1024);
    const info = await postForm(await mock.endpoint('oidc', 'userinfo'), {
      access_token: String(body['access_token']),
    });
    expect(info.status).toBe(200);
    // Userinfo carries the reserved-name claims as data, for servers' passthrough checks.
    expect(await info.json()).toMatchObject({
      sub: id.payload.sub,
      iss: 'https://evil.example',
      aud: 'https://evil.example/mcp',
      scope: 'admin',
      email: 'oscar@example.com',
    });
  });

  it('refuses userinfo for a token without the openid scope (403 insufficient_scope)', async () => {
    const { body } = await codeFlow(mock, 'oidc', { scope: 'profile' });
    const res = await fetch(await mock.endpoint('oidc', 'userinfo'), bearer(body['access_token']));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(await res.json()).toEqual({
      error: 'insufficient_scope',
      error_description: 'the access token lacks the openid scope',
    });
  });
});

describe('dynamic client registration (RFC 7591)', () => {
  it('registers a client that then completes a code flow; its secret is required', async () => {
    const res = await fetch(await mock.endpoint('oidc', 'register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Inspector', redirect_uris: [CALLBACK], scope: 'openid' }),
    });
    expect(res.status).toBe(201);
    const reg = (await res.json()) as Registration;
    expect(reg).toMatchObject({
      client_name: 'Inspector',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      client_secret_expires_at: 0,
      scope: 'openid',
    });
    expect(typeof reg['client_id']).toBe('string');
    expect(reg['client_secret']).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(Math.abs(reg['client_id_issued_at'] - Date.now() / 1000)).toBeLessThan(60);
    const flow = await codeFlow(mock, 'oidc', {
      client: { id: reg['client_id'], secret: reg['client_secret'] },
    });
    expect(flow.status).toBe(200);
    expect(decodeJwtPart(String(flow.body['access_token']), 1)['azp']).toBe(reg['client_id']);
    const wrongSecret = await codeFlow(mock, 'oidc', { client: { id: reg['client_id'], secret: 'guess' } });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body).toEqual({
      error: 'invalid_client',
      error_description: 'Invalid client or Invalid client credentials',
    });
  });

  it('registers a public client (none) that must use PKCE and send no secret', async () => {
    const res = await fetch(await mock.endpoint('workos', 'register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' }),
    });
    expect(res.status).toBe(201);
    const reg = (await res.json()) as Registration;
    expect(reg['client_id']).toMatch(/^client_01[0-9A-Z]{24}$/);
    expect(reg).not.toHaveProperty('client_secret');
    const flow = await codeFlow(mock, 'workos', { client: { id: reg['client_id'] } });
    expect(flow.status).toBe(200);
    expect(flow.body['access_token']).toBeTruthy();
  });

  it.each([
    [
      { redirect_uris: ['http://evil.example/cb'] },
      'invalid_redirect_uri',
      '"redirect_uri" "http://evil.example/cb" is not allowed',
    ],
    [
      { redirect_uris: ['https://app.example/cb#frag'] },
      'invalid_redirect_uri',
      '"redirect_uri" "https://app.example/cb#frag" is not allowed',
    ],
    [{}, 'invalid_redirect_uri', '"redirect_uris" is required for the authorization_code grant'],
    [
      { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'private_key_jwt' },
      'invalid_client_metadata',
      '"token_endpoint_auth_method" "private_key_jwt" is not supported',
    ],
    [
      { redirect_uris: [CALLBACK], grant_types: ['password'] },
      'invalid_client_metadata',
      'grant type "password" is not supported',
    ],
  ])('refuses invalid metadata %j', async (metadata, error, description) => {
    const res = await fetch(await mock.endpoint('oidc', 'register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(metadata),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error, error_description: description });
  });

  it('is off when the dcr setting is false: 403 and no registration_endpoint in the metadata', async () => {
    await mock.settings('oidc', { dcr: false });
    const res = await fetch(await mock.endpoint('oidc', 'register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [CALLBACK] }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: 'access_denied',
      error_description: 'dynamic client registration is disabled',
    });
    const doc = (await (await fetch(await mock.endpoint('oidc', 'discovery'))).json()) as Record<
      string,
      unknown
    >;
    expect(doc).not.toHaveProperty('registration_endpoint');
    expect(doc['token_endpoint']).toBeTruthy();
  });
});

describe('client_credentials', () => {
  it('oidc: a service-account JWT with aud account and azp, active at introspection', async () => {
    const client = await clientOf('oidc');
    const res = await postForm(
      await mock.endpoint('oidc', 'token'),
      { grant_type: 'client_credentials', scope: 'jobs' },
      client,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'jobs' });
    const issuer = (await mock.provider('oidc')).issuer!;
    const { payload } = await verifyWithJwks(
      await mock.endpoint('oidc', 'jwks'),
      String(body['access_token']),
      {
        issuer,
        audience: 'account',
      },
    );
    expect(payload).toMatchObject({
      azp: client.id,
      client_id: client.id,
      preferred_username: `service-account-${client.id}`,
    });
    const introspect = await postForm(
      await mock.endpoint('oidc', 'introspect'),
      { token: String(body['access_token']) },
      client,
    );
    expect(await introspect.json()).toMatchObject({
      active: true,
      azp: client.id,
      iss: issuer,
      token_type: 'Bearer',
    });
    const journal = await mock.issued('oidc');
    expect(journal.map((e) => [e.kind, e.persona, e.value])).toContainEqual([
      'access_token',
      `service-account-${client.id}`,
      body['access_token'],
    ]);
  });

  it('refuses a public client and a flavour without the grant', async () => {
    const reg = (await (
      await fetch(await mock.endpoint('oidc', 'register'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' }),
      })
    ).json()) as Record<string, string>;
    const pub = await postForm(await mock.endpoint('oidc', 'token'), {
      grant_type: 'client_credentials',
      client_id: reg['client_id']!,
    });
    expect(pub.status).toBe(400);
    expect(await pub.json()).toEqual({
      error: 'unauthorized_client',
      error_description: 'a public client cannot use client_credentials',
    });
    const clerk = await postForm(
      await mock.endpoint('clerk', 'token'),
      { grant_type: 'client_credentials' },
      await clientOf('clerk'),
    );
    expect(clerk.status).toBe(400);
    expect(await clerk.json()).toEqual({
      error: 'unsupported_grant_type',
      error_description: '"grant_type" "client_credentials" is not supported',
    });
  });
});
