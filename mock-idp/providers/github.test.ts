import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { IssuedEntry, JournalEntry, RequestEntry } from '../journal.ts';
import { loginThroughPage } from '../login-client.ts';
import { loadPersonas } from '../personas.ts';
import { randomId } from '../random.ts';
import { type RunningMockIdp, startMockIdp } from '../server.ts';
import { GITHUB_APP, GITHUB_OAUTH_APP, github } from './github.ts';

// Serve the GitHub shape alone, so these tests depend on no other provider file.
vi.mock('./index.ts', async () => ({ allProviders: [(await import('./github.ts')).github] }));

const OAUTH = GITHUB_OAUTH_APP;
const APP = GITHUB_APP;
const CB = 'http://127.0.0.1:9999/cb';
const UA = { 'user-agent': 'mock-idp-tests' };
const GHO = /^gho_[A-Za-z0-9]{36}$/;
const GHU = /^ghu_[A-Za-z0-9]{36}$/;
const GHR = /^ghr_[A-Za-z0-9]{76}$/;

let idp: RunningMockIdp;
let web: string;
let api: string;

beforeAll(async () => {
  idp = await startMockIdp({ port: 0 });
  web = `${idp.url}/github`;
  api = `${idp.url}/github-api`;
});

afterAll(async () => {
  await idp.stop();
});

beforeEach(async () => {
  await control('/_mock/reset', {});
});

async function control(path: string, body: unknown): Promise<Response> {
  const res = await fetch(`${idp.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomId(64);
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(params: Record<string, string>): string {
  return `${web}/login/oauth/authorize?${new URLSearchParams(params)}`;
}

/** Queues `persona` and sends the browser to /authorize; returns the redirect target. */
async function authorize(params: Record<string, string>, persona = 'alice'): Promise<URL> {
  await control('/_mock/next-login', { persona, provider: 'github' });
  const res = await fetch(authorizeUrl(params), { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

interface CodeOptions {
  client?: string;
  scope?: string;
  pkce?: boolean;
  redirectUri?: string | null;
}

async function codeFor(
  persona: string,
  options: CodeOptions = {},
): Promise<{ code: string; verifier: string | undefined }> {
  const pair = options.pkce === false ? undefined : pkcePair();
  const params: Record<string, string> = {
    client_id: options.client ?? OAUTH.clientId,
    scope: options.scope ?? 'repo gist',
    state: 'st-1',
  };
  if (options.redirectUri !== null) params['redirect_uri'] = options.redirectUri ?? CB;
  if (pair) Object.assign(params, { code_challenge: pair.challenge, code_challenge_method: 'S256' });
  const location = await authorize(params, persona);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in ${location}`);
  return { code, verifier: pair?.verifier };
}

async function postToken(
  fields: Record<string, string | undefined>,
  options: { accept?: string; json?: boolean; headers?: Record<string, string> } = {},
): Promise<Response> {
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  return fetch(`${web}/login/oauth/access_token`, {
    method: 'POST',
    headers: {
      'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded',
      ...(options.accept ? { accept: options.accept } : {}),
      ...(options.headers ?? {}),
    },
    body: options.json ? JSON.stringify(defined) : new URLSearchParams(defined),
  });
}

function exchangeFields(
  code: string,
  verifier: string | undefined,
  client = OAUTH,
): Record<string, string | undefined> {
  return {
    client_id: client.clientId,
    client_secret: client.clientSecret,
    code,
    redirect_uri: CB,
    code_verifier: verifier,
  };
}

async function jsonToken(res: Response): Promise<Record<string, unknown>> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Record<string, unknown>;
}

/** An access token for `persona` through the full flow (JSON answer). */
async function accessToken(persona: string, options: CodeOptions = {}): Promise<string> {
  const client = options.client === APP.clientId ? APP : OAUTH;
  const { code, verifier } = await codeFor(persona, options);
  const body = await jsonToken(
    await postToken(exchangeFields(code, verifier, client), { accept: 'application/json' }),
  );
  return body['access_token'] as string;
}

function apiGet(path: string, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api}${path}`, {
    headers: { ...UA, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

async function errorForm(res: Response): Promise<Record<string, string>> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
  return Object.fromEntries(new URLSearchParams(await res.text()));
}

async function journal(): Promise<JournalEntry[]> {
  const res = await fetch(`${idp.url}/_mock/journal?provider=github`);
  return ((await res.json()) as { entries: JournalEntry[] }).entries;
}

describe('GitHub provider: description', () => {
  it('lists both hosts, both clients and every endpoint without an issuer', async () => {
    const res = await fetch(`${idp.url}/_mock/providers`);
    expect(res.status).toBe(200);
    const { providers } = (await res.json()) as { providers: Array<Record<string, unknown>> };
    const gh = providers.find((p) => p['id'] === 'github')!;
    expect(gh['issuer']).toBeUndefined();
    expect(gh['base_urls']).toEqual({ web, api });
    expect(gh['endpoints']).toEqual({
      authorize: `${web}/login/oauth/authorize`,
      token: `${web}/login/oauth/access_token`,
      user: `${api}/user`,
      emails: `${api}/user/emails`,
      repos: `${api}/user/repos`,
    });
    expect(gh['client']).toEqual({
      client_id: 'Ov23liMockOAuthApp01',
      client_secret: OAUTH.clientSecret,
      redirect_uris: ['http://127.0.0.1/callback'],
      loopback_redirects_allowed: true,
      token_endpoint_auth_method: 'client_secret_post',
    });
    expect(gh['clients']).toEqual([
      { client_id: OAUTH.clientId, name: 'Mock OAuth App' },
      { client_id: APP.clientId, name: 'Mock GitHub App' },
    ]);
    expect(OAUTH.clientId).toMatch(/^Ov23li[A-Za-z0-9]{14}$/);
    expect(OAUTH.clientSecret).toMatch(/^[0-9a-f]{40}$/);
  });
});

describe('GitHub provider: authorization', () => {
  it('completes a queued login: a 20-hex code and the state go to the loopback redirect_uri', async () => {
    const { challenge } = pkcePair();
    const location = await authorize({
      client_id: OAUTH.clientId,
      redirect_uri: CB,
      scope: 'read:user user:email',
      state: 'xyz',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(`${location.origin}${location.pathname}`).toBe(CB);
    expect(location.searchParams.get('code')).toMatch(/^[0-9a-f]{20}$/);
    expect(location.searchParams.get('state')).toBe('xyz');
    expect(location.searchParams.get('error')).toBeNull();
  });

  it('completes through the login page with PKCE, then exchanges the code', async () => {
    const pair = pkcePair();
    const result = await loginThroughPage(
      authorizeUrl({
        client_id: OAUTH.clientId,
        redirect_uri: CB,
        scope: 'user:email',
        state: 'page-state',
        code_challenge: pair.challenge,
        code_challenge_method: 'S256',
      }),
      'dave',
    );
    expect(result.status).toBe(302);
    expect(result.page).toContain('GitHub');
    const location = new URL(result.location!);
    expect(location.searchParams.get('state')).toBe('page-state');
    const code = location.searchParams.get('code')!;
    expect(code).toMatch(/^[0-9a-f]{20}$/);
    const body = await jsonToken(
      await postToken(exchangeFields(code, pair.verifier), { accept: 'application/json' }),
    );
    expect(body).toEqual({
      access_token: expect.stringMatching(GHO),
      scope: 'user:email',
      token_type: 'bearer',
    });
    const user = await apiGet('/user', body['access_token'] as string);
    expect(user.status).toBe(200);
    expect(((await user.json()) as { login: string }).login).toBe('dave-gh');
  });

  it('denied at the login page: access_denied goes to the redirect_uri', async () => {
    const result = await loginThroughPage(
      authorizeUrl({ client_id: OAUTH.clientId, redirect_uri: CB, state: 's' }),
      'alice',
      { action: 'deny' },
    );
    const location = new URL(result.location!);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('code')).toBeNull();
    expect(location.searchParams.get('state')).toBe('s');
  });

  it('sends the code to the registered callback when redirect_uri is omitted', async () => {
    const location = await authorize({ client_id: OAUTH.clientId, state: 'a' });
    expect(`${location.origin}${location.pathname}`).toBe('http://127.0.0.1/callback');
    expect(location.searchParams.get('code')).toMatch(/^[0-9a-f]{20}$/);
  });

  it('answers an unknown client_id with an HTML 404 page, never a redirect', async () => {
    await control('/_mock/next-login', { persona: 'alice', provider: 'github' });
    const res = await fetch(authorizeUrl({ client_id: 'Ov23liUnknownClient0', redirect_uri: CB }), {
      redirect: 'manual',
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('Ov23liUnknownClient0');
  });

  it('answers a missing client_id with an HTML 404 page', async () => {
    const res = await fetch(authorizeUrl({ redirect_uri: CB }), { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('client_id');
  });

  it('redirect_uri mismatch: redirects to the registered callback with error, description, uri and state', async () => {
    const res = await fetch(
      authorizeUrl({ client_id: OAUTH.clientId, redirect_uri: 'https://evil.example/cb', state: 'xyz' }),
      { redirect: 'manual' },
    );
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe('http://127.0.0.1/callback');
    expect(Object.fromEntries(location.searchParams)).toEqual({
      error: 'redirect_uri_mismatch',
      error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
      error_uri:
        'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch',
      state: 'xyz',
    });
  });

  it('redirect_uri mismatch with no registered callback: an error page, no redirect', async () => {
    await control('/_mock/clients', {
      provider: 'github',
      client_id: 'Ov23liNoCallbackApp0',
      client_secret: 'x',
    });
    const res = await fetch(
      authorizeUrl({ client_id: 'Ov23liNoCallbackApp0', redirect_uri: 'https://evil.example/cb' }),
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('Redirect URI mismatch');
  });

  it('accepts a subdirectory of the registered callback and refuses a sibling path', async () => {
    await control('/_mock/clients', {
      provider: 'github',
      client_id: 'Ov23liSubdirApp00000',
      client_secret: 'x',
      redirect_uris: ['https://app.example.com/path'],
    });
    const ok = await authorize({
      client_id: 'Ov23liSubdirApp00000',
      redirect_uri: 'https://app.example.com/path/subdir/other',
    });
    expect(`${ok.origin}${ok.pathname}`).toBe('https://app.example.com/path/subdir/other');
    expect(ok.searchParams.get('code')).toMatch(/^[0-9a-f]{20}$/);

    for (const bad of [
      'https://app.example.com/bar',
      'https://app.example.com/pathology',
      'https://app.example.com:8443/path',
    ]) {
      const res = await fetch(authorizeUrl({ client_id: 'Ov23liSubdirApp00000', redirect_uri: bad }), {
        redirect: 'manual',
      });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe('https://app.example.com/path');
      expect(location.searchParams.get('error')).toBe('redirect_uri_mismatch');
      expect(location.searchParams.get('code')).toBeNull();
    }
  });

  it.each([
    // A 43-character challenge, so only the method is at fault.
    ['plain', { code_challenge_method: 'plain', code_challenge: pkcePair().challenge }],
    ['an unknown method', { code_challenge_method: 'S512', code_challenge: pkcePair().challenge }],
    ['a challenge without a method (plain by default)', { code_challenge: pkcePair().challenge }],
    ['a method without a challenge', { code_challenge_method: 'S256' }],
    ['a malformed challenge', { code_challenge_method: 'S256', code_challenge: 'short' }],
  ])('refuses PKCE with %s: invalid_request, no code', async (_name, pkce) => {
    await control('/_mock/next-login', { persona: 'alice', provider: 'github' });
    const res = await fetch(
      authorizeUrl({ client_id: OAUTH.clientId, redirect_uri: CB, state: 'p', ...pkce }),
      { redirect: 'manual' },
    );
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/code_challenge/);
    expect(location.searchParams.get('state')).toBe('p');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('accepts comma-separated scopes and grants them comma-joined', async () => {
    const { code } = await codeFor('alice', { scope: 'repo,gist', pkce: false });
    const body = await jsonToken(
      await postToken(exchangeFields(code, undefined), { accept: 'application/json' }),
    );
    expect(body['scope']).toBe('repo,gist');
  });
});

describe('GitHub provider: token endpoint formats', () => {
  it('answers form-encoded by default: access_token, scope (comma, encoded), token_type bearer', async () => {
    const { code, verifier } = await codeFor('alice');
    const res = await postToken(exchangeFields(code, verifier));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    const text = await res.text();
    expect(text).toMatch(/^access_token=gho_[A-Za-z0-9]{36}&scope=repo%2Cgist&token_type=bearer$/);
  });

  it('answers JSON for Accept: application/json', async () => {
    const { code, verifier } = await codeFor('alice');
    const body = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/json' }),
    );
    expect(body).toEqual({
      access_token: expect.stringMatching(GHO),
      scope: 'repo,gist',
      token_type: 'bearer',
    });
    expect(Object.keys(body)).not.toContain('refresh_token');
    expect(Object.keys(body)).not.toContain('expires_in');
  });

  it('answers JSON for a vendor JSON type (application/vnd.github+json)', async () => {
    const { code, verifier } = await codeFor('alice');
    const body = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/vnd.github+json' }),
    );
    expect(body['access_token']).toMatch(GHO);
  });

  it('answers an <OAuth> document for Accept: application/xml', async () => {
    const { code, verifier } = await codeFor('alice');
    const res = await postToken(exchangeFields(code, verifier), { accept: 'application/xml' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(await res.text()).toMatch(
      /^<OAuth><token_type>bearer<\/token_type><scope>repo,gist<\/scope><access_token>gho_[A-Za-z0-9]{36}<\/access_token><\/OAuth>$/,
    );
  });

  it('accepts a JSON request body', async () => {
    const { code, verifier } = await codeFor('alice');
    const res = await postToken(exchangeFields(code, verifier), { json: true, accept: 'application/json' });
    const body = await jsonToken(res);
    expect(body['access_token']).toMatch(GHO);
    expect(body['token_type']).toBe('bearer');
  });

  it('accepts client credentials by HTTP Basic as well', async () => {
    const { code, verifier } = await codeFor('alice');
    const basic = Buffer.from(`${OAUTH.clientId}:${OAUTH.clientSecret}`).toString('base64');
    const res = await postToken(
      { code, redirect_uri: CB, code_verifier: verifier },
      { accept: 'application/json', headers: { authorization: `Basic ${basic}` } },
    );
    expect((await jsonToken(res))['access_token']).toMatch(GHO);
  });

  it('ends tokens in a base62 CRC32 checksum of the random part', async () => {
    const token = await accessToken('alice');
    const random = token.slice(4, 34);
    const { crc32 } = await import('node:zlib');
    let n = crc32(random);
    let checksum = '';
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    for (let i = 0; i < 6; i++) {
      checksum = alphabet[n % 62] + checksum;
      n = Math.floor(n / 62);
    }
    expect(token.slice(34)).toBe(checksum);
  });
});

describe('GitHub provider: token endpoint errors (HTTP 200)', () => {
  it.each([
    ['a wrong secret', { client_secret: '0'.repeat(40) }],
    ['an unknown client_id', { client_id: 'Ov23liUnknownClient0' }],
    ['no credentials', { client_id: undefined, client_secret: undefined }],
  ])('incorrect_client_credentials for %s, form-encoded', async (_name, override) => {
    const { code, verifier } = await codeFor('alice');
    const body = await errorForm(await postToken({ ...exchangeFields(code, verifier), ...override }));
    expect(body).toEqual({
      error: 'incorrect_client_credentials',
      error_description: 'The client_id and/or client_secret passed are incorrect.',
      error_uri:
        'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials',
    });
  });

  it('incorrect_client_credentials in JSON and XML', async () => {
    const { code, verifier } = await codeFor('alice');
    const fields = { ...exchangeFields(code, verifier), client_secret: 'wrong' };
    const body = await jsonToken(await postToken(fields, { accept: 'application/json' }));
    expect(body['error']).toBe('incorrect_client_credentials');
    expect(body['access_token']).toBeUndefined();
    const xml = await postToken(fields, { accept: 'application/xml' });
    expect(xml.status).toBe(200);
    expect(await xml.text()).toMatch(
      /^<OAuth><error>incorrect_client_credentials<\/error><error_description>The client_id and\/or client_secret passed are incorrect.<\/error_description><error_uri>https:\/\/docs\.github\.com\/.+<\/error_uri><\/OAuth>$/,
    );
  });

  it('redirect_uri_mismatch when the token request names another redirect_uri', async () => {
    const { code, verifier } = await codeFor('alice');
    const body = await errorForm(
      await postToken({ ...exchangeFields(code, verifier), redirect_uri: 'http://127.0.0.1:9999/other' }),
    );
    expect(body['error']).toBe('redirect_uri_mismatch');
    expect(body['error_description']).toBe(
      'The redirect_uri MUST match the registered callback URL for this application.',
    );
    expect(body['access_token']).toBeUndefined();
  });

  it('accepts a token request without redirect_uri (optional at GitHub)', async () => {
    const { code, verifier } = await codeFor('alice');
    const body = await jsonToken(
      await postToken(
        { ...exchangeFields(code, verifier), redirect_uri: undefined },
        { accept: 'application/json' },
      ),
    );
    expect(body['access_token']).toMatch(GHO);
  });

  it('bad_verification_code for an unknown code', async () => {
    const body = await errorForm(await postToken(exchangeFields('0123456789abcdef0123', undefined)));
    expect(body).toEqual({
      error: 'bad_verification_code',
      error_description: 'The code passed is incorrect or expired.',
      error_uri:
        'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code',
    });
  });

  it('bad_verification_code for a missing code', async () => {
    const body = await errorForm(await postToken({ ...exchangeFields('', undefined), code: undefined }));
    expect(body['error']).toBe('bad_verification_code');
  });

  it('a code is single-use: the replay fails and the first token is revoked', async () => {
    const { code, verifier } = await codeFor('alice');
    const first = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/json' }),
    );
    const token = first['access_token'] as string;
    expect((await apiGet('/user', token)).status).toBe(200);

    const replay = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/json' }),
    );
    expect(replay['error']).toBe('bad_verification_code');
    expect(replay['access_token']).toBeUndefined();

    const after = await apiGet('/user', token);
    expect(after.status).toBe(401);
    expect(await after.json()).toEqual({
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest',
      status: '401',
    });
  });

  it('bad_verification_code for a code older than 10 minutes', async () => {
    const { code, verifier } = await codeFor('alice');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 601_000);
      const body = await errorForm(await postToken(exchangeFields(code, verifier)));
      expect(body['error']).toBe('bad_verification_code');
      expect(body['access_token']).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('bad_verification_code for a wrong PKCE verifier', async () => {
    const { code } = await codeFor('alice');
    const body = await errorForm(await postToken(exchangeFields(code, pkcePair().verifier)));
    expect(body['error']).toBe('bad_verification_code');
    expect(body['access_token']).toBeUndefined();
  });

  it('bad_verification_code for a missing PKCE verifier when a challenge was sent', async () => {
    const { code } = await codeFor('alice');
    const body = await errorForm(await postToken(exchangeFields(code, undefined)));
    expect(body['error']).toBe('bad_verification_code');
    expect(body['access_token']).toBeUndefined();
  });

  it('bad_verification_code for a verifier sent when no challenge was', async () => {
    const { code } = await codeFor('alice', { pkce: false });
    const body = await errorForm(await postToken(exchangeFields(code, pkcePair().verifier)));
    expect(body['error']).toBe('bad_verification_code');
  });

  it('bad_verification_code for a code issued to another client', async () => {
    const { code, verifier } = await codeFor('alice', { client: APP.clientId });
    const body = await errorForm(await postToken(exchangeFields(code, verifier, OAUTH)));
    expect(body['error']).toBe('bad_verification_code');
  });

  it('carol-exchange: HTTP 200 unverified_user_email in form and JSON', async () => {
    const first = await codeFor('carol-exchange');
    const form = await errorForm(await postToken(exchangeFields(first.code, first.verifier)));
    expect(form).toEqual({
      error: 'unverified_user_email',
      error_description: 'The user must have a verified primary email.',
      error_uri: expect.stringMatching(/^https:\/\/docs\.github\.com\//),
    });
    const second = await codeFor('carol-exchange');
    const body = await jsonToken(
      await postToken(exchangeFields(second.code, second.verifier), { accept: 'application/json' }),
    );
    expect(body['error']).toBe('unverified_user_email');
    expect(body['access_token']).toBeUndefined();
  });

  it('unsupported_grant_type for a grant GitHub does not offer here', async () => {
    const body = await errorForm(
      await postToken({
        client_id: OAUTH.clientId,
        client_secret: OAUTH.clientSecret,
        grant_type: 'password',
      }),
    );
    expect(body['error']).toBe('unsupported_grant_type');
  });
});

describe('GitHub provider: GitHub App expiring tokens', () => {
  async function appTokens(): Promise<Record<string, unknown>> {
    const { code, verifier } = await codeFor('alice', { client: APP.clientId, scope: 'repo' });
    return jsonToken(await postToken(exchangeFields(code, verifier, APP), { accept: 'application/json' }));
  }

  it('issues ghu_ access and ghr_ refresh tokens with GitHub lifetimes and no scopes', async () => {
    const body = await appTokens();
    expect(body).toEqual({
      access_token: expect.stringMatching(GHU),
      expires_in: 28800,
      refresh_token: expect.stringMatching(GHR),
      refresh_token_expires_in: 15811200,
      scope: '',
      token_type: 'bearer',
    });
    const user = await apiGet('/user', body['access_token'] as string);
    expect(user.status).toBe(200);
    expect(user.headers.get('x-oauth-scopes')).toBe('');
  });

  it('answers form-encoded by default with every field', async () => {
    const { code, verifier } = await codeFor('alice', { client: APP.clientId });
    const res = await postToken(exchangeFields(code, verifier, APP));
    const form = await errorForm(res);
    expect(Object.keys(form)).toEqual([
      'access_token',
      'expires_in',
      'refresh_token',
      'refresh_token_expires_in',
      'scope',
      'token_type',
    ]);
    expect(form['expires_in']).toBe('28800');
  });

  it('refresh rotates: new pair works, the old refresh and the old access token die', async () => {
    const first = await appTokens();
    const res = await postToken(
      {
        client_id: APP.clientId,
        client_secret: APP.clientSecret,
        grant_type: 'refresh_token',
        refresh_token: first['refresh_token'] as string,
      },
      { accept: 'application/json' },
    );
    const second = await jsonToken(res);
    expect(second['access_token']).toMatch(GHU);
    expect(second['refresh_token']).toMatch(GHR);
    expect(second['access_token']).not.toBe(first['access_token']);
    expect(second['refresh_token']).not.toBe(first['refresh_token']);
    expect(second['expires_in']).toBe(28800);

    expect((await apiGet('/user', second['access_token'] as string)).status).toBe(200);
    const old = await apiGet('/user', first['access_token'] as string);
    expect(old.status).toBe(401);
    expect(((await old.json()) as { message: string }).message).toBe('Bad credentials');

    const reuse = await jsonToken(
      await postToken(
        {
          client_id: APP.clientId,
          client_secret: APP.clientSecret,
          grant_type: 'refresh_token',
          refresh_token: first['refresh_token'] as string,
        },
        { accept: 'application/json' },
      ),
    );
    expect(reuse).toEqual({
      error: 'bad_refresh_token',
      error_description: 'The refresh token passed is incorrect or expired.',
      error_uri: expect.stringMatching(/^https:\/\/docs\.github\.com\//),
    });
  });

  it('bad_refresh_token for an unknown refresh token, and for an OAuth App (no refresh)', async () => {
    const unknown = await errorForm(
      await postToken({
        client_id: APP.clientId,
        client_secret: APP.clientSecret,
        grant_type: 'refresh_token',
        refresh_token: `ghr_${randomId(76)}`,
      }),
    );
    expect(unknown['error']).toBe('bad_refresh_token');
    const first = await appTokens();
    const wrongClient = await errorForm(
      await postToken({
        client_id: OAUTH.clientId,
        client_secret: OAUTH.clientSecret,
        grant_type: 'refresh_token',
        refresh_token: first['refresh_token'] as string,
      }),
    );
    expect(wrongClient['error']).toBe('bad_refresh_token');
    expect(wrongClient['access_token']).toBeUndefined();
  });

  it('an App access token stops working after 8 hours; an OAuth App token never expires', async () => {
    const app = (await appTokens())['access_token'] as string;
    const oauth = await accessToken('alice');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 28_801_000);
      expect((await apiGet('/user', app)).status).toBe(401);
      expect((await apiGet('/user', oauth)).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('GitHub provider: REST API', () => {
  const personas = loadPersonas();
  const persona = (id: string) => personas.personas.find((p) => p.id === id)!;

  it('GET /user for alice: the user object and the scope headers', async () => {
    const token = await accessToken('alice', { scope: 'user:email read:user' });
    const res = await apiGet('/user', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-oauth-scopes')).toBe('read:user, user:email');
    expect(res.headers.get('x-accepted-oauth-scopes')).toBe('');
    const user = (await res.json()) as Record<string, unknown>;
    expect(user).toMatchObject({
      login: 'alice-gh',
      id: 1001,
      node_id: Buffer.from('04:User1001').toString('base64'),
      avatar_url: 'https://avatars.githubusercontent.com/u/1001?v=4',
      url: `${api}/users/alice-gh`,
      html_url: `${web}/alice-gh`,
      type: 'User',
      site_admin: false,
      name: 'Alice Example',
      email: 'alice@example.com',
    });
    expect(Number.isInteger(user['id'])).toBe(true);
  });

  it('GET /user matches identity(persona) apart from the links', async () => {
    const token = await accessToken('dave');
    const body = (await (await apiGet('/user', token)).json()) as Record<string, unknown>;
    const identity = github.identity(persona('dave')) as { user: Record<string, unknown> };
    const strip = (o: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(o).filter(([k]) => k !== 'url' && !k.endsWith('_url') && k !== 'html_url'),
      );
    expect(strip(body)).toEqual(strip(identity.user));
    expect(identity.user['url']).toBe('https://api.github.com/users/dave-gh');
  });

  it('accepts "Authorization: token x" as well as Bearer', async () => {
    const token = await accessToken('alice');
    const res = await apiGet('/user', undefined, { authorization: `token ${token}` });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { login: string }).login).toBe('alice-gh');
  });

  it('401 Bad credentials for an unknown token', async () => {
    const res = await apiGet('/user', `gho_${randomId(36)}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest',
      status: '401',
    });
    expect(res.headers.get('x-oauth-scopes')).toBeNull();
  });

  it('401 Bad credentials for a refresh token used as an access token', async () => {
    const { code, verifier } = await codeFor('alice', { client: APP.clientId });
    const body = await jsonToken(
      await postToken(exchangeFields(code, verifier, APP), { accept: 'application/json' }),
    );
    const res = await apiGet('/user', body['refresh_token'] as string);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toBe('Bad credentials');
  });

  it('401 Requires authentication without an Authorization header', async () => {
    const res = await apiGet('/user');
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      message: 'Requires authentication',
      documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
      status: '401',
    });
  });

  function getWithoutUserAgent(path: string, token: string): Promise<{ status: number; body: string }> {
    const url = new URL(`${api}${path}`);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          headers: { authorization: `Bearer ${token}` },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('403 without a User-Agent, unless the setting is off', async () => {
    const token = await accessToken('alice');
    const refused = await getWithoutUserAgent('/user', token);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/User-Agent/);
    expect(refused.body).not.toMatch(/alice-gh/);

    await control('/_mock/settings', { provider: 'github', settings: { require_user_agent: false } });
    const allowed = await getWithoutUserAgent('/user', token);
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body).login).toBe('alice-gh');
  });

  it('GET /user/emails for alice: primary verified public address and the noreply one', async () => {
    const token = await accessToken('alice', { scope: 'user:email' });
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-accepted-oauth-scopes')).toBe('user, user:email');
    expect(await res.json()).toEqual([
      { email: 'alice@example.com', primary: true, verified: true, visibility: 'public' },
      { email: '1001+alice-gh@users.noreply.github.com', primary: false, verified: true, visibility: null },
    ]);
  });

  it('dave: /user.email is null; /user/emails holds the private primary and the noreply address', async () => {
    const token = await accessToken('dave', { scope: 'user:email' });
    const user = (await (await apiGet('/user', token)).json()) as Record<string, unknown>;
    expect(user['email']).toBeNull();
    expect(user['login']).toBe('dave-gh');
    expect(user['id']).toBe(1004);
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      { email: 'dave@example.com', primary: true, verified: true, visibility: 'private' },
      { email: '1004+dave-gh@users.noreply.github.com', primary: false, verified: true, visibility: null },
    ]);
  });

  it('erin: login Erin-Dev, no public email, only a noreply address', async () => {
    const token = await accessToken('erin', { scope: 'user' });
    const user = (await (await apiGet('/user', token)).json()) as Record<string, unknown>;
    expect(user).toMatchObject({ login: 'Erin-Dev', id: 1005, email: null, name: 'Erin Dev' });
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      { email: '1005+Erin-Dev@users.noreply.github.com', primary: true, verified: true, visibility: null },
    ]);
  });

  it('bob: login BobSmith and an empty /user/emails', async () => {
    const token = await accessToken('bob', { scope: 'user:email' });
    const user = (await (await apiGet('/user', token)).json()) as Record<string, unknown>;
    expect(user).toMatchObject({ login: 'BobSmith', id: 1002, email: null, name: 'Bob Smith' });
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
  });

  it('carol and ivan: their addresses are unverified', async () => {
    const carol = await accessToken('carol', { scope: 'user:email' });
    expect(await (await apiGet('/user/emails', carol)).json()).toEqual([
      { email: 'alice@example.com', primary: true, verified: false, visibility: 'public' },
    ]);
    const ivan = await accessToken('ivan', { scope: 'user:email' });
    const user = (await (await apiGet('/user', ivan)).json()) as Record<string, unknown>;
    expect(user).toMatchObject({ login: 'ivan-new', id: 1009, email: null });
    expect(await (await apiGet('/user/emails', ivan)).json()).toEqual([
      { email: 'ivan@example.com', primary: true, verified: false, visibility: 'private' },
    ]);
  });

  it('refuses /user/emails without user:email or user: 404 Not Found', async () => {
    const token = await accessToken('dave', { scope: 'read:user repo' });
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-oauth-scopes')).toBe('read:user, repo');
    expect(res.headers.get('x-accepted-oauth-scopes')).toBe('user, user:email');
    expect(await res.json()).toEqual({
      message: 'Not Found',
      documentation_url:
        'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user',
      status: '404',
    });
  });

  it('refuses /user/emails with 403 when the setting asks for it', async () => {
    await control('/_mock/settings', { provider: 'github', settings: { emails_without_scope_status: 403 } });
    const token = await accessToken('dave', { scope: 'read:user' });
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      message: 'Resource not accessible by integration',
      documentation_url:
        'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user',
      status: '403',
    });
  });

  it('the user scope also opens /user/emails', async () => {
    const token = await accessToken('dave', { scope: 'user' });
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown[]).length).toBe(2);
  });

  it('GitHub App tokens read /user/emails by permission, without scopes', async () => {
    const token = await accessToken('dave', { client: APP.clientId, scope: '' });
    expect(token).toMatch(GHU);
    const res = await apiGet('/user/emails', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oauth-scopes')).toBe('');
  });

  it('GET /user/repos answers [] with the X-OAuth-Scopes header', async () => {
    const token = await accessToken('alice', { scope: 'repo user' });
    const res = await apiGet('/user/repos', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oauth-scopes')).toBe('repo, user');
    expect(await res.json()).toEqual([]);
  });

  it('HEAD /user carries the scope headers', async () => {
    const token = await accessToken('alice', { scope: 'gist' });
    const res = await fetch(`${api}/user`, {
      method: 'HEAD',
      headers: { ...UA, authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-oauth-scopes')).toBe('gist');
  });

  it('identity() gives the user object and the address list of each persona', () => {
    const dave = github.identity(persona('dave')) as { user: Record<string, unknown>; emails: unknown[] };
    expect(dave.user).toMatchObject({ login: 'dave-gh', id: 1004, email: null, type: 'User' });
    expect(dave.emails).toHaveLength(2);
    const carol = github.identity(persona('carol-exchange')) as Record<string, unknown>;
    expect(carol['token_error']).toBe('unverified_user_email');
    // A persona without a github block gets a stable derived account.
    const kim = github.identity(persona('kim')) as { user: Record<string, unknown>; emails: unknown[] };
    expect(kim.user['login']).toBe('kim');
    expect(kim.user['id']).toBe(
      (github.identity(persona('kim')) as { user: Record<string, unknown> }).user['id'],
    );
    expect(kim.emails).toEqual([
      { email: 'frank@example.com', primary: true, verified: true, visibility: 'public' },
      {
        email: `${kim.user['id']}+kim@users.noreply.github.com`,
        primary: false,
        verified: true,
        visibility: null,
      },
    ]);
  });
});

describe('GitHub provider: faults', () => {
  async function fault(body: Record<string, unknown>): Promise<void> {
    await control('/_mock/faults', { provider: 'github', times: 1, ...body });
  }

  async function remainingFaults(): Promise<unknown[]> {
    const res = await fetch(`${idp.url}/_mock/faults`);
    return ((await res.json()) as { faults: unknown[] }).faults;
  }

  it('an error fault on the token endpoint answers in GitHub shape (200, form), then clears', async () => {
    const { code, verifier } = await codeFor('alice');
    await fault({ endpoint: 'token', action: { kind: 'error', error: 'bad_verification_code' } });
    const body = await errorForm(await postToken(exchangeFields(code, verifier)));
    expect(body).toEqual({
      error: 'bad_verification_code',
      error_description: 'The code passed is incorrect or expired.',
      error_uri:
        'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code',
    });
    // The fault answered before the code was looked at: the code still works once.
    const ok = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/json' }),
    );
    expect(ok['access_token']).toMatch(GHO);
  });

  it.each(['incorrect_client_credentials', 'redirect_uri_mismatch', 'bad_refresh_token'])(
    'an error fault %s is rendered in JSON when JSON is asked for',
    async (error) => {
      await fault({ endpoint: 'token', action: { kind: 'error', error } });
      const body = await jsonToken(
        await postToken(
          { client_id: OAUTH.clientId, client_secret: OAUTH.clientSecret, code: 'x' },
          { accept: 'application/json' },
        ),
      );
      expect(body['error']).toBe(error);
      expect(typeof body['error_description']).toBe('string');
      expect(body['error_uri']).toMatch(/^https:\/\/docs\.github\.com\//);
    },
  );

  it('an error fault on /user answers the GitHub REST error shape with its status', async () => {
    const token = await accessToken('alice');
    await fault({ endpoint: 'user', action: { kind: 'error', error: 'bad_credentials', status: 401 } });
    const res = await apiGet('/user', token);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest',
      status: '401',
    });
    expect((await apiGet('/user', token)).status).toBe(200);
  });

  it('an error fault on /authorize shows an HTML error page, no redirect', async () => {
    await fault({
      endpoint: 'authorize',
      action: { kind: 'error', error: 'application_suspended', status: 403 },
    });
    const res = await fetch(authorizeUrl({ client_id: OAUTH.clientId, redirect_uri: CB }), {
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('application_suspended');
  });

  it('a delay fault holds the answer, which is otherwise unchanged', async () => {
    const token = await accessToken('alice');
    await fault({ endpoint: 'user', action: { kind: 'delay', ms: 300 } });
    const started = performance.now();
    const res = await apiGet('/user', token);
    const waited = performance.now() - started;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { login: string }).login).toBe('alice-gh');
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(await remainingFaults()).toEqual([]);
  });

  it('a status fault answers a 5xx on the token endpoint and on the API', async () => {
    const { code, verifier } = await codeFor('alice');
    await fault({ endpoint: 'token', action: { kind: 'status', status: 502 } });
    const res = await postToken(exchangeFields(code, verifier));
    expect(res.status).toBe(502);
    expect(await res.text()).not.toMatch(/access_token/);
    const token = await accessToken('alice');
    await fault({ endpoint: 'emails', action: { kind: 'status', status: 503 } });
    expect((await apiGet('/user/emails', token)).status).toBe(503);
  });

  it('rotate-key has nothing to rotate for GitHub (no JWTs) and breaks nothing', async () => {
    const { code, verifier } = await codeFor('alice');
    await fault({ endpoint: 'token', action: { kind: 'rotate-key' } });
    const body = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/json' }),
    );
    expect(body).toEqual({
      access_token: expect.stringMatching(GHO),
      scope: 'repo,gist',
      token_type: 'bearer',
    });
    expect(await remainingFaults()).toEqual([]);
  });

  it('a token-defect fault does not apply to opaque GitHub tokens', async () => {
    const { code, verifier } = await codeFor('alice');
    await fault({ endpoint: 'token', action: { kind: 'token', defect: 'expired' } });
    const body = await jsonToken(
      await postToken(exchangeFields(code, verifier), { accept: 'application/json' }),
    );
    expect(body['access_token']).toMatch(GHO);
    expect((await apiGet('/user', body['access_token'] as string)).status).toBe(200);
  });

  it('a wrong method on the token endpoint is answered in the GitHub token shape', async () => {
    const res = await fetch(`${web}/login/oauth/access_token`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(405);
    const text = await res.text();
    expect(Object.fromEntries(new URLSearchParams(text))['error']).toBe('invalid_request');
  });
});

describe('GitHub provider: journal', () => {
  it('records each request with its status and every code and token issued', async () => {
    const { code, verifier } = await codeFor('alice', { client: APP.clientId });
    const body = await jsonToken(
      await postToken(exchangeFields(code, verifier, APP), { accept: 'application/json' }),
    );
    await apiGet('/user', body['access_token'] as string);
    await apiGet('/user', 'gho_nope');

    const entries = await journal();
    const requests = entries.filter((e): e is RequestEntry => e.type === 'request');
    const issued = entries.filter((e): e is IssuedEntry => e.type === 'issued');
    expect(requests.map((r) => [r.endpoint, r.method, r.status])).toEqual([
      ['authorize', 'GET', 302],
      ['token', 'POST', 200],
      ['user', 'GET', 200],
      ['user', 'GET', 401],
    ]);
    expect(requests[0]!.params).toMatchObject({ client_id: APP.clientId, redirect_uri: CB, state: 'st-1' });
    expect(requests[1]!.params).toMatchObject({ client_id: APP.clientId, code, code_verifier: verifier });
    expect(requests[2]!.headers['authorization']).toBe(`Bearer ${body['access_token']}`);
    expect(issued.map((i) => [i.kind, i.persona, i.client, i.value])).toEqual([
      ['code', 'alice', APP.clientId, code],
      ['access_token', 'alice', APP.clientId, body['access_token']],
      ['refresh_token', 'alice', APP.clientId, body['refresh_token']],
    ]);
  });
});
