import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { clerkBackend } from './clerk.ts';
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
  personaAt,
  recordingFetch,
  requests,
  rewritingFetch,
  settingsFor,
  signInThrough,
  startIdp,
} from './upstream-test-client.ts';

let idp: RunningMockIdp;
let endpoints: Record<string, string>;
let domain: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const clerk = describeProvider(idp, 'clerk');
  clientId = clerk.client.client_id;
  domain = clerk.base_urls['idp']!;
  endpoints = clerk.endpoints;
});

afterAll(() => idp.stop());
afterEach(() => control(idp, 'DELETE', '/_mock/faults'));

/** Clerk configured the catalogue's way: only `oauth.domain`, every endpoint derived from it. */
async function backend(
  fetchImpl: typeof fetch = fetch,
  oauth: Record<string, string> = {},
): Promise<ProxyUpstream> {
  const settings = settingsFor('clerk', describeProvider(idp, 'clerk'), {}, { domain, ...oauth });
  const b = await clerkBackend(settings, { fetch: fetchImpl });
  if (b.kind !== 'proxy') throw new Error('clerk must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

const sub = (persona: string) => personaAt(idp, persona, 'clerk')['sub'] as string;

describe('Clerk authorization URL', () => {
  it('is derived from oauth.domain and carries our state, challenge, callback and nonce, openid email profile', async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(endpoints['authorize']);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'openid email profile',
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      nonce: txn.nonce,
    });
  });
});

describe('Clerk identity from token_info and userinfo', () => {
  it('alice: sub and the verified email from userinfo', async () => {
    const { identity, tokens } = await signIn('alice');
    expect(identity).toMatchObject({
      provider: 'clerk',
      subject: sub('alice'),
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
    });
    expect(identity.subject).toMatch(/^user_/);
    expect(identity.claims).toMatchObject({
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Example',
    });
    expect(identity.claims['sub']).toBeUndefined();
    expect(identity.login).toBeUndefined();
    expect(tokens.access_token).toMatch(/^oat_/);
  });

  it('the journal: our values at /authorize, our verifier at the token endpoint, token_info with our credentials, userinfo with the token', async () => {
    const before = (await requests(idp, 'clerk')).length;
    const c = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'clerk', await c.authorizationUrl(txn), 'alice');
    const { tokens } = await c.exchange({
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    });
    const seen = (await requests(idp, 'clerk')).slice(before);
    expect(seen.find((e) => e.endpoint === 'authorize')!.params).toMatchObject({
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      redirect_uri: CALLBACK,
      nonce: txn.nonce,
    });
    const token = seen.find((e) => e.endpoint === 'token')!;
    expect(token.status).toBe(200);
    expect(token.params).toMatchObject({
      code: back.code,
      code_verifier: txn.codeVerifier,
      client_id: clientId,
    });
    const info = seen.find((e) => e.endpoint === 'token_info')!;
    expect([info.method, info.status]).toEqual(['POST', 200]);
    expect(info.params).toMatchObject({ token: tokens.access_token, client_id: clientId });
    const userinfo = seen.find((e) => e.endpoint === 'userinfo')!;
    expect([userinfo.status, userinfo.headers['authorization']]).toEqual([
      200,
      `Bearer ${tokens.access_token}`,
    ]);
  });

  it('carol and grace: email_verified false stays false', async () => {
    for (const persona of ['carol', 'grace']) {
      const { identity } = await signIn(persona);
      expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
        sub(persona),
        'alice@example.com',
        false,
      ]);
    }
  });

  it('heidi: no email', async () => {
    const { identity } = await signIn('heidi');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      sub('heidi'),
      undefined,
      undefined,
    ]);
  });

  it('every upstream call goes through the injected fetch', async () => {
    const recorder = recordingFetch();
    await signIn('alice', await backend(recorder.fetch));
    // The JWKS: the id_token of the response is validated (OIDC Core 3.1.3.7).
    expect(recorder.urls).toEqual([
      endpoints['token'],
      endpoints['jwks'],
      endpoints['token_info'],
      endpoints['userinfo'],
    ]);
  });
});

describe('Clerk failures', () => {
  it('token_info says inactive -> ERR_UPSTREAM_USER', async () => {
    const c = await backend(rewritingFetch(endpoints['token_info']!, () => ({ active: false })));
    const error = await upstreamError(signIn('alice', c));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Clerk token_info says the token is not active',
    ]);
  });

  it('token_info names another audience -> ERR_UPSTREAM_USER', async () => {
    const c = await backend(
      rewritingFetch(endpoints['token_info']!, (body) => ({
        ...body,
        aud: 'AnotherClerkApp',
        client_id: 'AnotherClerkApp',
      })),
    );
    const error = await upstreamError(signIn('alice', c));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Clerk token_info says the token is for another client',
    ]);
  });

  it('token_info without aud falls back to client_id', async () => {
    const c = await backend(
      rewritingFetch(endpoints['token_info']!, ({ aud: _aud, ...rest }) => ({
        ...rest,
        client_id: 'AnotherClerkApp',
      })),
    );
    const error = await upstreamError(signIn('alice', c));
    expect(error.message).toBe('Clerk token_info says the token is for another client');
  });

  it('token_info says expired -> ERR_UPSTREAM_USER', async () => {
    const c = await backend(
      rewritingFetch(endpoints['token_info']!, (body) => ({
        ...body,
        exp: Math.floor(Date.now() / 1000) - 600,
      })),
    );
    const error = await upstreamError(signIn('alice', c));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Clerk token_info says the token has expired',
    ]);
  });

  it('token_info and userinfo naming different users -> ERR_UPSTREAM_USER', async () => {
    const c = await backend(
      rewritingFetch(endpoints['userinfo']!, (body) => ({ ...body, sub: 'user_someoneelse' })),
    );
    const error = await upstreamError(signIn('alice', c));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'Clerk token_info and userinfo name different users',
    ]);
  });

  it('userinfo refusing the token -> ERR_UPSTREAM_USER', async () => {
    await fault(idp, 'clerk', 'userinfo', { kind: 'error', error: 'invalid_token', status: 401 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_USER', 'Clerk userinfo answered HTTP 401']);
  });

  it('a replayed code -> ERR_UPSTREAM_TOKEN invalid_grant', async () => {
    const c = await backend();
    const txn = newTransaction();
    const back = await loginAs(await c.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await c.exchange(input);
    const error = await upstreamError(c.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Clerk refused the code: invalid_grant',
    ]);
  });

  it('a wrong client secret -> ERR_UPSTREAM_TOKEN invalid_client', async () => {
    const error = await upstreamError(
      signIn('alice', await backend(fetch, { client_secret: 'not-the-secret' })),
    );
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Clerk refused the code: invalid_client',
    ]);
  });

  it('an id_token signed by a key Clerk never published -> ERR_UPSTREAM_ID_TOKEN', async () => {
    await fault(idp, 'clerk', 'token', { kind: 'token', defect: 'bad-signature' });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Clerk id_token signature is invalid',
    ]);
  });

  it('a 500 from the token endpoint -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'clerk', 'token', { kind: 'status', status: 500 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'Clerk token endpoint answered HTTP 500',
    ]);
  });
});
