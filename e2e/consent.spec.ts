/**
 * Our consent page in real Chromium: the reference server (github backend pointed at the mock
 * IdP, memory store, the personas' users) in front of the mock's GitHub.
 *
 * (a) A loopback client (RFC 8252 7.3): the consent page names the client and the exact redirect
 *     URI (security edge 5), Allow leads to the mock's GitHub login page, the persona button
 *     leads back through our callback to the client with `code` and `state`; the code redeems
 *     and `whoami` names U1.
 * (b) A client with a custom-scheme redirect URI (RFC 8252 7.1, the `cursor://` shape): Allow
 *     must carry the browser through the whole redirect chain to that URI (security edge 35).
 *     Chromium's CSP `form-action` applies to every redirect a form submission follows, so a
 *     consent page whose policy lacks the client's scheme (or the upstream's origin) stops the
 *     chain, and the code never reaches the app.
 * (c) A control for (b): the same approval with the scheme taken out of the page's CSP is caught
 *     by the same observations, so (b) cannot pass without the navigation.
 *
 * How (b) sees a navigation Chromium cannot finish: headless Chromium has no handler for
 * `cursor:`, so it reports the navigation request (`page.on('request')`, a navigation request
 * with the full URL) and then fails it with net::ERR_ABORTED (`requestfailed`); the page stays
 * where it was. A CSP block never issues that request; it fires `securitypolicyviolation` in the
 * page (collected through an exposed binding, which CSP does not govern) and logs a console
 * error naming `form-action`.
 *
 * @see https://www.w3.org/TR/CSP3/#directive-form-action
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.1
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ConsoleMessage, expect, type Page, type Request, test } from '@playwright/test';
import type { ProviderDescription } from '../mock-idp/app.ts';
import { loadPersonas } from '../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';
import { loadSettings } from '../reference-server/config.ts';
import { silentLogger } from '../reference-server/log.ts';
import { mockIdpOverrides } from '../reference-server/mock-wiring.ts';
import { type RunningReferenceServer, startReferenceServer } from '../reference-server/server.ts';
import { createMemoryStore } from '../reference-server/store/memory.ts';
import { seedUsers } from '../reference-server/users/seed.ts';

const CUSTOM_REDIRECT = 'cursor://anysphere.cursor-retrieval/oauth/callback';

/** What the `whoami` tool answers (reference-server/mcp.ts). */
interface Whoami {
  user: { id: string; email: string | null; login: string | null; groups: string[] };
  backend: string;
  client_id: string | null;
}

interface CallbackClient {
  server: Server;
  redirectUri: string;
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

let mock: RunningMockIdp;
let reference: RunningReferenceServer;
let client: CallbackClient;
let github: ProviderDescription;

test.beforeAll(async () => {
  mock = await startMockIdp({ port: 0 });
  const providers = mock.idp.describe({ mode: 'path', origin: mock.url });
  github = providers.find((p) => p.id === 'github')!;
  const store = createMemoryStore();
  await seedUsers(store, loadPersonas());
  reference = await startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: { ...mockIdpOverrides('github', providers, { baseUrl }), server: { storage: 'memory' } },
      }),
    { store, log: silentLogger },
  );
  client = await startCallbackClient();
});

test.afterAll(async () => {
  await reference?.stop();
  await mock?.stop();
  await new Promise<void>((resolve) => {
    if (!client) return resolve();
    client.server.closeAllConnections();
    client.server.close(() => resolve());
  });
});

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function register(redirectUri: string, name: string): Promise<string> {
  const res = await fetch(`${reference.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      client_name: name,
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

function authorizeUrl(clientId: string, redirectUri: string, challenge: string, state: string): string {
  return `${reference.url}/authorize?${new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource: reference.mcpUrl,
  })}`;
}

/** Redeems a code at our token endpoint and asks `whoami` who the token is for. */
async function redeemAndWhoami(clientId: string, code: string, verifier: string, redirectUri: string) {
  const tokenResponse = await fetch(`${reference.url}/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: redirectUri,
      resource: reference.mcpUrl,
    }),
  });
  expect(tokenResponse.status).toBe(200);
  const tokens = (await tokenResponse.json()) as { access_token: string; token_type: string };
  expect(tokens.token_type).toBe('Bearer');
  const mcp = await fetch(reference.mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${tokens.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'whoami', arguments: {} },
    }),
  });
  expect(mcp.status).toBe(200);
  const body = (await mcp.json()) as { result: { structuredContent: Whoami } };
  return body.result.structuredContent;
}

/** The sources of a CSP's form-action directive. */
function formActionSources(csp: string): string[] {
  const directive = csp.split(';').map((d) => d.trim().split(/\s+/));
  return directive.find(([name]) => name === 'form-action')?.slice(1) ?? [];
}

/** The page's CSP violations (securitypolicyviolation events) and its console messages. */
async function watchPolicy(page: Page) {
  const violations: Array<{ directive: string; blocked: string }> = [];
  const consoleMessages: ConsoleMessage[] = [];
  page.on('console', (m) => consoleMessages.push(m));
  await page.exposeFunction('__reportCspViolation', (v: { directive: string; blocked: string }) => {
    violations.push(v);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __reportCspViolation: (v: unknown) => void })
        .__reportCspViolation;
      report({ directive: e.effectiveDirective, blocked: e.blockedURI });
    });
  });
  const formActionComplaints = () =>
    consoleMessages
      .filter((m) => /content security policy|form-action/i.test(m.text()))
      .map((m) => `${m.type()}: ${m.text()}`);
  return { violations, formActionComplaints };
}

/** The consent page as edge 5 wants it: the client's name and the exact redirect URI. */
async function expectConsentPage(page: Page, name: string, clientId: string, redirectUri: string) {
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Allow access?');
  await expect(page.locator('#client-name')).toHaveText(name);
  await expect(page.locator('#client-id')).toHaveText(clientId);
  await expect(page.locator('#redirect-uri')).toHaveText(redirectUri);
  await expect(page.getByRole('button', { name: 'Allow' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Deny' })).toBeVisible();
}

test('loopback client: consent, the mock GitHub login as Alice, the callback, whoami U1', async ({
  page,
}) => {
  const name = 'Consent E2E Loopback';
  const clientId = await register(client.redirectUri, name);
  const { verifier, challenge } = pkcePair();
  const policy = await watchPolicy(page);

  await page.goto(authorizeUrl(clientId, client.redirectUri, challenge, 'loopback-state'));
  await expectConsentPage(page, name, clientId, client.redirectUri);

  // No next-login is queued: Allow leads to the mock GitHub's login page.
  await page.getByRole('button', { name: 'Allow' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(
    `${github.title} (mock identity provider)`,
  );
  expect(page.url().startsWith(github.endpoints['authorize']!)).toBe(true);
  await page.getByRole('button', { name: 'Sign in as Alice Example' }).click();

  await page.waitForURL((url) => url.href.startsWith(`${client.redirectUri}?`));
  await expect(page.getByRole('heading', { name: 'Callback received' })).toBeVisible();
  const back = new URL(page.url());
  expect(client.received.some((r) => r.search === back.search)).toBe(true);
  expect(back.searchParams.get('state')).toBe('loopback-state');
  expect(back.searchParams.get('iss')).toBe(reference.url);
  expect(back.searchParams.get('error')).toBeNull();
  const code = back.searchParams.get('code');
  expect(code).toMatch(/^\S{20,}$/);

  const who = await redeemAndWhoami(clientId, code!, verifier, client.redirectUri);
  expect(who.user).toMatchObject({ id: 'U1', email: 'alice@example.com', login: 'alice-gh' });
  expect(who.backend).toBe('github');
  expect(who.client_id).toBe(clientId);
  expect(policy.violations).toEqual([]);
  expect(policy.formActionComplaints()).toEqual([]);
});

/** Approves the consent page and collects what Chromium did with the custom-scheme redirect. */
async function approveTowardCustomScheme(page: Page) {
  const attempted: Request[] = [];
  const failed: Array<{ url: string; error: string | undefined }> = [];
  page.on('request', (r) => {
    if (r.url().startsWith(`${CUSTOM_REDIRECT}?`)) attempted.push(r);
  });
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(`${CUSTOM_REDIRECT}?`))
      failed.push({ url: r.url(), error: r.failure()?.errorText });
  });
  // Every chain passes our callback, whose 302 goes to the app; Chromium then either tries the
  // scheme (a request event) or blocks by policy (a violation event, and no response reported).
  const callbackRequest = page.waitForRequest((r) => r.url().startsWith(`${reference.url}/oauth/callback?`));
  await page.getByRole('button', { name: 'Allow' }).click();
  const callback = await callbackRequest;
  return { attempted, failed, callback, callbackResponse: await callback.response() };
}

test('custom-scheme client: the CSP form-action lets the chain reach cursor:// with a code', async ({
  page,
}) => {
  const name = 'Cursor (custom scheme)';
  const clientId = await register(CUSTOM_REDIRECT, name);
  const { verifier, challenge } = pkcePair();
  const policy = await watchPolicy(page);

  const consent = await page.goto(authorizeUrl(clientId, CUSTOM_REDIRECT, challenge, 'scheme-state'));
  await expectConsentPage(page, name, clientId, CUSTOM_REDIRECT);
  // The policy Chromium enforces names the scheme, our origin and the upstream's.
  const csp = (await consent!.allHeaders())['content-security-policy'] ?? '';
  expect(formActionSources(csp)).toEqual(
    expect.arrayContaining(["'self'", 'cursor:', new URL(github.endpoints['authorize']!).origin]),
  );

  // The mock completes the GitHub leg at once; the browser only follows redirects.
  mock.idp.nextLogin('alice', { provider: 'github' });
  const seen = await approveTowardCustomScheme(page);
  expect(seen.callbackResponse?.status()).toBe(302);
  await expect.poll(() => seen.attempted.length).toBe(1);
  const request = seen.attempted[0]!;
  expect(request.isNavigationRequest()).toBe(true);
  // The request came out of the redirect chain that started with the consent POST.
  expect(request.redirectedFrom()?.url()).toBe(seen.callback.url());
  // Chromium cannot open the scheme; it aborts the navigation rather than blocking it by policy.
  await expect.poll(() => seen.failed.length).toBe(1);
  expect(seen.failed[0]!.error).toBe('net::ERR_ABORTED');

  const landed = new URL(request.url());
  expect(`${landed.protocol}//${landed.host}${landed.pathname}`).toBe(CUSTOM_REDIRECT);
  expect(landed.searchParams.get('state')).toBe('scheme-state');
  expect(landed.searchParams.get('iss')).toBe(reference.url);
  const code = landed.searchParams.get('code');
  expect(code).toMatch(/^\S{20,}$/);
  expect(policy.violations).toEqual([]);
  expect(policy.formActionComplaints()).toEqual([]);

  const who = await redeemAndWhoami(clientId, code!, verifier, CUSTOM_REDIRECT);
  expect(who.user).toMatchObject({ id: 'U1' });
  expect(who.client_id).toBe(clientId);
});

test('control: without the scheme in form-action, Chromium blocks the chain and the checks see it', async ({
  page,
}) => {
  const clientId = await register(CUSTOM_REDIRECT, 'Cursor (control)');
  const policy = await watchPolicy(page);
  // Serve our consent page with the custom scheme taken out of its policy.
  await page.route(`${reference.url}/authorize?**`, async (route) => {
    const response = await route.fetch();
    const headers = response.headers();
    const csp = headers['content-security-policy'] ?? '';
    const sources = formActionSources(csp);
    expect(sources).toContain('cursor:');
    headers['content-security-policy'] = csp.replace(
      /form-action [^;]*/,
      `form-action ${sources.filter((s) => s !== 'cursor:').join(' ')}`,
    );
    await route.fulfill({ response, headers });
  });
  await page.goto(authorizeUrl(clientId, CUSTOM_REDIRECT, pkcePair().challenge, 'control-state'));
  await expectConsentPage(page, 'Cursor (control)', clientId, CUSTOM_REDIRECT);

  mock.idp.nextLogin('alice', { provider: 'github' });
  const seen = await approveTowardCustomScheme(page);
  // The chain reached our callback (whose 302 names the app), but Chromium refused to follow it:
  // the redirect is reported as no response, a form-action violation fired, the app got nothing.
  expect(seen.callbackResponse).toBeNull();
  await expect.poll(() => policy.violations.map((v) => v.directive)).toContain('form-action');
  await expect.poll(() => policy.formActionComplaints().length).toBeGreaterThan(0);
  expect(seen.attempted).toEqual([]);
});
