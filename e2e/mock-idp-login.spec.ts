/**
 * Signing in through the mock IdP's login page in real Chromium: a loopback client sends the
 * browser to the mock's authorize endpoint, the user picks a persona (or cancels), and the browser
 * lands on the client's callback; the client then redeems the code as a real client would.
 *
 * Playwright's TypeScript loader accepts the `.ts` import specifiers the project uses, so the
 * mock IdP is started in-process with `startMockIdp` (port 0) rather than through `webServer`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (authorization code grant)
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4 (PKCE, S256)
 * @see https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * @see https://developers.google.com/identity/openid-connect/openid-connect
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, type Page, test } from '@playwright/test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { ProviderDescription } from '../mock-idp/app.ts';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';

interface CallbackClient {
  server: Server;
  /** http://127.0.0.1:PORT/callback */
  redirectUri: string;
  /** Every callback URL the browser brought. */
  received: URL[];
}

/** A tiny loopback client: records each callback and answers with a plain page. */
async function startCallbackClient(): Promise<CallbackClient> {
  const received: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/callback') {
      received.push(url);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Client callback</title><h1>Callback received</h1>');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, redirectUri: `http://127.0.0.1:${port}/callback`, received };
}

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

let idp: RunningMockIdp;
let client: CallbackClient;
let providers: ProviderDescription[];
let personaCount: number;

test.beforeAll(async () => {
  idp = await startMockIdp({ port: 0 });
  client = await startCallbackClient();
  const listing = await fetch(`${idp.url}/_mock/providers`);
  expect(listing.status).toBe(200);
  providers = ((await listing.json()) as { providers: ProviderDescription[] }).providers;
  const personas = (await (await fetch(`${idp.url}/_mock/personas`)).json()) as { personas: unknown[] };
  personaCount = personas.personas.length;
});

test.afterAll(async () => {
  await idp?.stop();
  await new Promise<void>((resolve) => {
    if (!client) return resolve();
    client.server.closeAllConnections();
    client.server.close(() => resolve());
  });
});

interface IssuedEntry {
  seq: number;
  type: 'issued';
  kind: string;
  persona: string;
  client: string;
  value: string;
}

/** What the mock journaled as issued by `providerId` after sequence number `since`. */
async function issuedSince(providerId: string, since: number): Promise<IssuedEntry[]> {
  const response = await fetch(`${idp.url}/_mock/journal?provider=${providerId}&type=issued&since=${since}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { entries: IssuedEntry[] }).entries;
}

async function lastSeq(): Promise<number> {
  const response = await fetch(`${idp.url}/_mock/journal?type=issued`);
  return ((await response.json()) as { last_seq: number }).last_seq;
}

function provider(id: string): ProviderDescription {
  const found = providers.find((p) => p.id === id);
  if (!found) throw new Error(`the mock IdP serves no provider "${id}"`);
  return found;
}

/** The login page as the browser shows it: title, one form per persona and the cancel button. */
async function expectLoginPage(page: Page, providerTitle: string): Promise<void> {
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(
    `${providerTitle} (mock identity provider)`,
  );
  await expect(page.locator('#personas form[data-persona]')).toHaveCount(personaCount);
  await expect(page.getByRole('button', { name: 'Sign in as Alice Example' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel (access_denied)' })).toBeVisible();
}

/** Waits for the browser to arrive at the client's callback and returns that URL. */
async function landOnCallback(page: Page): Promise<URL> {
  await page.waitForURL((url) => url.href.startsWith(`${client.redirectUri}?`));
  await expect(page.getByRole('heading', { name: 'Callback received' })).toBeVisible();
  const url = new URL(page.url());
  expect(client.received.some((r) => r.search === url.search)).toBe(true);
  return url;
}

test.describe('GitHub', () => {
  function authorizeUrl(challenge: string): string {
    const github = provider('github');
    const url = new URL(github.endpoints['authorize'] ?? `${idp.url}/github/login/oauth/authorize`);
    url.searchParams.set('client_id', github.client.client_id);
    url.searchParams.set('redirect_uri', client.redirectUri);
    url.searchParams.set('state', 'xyz');
    url.searchParams.set('scope', 'read:user user:email');
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return url.toString();
  }

  test('sign in as Alice: code, gho_ token, /user is alice-gh', async ({ page }) => {
    const github = provider('github');
    const { verifier, challenge } = pkcePair();
    const since = await lastSeq();
    await page.goto(authorizeUrl(challenge));
    await expectLoginPage(page, github.title);
    await page.getByRole('button', { name: 'Sign in as Alice Example' }).click();

    const callback = await landOnCallback(page);
    expect(callback.searchParams.get('state')).toBe('xyz');
    expect(callback.searchParams.get('error')).toBeNull();
    const code = callback.searchParams.get('code');
    expect(code).toMatch(/^\S{8,}$/);

    // The token request as GitHub documents it: client_secret_post in a form, JSON by Accept.
    const tokenResponse = await fetch(
      github.endpoints['token'] ?? `${idp.url}/github/login/oauth/access_token`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          client_id: github.client.client_id,
          client_secret: github.client.client_secret ?? '',
          code: code!,
          redirect_uri: client.redirectUri,
          code_verifier: verifier,
        }),
      },
    );
    expect(tokenResponse.status).toBe(200);
    expect(tokenResponse.headers.get('content-type')).toMatch(/^application\/json/);
    const token = (await tokenResponse.json()) as Record<string, unknown>;
    expect(token['access_token']).toMatch(/^gho_[A-Za-z0-9]+$/);
    expect(token['token_type']).toBe('bearer');
    expect(token['scope']).toBe('read:user,user:email');
    expect(token['error']).toBeUndefined();

    const user = await fetch(github.endpoints['user'] ?? `${idp.url}/github-api/user`, {
      headers: {
        authorization: `Bearer ${token['access_token']}`,
        accept: 'application/vnd.github+json',
        'user-agent': 'mcp-auth-conformance-e2e',
      },
    });
    expect(user.status).toBe(200);
    const body = (await user.json()) as Record<string, unknown>;
    expect(body['login']).toBe('alice-gh');
    expect(body['id']).toBe(1001);

    // The mock journaled the code and the token it gave Alice, and nothing else.
    const issued = await issuedSince('github', since);
    expect(issued.map((e) => [e.kind, e.persona, e.client, e.value])).toEqual([
      ['code', 'alice', github.client.client_id, code],
      ['access_token', 'alice', github.client.client_id, token['access_token']],
    ]);
  });

  test('Cancel: the callback gets error=access_denied and no code', async ({ page }) => {
    const github = provider('github');
    const since = await lastSeq();
    await page.goto(authorizeUrl(pkcePair().challenge));
    await expectLoginPage(page, github.title);
    await page.getByRole('button', { name: 'Cancel (access_denied)' }).click();

    const callback = await landOnCallback(page);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe('xyz');
    expect(callback.searchParams.get('code')).toBeNull();
    // A cancelled sign-in issues no code.
    expect(await issuedSince('github', since)).toEqual([]);
  });
});

test.describe('Google (OpenID Connect)', () => {
  test('sign in as Alice: the id_token names alice@example.com', async ({ page }) => {
    const google = provider('google');
    const { verifier, challenge } = pkcePair();
    const nonce = randomBytes(16).toString('base64url');
    const since = await lastSeq();
    const authorize = new URL(google.endpoints['authorize']!);
    authorize.search = new URLSearchParams({
      client_id: google.client.client_id,
      redirect_uri: client.redirectUri,
      response_type: 'code',
      scope: 'openid email profile',
      state: 'xyz',
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    await page.goto(authorize.toString());
    await expectLoginPage(page, google.title);
    await page.getByRole('button', { name: 'Sign in as Alice Example' }).click();

    const callback = await landOnCallback(page);
    expect(callback.searchParams.get('state')).toBe('xyz');
    expect(callback.searchParams.get('error')).toBeNull();
    const code = callback.searchParams.get('code');
    expect(code).toMatch(/^\S{8,}$/);

    const tokenResponse = await fetch(google.endpoints['token']!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: code!,
        client_id: google.client.client_id,
        client_secret: google.client.client_secret ?? '',
        redirect_uri: client.redirectUri,
        code_verifier: verifier,
      }),
    });
    expect(tokenResponse.status).toBe(200);
    const token = (await tokenResponse.json()) as Record<string, unknown>;
    expect(token['token_type']).toBe('Bearer');
    expect(token['access_token']).toEqual(expect.any(String));
    expect(String(token['scope']).split(' ')).toContain('openid');
    expect(token['id_token']).toEqual(expect.any(String));

    // The id_token verifies against the mock's published keys, for this client, with our nonce.
    const { payload } = await jwtVerify(
      token['id_token'] as string,
      createRemoteJWKSet(new URL(google.endpoints['jwks']!)),
      { issuer: google.issuer!, audience: google.client.client_id },
    );
    expect(payload['email']).toBe('alice@example.com');
    expect(payload['email_verified']).toBe(true);
    expect(payload['nonce']).toBe(nonce);
    expect(payload['azp']).toBe(google.client.client_id);
    expect(payload['sub']).toBe('110000000000000000001');

    const issued = await issuedSince('google', since);
    expect(issued.map((e) => [e.kind, e.persona])).toEqual(
      expect.arrayContaining([
        ['code', 'alice'],
        ['access_token', 'alice'],
        ['id_token', 'alice'],
      ]),
    );
    expect(issued.find((e) => e.kind === 'code')?.value).toBe(code);
  });
});
