/**
 * An OpenID-certified client (oauth4webapi) against every flavour of the OIDC family: discovery,
 * authorization with PKCE (through /_mock/next-login, then through the login page), code
 * exchange, id_token validation with the signature checked against the JWKS, and userinfo.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loginThroughPage } from '../login-client.ts';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import { OCI_ISSUER, PROPELAUTH_INTROSPECTION } from './oidc-flavours.ts';
import {
  CALLBACK,
  type DiscordAuthorization,
  MockControl,
  pkcePair,
  postForm,
  redirectOf,
  verifyWithJwks,
} from './oidc-test-client.ts';

// Serve the OIDC family alone, so these tests depend on no other provider file.
vi.mock('./index.ts', async () => ({ allProviders: (await import('./oidc.ts')).oidcFamily }));

const insecure = { [oauth.allowInsecureRequests]: true } as const;

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

interface Discovered {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  secret: string;
}

/** OIDC discovery with oauth4webapi (OCI: the document at the domain host names a fixed issuer). */
async function discover(id: string): Promise<Discovered> {
  const description = await mock.provider(id);
  const issuer = new URL(description.issuer!);
  const response =
    id === 'oci'
      ? await fetch(await mock.endpoint(id, 'discovery'))
      : await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure });
  const as = await oauth.processDiscoveryResponse(issuer, response);
  return {
    as,
    client: { client_id: description.client.client_id },
    secret: description.client.client_secret!,
  };
}

async function authorizationUrl(
  d: Discovered,
  extra: Record<string, string> = {},
): Promise<{ url: URL; verifier: string; state: string; nonce: string }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(d.as.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: d.client.client_id,
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { url, verifier, state, nonce };
}

/** Code exchange, id_token checks (claims by oauth4webapi, signature by jose) and userinfo. */
async function finish(
  d: Discovered,
  location: string,
  pending: { verifier: string; state: string; nonce: string },
): Promise<{
  idClaims: oauth.IDToken;
  userinfo: oauth.UserInfoResponse;
  tokens: oauth.TokenEndpointResponse;
}> {
  const params = oauth.validateAuthResponse(d.as, d.client, new URL(location), pending.state);
  const response = await oauth.authorizationCodeGrantRequest(
    d.as,
    d.client,
    oauth.ClientSecretBasic(d.secret),
    params,
    CALLBACK,
    pending.verifier,
    insecure,
  );
  const tokens = await oauth.processAuthorizationCodeResponse(d.as, d.client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  const idClaims = oauth.getValidatedIdTokenClaims(tokens)!;
  const { payload } = await verifyWithJwks(d.as.jwks_uri!, tokens.id_token!, {
    issuer: d.as.issuer,
    audience: d.client.client_id,
  });
  expect(payload.sub).toBe(idClaims.sub);
  const info = await oauth.userInfoRequest(d.as, d.client, tokens.access_token, insecure);
  const userinfo = await oauth.processUserInfoResponse(d.as, d.client, idClaims.sub, info);
  return { idClaims, userinfo, tokens };
}

const OIDC_FLAVOURS = ['oidc', 'clerk', 'workos', 'descope', 'supabase', 'scalekit', 'oci'];

describe('oauth4webapi completes the OIDC code flow', () => {
  it.each(OIDC_FLAVOURS)(
    '%s: discovery, PKCE, code, id_token, userinfo (login queued by /_mock/next-login)',
    async (id) => {
      const d = await discover(id);
      expect(d.as.code_challenge_methods_supported).toContain('S256');
      await mock.nextLogin(id, 'alice');
      const pending = await authorizationUrl(d);
      const location = await redirectOf(pending.url.toString());
      expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
      const { idClaims, userinfo, tokens } = await finish(d, location.toString(), pending);
      expect(idClaims.iss).toBe(id === 'oci' ? OCI_ISSUER : (await mock.provider(id)).issuer);
      expect(idClaims.aud).toBe(d.client.client_id);
      expect(idClaims.nonce).toBe(pending.nonce);
      expect(tokens.token_type.toLowerCase()).toBe('bearer');
      expect(userinfo.email).toBe('alice@example.com');
      expect(userinfo.email_verified).toBe(true);
      expect(userinfo.name).toBe('Alice Example');
      const issued = (await mock.issued(id)).map((e) => [e.kind, e.persona, e.client]);
      expect(issued).toEqual(
        expect.arrayContaining([
          ['code', 'alice', d.client.client_id],
          ['access_token', 'alice', d.client.client_id],
          ['id_token', 'alice', d.client.client_id],
        ]),
      );
    },
  );

  it.each(OIDC_FLAVOURS)('%s: the same flow through the login page', async (id) => {
    const d = await discover(id);
    const pending = await authorizationUrl(d);
    const result = await loginThroughPage(pending.url, 'bob');
    expect(result.status).toBe(302);
    expect(result.page).toContain('data-persona="bob"');
    const { idClaims, userinfo } = await finish(d, result.location!, pending);
    expect(userinfo.sub).toBe(idClaims.sub);
    expect(userinfo.email).toBe('Bob.Smith@Example.COM');
    // Another persona, another stable subject.
    await mock.nextLogin(id, 'alice');
    const again = await authorizationUrl(d);
    const alice = await finish(d, (await redirectOf(again.url.toString())).toString(), again);
    expect(alice.idClaims.sub).not.toBe(idClaims.sub);
  });

  it('the same persona keeps the same subject across logins, and subjects differ between flavours', async () => {
    const subjects: Record<string, string> = {};
    for (const id of ['oidc', 'supabase']) {
      const d = await discover(id);
      for (let i = 0; i < 2; i++) {
        await mock.nextLogin(id, 'frank');
        const pending = await authorizationUrl(d);
        const { idClaims } = await finish(d, (await redirectOf(pending.url.toString())).toString(), pending);
        if (i === 0) subjects[id] = idClaims.sub;
        else expect(idClaims.sub).toBe(subjects[id]);
      }
    }
    expect(subjects['oidc']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(subjects['oidc']).not.toBe(subjects['supabase']);
  });
});

describe('PropelAuth (no id_token; opaque tokens checked by introspection)', () => {
  it('completes RFC 8414 discovery, authorization with state/S256/resource, exchange, userinfo and introspection', async () => {
    const description = await mock.provider('propelauth');
    const issuer = new URL(description.issuer!);
    expect(issuer.pathname.endsWith('/oauth/2.1')).toBe(true);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await fetch(await mock.endpoint('propelauth', 'metadata')),
    );
    const client: oauth.Client = { client_id: description.client.client_id };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'openid email profile',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      resource: 'https://mcp.example.com/mcp',
    }).toString();
    const result = await loginThroughPage(url, 'alice');
    const params = oauth.validateAuthResponse(as, client, new URL(result.location!), state);
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(description.client.client_secret!),
      params,
      CALLBACK,
      verifier,
      insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(tokens.id_token).toBeUndefined();
    expect(tokens.access_token).toMatch(/^[0-9a-f]{64}$/);
    const info = await oauth.userInfoRequest(as, client, tokens.access_token, insecure);
    const userinfo = await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, info);
    expect(userinfo.email).toBe('alice@example.com');
    const introspection = await oauth.introspectionRequest(
      as,
      { client_id: PROPELAUTH_INTROSPECTION.id },
      oauth.ClientSecretBasic(PROPELAUTH_INTROSPECTION.secret),
      tokens.access_token,
      insecure,
    );
    const answer = await oauth.processIntrospectionResponse(
      as,
      { client_id: PROPELAUTH_INTROSPECTION.id },
      introspection,
    );
    expect(answer).toMatchObject({
      active: true,
      sub: userinfo.sub,
      client_id: client.client_id,
      aud: 'https://mcp.example.com/mcp',
      scope: 'openid email profile',
    });
    expect(answer.exp).toBeGreaterThan(Date.now() / 1000);
  });
});

describe('Discord (its own token-info endpoints)', () => {
  it('completes the code flow with iss in the redirect, then answers /oauth2/@me and /users/@me', async () => {
    const description = await mock.provider('discord');
    const issuer = new URL(description.issuer!);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await fetch(await mock.endpoint('discord', 'metadata')),
    );
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    const client: oauth.Client = { client_id: description.client.client_id };
    const { verifier, challenge } = pkcePair();
    const state = oauth.generateRandomState();
    await mock.nextLogin('discord', 'alice');
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'identify email',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    const location = await redirectOf(url.toString());
    expect(location.searchParams.get('iss')).toBe(as.issuer);
    const params = oauth.validateAuthResponse(as, client, location, state);
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.ClientSecretPost(description.client.client_secret!),
      params,
      CALLBACK,
      verifier,
      insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(tokens.access_token).toMatch(/^[A-Za-z0-9]{30}$/);
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9]{30}$/);
    expect(tokens.expires_in).toBe(604800);
    expect(tokens.scope).toBe('identify email');
    const me = await fetch(await mock.endpoint('discord', 'oauth2_me'), {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(me.status).toBe(200);
    const info = (await me.json()) as DiscordAuthorization;
    expect(info.application.id).toBe(client.client_id);
    expect(info['scopes']).toEqual(['identify', 'email']);
    expect(Date.parse(info['expires'])).toBeGreaterThan(Date.now());
    expect(info['user']).toMatchObject({
      id: '800000000000000001',
      username: 'alice',
      global_name: 'Alice Example',
    });
    const user = await fetch(await mock.endpoint('discord', 'users_me'), {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(user.status).toBe(200);
    expect(await user.json()).toMatchObject({
      id: '800000000000000001',
      email: 'alice@example.com',
      verified: true,
    });
    // A refresh rotates the pair.
    const refreshed = await postForm(
      await mock.endpoint('discord', 'token'),
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! },
      { id: client.client_id, secret: description.client.client_secret! },
    );
    expect(refreshed.status).toBe(200);
    const next = (await refreshed.json()) as Record<string, string>;
    expect(next['refresh_token']).not.toBe(tokens.refresh_token);
  });
});
