import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { descopeBackend } from './descope.ts';
import {
  asRemote,
  clientToken,
  expectRejected,
  jwtRejectionTests,
  mockIdentity,
  remoteSettings,
  userAccessToken,
} from './remote-test-client.ts';
import { type RemoteBackend, UpstreamError } from './types.ts';
import { control, describeProvider, recordingFetch, startIdp } from './upstream-test-client.ts';

/** The project the mock's Descope serves. */
const PROJECT = 'P2MockProject01';

let idp: RunningMockIdp;
let base: string;
let jwksUri: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'descope');
  base = d.base_urls['idp']!;
  jwksUri = d.endpoints['jwks']!;
  clientId = d.client.client_id;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

const appConfigUrl = () => `${base}/v1/apps/${PROJECT}/.well-known/openid-configuration`;
const issuer = () => `${base}/v1/apps/${PROJECT}`;

async function backend(
  options: { configUrl?: string; projectId?: string; fetch?: typeof fetch } = {},
): Promise<RemoteBackend> {
  const settings = remoteSettings('descope', {
    'oauth.config_url': options.configUrl ?? appConfigUrl(),
    'oauth.project_id': options.projectId ?? PROJECT,
    'upstream.descope.jwks_uri': jwksUri,
  });
  return asRemote(await descopeBackend(settings, { fetch: options.fetch ?? fetch }));
}

const token = (persona = 'alice') => userAccessToken(idp, 'descope', persona);

describe('Descope remote backend', () => {
  it('advertises the discovered issuer as the authorization server', async () => {
    const b = await backend();
    expect([b.kind, b.id, b.authorizationServers, b.scopesSupported]).toEqual([
      'remote',
      'descope',
      [issuer()],
      ['openid', 'email', 'profile'],
    ]);
  });

  it("reads the issuer from the seed's config_url form {base}/{project_id}/.well-known/openid-configuration", async () => {
    const b = await backend({ configUrl: `${base}/${PROJECT}/.well-known/openid-configuration` });
    expect(b.authorizationServers).toEqual([issuer()]);
    expect((await b.verify(await token('alice'))).identity.subject).toBe(
      mockIdentity(idp, 'descope', 'alice')['sub'],
    );
  });

  it('stops at start-up when the discovery document cannot be read', async () => {
    const error = await backend({ configUrl: `${base}/nowhere/.well-known/openid-configuration` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect([(error as UpstreamError).code, (error as UpstreamError).message]).toEqual([
      'ERR_UPSTREAM_CONFIG',
      'Descope discovery document answered HTTP 404',
    ]);
  });

  it('accepts alice: aud = project id, iss from discovery, email verified at the discovered userinfo', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const b = await backend({ fetch: recording });
    const access = await token('alice');
    const claims = decodeJwt(access);
    expect([claims.iss, claims.aud]).toEqual([issuer(), PROJECT]);
    expect(await b.verify(access)).toEqual({
      identity: {
        provider: 'descope',
        subject: mockIdentity(idp, 'descope', 'alice')['sub'],
        email: 'alice@example.com',
        emailVerified: true,
        name: 'Alice Example',
        claims: expect.any(Object),
      },
      scopes: ['openid', 'email', 'profile'],
      clientId,
      expiresAt: claims.exp,
    });
    expect(urls).toEqual([appConfigUrl(), jwksUri, describeProvider(idp, 'descope').endpoints['userinfo']]);
  });

  it('carol: no email', async () => {
    const { identity } = await (await backend()).verify(await token('carol'));
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      mockIdentity(idp, 'descope', 'carol')['sub'],
      undefined,
      undefined,
    ]);
  });

  it('accepts a client_credentials token of the project', async () => {
    const access = await clientToken(idp, 'descope');
    const result = await (await backend()).verify(access);
    expect([result.identity.subject, result.identity.email, result.clientId, result.scopes]).toEqual([
      `service-account-${clientId}`,
      undefined,
      clientId,
      [],
    ]);
  });

  it('refuses a genuine token when our project id is another', async () => {
    await expectRejected(
      (await backend({ projectId: 'P2OtherProject' })).verify(await token('alice')),
      '"aud" does not name this resource server',
    );
  });
});

describe('Descope token rejections (security edge 29)', () => {
  jwtRejectionTests({
    provider: 'descope',
    name: 'Descope',
    idp: () => idp,
    backend: () => backend(),
    token: () => token('alice'),
    foreignToken: () => userAccessToken(idp, 'supabase', 'alice'),
  });
});
