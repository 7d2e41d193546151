import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COGNITO_POOL_ID } from '../../mock-idp/providers/cognito.ts';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { awsBackend, tokenUseProblem } from './aws.ts';
import type { ProxyUpstream } from './types.ts';
import {
  CALLBACK,
  control,
  describeProvider,
  expectUpstreamError,
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
let clientSecret: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'cognito');
  discovery = d.endpoints['discovery']!;
  clientId = d.client.client_id;
  clientSecret = d.client.client_secret!;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(
  options: { discoveryUrl?: string; secret?: string; fetch?: typeof fetch } = {},
): Promise<ProxyUpstream> {
  const d = describeProvider(idp, 'cognito');
  const settings = settingsFor(
    'aws',
    { ...d, client: { ...d.client, client_secret: options.secret ?? clientSecret } },
    { discovery_url: options.discoveryUrl ?? discovery },
    { user_pool_id: COGNITO_POOL_ID, aws_region: 'us-east-1' },
  );
  const b = await awsBackend(settings, { fetch: options.fetch ?? fetch });
  if (b.kind !== 'proxy') throw new Error('aws must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

describe('AWS Cognito authorization URL', () => {
  it("goes to the hosted UI from the pool's discovery document, with our values and a nonce", async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(describeProvider(idp, 'cognito').endpoints['authorize']);
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

  it('refuses a discovery document that names another issuer than the pool URL', async () => {
    const descope = describeProvider(idp, 'descope').base_urls['idp'];
    const b = await backend({ discoveryUrl: `${descope}/P2MockProject01/.well-known/openid-configuration` });
    const error = await upstreamError(b.authorizationUrl(newTransaction()));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_CONFIG',
      `AWS Cognito discovery "issuer" ${descope}/v1/apps/P2MockProject01 does not match the discovery URL`,
    ]);
  });
});

describe('AWS Cognito sign-in (identity from the verified id_token)', () => {
  it('alice: her sub and verified email; Basic client authentication; no userInfo call', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const { identity, tokens } = await signIn('alice', await backend({ fetch: recording }));
    expect(identity).toEqual({
      provider: 'cognito',
      subject: '0b7e1a52-0001-4c1f-9f7a-3b2d1c000001',
      email: 'alice@example.com',
      emailVerified: true,
      claims: expect.objectContaining({
        'cognito:username': 'alice',
        'cognito:groups': ['engineering', 'mcp-admins'],
        token_use: 'id',
        email_verified: true,
      }),
    });
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^ey/),
      id_token: expect.stringMatching(/^ey/),
      refresh_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 3600,
    });
    const [token] = (await requests(idp, 'cognito', 'token')).slice(-1);
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    expect([token?.status, token?.headers['authorization']]).toEqual([200, basic]);
    expect(token?.params).not.toHaveProperty('client_secret');
    const d = describeProvider(idp, 'cognito');
    expect(urls).toEqual([discovery, d.endpoints['token'], d.endpoints['jwks']]);
  });

  it("kim: federated from Google; cognito:username is not a login, the verified email is frank's", async () => {
    const { identity } = await signIn('kim');
    expect(identity).toEqual({
      provider: 'cognito',
      subject: '0b7e1a52-0011-4c1f-9f7a-3b2d1c000011',
      email: 'frank@example.com',
      emailVerified: true,
      claims: expect.objectContaining({
        'cognito:username': 'Google_117700000000000000011',
        identities: [expect.objectContaining({ providerName: 'Google', userId: '117700000000000000011' })],
      }),
    });
    expect(identity).not.toHaveProperty('login');
  });

  it("grace: alice's address with email_verified false is not part of the identity", async () => {
    const { identity } = await signIn('grace');
    expect([
      identity.subject,
      identity.email,
      identity.claims['email'],
      identity.claims['email_verified'],
    ]).toEqual(['0b7e1a52-0007-4c1f-9f7a-3b2d1c000007', undefined, 'alice@example.com', false]);
  });

  it('carol: the boolean false of the id_token decides; userInfo (string "false") is never asked', async () => {
    const before = (await requests(idp, 'cognito', 'userinfo')).length;
    const { identity } = await signIn('carol');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      '0b7e1a52-0003-4c1f-9f7a-3b2d1c000003',
      undefined,
      undefined,
    ]);
    expect((await requests(idp, 'cognito', 'userinfo')).length).toBe(before);
  });

  it('refuses the exchange when our client secret is wrong', async () => {
    const error = await upstreamError(signIn('alice', await backend({ secret: 'wrong-secret' })));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'AWS Cognito refused the code: invalid_client',
    ]);
  });

  const defects: Array<[string, string]> = [
    ['expired', 'AWS Cognito id_token has expired'],
    ['wrong-iss', 'AWS Cognito id_token "iss" https://issuer.invalid/ is not the issuer'],
    ['wrong-aud', 'AWS Cognito id_token "aud" is not our client'],
    ['bad-signature', 'AWS Cognito id_token signature is invalid'],
    ['alg-none', 'AWS Cognito id_token uses an algorithm other than RS256'],
  ];
  for (const [defect, message] of defects) {
    it(`refuses an id_token with the "${defect}" defect`, async () => {
      // Cognito signs the access token first, then the id_token: the fault covers both.
      await control(idp, 'POST', '/_mock/faults', {
        provider: 'cognito',
        endpoint: 'token',
        action: { kind: 'token', defect },
        times: 2,
      });
      const error = await upstreamError(signIn('alice'));
      expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_ID_TOKEN', message]);
    });
  }
});

describe('AWS Cognito token_use', () => {
  it('accepts only "id": an access token of the pool (token_use "access") can never stand in', () => {
    expect(tokenUseProblem({ token_use: 'id' })).toBeUndefined();
    expect(tokenUseProblem({ token_use: 'access' })).toBe('"token_use" access is not "id"');
    expect(tokenUseProblem({})).toBe('"token_use" undefined is not "id"');
  });
});
