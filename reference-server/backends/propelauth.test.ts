import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROPELAUTH_INTROSPECTION } from '../../mock-idp/providers/oidc-flavours.ts';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { propelauthBackend } from './propelauth.ts';
import {
  asRemote,
  expectRejected,
  mockIdentity,
  RESOURCE,
  remoteSettings,
  userAccessToken,
  userTokens,
} from './remote-test-client.ts';
import type { RemoteBackend } from './types.ts';
import { control, describeProvider, recordingFetch, requests, startIdp } from './upstream-test-client.ts';

let idp: RunningMockIdp;
let authUrl: string;
let introspectUrl: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'propelauth');
  authUrl = d.base_urls['idp']!;
  introspectUrl = d.endpoints['introspect']!;
  clientId = d.client.client_id;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(options: { secret?: string; fetch?: typeof fetch } = {}): Promise<RemoteBackend> {
  const settings = remoteSettings('propelauth', {
    'oauth.auth_url': authUrl,
    'oauth.introspection_client_id': PROPELAUTH_INTROSPECTION.id,
    'oauth.introspection_client_secret': options.secret ?? PROPELAUTH_INTROSPECTION.secret,
  });
  return asRemote(await propelauthBackend(settings, { fetch: options.fetch ?? fetch }));
}

/** PropelAuth requires `resource` at /authorize: the token is bound to our MCP resource. */
const token = (persona = 'alice') => userAccessToken(idp, 'propelauth', persona, { resource: RESOURCE });

/** A fetch that rewrites the introspection answer, for answers the mock would never give. */
function rewritingIntrospection(
  change: (answer: Record<string, unknown>) => Record<string, unknown>,
): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url !== introspectUrl) return response;
    const answer = (await response.json()) as Record<string, unknown>;
    return Response.json(change(answer), { status: response.status });
  };
}

describe('PropelAuth remote backend (RFC 7662 introspection)', () => {
  it('advertises {auth_url}/oauth/2.1 as the authorization server', async () => {
    const b = await backend();
    expect([b.kind, b.id, b.authorizationServers, b.scopesSupported]).toEqual([
      'remote',
      'propelauth',
      [`${authUrl}/oauth/2.1`],
      ['openid', 'email', 'profile'],
    ]);
  });

  it('accepts alice: introspected with the introspection credentials (Basic), email from userinfo', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const access = await token('alice');
    const result = await (await backend({ fetch: recording })).verify(access);
    expect(result).toEqual({
      identity: {
        provider: 'propelauth',
        subject: mockIdentity(idp, 'propelauth', 'alice')['sub'],
        email: 'alice@example.com',
        emailVerified: true,
        name: 'Alice Example',
        claims: { username: 'alice', client_id: clientId, scope: 'openid email profile' },
      },
      scopes: ['openid', 'email', 'profile'],
      clientId,
      expiresAt: expect.any(Number),
    });
    expect(urls).toEqual([introspectUrl, `${authUrl}/oauth/2.1/userinfo`]);
    const [call] = (await requests(idp, 'propelauth', 'introspect')).slice(-1);
    const expected = Buffer.from(
      `${PROPELAUTH_INTROSPECTION.id}:${PROPELAUTH_INTROSPECTION.secret}`,
    ).toString('base64');
    expect([call?.status, call?.headers['authorization'], call?.params['token']]).toEqual([
      200,
      `Basic ${expected}`,
      access,
    ]);
  });

  it('introspects on every request: a revoked token stops working at once', async () => {
    const b = await backend();
    const access = await token('alice');
    await b.verify(access);
    const d = describeProvider(idp, 'propelauth');
    const revoked = await fetch(d.endpoints['revoke']!, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${d.client.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: access }),
    });
    expect(revoked.status).toBe(200);
    await expectRejected(b.verify(access), '"active" is false: the token is revoked, expired or unknown');
  });

  it('carol: no email', async () => {
    const { identity } = await (await backend()).verify(await token('carol'));
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      mockIdentity(idp, 'propelauth', 'carol')['sub'],
      undefined,
      undefined,
    ]);
  });

  it('refuses a token bound to another resource ("aud")', async () => {
    const access = await userAccessToken(idp, 'propelauth', 'alice', {
      resource: 'https://other.example/mcp',
    });
    await expectRejected((await backend()).verify(access), '"aud" does not name this resource server');
  });

  it('refuses a refresh token presented as an access token (edge 23)', async () => {
    const { refresh_token: refresh } = await userTokens(idp, 'propelauth', 'alice', { resource: RESOURCE });
    await expectRejected(
      (await backend()).verify(refresh as string),
      '"token_type": a refresh token is not an access token',
    );
  });

  it('refuses garbage and a token of another provider: the IdP says inactive', async () => {
    const b = await backend();
    await expectRejected(b.verify('garbage'), '"active" is false: the token is revoked, expired or unknown');
    await expectRejected(
      b.verify(await userAccessToken(idp, 'scalekit', 'alice')),
      '"active" is false: the token is revoked, expired or unknown',
    );
  });

  it('refuses every token when our introspection credentials are wrong', async () => {
    await expectRejected(
      (await backend({ secret: 'not-the-secret-at-all' })).verify(await token('alice')),
      'PropelAuth introspection refused our credentials (HTTP 401)',
    );
  });

  it('refuses when introspection answers 503, or cannot be reached', async () => {
    const access = await token('alice');
    await control(idp, 'POST', '/_mock/faults', {
      provider: 'propelauth',
      endpoint: 'introspect',
      action: { kind: 'status', status: 503 },
      times: 1,
    });
    await expectRejected((await backend()).verify(access), 'PropelAuth introspection answered HTTP 503');
    const down: typeof fetch = async () => {
      throw new TypeError('fetch failed');
    };
    await expectRejected(
      (await backend({ fetch: down })).verify(access),
      'PropelAuth introspection is unreachable',
    );
  });

  it('refuses an answer whose "active" is not the boolean true', async () => {
    const b = await backend({ fetch: rewritingIntrospection((a) => ({ ...a, active: 'true' })) });
    await expectRejected(
      b.verify(await token('alice')),
      '"active" is false: the token is revoked, expired or unknown',
    );
  });

  it('refuses an answer with a past "exp", a future "nbf" or another "iss"', async () => {
    const now = Math.floor(Date.now() / 1000);
    const access = await token('alice');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ exp: now - 3600 }, '"exp": the access token has expired'],
      [{ nbf: now + 3600 }, '"nbf": the access token is not yet valid'],
      [{ iss: 'https://issuer.invalid/' }, '"iss" is not PropelAuth\'s issuer'],
      [{ sub: undefined }, '"sub" is missing'],
    ];
    for (const [change, message] of cases) {
      const b = await backend({ fetch: rewritingIntrospection((a) => ({ ...a, ...change })) });
      await expectRejected(b.verify(access), message);
    }
  });

  it('refuses an overlong token without calling introspection', async () => {
    const { fetch: recording, urls } = recordingFetch();
    await expectRejected(
      (await backend({ fetch: recording })).verify('x'.repeat(20_000)),
      'the access token is too long',
    );
    expect(urls).toEqual([]);
  });
});
