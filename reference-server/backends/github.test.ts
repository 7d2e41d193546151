import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { githubBackend, primaryVerifiedEmail } from './github.ts';
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

beforeAll(async () => {
  idp = await startIdp();
  const github = describeProvider(idp, 'github');
  clientId = github.client.client_id;
  upstream = {
    authorize_url: github.endpoints['authorize']!,
    token_url: github.endpoints['token']!,
    api_base: `${idp.url}/github-api`,
  };
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
  await control(idp, 'POST', '/_mock/settings', {
    provider: 'github',
    settings: { emails_without_scope_status: 404 },
  });
});

async function backend(
  fetchImpl: typeof fetch = fetch,
  extra: Record<string, string> = {},
): Promise<ProxyUpstream> {
  const b = await githubBackend(
    settingsFor('github', describeProvider(idp, 'github'), { ...upstream, ...extra }),
    {
      fetch: fetchImpl,
    },
  );
  if (b.kind !== 'proxy') throw new Error('github must be a proxy backend');
  return b;
}

/** Signs in as `persona` through the login page and exchanges the code. */
const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

describe('GitHub authorization URL', () => {
  it('carries our state, S256 challenge, callback and client, and read:user user:email', async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(upstream['authorize_url']);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'read:user user:email',
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
    });
  });

  it('refuses a challenge that is not S256 (43 base64url characters)', async () => {
    const txn = { ...newTransaction(), codeChallenge: 'plain-verifier' };
    const error = await upstreamError((await backend()).authorizationUrl(txn));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_CONFIG',
      '"codeChallenge" is not an S256 challenge',
    ]);
  });
});

describe('GitHub identity from /user and /user/emails', () => {
  it('alice: numeric id as subject, login, and the primary verified address', async () => {
    const { identity, tokens } = await signIn('alice');
    expect(identity).toEqual({
      provider: 'github',
      subject: '1001',
      login: 'alice-gh',
      name: 'Alice Example',
      email: 'alice@example.com',
      emailVerified: true,
      claims: {
        login: 'alice-gh',
        id: 1001,
        node_id: Buffer.from('04:User1001').toString('base64'),
        name: 'Alice Example',
        avatar_url: 'https://avatars.githubusercontent.com/u/1001?v=4',
        html_url: `${idp.url}/github/alice-gh`,
        type: 'User',
      },
    });
    expect(tokens.access_token).toMatch(/^gho_/);
    expect(tokens).toEqual({
      access_token: tokens.access_token,
      token_type: 'bearer',
      scope: 'read:user,user:email',
    });
  });

  it('the journal shows our state, challenge and callback at /authorize, and our verifier at the token endpoint', async () => {
    const before = (await requests(idp, 'github')).length;
    const gh = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'github', await gh.authorizationUrl(txn), 'alice');
    await gh.exchange({
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    });
    const seen = (await requests(idp, 'github')).slice(before);
    const authorize = seen.find((e) => e.endpoint === 'authorize')!;
    expect(authorize.params).toMatchObject({
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      redirect_uri: CALLBACK,
      client_id: clientId,
    });
    const token = seen.find((e) => e.endpoint === 'token')!;
    expect(token.status).toBe(200);
    expect(token.headers['accept']).toBe('application/json');
    expect(token.params).toMatchObject({
      grant_type: 'authorization_code',
      code: back.code,
      code_verifier: txn.codeVerifier,
      redirect_uri: CALLBACK,
      client_id: clientId,
    });
    for (const endpoint of ['user', 'emails']) {
      const entry = seen.find((e) => e.endpoint === endpoint)!;
      expect(entry.status).toBe(200);
      expect(entry.headers['accept']).toBe('application/vnd.github+json');
      expect(entry.headers['user-agent']).toBe('mcp-auth-conformance-reference-server');
    }
  });

  it('bob: login kept as GitHub spells it; no address at all means no email', async () => {
    const { identity } = await signIn('bob');
    expect(identity.subject).toBe('1002');
    expect(identity.login).toBe('BobSmith');
    expect(identity.email).toBeUndefined();
    expect(identity.emailVerified).toBeUndefined();
  });

  it('carol: an unverified primary address is never an email', async () => {
    const { identity } = await signIn('carol');
    expect([identity.subject, identity.login, identity.email, identity.emailVerified]).toEqual([
      '1003',
      'carol-gh',
      undefined,
      undefined,
    ]);
    // /user shows the address publicly; it is not taken from there either.
    expect(identity.claims['email']).toBeUndefined();
  });

  it('dave: the private primary verified address comes from /user/emails (/user.email is null)', async () => {
    const { identity } = await signIn('dave');
    expect([identity.subject, identity.login, identity.email, identity.emailVerified]).toEqual([
      '1004',
      'dave-gh',
      'dave@example.com',
      true,
    ]);
  });

  it('erin: a noreply primary address is never used; the login remains', async () => {
    const { identity } = await signIn('erin');
    expect([identity.subject, identity.login, identity.email, identity.emailVerified]).toEqual([
      '1005',
      'Erin-Dev',
      undefined,
      undefined,
    ]);
  });

  it('ivan: a renamed login keeps the same numeric subject; his unverified address is dropped', async () => {
    const { identity } = await signIn('ivan');
    expect([identity.subject, identity.login, identity.email]).toEqual(['1009', 'ivan-new', undefined]);
  });

  it.each([404, 403])(
    '/user/emails refused with %i (no user:email grant): identity without email',
    async (status) => {
      await fault(idp, 'github', 'emails', {
        kind: 'error',
        error: 'not_found',
        description: status === 404 ? 'Not Found' : 'Resource not accessible by integration',
        status,
      });
      const { identity } = await signIn('alice');
      expect([identity.subject, identity.login, identity.email, identity.emailVerified]).toEqual([
        '1001',
        'alice-gh',
        undefined,
        undefined,
      ]);
      const emails = (await requests(idp, 'github', 'emails')).at(-1)!;
      expect(emails.status).toBe(status);
    },
  );

  it('primaryVerifiedEmail ignores non-primary verified addresses and malformed entries', () => {
    expect(
      primaryVerifiedEmail([
        { email: 'other@example.com', primary: false, verified: true },
        { email: 'main@example.com', primary: true, verified: false },
      ]),
    ).toBeUndefined();
    expect(
      primaryVerifiedEmail([null, 'x', { email: 'main@example.com', primary: true, verified: true }]),
    ).toBe('main@example.com');
    expect(
      primaryVerifiedEmail([{ email: '1+a@USERS.NOREPLY.GITHUB.COM', primary: true, verified: true }]),
    ).toBe(undefined);
  });

  it('every upstream call goes through the injected fetch', async () => {
    const recorder = recordingFetch();
    await signIn('alice', await backend(recorder.fetch));
    expect(recorder.urls).toEqual([
      upstream['token_url'],
      `${upstream['api_base']}/user`,
      `${upstream['api_base']}/user/emails`,
    ]);
  });
});

describe('GitHub failures', () => {
  it('a replayed code: GitHub answers HTTP 200 bad_verification_code -> ERR_UPSTREAM_TOKEN', async () => {
    const gh = await backend();
    const txn = newTransaction();
    const back = await loginAs(await gh.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await gh.exchange(input);
    const error = await upstreamError(gh.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'GitHub refused the code: bad_verification_code',
    ]);
    const token = (await requests(idp, 'github', 'token')).at(-1)!;
    expect(token.status).toBe(200);
  });

  it('a wrong code_verifier -> bad_verification_code', async () => {
    const gh = await backend();
    const txn = newTransaction();
    const back = await loginAs(await gh.authorizationUrl(txn), 'alice');
    const error = await upstreamError(
      gh.exchange({
        code: back.code!,
        codeVerifier: newTransaction().codeVerifier,
        redirectUri: CALLBACK,
        nonce: txn.nonce,
      }),
    );
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'GitHub refused the code: bad_verification_code',
    ]);
  });

  it('carol-exchange: unverified_user_email at the token endpoint -> ERR_UPSTREAM_TOKEN', async () => {
    const error = await upstreamError(signIn('carol-exchange'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'GitHub refused the code: unverified_user_email',
    ]);
  });

  it('a wrong client secret -> incorrect_client_credentials', async () => {
    const settings = settingsFor('github', describeProvider(idp, 'github'), upstream, {
      client_secret: 'not-the-secret',
    });
    const gh = (await githubBackend(settings, { fetch })) as ProxyUpstream;
    const error = await upstreamError(signIn('alice', gh));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'GitHub refused the code: incorrect_client_credentials',
    ]);
  });

  it('a 503 from the token endpoint -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'github', 'token', { kind: 'status', status: 503 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'GitHub token endpoint answered HTTP 503',
    ]);
  });

  it('a token endpoint that does not answer -> ERR_UPSTREAM_UNREACHABLE', async () => {
    const gh = await backend(fetch, { token_url: 'http://127.0.0.1:1/login/oauth/access_token' });
    const error = await upstreamError(signIn('alice', gh));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'GitHub token endpoint is unreachable',
    ]);
  });

  it('/user refusing the token -> ERR_UPSTREAM_USER, with no token in the message', async () => {
    await fault(idp, 'github', 'user', { kind: 'error', error: 'bad_credentials', status: 401 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_USER', 'GitHub /user answered HTTP 401']);
    expect(error.message).not.toMatch(/gho_/);
  });

  it('/user/emails failing with 500 -> ERR_UPSTREAM_UNREACHABLE (never silently no email)', async () => {
    await fault(idp, 'github', 'emails', { kind: 'status', status: 500 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'GitHub /user/emails answered HTTP 500',
    ]);
  });

  it('/user/emails failing with 401 -> ERR_UPSTREAM_USER', async () => {
    await fault(idp, 'github', 'emails', { kind: 'error', error: 'bad_credentials', status: 401 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_USER',
      'GitHub /user/emails answered HTTP 401',
    ]);
  });

  it('settings without a client secret cannot build the backend', () => {
    const settings = settingsFor('github', describeProvider(idp, 'github'), upstream);
    const broken = { ...settings, oauth: { ...settings.oauth, client_secret: undefined } };
    expect(() => githubBackend(broken, { fetch })).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_CONFIG', message: 'GitHub needs oauth.client_secret' }),
    );
  });
});
