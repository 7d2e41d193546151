import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { googleBackend, googleIssuers } from './google.ts';
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
  settingsFor,
  signInThrough,
  startIdp,
} from './upstream-test-client.ts';

let idp: RunningMockIdp;
let upstream: Record<string, string>;
let clientId: string;
let issuer: string;

beforeAll(async () => {
  idp = await startIdp();
  const google = describeProvider(idp, 'google');
  clientId = google.client.client_id;
  issuer = google.issuer!;
  upstream = {
    discovery_url: google.endpoints['discovery']!,
    authorize_url: google.endpoints['authorize']!,
    token_url: google.endpoints['token']!,
    jwks_uri: google.endpoints['jwks']!,
  };
});

afterAll(() => idp.stop());
afterEach(() => control(idp, 'DELETE', '/_mock/faults'));

async function backend(
  fetchImpl: typeof fetch = fetch,
  endpoints: Record<string, string> = upstream,
): Promise<ProxyUpstream> {
  const b = await googleBackend(settingsFor('google', describeProvider(idp, 'google'), endpoints), {
    fetch: fetchImpl,
  });
  if (b.kind !== 'proxy') throw new Error('google must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

describe('Google authorization URL', () => {
  it('carries our state, S256 challenge, callback and nonce, openid email profile, offline access', async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(upstream['authorize_url']);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'openid email profile',
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      nonce: txn.nonce,
      access_type: 'offline',
      prompt: 'consent',
    });
  });

  it('googleIssuers accepts the issuer and its scheme-less form only', () => {
    expect(googleIssuers('https://accounts.google.com')).toEqual([
      'https://accounts.google.com',
      'accounts.google.com',
    ]);
  });
});

describe('Google identity from the verified id_token', () => {
  it('alice: sub, verified email, name; claims without the protocol claims', async () => {
    const { identity, tokens } = await signIn('alice');
    expect(identity).toEqual({
      provider: 'google',
      subject: '110000000000000000001',
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
      claims: {
        email: 'alice@example.com',
        email_verified: true,
        name: 'Alice Example',
        picture: 'https://lh3.googleusercontent.com/a/mock-alice=s96-c',
        given_name: 'Alice',
        family_name: 'Example',
        locale: 'en',
      },
    });
    expect(tokens.access_token).toMatch(/^ya29\./);
    expect(tokens.refresh_token).toMatch(/^1\/\/0/);
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ iss: issuer, aud: clientId, azp: clientId });
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
  });

  it('the journal shows our state, challenge, nonce and callback, and our verifier at the token endpoint', async () => {
    const before = (await requests(idp, 'google')).length;
    const g = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'google', await g.authorizationUrl(txn), 'alice');
    expect(back.state).toBe(txn.state);
    await g.exchange({
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    });
    const seen = (await requests(idp, 'google')).slice(before);
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
      grant_type: 'authorization_code',
      code: back.code,
      code_verifier: txn.codeVerifier,
      redirect_uri: CALLBACK,
      client_id: clientId,
    });
    expect(token.params['client_secret']).toBeTypeOf('string');
    expect(token.headers['authorization']).toBeUndefined();
  });

  it('bob: the address is kept exactly as Google sends it (case is the resolver’s business)', async () => {
    const { identity } = await signIn('bob');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      '110000000000000000002',
      'BOB.SMITH@example.com',
      true,
    ]);
  });

  it('carol: email_verified false stays false', async () => {
    const { identity } = await signIn('carol');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      '110000000000000000003',
      'alice@example.com',
      false,
    ]);
  });

  it('heidi: no email claim, no email', async () => {
    const { identity } = await signIn('heidi');
    expect(identity.subject).toBe('110000000000000000008');
    expect(identity.email).toBeUndefined();
    expect(identity.emailVerified).toBeUndefined();
    expect(identity.claims['email']).toBeUndefined();
  });

  it('judy: the Workspace hosted domain arrives as the hd claim', async () => {
    const { identity } = await signIn('judy');
    expect([identity.subject, identity.email, identity.claims['hd']]).toEqual([
      '110000000000000000010',
      'judy@example.com',
      'example.com',
    ]);
  });

  it('liam: the scheme-less issuer form is accepted', async () => {
    const { identity, tokens } = await signIn('liam');
    expect(decodeJwt(tokens.id_token!).iss).toBe(issuer.replace(/^https?:\/\//, ''));
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      '110000000000000000015',
      'liam@example.com',
      true,
    ]);
  });

  it('every upstream call goes through the injected fetch; discovery and JWKS are fetched once', async () => {
    const recorder = recordingFetch();
    const g = await backend(recorder.fetch);
    await signIn('alice', g);
    await signIn('bob', g);
    // discovery_url is set explicitly, so the issuer comes from the document.
    expect(recorder.urls).toEqual([
      upstream['token_url'],
      upstream['discovery_url'],
      upstream['jwks_uri'],
      upstream['token_url'],
    ]);
  });

  it('with only discovery_url set, every endpoint and the issuer come from the discovery document (fetched once)', async () => {
    const recorder = recordingFetch();
    const g = await backend(recorder.fetch, { discovery_url: upstream['discovery_url']! });
    const txn = newTransaction();
    const url = await g.authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(upstream['authorize_url']);
    await signIn('alice', g);
    expect(recorder.urls).toEqual([upstream['discovery_url'], upstream['token_url'], upstream['jwks_uri']]);
  });

  it('a rotated signing key is fetched on its first use', async () => {
    const g = await backend();
    const first = await signIn('alice', g);
    const fetched = (await requests(idp, 'google', 'jwks')).length;
    await fault(idp, 'google', 'token', { kind: 'rotate-key' });
    const { identity, tokens } = await signIn('alice', g);
    expect(identity.subject).toBe('110000000000000000001');
    const kid = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString())['kid'];
    expect(kid(tokens.id_token!)).not.toBe(kid(first.tokens.id_token!));
    // One more JWKS fetch, caused by the new kid.
    expect((await requests(idp, 'google', 'jwks')).length).toBe(fetched + 1);
  });
});

describe('Google id_token refused', () => {
  it.each([
    ['expired', 'Google id_token has expired'],
    ['not-yet-valid', 'Google id_token is not yet valid'],
    ['wrong-aud', 'Google id_token "aud" is not our client'],
    ['bad-signature', 'Google id_token signature is invalid'],
    ['alg-none', 'Google id_token uses an algorithm other than RS256'],
  ])('%s -> ERR_UPSTREAM_ID_TOKEN', async (defect, message) => {
    await fault(idp, 'google', 'token', { kind: 'token', defect });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_ID_TOKEN', message]);
  });

  it('wrong-iss -> ERR_UPSTREAM_ID_TOKEN naming the issuer', async () => {
    await fault(idp, 'google', 'token', { kind: 'token', defect: 'wrong-iss' });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Google id_token "iss" https://issuer.invalid/ is not the issuer',
    ]);
  });

  it('a nonce other than ours -> ERR_UPSTREAM_ID_TOKEN', async () => {
    const error = await upstreamError(signIn('alice', undefined, { nonce: 'not-the-nonce-we-sent' }));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Google id_token "nonce" is not the one we sent',
    ]);
  });

  it('a configured issuer other than the token’s -> refused', async () => {
    const g = await backend(fetch, { ...upstream, issuer: 'https://accounts.google.com' });
    const error = await upstreamError(signIn('alice', g));
    expect(error.code).toBe('ERR_UPSTREAM_ID_TOKEN');
    expect(error.message).toBe(`Google id_token "iss" ${issuer} is not the issuer`);
  });

  it('an exchange answered without an id_token -> ERR_UPSTREAM_ID_TOKEN', async () => {
    const g = await backend(async (input, init) => {
      const response = await fetch(input, init);
      if (String(input) !== upstream['token_url']) return response;
      const { id_token: _dropped, ...rest } = (await response.json()) as Record<string, unknown>;
      return Response.json(rest);
    });
    const error = await upstreamError(signIn('alice', g));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_ID_TOKEN', 'Google sent no id_token']);
  });
});

describe('Google token endpoint failures', () => {
  it('a replayed code -> ERR_UPSTREAM_TOKEN invalid_grant', async () => {
    const g = await backend();
    const txn = newTransaction();
    const back = await loginAs(await g.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await g.exchange(input);
    const error = await upstreamError(g.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Google refused the code: invalid_grant',
    ]);
    expect((await requests(idp, 'google', 'token')).at(-1)!.status).toBe(400);
  });

  it('a wrong code_verifier -> invalid_grant', async () => {
    const g = await backend();
    const txn = newTransaction();
    const back = await loginAs(await g.authorizationUrl(txn), 'alice');
    const error = await upstreamError(
      g.exchange({
        code: back.code!,
        codeVerifier: newTransaction().codeVerifier,
        redirectUri: CALLBACK,
        nonce: txn.nonce,
      }),
    );
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Google refused the code: invalid_grant',
    ]);
  });

  it('a 502 from the token endpoint -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'google', 'token', { kind: 'status', status: 502 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'Google token endpoint answered HTTP 502',
    ]);
  });

  it('a JWKS answering 503 -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'google', 'jwks', { kind: 'status', status: 503 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'Google JWKS answered HTTP 503',
    ]);
  });
});
