import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AUTH0_API_AUDIENCE, AUTH0_CLAIM_NAMESPACE } from '../../mock-idp/providers/auth0.ts';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { auth0Backend } from './auth0.ts';
import type { ProxyUpstream } from './types.ts';
import {
  CALLBACK,
  control,
  describeProvider,
  expectUpstreamError,
  loginQueued,
  newTransaction,
  recordingFetch,
  requests,
  settingsFor,
  signInThrough,
  startIdp,
} from './upstream-test-client.ts';

let idp: RunningMockIdp;
let discovery: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'auth0');
  discovery = d.endpoints['discovery']!;
  clientId = d.client.client_id;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(
  options: { audience?: string; configUrl?: string; fetch?: typeof fetch } = {},
): Promise<ProxyUpstream> {
  const settings = settingsFor(
    'auth0',
    describeProvider(idp, 'auth0'),
    options.audience ? { audience: options.audience } : {},
    { config_url: options.configUrl ?? discovery },
  );
  const b = await auth0Backend(settings, { fetch: options.fetch ?? fetch });
  if (b.kind !== 'proxy') throw new Error('auth0 must be a proxy backend');
  return b;
}

/** Signs in as `persona` through the mock's login page and exchanges the code. */
const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

const issuer = () => describeProvider(idp, 'auth0').issuer!;

describe('Auth0 authorization URL', () => {
  it('carries our state, S256 challenge, callback, nonce and the OIDC scopes', async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(describeProvider(idp, 'auth0').endpoints['authorize']);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'openid profile email',
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      nonce: txn.nonce,
    });
  });

  it('adds upstream.auth0.audience', async () => {
    const url = await (await backend({ audience: AUTH0_API_AUDIENCE })).authorizationUrl(newTransaction());
    expect(url.searchParams.get('audience')).toBe(AUTH0_API_AUDIENCE);
  });

  it('refuses a discovery document whose issuer is not the config_url (OIDC Discovery 4.3)', async () => {
    const descope = describeProvider(idp, 'descope').base_urls['idp'];
    const b = await backend({ configUrl: `${descope}/P2MockProject01/.well-known/openid-configuration` });
    const error = await upstreamError(b.authorizationUrl(newTransaction()));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_CONFIG',
      `Auth0 discovery "issuer" ${descope}/v1/apps/P2MockProject01 does not match the discovery URL`,
    ]);
  });
});

describe('Auth0 sign-in (id_token verified, identity by sub and verified email)', () => {
  it('alice: auth0|alice with her verified email; tokens kept; client_secret_post at /oauth/token', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const { identity, tokens } = await signIn('alice', await backend({ fetch: recording }));
    expect(identity).toEqual({
      provider: 'auth0',
      subject: 'auth0|alice',
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
      claims: expect.objectContaining({
        nickname: 'alice',
        email: 'alice@example.com',
        email_verified: true,
        [`${AUTH0_CLAIM_NAMESPACE}roles`]: ['admin', 'editor'],
      }),
    });
    expect(identity.claims).not.toHaveProperty('permissions');
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      id_token: expect.stringMatching(/^ey/),
      token_type: 'Bearer',
      expires_in: 86400,
      scope: 'openid profile email',
    });
    const [token] = (await requests(idp, 'auth0', 'token')).slice(-1);
    expect([token?.status, token?.params['client_id'], token?.params['client_secret'] !== undefined]).toEqual(
      [200, clientId, true],
    );
    expect(token?.params).not.toHaveProperty('audience');
    expect(urls).toEqual([
      discovery,
      describeProvider(idp, 'auth0').endpoints['token'],
      describeProvider(idp, 'auth0').endpoints['jwks'],
    ]);
  });

  it('carol: the unverified address is not part of the identity', async () => {
    const { identity } = await signIn('carol');
    expect([
      identity.subject,
      identity.email,
      identity.emailVerified,
      identity.claims['email_verified'],
    ]).toEqual(['auth0|carol', undefined, undefined, false]);
  });

  it("frank's two unlinked connections are two subjects with one verified email", async () => {
    const github = (await signIn('frank')).identity;
    const google = (await signIn('frank-google')).identity;
    expect([github.subject, github.email, github.emailVerified]).toEqual([
      'github|42',
      'frank@example.com',
      true,
    ]);
    expect([google.subject, google.email, google.emailVerified]).toEqual([
      'google-oauth2|G1',
      'frank@example.com',
      true,
    ]);
  });

  it("liam: an iss without Auth0's trailing slash is refused", async () => {
    const error = await upstreamError(signIn('liam'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      `Auth0 id_token "iss" ${issuer().replace(/\/$/, '')} is not the issuer`,
    ]);
    expect(issuer().endsWith('/')).toBe(true);
  });

  it('refuses an id_token carrying another nonce', async () => {
    const b = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'auth0', await b.authorizationUrl(txn), 'alice');
    const error = await upstreamError(
      b.exchange({
        code: back.code!,
        codeVerifier: txn.codeVerifier,
        redirectUri: CALLBACK,
        nonce: 'another-nonce',
      }),
    );
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Auth0 id_token "nonce" is not the one we sent',
    ]);
  });

  it('refuses a replayed code with the upstream error', async () => {
    const b = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'auth0', await b.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await b.exchange(input);
    const error = await upstreamError(b.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Auth0 refused the code: invalid_grant',
    ]);
  });

  const defects: Array<[string, string]> = [
    ['expired', 'Auth0 id_token has expired'],
    ['not-yet-valid', 'Auth0 id_token is not yet valid'],
    ['wrong-iss', 'Auth0 id_token "iss" https://issuer.invalid/ is not the issuer'],
    ['wrong-aud', 'Auth0 id_token "aud" is not our client'],
    ['bad-signature', 'Auth0 id_token signature is invalid'],
    ['alg-none', 'Auth0 id_token uses an algorithm other than RS256'],
  ];
  for (const [defect, message] of defects) {
    it(`refuses an id_token with the "${defect}" defect`, async () => {
      await control(idp, 'POST', '/_mock/faults', {
        provider: 'auth0',
        endpoint: 'token',
        action: { kind: 'token', defect },
        times: 1,
      });
      const error = await upstreamError(signIn('alice'));
      expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_ID_TOKEN', message]);
    });
  }
});

describe('Auth0 API audience', () => {
  it('sends audience to /authorize and /token and merges the verified permissions into the claims', async () => {
    const { identity, tokens } = await signIn('alice', await backend({ audience: AUTH0_API_AUDIENCE }));
    expect(tokens.access_token.split('.')).toHaveLength(3);
    expect(identity.subject).toBe('auth0|alice');
    expect(identity.claims['permissions']).toEqual(['read:all', 'write:all', 'delete:all']);
    const [authorize] = (await requests(idp, 'auth0', 'authorize')).slice(-1);
    const [token] = (await requests(idp, 'auth0', 'token')).slice(-1);
    expect([authorize?.params['audience'], token?.params['audience'], token?.status]).toEqual([
      AUTH0_API_AUDIENCE,
      AUTH0_API_AUDIENCE,
      200,
    ]);
  });

  it('refuses a badly signed API access token (the id_token being fine)', async () => {
    // The access token is signed first: a one-shot defect hits it alone.
    await control(idp, 'POST', '/_mock/faults', {
      provider: 'auth0',
      endpoint: 'token',
      action: { kind: 'token', defect: 'bad-signature' },
      times: 1,
    });
    const error = await upstreamError(signIn('alice', await backend({ audience: AUTH0_API_AUDIENCE })));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Auth0 access token signature is invalid',
    ]);
  });

  it('refuses an API access token for another audience', async () => {
    await control(idp, 'POST', '/_mock/faults', {
      provider: 'auth0',
      endpoint: 'token',
      action: { kind: 'token', defect: 'wrong-aud' },
      times: 1,
    });
    const error = await upstreamError(signIn('oscar', await backend({ audience: AUTH0_API_AUDIENCE })));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Auth0 access token "aud" is invalid',
    ]);
  });
});
