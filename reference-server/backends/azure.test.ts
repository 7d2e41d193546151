import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { azureBackend, azureIssuers, azureScopes, CONSUMER_TENANT } from './azure.ts';
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

/** The mock's home tenant (contoso.onmicrosoft.com) and grace's foreign tenant. */
const HOME = '7b3c5d1e-2f4a-4b6c-8d9e-0a1b2c3d4e5f';
const FABRIKAM = '0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b';
const oid = (n: string) => `6f1c2a44-0a1d-4b8e-9c41-0000000000${n}`;

let idp: RunningMockIdp;
let authority: string;
let clientId: string;

beforeAll(async () => {
  idp = await startIdp();
  const entra = describeProvider(idp, 'entra');
  clientId = entra.client.client_id;
  authority = entra.base_urls['login']!;
});

afterAll(() => idp.stop());
afterEach(() => control(idp, 'DELETE', '/_mock/faults'));

async function backend(
  tenant = HOME,
  fetchImpl: typeof fetch = fetch,
  upstream: Record<string, string> = {},
): Promise<ProxyUpstream> {
  const settings = settingsFor(
    'azure',
    describeProvider(idp, 'entra'),
    { authority, ...upstream },
    { tenant_id: tenant },
  );
  const b = await azureBackend(settings, { fetch: fetchImpl });
  if (b.kind !== 'proxy') throw new Error('azure must be a proxy backend');
  return b;
}

const signIn = (persona: string, b?: ProxyUpstream, options: { nonce?: string } = {}) =>
  signInThrough(b ?? backend(), persona, options);

const upstreamError = expectUpstreamError;

describe('Entra authorization URL', () => {
  it('carries our state, challenge, callback and nonce, the OIDC scopes with offline_access, select_account, no resource', async () => {
    const txn = newTransaction();
    const url = await (await backend()).authorizationUrl(txn);
    expect(`${url.origin}${url.pathname}`).toBe(`${authority}/${HOME}/oauth2/v2.0/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      scope: 'openid profile email offline_access',
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      nonce: txn.nonce,
      response_mode: 'query',
      prompt: 'select_account',
    });
    expect(url.searchParams.has('resource')).toBe(false);
  });

  it('a `resource` in a configured authorize_url is stripped', async () => {
    const az = await backend(HOME, fetch, {
      authorize_url: `${authority}/${HOME}/oauth2/v2.0/authorize?resource=https%3A%2F%2Fmcp.example%2Fmcp`,
    });
    const url = await az.authorizationUrl(newTransaction());
    expect(url.searchParams.has('resource')).toBe(false);
    expect(url.searchParams.get('prompt')).toBe('select_account');
  });

  it('azureScopes prefixes custom API scopes with api://{client_id}/ and keeps qualified ones', () => {
    expect(
      azureScopes('app-id', ['read', 'api://other/write', 'https://graph.microsoft.com/User.Read', 'openid']),
    ).toEqual([
      'openid',
      'profile',
      'email',
      'offline_access',
      'api://app-id/read',
      'api://other/write',
      'https://graph.microsoft.com/User.Read',
    ]);
  });
});

describe('Entra identity from the verified id_token', () => {
  it('alice: subject tid:oid, email only because xms_edov is true, kept claims', async () => {
    const { identity, tokens } = await signIn('alice');
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ xms_edov: true, email: 'alice@example.com' });
    expect(identity).toEqual({
      provider: 'azure',
      subject: `${HOME}:${oid('01')}`,
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
      claims: {
        oid: oid('01'),
        tid: HOME,
        name: 'Alice Example',
        preferred_username: 'alice@example.com',
        roles: ['admin', 'editor'],
        groups: ['engineering', 'mcp-admins'],
      },
    });
    expect(tokens.refresh_token).toBeTypeOf('string');
  });

  it('the journal shows our state, challenge, nonce and callback, no resource, and our verifier and secret at the token endpoint', async () => {
    const before = (await requests(idp, 'entra')).length;
    const az = await backend();
    const txn = newTransaction();
    const back = await loginQueued(idp, 'entra', await az.authorizationUrl(txn), 'alice');
    await az.exchange({
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    });
    const seen = (await requests(idp, 'entra')).slice(before);
    const authorize = seen.find((e) => e.endpoint === 'authorize')!;
    expect(authorize.params).toMatchObject({
      state: txn.state,
      code_challenge: txn.codeChallenge,
      code_challenge_method: 'S256',
      redirect_uri: CALLBACK,
      nonce: txn.nonce,
      prompt: 'select_account',
    });
    expect(authorize.params['resource']).toBeUndefined();
    const token = seen.find((e) => e.endpoint === 'token')!;
    expect(token.status).toBe(200);
    expect(token.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(token.params).toMatchObject({
      grant_type: 'authorization_code',
      code: back.code,
      code_verifier: txn.codeVerifier,
      redirect_uri: CALLBACK,
      client_id: clientId,
    });
    expect(token.params['client_secret']).toBeTypeOf('string');
  });

  it('bob: the address as Entra sends it, verified by the domain owner', async () => {
    const { identity } = await signIn('bob');
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      `${HOME}:${oid('02')}`,
      'Bob.Smith@Example.COM',
      true,
    ]);
  });

  it('carol: an email claim with xms_edov false is no email', async () => {
    const { identity, tokens } = await signIn('carol');
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ email: 'alice@example.com', xms_edov: false });
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      `${HOME}:${oid('03')}`,
      undefined,
      undefined,
    ]);
  });

  it('heidi: no email claim; preferred_username (an address-shaped UPN) is never taken as email', async () => {
    const { identity } = await signIn('heidi');
    expect(identity.email).toBeUndefined();
    expect(identity.login).toBeUndefined();
    expect(identity.claims['preferred_username']).toBe('frank@example.com');
  });

  it('erin: no email, the UPN stays a claim only', async () => {
    const { identity } = await signIn('erin');
    expect([identity.subject, identity.email, identity.login]).toEqual([
      `${HOME}:${oid('05')}`,
      undefined,
      undefined,
    ]);
  });

  it('liam: the id_token is v2 and verifies; the v1 Graph access token is never read', async () => {
    const { identity, tokens } = await signIn('liam');
    expect(decodeJwt(tokens.access_token).iss).toMatch(/^https:\/\/sts\.windows\.net\//);
    expect(decodeJwt(tokens.id_token!).ver).toBe('2.0');
    expect(identity.subject).toBe(`${HOME}:${oid('15')}`);
  });

  it('every upstream call goes through the injected fetch; discovery and JWKS are fetched once', async () => {
    const recorder = recordingFetch();
    const az = await backend(HOME, recorder.fetch);
    await signIn('alice', az);
    await signIn('bob', az);
    const base = `${authority}/${HOME}`;
    expect(recorder.urls).toEqual([
      `${base}/v2.0/.well-known/openid-configuration`,
      `${base}/oauth2/v2.0/token`,
      `${base}/discovery/v2.0/keys`,
      `${base}/oauth2/v2.0/token`,
    ]);
  });

  it('a domain tenant: the GUID issuer comes from its discovery document', async () => {
    const { identity } = await signIn('alice', await backend('contoso.onmicrosoft.com'));
    expect(identity.subject).toBe(`${HOME}:${oid('01')}`);
  });
});

describe('Entra multi-tenant (common, organizations)', () => {
  it('common: the {tenantid} issuer template is resolved with the token’s tid', async () => {
    const { identity, tokens } = await signIn('alice', await backend('common'));
    expect(decodeJwt(tokens.id_token!).iss).toBe(`${authority}/${HOME}/v2.0`);
    expect(identity.subject).toBe(`${HOME}:${oid('01')}`);
  });

  it('grace (another tenant) through common: her own tid in the subject, and no email though the claim says alice@example.com', async () => {
    const { identity, tokens } = await signIn('grace', await backend('common'));
    expect(decodeJwt(tokens.id_token!)).toMatchObject({
      tid: FABRIKAM,
      email: 'alice@example.com',
      xms_edov: false,
    });
    expect([identity.subject, identity.email, identity.emailVerified]).toEqual([
      `${FABRIKAM}:${oid('07')}`,
      undefined,
      undefined,
    ]);
  });

  it('grace through the home tenant: Entra refuses the code (not in the tenant)', async () => {
    const error = await upstreamError(signIn('grace'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Entra refused the code: invalid_grant',
    ]);
  });

  it('organizations: the template is resolved, except for the personal-account tenant', () => {
    const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    expect(azureIssuers(template, 'organizations', { tid: HOME })).toEqual([
      `https://login.microsoftonline.com/${HOME}/v2.0`,
    ]);
    expect(azureIssuers(template, 'organizations', { tid: CONSUMER_TENANT })).toEqual([]);
    expect(azureIssuers(template, 'common', { tid: CONSUMER_TENANT })).toEqual([
      `https://login.microsoftonline.com/${CONSUMER_TENANT}/v2.0`,
    ]);
  });

  it('the template is never resolved for a specific tenant, nor with a tid that is not a GUID', () => {
    const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    expect(azureIssuers(template, HOME, { tid: HOME })).toEqual([]);
    expect(azureIssuers(template, 'common', { tid: 'evil/../x' })).toEqual([]);
    expect(azureIssuers(template, 'common', {})).toEqual([]);
    expect(
      azureIssuers(`https://login.microsoftonline.com/${HOME}/v2.0`, 'common', { tid: FABRIKAM }),
    ).toEqual([`https://login.microsoftonline.com/${HOME}/v2.0`]);
  });
});

describe('Entra id_token refused', () => {
  it.each([
    ['expired', 'Entra id_token has expired'],
    ['not-yet-valid', 'Entra id_token is not yet valid'],
    ['wrong-aud', 'Entra id_token "aud" is not our client'],
    ['wrong-iss', 'Entra id_token "iss" https://issuer.invalid/ is not the issuer'],
    ['alg-none', 'Entra id_token uses an algorithm other than RS256'],
  ])('%s -> ERR_UPSTREAM_ID_TOKEN', async (defect, message) => {
    await fault(idp, 'entra', 'token', { kind: 'token', defect });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual(['ERR_UPSTREAM_ID_TOKEN', message]);
  });

  it('bad-signature (a forger claiming the current kid) -> ERR_UPSTREAM_ID_TOKEN', async () => {
    await fault(idp, 'entra', 'token', { kind: 'token', defect: 'bad-signature' });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Entra id_token signature is invalid',
    ]);
  });

  it('wrong-iss through common (the template resolves to the real tenant) -> refused', async () => {
    await fault(idp, 'entra', 'token', { kind: 'token', defect: 'wrong-iss' });
    const error = await upstreamError(signIn('alice', await backend('common')));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Entra id_token "iss" https://issuer.invalid/ is not the issuer',
    ]);
  });

  it('a nonce other than ours -> refused', async () => {
    const error = await upstreamError(signIn('alice', undefined, { nonce: 'not-our-nonce' }));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_ID_TOKEN',
      'Entra id_token "nonce" is not the one we sent',
    ]);
  });
});

describe('Entra token endpoint failures', () => {
  it('a replayed code -> ERR_UPSTREAM_TOKEN invalid_grant', async () => {
    const az = await backend();
    const txn = newTransaction();
    const back = await loginAs(await az.authorizationUrl(txn), 'alice');
    const input = {
      code: back.code!,
      codeVerifier: txn.codeVerifier,
      redirectUri: CALLBACK,
      nonce: txn.nonce,
    };
    await az.exchange(input);
    const error = await upstreamError(az.exchange(input));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Entra refused the code: invalid_grant',
    ]);
  });

  it('a wrong client secret -> ERR_UPSTREAM_TOKEN invalid_client', async () => {
    const settings = settingsFor(
      'azure',
      describeProvider(idp, 'entra'),
      { authority },
      { tenant_id: HOME, client_secret: 'not-the-secret' },
    );
    const error = await upstreamError(
      signIn('alice', (await azureBackend(settings, { fetch })) as ProxyUpstream),
    );
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_TOKEN',
      'Entra refused the code: invalid_client',
    ]);
  });

  it('a 503 from the token endpoint -> ERR_UPSTREAM_UNREACHABLE', async () => {
    await fault(idp, 'entra', 'token', { kind: 'status', status: 503 });
    const error = await upstreamError(signIn('alice'));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'Entra token endpoint answered HTTP 503',
    ]);
  });

  it('a discovery document answering 500 -> ERR_UPSTREAM_UNREACHABLE before any redirect', async () => {
    await fault(idp, 'entra', 'discovery', { kind: 'status', status: 500 });
    const error = await upstreamError((await backend()).authorizationUrl(newTransaction()));
    expect([error.code, error.message]).toEqual([
      'ERR_UPSTREAM_UNREACHABLE',
      'Entra discovery document answered HTTP 500',
    ]);
  });
});
