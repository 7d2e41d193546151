import { createHash, randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MockIdpError } from './errors.ts';
import type { IssuedEntry, RequestEntry } from './journal.ts';
import { toLocalUrl } from './local-url.ts';
import { loginThroughPage } from './login-client.ts';
import { setupMockIdp } from './msw.ts';

// Everything here runs in-process: msw answers the real hostnames, and any other request fails
// (onUnhandledRequest 'error'), so no test can reach the network.
const mocked = setupMockIdp();
const { idp } = mocked;
const client = idp.provider('github').clients.default;

afterEach(() => idp.reset());
afterAll(() => mocked.close());

function requests(endpoint: string): RequestEntry[] {
  return idp
    .journalEntries({ provider: 'github', type: 'request' })
    .filter((e): e is RequestEntry => e.type === 'request' && e.endpoint === endpoint);
}

describe('msw handlers at the real hostnames', () => {
  it('answers a plain fetch to github.com in-process (bad code -> 200 bad_verification_code)', async () => {
    const response = await fetch('https://github.com/login/oauth/access_token', {
      method: 'POST',
      headers: { accept: 'application/json' },
      body: new URLSearchParams({
        client_id: client.clientId,
        client_secret: client.clientSecret ?? '',
        code: 'not-a-code',
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await response.json()) as Record<string, string>;
    expect(body['error']).toBe('bad_verification_code');
    expect(body['error_description']).toBe('The code passed is incorrect or expired.');
    expect(body).not.toHaveProperty('access_token');
    // The mock saw it, at the real hostname (host mode).
    const seen = requests('token');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('https://github.com/login/oauth/access_token');
    expect(seen[0]!.status).toBe(200);
  });

  it('runs a whole GitHub login in-process: authorize -> code -> token -> api.github.com/user', async () => {
    idp.nextLogin('alice', { provider: 'github' });
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirectUri = 'http://127.0.0.1:8765/callback';
    const authorize = new URL('https://github.com/login/oauth/authorize');
    authorize.search = new URLSearchParams({
      client_id: client.clientId,
      redirect_uri: redirectUri,
      scope: 'read:user user:email',
      state: 'st-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    const redirect = await fetch(authorize, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const back = new URL(redirect.headers.get('location') ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe('st-1');
    const code = back.searchParams.get('code');
    expect(code).toMatch(/^[0-9a-f]{20}$/);

    const tokenResponse = await fetch('https://github.com/login/oauth/access_token', {
      method: 'POST',
      headers: { accept: 'application/json' },
      body: new URLSearchParams({
        client_id: client.clientId,
        client_secret: client.clientSecret ?? '',
        code: code ?? '',
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }),
    });
    expect(tokenResponse.status).toBe(200);
    const token = (await tokenResponse.json()) as Record<string, string>;
    expect(token['access_token']).toMatch(/^gho_[A-Za-z0-9]{36}$/);
    expect(token['token_type']).toBe('bearer');
    expect(token['scope']).toBe('read:user,user:email');
    expect(token).not.toHaveProperty('error');

    const userResponse = await fetch('https://api.github.com/user', {
      headers: { authorization: `Bearer ${token['access_token']}`, 'user-agent': 'msw-test' },
    });
    expect(userResponse.status).toBe(200);
    expect(userResponse.headers.get('x-oauth-scopes')).toBe('read:user, user:email');
    const user = (await userResponse.json()) as Record<string, unknown>;
    expect(user['login']).toBe('alice-gh');
    expect(user['id']).toBe(1001);
    // Links in the user object point at the real API host, not a local listener.
    expect(user['url']).toBe('https://api.github.com/users/alice-gh');

    const issued = idp.journalEntries({ provider: 'github', type: 'issued' }) as IssuedEntry[];
    expect(issued.map((e) => [e.kind, e.persona, e.value])).toEqual([
      ['code', 'alice', code],
      ['access_token', 'alice', token['access_token']],
    ]);
    expect(requests('user')[0]!.url).toBe('https://api.github.com/user');
  });

  it('serves the login page at the real hostname when no login is queued', async () => {
    const authorize = `https://github.com/login/oauth/authorize?client_id=${client.clientId}&state=st-2`;
    const result = await loginThroughPage(authorize, 'bob');
    expect(result.page).toContain('data-persona="bob"');
    // The form posts back to github.com itself, so a browser under msw stays on the real host.
    expect(result.page).toContain('action="https://github.com/__mock/login"');
    expect(result.status).toBe(302);
    const back = new URL(result.location ?? '');
    expect(back.searchParams.get('state')).toBe('st-2');
    const code = back.searchParams.get('code') ?? '';
    const issued = idp.journalEntries({ provider: 'github', type: 'issued' }) as IssuedEntry[];
    expect(issued).toEqual([expect.objectContaining({ kind: 'code', persona: 'bob', value: code })]);
  });

  it('answers a wildcard tenant host (*.auth0.com) with that tenant as issuer', async () => {
    const response = await fetch('https://mytenant.us.auth0.com/.well-known/openid-configuration');
    expect(response.status).toBe(200);
    const discovery = (await response.json()) as Record<string, string>;
    expect(discovery['issuer']).toBe('https://mytenant.us.auth0.com/');
    expect(discovery['authorization_endpoint']).toBe('https://mytenant.us.auth0.com/authorize');
    expect(discovery['jwks_uri']).toBe('https://mytenant.us.auth0.com/.well-known/jwks.json');
  });

  it('answers every mocked host pattern (each wildcard filled in) and nothing else', async () => {
    const patterns = idp.hostPatterns();
    expect(patterns).toEqual(expect.arrayContaining(['github.com', 'api.github.com', '*.auth0.com']));
    for (const pattern of patterns) {
      const host = pattern.replace(/\*/g, 'tenant1');
      const response = await fetch(`https://${host}/__no_such_endpoint__`);
      expect(response.status, host).toBe(404);
      const body = (await response.json()) as Record<string, string>;
      // The host app's own 404, not a standalone "no provider is mounted" answer.
      expect(body, host).toEqual({
        error: 'not_found',
        error_description: 'no such endpoint at this mock host',
      });
    }
  });

  it('intercepts node:https requests too, even through a named import of request', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        'https://api.github.com/user',
        { headers: { authorization: 'Bearer gho_notissued', 'user-agent': 'msw-test' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
    expect(JSON.parse(body)).toMatchObject({ message: 'Bad credentials' });
  });

  it('sends plain http to a mocked host to https with a 301, as the real hosts do', async () => {
    const response = await fetch('http://github.com/login/oauth/authorize?client_id=x', {
      redirect: 'manual',
    });
    expect(response.status).toBe(301);
    expect(response.headers.get('location')).toBe('https://github.com/login/oauth/authorize?client_id=x');
    expect(requests('authorize')).toHaveLength(0);
  });

  it.each([
    'https://example.com/',
    'https://github.com.evil.example/login/oauth/access_token',
    'https://github.com:8443/login/oauth/access_token',
    'http://127.0.0.1:4010/_mock/providers',
  ])('does not answer %s: with onUnhandledRequest "error" the request fails', async (url) => {
    const failure = await fetch(url).then(
      (r) => new Error(`unexpected HTTP ${r.status}`),
      (error: unknown) => error as Error & { cause?: Error },
    );
    expect(failure.message).toBe('fetch failed');
    expect((failure as { cause?: Error }).cause?.message).toMatch(
      /"error" strategy for the "onUnhandledFrame"/,
    );
    expect(idp.journalEntries()).toHaveLength(0);
  });
});

describe('toLocalUrl', () => {
  const control = 'http://127.0.0.1:4010';

  it('maps a real-hostname URL to the standalone prefix of its host, keeping path and query', () => {
    expect(toLocalUrl('https://github.com/login/oauth/authorize?client_id=a&state=b', control)).toBe(
      'http://127.0.0.1:4010/github/login/oauth/authorize?client_id=a&state=b',
    );
    expect(toLocalUrl('https://api.github.com/user', `${control}/`)).toBe(
      'http://127.0.0.1:4010/github-api/user',
    );
    expect(toLocalUrl(new URL('https://mytenant.us.auth0.com/authorize?x=1'), new URL(control))).toBe(
      'http://127.0.0.1:4010/auth0/authorize?x=1',
    );
  });

  it('maps each mocked host to a prefix the MockIdp serves standalone', async () => {
    for (const pattern of idp.hostPatterns()) {
      const local = toLocalUrl(`https://${pattern.replace(/\*/g, 'tenant1')}/__no_such_endpoint__`, control);
      const response = await idp.fetch(new Request(local));
      expect(response.status, local).toBe(404);
      expect(await response.json(), local).toEqual({
        error: 'not_found',
        error_description: 'no such endpoint at this mock host',
      });
    }
  });

  it('refuses a host no provider mocks', () => {
    let caught: unknown;
    try {
      toLocalUrl('https://example.com/authorize', control);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MockIdpError);
    expect(caught).toMatchObject({
      code: 'ERR_UNKNOWN_PROVIDER',
      message: '"example.com" is not a mocked host',
    });
  });
});
