import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import {
  asRemote,
  jwtRejectionTests,
  mockIdentity,
  remoteSettings,
  userAccessToken,
} from './remote-test-client.ts';
import { supabaseBackend } from './supabase.ts';
import type { RemoteBackend } from './types.ts';
import { control, describeProvider, recordingFetch, requests, startIdp } from './upstream-test-client.ts';

let idp: RunningMockIdp;
let projectUrl: string;

beforeAll(async () => {
  idp = await startIdp();
  projectUrl = describeProvider(idp, 'supabase').base_urls['idp']!;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(fetchImpl: typeof fetch = fetch): Promise<RemoteBackend> {
  return asRemote(
    await supabaseBackend(remoteSettings('supabase', { 'oauth.project_url': projectUrl }), {
      fetch: fetchImpl,
    }),
  );
}

const token = (persona = 'alice') => userAccessToken(idp, 'supabase', persona);

describe('Supabase remote backend', () => {
  it('advertises {project}/auth/v1 as the authorization server', async () => {
    const b = await backend();
    expect([b.kind, b.id, b.authorizationServers, b.scopesSupported]).toEqual([
      'remote',
      'supabase',
      [`${projectUrl}/auth/v1`],
      ['openid', 'email', 'profile'],
    ]);
  });

  it('accepts alice: subject, the email verified at userinfo, scopes, client and expiry', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const b = await backend(recording);
    const access = await token('alice');
    const claims = decodeJwt(access);
    const result = await b.verify(access);
    expect(claims['aud']).toBe('authenticated');
    expect(result).toEqual({
      identity: {
        provider: 'supabase',
        subject: mockIdentity(idp, 'supabase', 'alice')['sub'],
        email: 'alice@example.com',
        emailVerified: true,
        name: 'Alice Example',
        claims: expect.objectContaining({ role: 'authenticated', email: 'alice@example.com', aal: 'aal1' }),
      },
      scopes: ['openid', 'email', 'profile'],
      clientId: describeProvider(idp, 'supabase').client.client_id,
      expiresAt: claims.exp,
    });
    // Every upstream call went through the injected fetch: the JWKS and userinfo, once each.
    expect(urls).toEqual([
      `${projectUrl}/auth/v1/.well-known/jwks.json`,
      `${projectUrl}/auth/v1/oauth/userinfo`,
    ]);
    // A second verify of the same token reuses the userinfo answer.
    await b.verify(access);
    expect(urls).toHaveLength(2);
  });

  it('never takes the JWT email or user_metadata.email_verified on trust: carol has no email', async () => {
    const access = await token('carol');
    const claims = decodeJwt(access);
    expect(claims['email']).toBe('alice@example.com');
    const { identity } = await (await backend()).verify(access);
    expect(identity).toEqual({
      provider: 'supabase',
      subject: mockIdentity(idp, 'supabase', 'carol')['sub'],
      name: 'Carol Unverified',
      claims: expect.objectContaining({ email: 'alice@example.com' }),
    });
    const userinfo = await requests(idp, 'supabase', 'userinfo');
    expect(userinfo.at(-1)?.status).toBe(200);
  });

  it('keeps the identity without an email when userinfo fails, and asks again next time', async () => {
    const b = await backend();
    const access = await token('alice');
    await control(idp, 'POST', '/_mock/faults', {
      provider: 'supabase',
      endpoint: 'userinfo',
      action: { kind: 'status', status: 503 },
      times: 1,
    });
    const first = await b.verify(access);
    expect([first.identity.email, first.identity.subject]).toEqual([
      undefined,
      mockIdentity(idp, 'supabase', 'alice')['sub'],
    ]);
    const second = await b.verify(access);
    expect([second.identity.email, second.identity.emailVerified]).toEqual(['alice@example.com', true]);
  });
});

describe('Supabase token rejections (security edge 29)', () => {
  jwtRejectionTests({
    provider: 'supabase',
    name: 'Supabase',
    idp: () => idp,
    backend: () => backend(),
    token: () => token('alice'),
    foreignToken: () => userAccessToken(idp, 'scalekit', 'alice'),
  });
});
