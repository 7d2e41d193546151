import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
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
import { workosBackend } from './workos.ts';

let idp: RunningMockIdp;
let endpoints: Record<string, string>;
let authkit: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const workos = describeProvider(idp, 'workos');
  clientId = workos.client.client_id;
  authkit = workos.base_urls['idp']!;
  endpoints = workos.endpoints;
});

afterAll(() => idp.stop());
afterEach(() => control(idp, 'DELETE', '/_mock/faults'));

/** WorkOS configured the catalogue's way: only `oauth.authkit_domain`. */
async function backend(
  fetchImpl: typeof fetch = fetch,
  upstream: Record<string, string> = {},
): Promise<ProxyUpstream> {
  const settings = settingsFor('workos', describeProvider(idp, 'workos'), upstream, {
    authkit_domain: authkit,
  });
  const b = await workosBackend(settings, { fetch: fetchImpl });
  if (b.kind !== 'proxy') throw new Error('workos must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

const sub = (persona: string) => personaAt(idp, persona, 'workos')['sub'] as string;

describe('WorkOS authorization URL', () => {
  it('is derived from oauth.authkit_domain and carries our state, challenge, callback and nonce', async () => {
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
    expect(url.searchParams.has('resource')).toBe(false);
  });
});

describe('WorkOS identity from userinfo', () => {
  it('alice: sub and the verified email', async () => {
    const { identity, tokens } = await signIn('alice');
    expect(identity).toMatchObject({
      provider: 'workos',
      subject: sub('alice'),
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
    });
    expect(identity.subject).toMatch(/^user_01/);
    expect(identity.claims).toMatchObject({ given_name: 'Alice', family_name: 'Example' });
    expect(identity.claims['sub']).toBeUndefined();
    expect(tokens).toMatchObject({ token_type: 'Bearer' });
    expect(tokens.access_token.split('.')).toHaveLength(3);
  });

  it('the journal: our values at /authorize, our verifier at the token endpoint, userinfo with the token', async () => {
    const before = (await requests(idp, 'workos')).length;
    const w = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'workos', await w.authorizationUrl(txn), 'alice');
    const { tokens } = await w.exchange({
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    });
    const seen = (await requests(idp, 'workos')).slice(before);
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
    const userinfo = seen.find((e) => e.endpoint === 'userinfo')!;
    expect([userinfo.status, userinfo.headers['authorization']]).toEqual([
      200,
      `Bearer ${tokens.access_token}`,
    ]);
  });

  it('carol: email_verified false stays false', async () => {
    const { identity } = await signIn('carol');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      sub('carol'),
      'alice@example.com',
      false,
    ]);
  });

  it('heidi: no email', async () => {
    const { identity } = await signIn('heidi');
    expect([identity.subject, identity.email]).toEqual([sub('heidi'), undefined]);
  });

  it('a string email_verified is passed on only as the exact "true"/"false"', async () => {
    const w = await backend(
      rewritingFetch(endpoints['userinfo']!, (body) => ({ ...body, email_verified: 'yes' })),
    );
    const { identity } = await signIn('alice', w);
    expect([identity.email, identity.emailVerified]).toEqual(['alice@example.com', undefined]);
  });

  it('every upstream call goes through the injected fetch', async () => {
    const recorder = recordingFetch();
    await signIn('alice', await backend(recorder.fetch));
    // The JWKS: the id_token of the response is validated (OIDC Core 3.1.3.7).
    expect(recorder.urls).toEqual([endpoints['token'], endpoints['jwks'], endpoints['userinfo']]);
  });
});

describe('WorkOS failures', () => {
  it('an id_token signed by a key WorkOS never published -> ERR_UPSTREAM_ID_TOKEN', async () => {
    // AuthKit's access token is a JWT too, signed first: the defect goes to both.
    await control(idp, 'POST', '/_mock/faults', {
      provider: 'workos',
      endpoint: 'token',
      action: { kind: 'token', defect: 'bad-signature' },
      times: 2,
    });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'WorkOS id_token signature is invalid',
    ]);
  });

  it('an id_token and userinfo naming different users -> ERR_UPSTREAM_ID_TOKEN', async () => {
    const w = await backend(
      rewritingFetch(endpoints['userinfo']!, (body) => ({ ...body, sub: 'someone-else' })),
    );
    const error = await upstreamError(signIn('alice', w));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'WorkOS id_token and userinfo name different users',
    ]);
  });

  it('userinfo without sub -> ERR_UPSTREAM_USER', async () => {
    const w = await backend(rewritingFetch(endpoints['userinfo']!, ({ sub: _sub, ...rest }) => rest));
    const error = await upstreamError(signIn('alice', w));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_USER', 'WorkOS userinfo has no "sub"']);
  });

  it('userinfo answering 502 -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'workos', 'userinfo', { kind: 'status', status: 502 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'WorkOS userinfo answered HTTP 502',
    ]);
  });

  it('a replayed code -> ERR_UPSTREAM_TOKEN invalid_grant', async () => {
    const w = await backend();
    const txn = newTransaction();
    const back = await loginAs(await w.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await w.exchange(input);
    const error = await upstreamError(w.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'WorkOS refused the code: invalid_grant',
    ]);
  });

  it('a wrong code_verifier -> ERR_UPSTREAM_TOKEN invalid_grant', async () => {
    const w = await backend();
    const txn = newTransaction();
    const back = await loginAs(await w.authorizationUrl(txn), 'alice');
    const error = await upstreamError(
      w.exchange({
        code: back.code!,
        codeVerifier: newTransaction().codeVerifier,
        redirectUri: CALLBACK,
        nonce: txn.nonce,
      }),
    );
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'WorkOS refused the code: invalid_grant',
    ]);
  });

  it('an unreachable token endpoint -> ERR_UPSTREAM_UNREACHABLE', async () => {
    const w = await backend(fetch, { token_url: 'http://127.0.0.1:1/oauth2/token' });
    const error = await upstreamError(signIn('alice', w));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'WorkOS token endpoint is unreachable',
    ]);
  });
});
