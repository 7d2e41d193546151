import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import {
  asRemote,
  clientToken,
  expectRejected,
  jwtRejectionTests,
  mockIdentity,
  remoteSettings,
  userAccessToken,
} from './remote-test-client.ts';
import { scalekitBackend } from './scalekit.ts';
import type { RemoteBackend } from './types.ts';
import { control, describeProvider, recordingFetch, startIdp } from './upstream-test-client.ts';

/** The resource id the mock's Scalekit environment binds tokens to. */
const RESOURCE_ID = 'res_mock01';

let idp: RunningMockIdp;
let env: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'scalekit');
  env = d.base_urls['idp']!;
  clientId = d.client.client_id;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(options: { resourceId?: string; fetch?: typeof fetch } = {}): Promise<RemoteBackend> {
  const settings = remoteSettings('scalekit', {
    'oauth.environment_url': env,
    'oauth.resource_id': options.resourceId ?? RESOURCE_ID,
    'oauth.client_id': clientId,
  });
  return asRemote(await scalekitBackend(settings, { fetch: options.fetch ?? fetch }));
}

const token = (persona = 'alice') => userAccessToken(idp, 'scalekit', persona);

describe('Scalekit remote backend', () => {
  it('advertises the environment URL as the authorization server', async () => {
    const b = await backend();
    expect([b.kind, b.id, b.authorizationServers, b.scopesSupported]).toEqual([
      'remote',
      'scalekit',
      [env],
      ['openid', 'email', 'profile'],
    ]);
  });

  it('accepts alice: aud = resource id, iss = environment, email verified at {env}/userinfo', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const access = await token('alice');
    const claims = decodeJwt(access);
    expect([claims.iss, claims.aud, claims['email']]).toEqual([env, RESOURCE_ID, undefined]);
    const result = await (await backend({ fetch: recording })).verify(access);
    expect(result).toEqual({
      identity: {
        provider: 'scalekit',
        subject: mockIdentity(idp, 'scalekit', 'alice')['sub'],
        email: 'alice@example.com',
        emailVerified: true,
        name: 'Alice Example',
        claims: expect.objectContaining({ sid: expect.stringMatching(/^ses_\d{18}$/) }),
      },
      scopes: ['openid', 'email', 'profile'],
      clientId,
      expiresAt: claims.exp,
    });
    expect(urls).toEqual([`${env}/keys`, `${env}/userinfo`]);
  });

  it('carol: the unverified address is not an identity', async () => {
    const { identity } = await (await backend()).verify(await token('carol'));
    expect(identity).toEqual({
      provider: 'scalekit',
      subject: mockIdentity(idp, 'scalekit', 'carol')['sub'],
      name: 'Carol Unverified',
      claims: expect.any(Object),
    });
  });

  it('accepts a client_credentials token: a service subject, no email, the granted scopes', async () => {
    const access = await clientToken(idp, 'scalekit', { scope: 'openid' });
    const result = await (await backend()).verify(access);
    expect(result).toEqual({
      identity: { provider: 'scalekit', subject: `service-account-${clientId}`, claims: expect.any(Object) },
      scopes: ['openid'],
      clientId,
      expiresAt: decodeJwt(access).exp,
    });
  });

  it('refuses a genuine token when our resource id is another (audience binding)', async () => {
    await expectRejected(
      (await backend({ resourceId: 'res_other' })).verify(await token('alice')),
      '"aud" does not name this resource server',
    );
  });
});

describe('Scalekit token rejections (security edge 29)', () => {
  jwtRejectionTests({
    provider: 'scalekit',
    name: 'Scalekit',
    idp: () => idp,
    backend: () => backend(),
    token: () => token('alice'),
    foreignToken: () => userAccessToken(idp, 'descope', 'alice'),
  });
});
