import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { discordBackend, discordIdentity } from './discord.ts';
import type { ProxyUpstream } from './types.ts';
import {
  CALLBACK,
  control,
  describeProvider,
  expectUpstreamError,
  fault,
  loginAs,
  loginQueued,
  newTransaction,
  recordingFetch,
  requests,
  rewritingFetch,
  settingsFor,
  signInThrough,
  startIdp,
} from './upstream-test-client.ts';

let idp: RunningMockIdp;
let upstream: Record<string, string>;
let clientId: string;
let clientSecret: string;

beforeAll(async () => {
  idp = await startIdp();
  const discord = describeProvider(idp, 'discord');
  clientId = discord.client.client_id;
  clientSecret = discord.client.client_secret!;
  upstream = {
    authorize_url: discord.endpoints['authorize']!,
    token_url: discord.endpoints['token']!,
    api_base: `${discord.base_urls['idp']}/api`,
  };
});

afterAll(() => idp.stop());
afterEach(() => control(idp, 'DELETE', '/_mock/faults'));

async function backend(fetchImpl: typeof fetch = fetch): Promise<ProxyUpstream> {
  const b = await discordBackend(settingsFor('discord', describeProvider(idp, 'discord'), upstream), {
    fetch: fetchImpl,
  });
  if (b.kind !== 'proxy') throw new Error('discord must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

describe('Discord authorization URL', () => {
  it('carries our state, S256 challenge and callback, and identify email (no nonce: not OIDC here)', async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(upstream['authorize_url']);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'identify email',
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
    });
  });
});

describe('Discord identity from /oauth2/@me and /users/@me', () => {
  it('alice: snowflake id as subject, the verified email, the display name', async () => {
    const { identity, tokens } = await signIn('alice');
    expect(identity).toEqual({
      provider: 'discord',
      subject: '800000000000000001',
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
      claims: { id: '800000000000000001', username: 'alice', global_name: 'Alice Example', locale: 'en-US' },
    });
    expect(identity.login).toBeUndefined();
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'identify email' });
    expect(tokens.refresh_token).toBeTypeOf('string');
  });

  it('the journal: our state, challenge and callback at /authorize; Basic client auth and our verifier at the token endpoint', async () => {
    const before = (await requests(idp, 'discord')).length;
    const d = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'discord', await d.authorizationUrl(txn), 'alice');
    const { tokens } = await d.exchange({
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    });
    const seen = (await requests(idp, 'discord')).slice(before);
    expect(seen.find((e) => e.endpoint === 'authorize')!.params).toMatchObject({
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      redirect_uri: CALLBACK,
    });
    const token = seen.find((e) => e.endpoint === 'token')!;
    expect(token.status).toBe(200);
    expect(token.headers['authorization']).toBe(
      `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    );
    expect(token.params['client_secret']).toBeUndefined();
    expect(token.params).toMatchObject({
      code: back.code,
      code_verifier: txn.codeVerifier,
      redirect_uri: CALLBACK,
    });
    for (const endpoint of ['oauth2_me', 'users_me']) {
      const entry = seen.find((e) => e.endpoint === endpoint)!;
      expect([entry.status, entry.headers['authorization']]).toEqual([200, `Bearer ${tokens.access_token}`]);
    }
  });

  it.each([
    ['carol', '800000000000000003'],
    ['grace', '800000000000000007'],
  ])('%s: an unverified address is never an email', async (persona, subject) => {
    const { identity } = await signIn(persona);
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      subject,
      undefined,
      undefined,
    ]);
  });

  it('heidi: no address, no email', async () => {
    const { identity } = await signIn('heidi');
    expect([identity.subject, identity.email, identity.name]).toEqual([
      '800000000000000008',
      undefined,
      'Heidi NoEmail',
    ]);
  });

  it('discordIdentity: `verified` must be exactly true; a non-snowflake id is refused', () => {
    expect(discordIdentity({ id: '1', email: 'a@example.com', verified: 'true' }).email).toBeUndefined();
    expect(() => discordIdentity({ id: 42 })).toThrow(
      expect.objectContaining({
        code: 'ERR_UPSTREAM_USER',
        message: 'Discord /users/@me has no snowflake "id"',
      }),
    );
  });

  it('every upstream call goes through the injected fetch', async () => {
    const recorder = recordingFetch();
    await signIn('alice', await backend(recorder.fetch));
    expect(recorder.urls).toEqual([
      upstream['token_url'],
      `${upstream['api_base']}/oauth2/@me`,
      `${upstream['api_base']}/users/@me`,
    ]);
  });
});

describe('Discord failures', () => {
  it('a token of another application (/oauth2/@me) -> ERR_UPSTREAM_USER', async () => {
    const d = await backend(
      rewritingFetch(`${upstream['api_base']}/oauth2/@me`, (body) => ({
        ...body,
        application: { ...(body['application'] as object), id: '1399999999999999999' },
      })),
    );
    const error = await upstreamError(signIn('alice', d));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Discord token belongs to another application',
    ]);
  });

  it('an expired authorization (/oauth2/@me expires in the past) -> ERR_UPSTREAM_USER', async () => {
    const d = await backend(
      rewritingFetch(`${upstream['api_base']}/oauth2/@me`, (body) => ({
        ...body,
        expires: new Date(Date.now() - 3_600_000).toISOString(),
      })),
    );
    const error = await upstreamError(signIn('alice', d));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_USER', 'Discord token has expired']);
  });

  it('/oauth2/@me and /users/@me naming different users -> ERR_UPSTREAM_USER', async () => {
    const d = await backend(
      rewritingFetch(`${upstream['api_base']}/oauth2/@me`, (body) => ({
        ...body,
        user: { ...(body['user'] as object), id: '800000000000000099' },
      })),
    );
    const error = await upstreamError(signIn('alice', d));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Discord /oauth2/@me and /users/@me name different users',
    ]);
  });

  it('a replayed code -> ERR_UPSTREAM_TOKEN invalid_grant', async () => {
    const d = await backend();
    const txn = newTransaction();
    const back = await loginAs(await d.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await d.exchange(input);
    const error = await upstreamError(d.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Discord refused the code: invalid_grant',
    ]);
  });

  it('a 503 from the token endpoint -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'discord', 'token', { kind: 'status', status: 503 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'Discord token endpoint answered HTTP 503',
    ]);
  });

  it('/users/@me refusing the token -> ERR_UPSTREAM_USER', async () => {
    await fault(idp, 'discord', 'users_me', {
      kind: 'error',
      error: 'unauthorized',
      description: '401: Unauthorized',
      status: 401,
    });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Discord /users/@me answered HTTP 401',
    ]);
  });
});
