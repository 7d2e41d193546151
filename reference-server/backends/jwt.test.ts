import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { jwtBackend } from './jwt.ts';
import {
  asRemote,
  BASE_URL,
  clientToken,
  expectRejected,
  jwksFetches,
  jwtRejectionTests,
  RESOURCE,
  remoteSettings,
  userAccessToken,
  userTokens,
} from './remote-test-client.ts';
import type { RemoteBackend } from './types.ts';
import { control, describeProvider, recordingFetch, startIdp } from './upstream-test-client.ts';

// The generic backend in front of the mock's Keycloak-shaped provider (`oidc`, realm `mock`).
let idp: RunningMockIdp;
let issuer: string;
let jwksUri: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'oidc');
  issuer = d.issuer!;
  jwksUri = d.endpoints['jwks']!;
  clientId = d.client.client_id;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(
  overrides: Record<string, unknown> = {},
  fetchImpl: typeof fetch = fetch,
): Promise<RemoteBackend> {
  const settings = remoteSettings('jwt', {
    'jwt.jwks_uri': jwksUri,
    'jwt.issuer': issuer,
    'jwt.audience': RESOURCE,
    'jwt.base_url': BASE_URL,
    'jwt.required_scopes': ['openid', 'email'],
    ...overrides,
  });
  return asRemote(await jwtBackend(settings, { fetch: fetchImpl }));
}

/** A Keycloak access token bound to our resource (RFC 8707), so that `aud` is our resource URL. */
const token = (persona = 'alice') => userAccessToken(idp, 'oidc', persona, { resource: RESOURCE });

describe('generic jwt backend', () => {
  it('advertises jwt.authorization_server (default: the issuer) and the required scopes', async () => {
    const b = await backend();
    expect([b.kind, b.id, b.authorizationServers, b.scopesSupported]).toEqual([
      'remote',
      'jwt',
      [issuer],
      ['openid', 'email'],
    ]);
    const explicit = await backend({ 'jwt.authorization_server': 'https://as.example/' });
    expect(explicit.authorizationServers).toEqual(['https://as.example/']);
  });

  it('accepts alice: identity from the email claim, verified in the same token', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const access = await token('alice');
    const claims = decodeJwt(access);
    expect([claims.aud, claims['email'], claims['email_verified']]).toEqual([
      RESOURCE,
      'alice@example.com',
      true,
    ]);
    expect(await (await backend({}, recording)).verify(access)).toEqual({
      identity: {
        provider: `oidc:${issuer}`,
        subject: claims.sub,
        email: 'alice@example.com',
        emailVerified: true,
        name: 'Alice Example',
        claims: expect.objectContaining({
          preferred_username: 'alice',
          realm_access: { roles: expect.arrayContaining(['admin', 'editor']) },
        }),
      },
      scopes: ['openid', 'email', 'profile'],
      clientId,
      expiresAt: claims.exp,
    });
    // Only the JWKS: no userinfo endpoint is configured for the generic backend.
    expect(urls).toEqual([jwksUri]);
  });

  it('carol: email_verified false in the token, so no email', async () => {
    const access = await token('carol');
    expect(decodeJwt(access)['email_verified']).toBe(false);
    const { identity } = await (await backend()).verify(access);
    expect(identity).toEqual({
      provider: `oidc:${issuer}`,
      subject: decodeJwt(access).sub,
      name: 'Carol Unverified',
      claims: expect.objectContaining({ email: 'alice@example.com', email_verified: false }),
    });
  });

  it('reads the email from claims.email_claim', async () => {
    const access = await token('alice');
    const { identity } = await (await backend({ 'claims.email_claim': 'upn' })).verify(access);
    expect([identity.subject, identity.email]).toEqual([decodeJwt(access).sub, undefined]);
  });

  it('accepts a client_credentials token for our resource: a service subject without email', async () => {
    const access = await clientToken(idp, 'oidc', { resource: RESOURCE });
    const result = await (await backend()).verify(access);
    expect([result.identity.subject, result.identity.email, result.clientId]).toEqual([
      decodeJwt(access).sub,
      undefined,
      clientId,
    ]);
  });

  it('refuses a token minted without our resource (aud "account"): audience confusion, edge 25', async () => {
    const access = await userAccessToken(idp, 'oidc', 'alice');
    expect(decodeJwt(access).aud).toBe('account');
    await expectRejected((await backend()).verify(access), '"aud" does not name this resource server');
  });

  it('refuses a token minted for another resource', async () => {
    const access = await userAccessToken(idp, 'oidc', 'alice', { resource: 'https://other.example/mcp' });
    await expectRejected((await backend()).verify(access), '"aud" does not name this resource server');
  });

  it('refuses the id_token presented as an access token', async () => {
    const { id_token: idToken } = await userTokens(idp, 'oidc', 'alice', { resource: RESOURCE });
    await expectRejected(
      (await backend()).verify(idToken as string),
      '"aud" does not name this resource server',
    );
  });

  it("refuses Keycloak's HMAC-signed refresh token presented as an access token", async () => {
    const { refresh_token: refresh } = await userTokens(idp, 'oidc', 'alice', { resource: RESOURCE });
    await expectRejected((await backend()).verify(refresh as string), '"alg" HS512 is not accepted');
  });

  it('compares the issuer exactly: a trailing slash more is another issuer', async () => {
    await expectRejected(
      (await backend({ 'jwt.issuer': `${issuer}/` })).verify(await token('alice')),
      `"iss" is not the IdP's issuer`,
    );
  });

  it('picks up a rotated signing key with one JWKS refetch', async () => {
    const b = await backend();
    await b.verify(await token('alice'));
    const before = await jwksFetches(idp, 'oidc');
    await control(idp, 'POST', '/_mock/faults', {
      provider: 'oidc',
      endpoint: 'token',
      action: { kind: 'rotate-key' },
      times: 1,
    });
    const rotated = await token('alice');
    expect((await b.verify(rotated)).identity.email).toBe('alice@example.com');
    expect((await jwksFetches(idp, 'oidc')) - before).toBe(1);
  });
});

describe('generic jwt token rejections (security edge 29)', () => {
  jwtRejectionTests({
    provider: 'oidc',
    name: 'the IdP',
    idp: () => idp,
    backend: () => backend(),
    token: () => token('alice'),
    foreignToken: () => userAccessToken(idp, 'supabase', 'alice'),
  });
});
