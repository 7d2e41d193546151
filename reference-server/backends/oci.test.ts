import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { OCI_ISSUER, ociBackend } from './oci.ts';
import { mockIdentity } from './remote-test-client.ts';
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
let configUrl: string;
let clientId: string;
let clientSecret: string;

beforeAll(async () => {
  idp = await startIdp();
  const d = describeProvider(idp, 'oci');
  configUrl = d.endpoints['discovery']!;
  clientId = d.client.client_id;
  clientSecret = d.client.client_secret!;
});

afterAll(() => idp.stop());

afterEach(async () => {
  await control(idp, 'DELETE', '/_mock/faults');
});

async function backend(options: { configUrl?: string; fetch?: typeof fetch } = {}): Promise<ProxyUpstream> {
  const settings = settingsFor(
    'oci',
    describeProvider(idp, 'oci'),
    {},
    { config_url: options.configUrl ?? configUrl },
  );
  const b = await ociBackend(settings, { fetch: options.fetch ?? fetch });
  if (b.kind !== 'proxy') throw new Error('oci must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

describe('OCI IAM authorization URL', () => {
  it("goes to the domain's authorize endpoint with our values and a nonce", async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(describeProvider(idp, 'oci').endpoints['authorize']);
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

  it('refuses a discovery document that does not name https://identity.oraclecloud.com/', async () => {
    const auth0 = describeProvider(idp, 'auth0');
    const b = await backend({ configUrl: auth0.endpoints['discovery']! });
    const error = await upstreamError(b.authorizationUrl(newTransaction()));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_CONFIG',
      `OCI IAM discovery "issuer" ${auth0.issuer} is not ${OCI_ISSUER}`,
    ]);
  });
});

describe('OCI IAM sign-in', () => {
  it('alice: subject = user_id (not the mutable user name), verified email; Basic, no scope on /token', async () => {
    const { fetch: recording, urls } = recordingFetch();
    const { identity, tokens } = await signIn('alice', await backend({ fetch: recording }));
    const mock = mockIdentity(idp, 'oci', 'alice');
    expect(mock['sub']).toBe('alice@example.com');
    expect(identity).toEqual({
      provider: 'oci',
      subject: mock['user_id'],
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
      claims: expect.objectContaining({
        tok_type: 'IT',
        user_id: mock['user_id'],
        sub_mappingattr: 'userName',
      }),
    });
    expect([
      tokens.token_type,
      tokens.id_token?.startsWith('ey'),
      tokens.access_token.startsWith('ey'),
    ]).toEqual(['Bearer', true, true]);
    const [token] = (await requests(idp, 'oci', 'token')).slice(-1);
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    expect([token?.status, token?.headers['authorization']]).toEqual([200, basic]);
    expect(token?.params).not.toHaveProperty('scope');
    expect(token?.params).not.toHaveProperty('client_secret');
    const d = describeProvider(idp, 'oci');
    expect(urls).toEqual([configUrl, d.endpoints['token'], d.endpoints['jwks']]);
  });

  it('carol: no email', async () => {
    const { identity } = await signIn('carol');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      mockIdentity(idp, 'oci', 'carol')['user_id'],
      undefined,
      undefined,
    ]);
  });

  const defects: Array<[string, string]> = [
    ['expired', 'OCI IAM id_token has expired'],
    ['wrong-iss', 'OCI IAM id_token "iss" https://issuer.invalid/ is not the issuer'],
    ['wrong-aud', 'OCI IAM id_token "aud" is not our client'],
    ['bad-signature', 'OCI IAM id_token signature is invalid'],
    ['alg-none', 'OCI IAM id_token uses an algorithm other than RS256'],
  ];
  for (const [defect, message] of defects) {
    it(`refuses an id_token with the "${defect}" defect`, async () => {
      // OCI's access token is a JWT signed first: the fault covers both tokens.
      await control(idp, 'POST', '/_mock/faults', {
        provider: 'oci',
        endpoint: 'token',
        action: { kind: 'token', defect },
        times: 2,
      });
      const error = await upstreamError(signIn('alice'));
      expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_ID_TOKEN', message]);
    });
  }
});
