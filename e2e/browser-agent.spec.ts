/**
 * The runner's browser mode (`--browser`): `runConformance({ browser: true })` drives the
 * `authorize` step in real Chromium against the reference server (github backend in front of the
 * mock IdP), with the client's redirect URI intercepted and recorded, never fetched.
 *
 * (a) The discovery, bearer and consent suites and the user-resolution case for alice pass in
 *     the browser as they do over plain HTTP.
 * (b) A consent page that is not ours (a checkbox to tick, a name to type, a button the
 *     heuristics do not know) is driven by a browser rule; without the rule, or with a rule that
 *     skips the checkbox, the same case fails.
 * (c) A native client's custom-scheme redirect URI (RFC 8252 7.1) is reached and recorded.
 * (d) The tab itself on small pages of a local server: script navigations, fragments, custom
 *     schemes from a typed-in URL, a page that never answers, a refused connection, fixed headers,
 *     a cross-site start, cookie isolation between jars.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (authorization code grant)
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.1 (private-use URI scheme redirection)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { authorize as realAuthorize } from '../reference-server/oauth/authorize.ts';
import { consent as realConsent } from '../reference-server/oauth/consent.ts';
import type { CaseResult, RunResult } from '../reports/model.ts';
import { ChromiumAgent } from '../runner/agent/browser.ts';
import type { BrowserRule } from '../runner/context.ts';
import { explain, notPassing, startTarget, type Target } from '../runner/detection/harness.ts';
import { RunnerError } from '../runner/errors.ts';

const CASE = 'bearer/valid-token-accepted';
/** Browser mode, with room for a busy machine (these tests prove what passes, not how fast). */
const BROWSER = { browser: true, stepTimeoutMs: 20_000 };

function caseOf(result: RunResult, id: string): CaseResult {
  const found = result.suites.flatMap((s) => s.cases).find((c) => c.id === id);
  if (!found) throw new Error(`no case ${id} in the result`);
  return found;
}

let good: Target;

test.beforeAll(async () => {
  good = await startTarget();
});

test.afterAll(async () => {
  await good?.stop();
});

test('discovery, bearer, consent and alice user resolution pass in real Chromium', async () => {
  test.setTimeout(120_000);
  const result = await good.run({
    ...BROWSER,
    cases: ['discovery/*', 'bearer/*', 'consent/*', 'user-resolution/persona[persona=alice]'],
  });
  const all = result.suites.flatMap((s) => s.cases);
  expect(notPassing(result), explain(result)).toEqual([]);
  // Chromium always sends fetch metadata, so the case about a navigation without it is skipped.
  expect(caseOf(result, 'consent/remembered-no-fetch-metadata')).toMatchObject({ status: 'skipped' });
  // The run really went through the browser: the consent page, the mock's sign-in page and the
  // callback were navigations, and the code came back to the (unfetched) redirect URI.
  const alice = caseOf(result, 'user-resolution/persona[persona=alice]');
  expect(alice.status).toBe('passed');
  const auth = alice.exchanges.filter((e) => e.step === 'auth');
  expect(auth.map((e) => [e.request.method, new URL(e.request.url).pathname, e.response?.status])).toEqual([
    ['GET', '/authorize', 200],
    ['POST', '/consent', 303],
    ['GET', '/github/login/oauth/authorize', 200],
    ['POST', '/github/__mock/login', 302],
    ['GET', '/oauth/callback', 302],
  ]);
  // Chromium's own request headers (the HTTP agent sends none of these).
  expect(auth[0]!.request.headers['sec-fetch-site']).toBe('none');
  expect(auth[1]!.request.headers['sec-fetch-site']).toBe('same-origin');
  expect(auth[1]!.request.headers['cookie']).toMatch(/mcp_csrf=/);
  expect(auth[4]!.response!.headers['location']).toMatch(/^http:\/\/127\.0\.0\.1:33418\/callback\?code=/);
  expect(auth.some((e) => e.request.url.startsWith('http://127.0.0.1:33418/'))).toBe(false);
  expect(all.filter((c) => c.status === 'passed').length).toBeGreaterThan(20);
});

test.describe('a consent page that is not ours, driven by a browser rule', () => {
  let partner: Target;

  test.beforeAll(async () => {
    partner = await startTarget({
      mock: good.mock,
      parts: {
        // Our authorization endpoint, with its consent page swapped for a partner's: a name to
        // type, terms to accept (required), and a button the approve heuristics do not know.
        async authorize(rt, request) {
          const response = await realAuthorize(rt, request);
          const html = response.status === 200 ? await response.clone().text() : '';
          const txn = html.match(/name="txn" value="([^"]+)"/)?.[1];
          const csrf = html.match(/name="csrf" value="([^"]+)"/)?.[1];
          if (!txn || !csrf) return response;
          const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner workspace</title></head>
<body><h1>Connect your workspace</h1>
<form method="post" action="/consent">
<input type="hidden" name="txn" value="${txn}"><input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="action" value="approve">
<label>Display name <input id="nickname" name="nickname" required></label>
<label><input type="checkbox" id="terms" name="terms" required> I accept the partner terms</label>
<button type="submit" id="go">Link my account</button>
</form></body></html>`;
          const headers = new Headers(response.headers);
          headers.delete('content-length');
          return new Response(page, { status: 200, headers });
        },
        // The partner's form handler: the terms and a name are required, then our consent runs.
        async consent(rt, request) {
          const body = await request.text();
          const form = new URLSearchParams(body);
          if (form.get('terms') !== 'on' || !form.get('nickname')) {
            return new Response('terms not accepted', { status: 400 });
          }
          return realConsent(
            rt,
            new Request(request.url, { method: 'POST', headers: request.headers, body }),
          );
        },
      },
    });
  });

  test.afterAll(async () => {
    await partner?.stop();
  });

  const rule = (commands: BrowserRule['commands']): BrowserRule => ({
    match: `${partner.server.url}/authorize?*`,
    consent: true,
    commands,
  });

  test('the rule fills, ticks and clicks through it; the case passes', async () => {
    const result = await partner.run({
      ...BROWSER,
      cases: [CASE],
      browserRules: [
        rule([
          { wait: '#terms' },
          { fill: { selector: '#nickname', value: 'Alice' } },
          { click: '#terms' },
          { click: 'text=Link my account' },
        ]),
      ],
    });
    expect(notPassing(result), explain(result)).toEqual([]);
    const posted = caseOf(result, CASE).exchanges.find((e) => e.request.url.endsWith('/consent'));
    expect(posted?.request.method).toBe('POST');
    const form = new URLSearchParams(posted?.request.body ?? '');
    expect(form.get('nickname')).toBe('Alice');
    expect(form.get('terms')).toBe('on');
    expect(form.get('action')).toBe('approve');
    expect(posted?.response?.status).toBe(303);
  });

  test('without the rule the run ends on the partner page, with no code', async () => {
    const result = await partner.run({ ...BROWSER, cases: [CASE] });
    expect(notPassing(result)).toEqual([CASE]);
    const c = caseOf(result, CASE);
    expect(c.status).toBe('failed');
    // The authorize step ended on the unknown page; the exchange then had no code to redeem.
    expect(c.exchanges.filter((e) => e.step === 'auth').map((e) => new URL(e.request.url).pathname)).toEqual([
      '/authorize',
    ]);
    expect(c.exchanges.some((e) => e.request.url.endsWith('/consent'))).toBe(false);
  });

  test('a rule that skips the required checkbox leaves the page unchanged', async () => {
    const result = await partner.run({
      ...BROWSER,
      cases: [CASE],
      browserRules: [rule([{ fill: { selector: '#nickname', value: 'Alice' } }, { click: '#go' }])],
    });
    expect(notPassing(result)).toEqual([CASE]);
    // Chromium's form validation refused the submission: nothing was posted.
    expect(caseOf(result, CASE).exchanges.some((e) => e.request.url.endsWith('/consent'))).toBe(false);
  });

  test('a rule whose element never appears ends the step with the rule named', async () => {
    const result = await partner.run({
      browser: true,
      cases: [CASE],
      stepTimeoutMs: 5_000,
      browserRules: [rule([{ click: '#no-such-button' }])],
    });
    const c = caseOf(result, CASE);
    expect(c.status).toBe('failed');
    expect(c.reason).toMatch(
      /step "auth" failed: browser rule ".*\/authorize\?\*": click #no-such-button failed/,
    );
  });
});

test('a custom-scheme redirect URI is reached and recorded, never opened', async () => {
  const redirectUri = 'cursor://anysphere.cursor-retrieval/oauth/callback';
  const result = await good.run({ ...BROWSER, cases: [CASE], redirectUri });
  expect(notPassing(result), explain(result)).toEqual([]);
  const auth = caseOf(result, CASE).exchanges.filter((e) => e.step === 'auth');
  const last = auth.at(-1)!;
  expect(new URL(last.request.url).pathname).toBe('/oauth/callback');
  expect(last.response?.status).toBe(302);
  const location = new URL(last.response!.headers['location']!);
  expect(`${location.protocol}//${location.host}${location.pathname}`).toBe(redirectUri);
  expect(location.searchParams.get('code')).toMatch(/^\S{20,}$/);
  expect(location.searchParams.get('iss')).toBe(good.server.url);
  // Recorded, not requested: no exchange goes to the app's scheme.
  expect(auth.some((e) => e.request.url.startsWith('cursor:'))).toBe(false);
  // The code it carried was redeemed: the token request succeeded.
  const token = caseOf(result, CASE).exchanges.find((e) => e.step === 'tokens');
  expect(token?.response?.status).toBe(200);
});

test.describe('the browser tab on pages of its own', () => {
  interface Seen {
    method: string;
    path: string;
    headers: Record<string, string | string[] | undefined>;
  }
  let server: Server;
  let origin: string;
  const seen: Seen[] = [];
  let agent: ChromiumAgent;

  test.beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      seen.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers });
      const html = (body: string) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><html><head><title>t</title></head><body>${body}</body></html>`);
      };
      switch (url.pathname) {
        case '/scripted':
          return html(`<p>one moment</p><script>setTimeout(() => { location.href = '/hop'; }, 50);</script>`);
        case '/hop':
          res.writeHead(302, { location: '/cb#code=frag-code&state=s1' });
          return res.end();
        case '/to-app':
          res.writeHead(302, { location: 'myapp://callback?code=app-code' });
          return res.end();
        case '/set-cookie':
          res.writeHead(200, {
            'content-type': 'text/html',
            'set-cookie': 'who=jar-a; Path=/; SameSite=Lax',
          });
          return res.end('<!doctype html><p>cookie set</p>');
        case '/hang':
          return; // never answers
        case '/cb':
          return html('<p>the client callback must never be fetched</p>');
        default:
          return html(`<p>${url.pathname}</p>`);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = await ChromiumAgent.launch({ timeoutMs: 3_000 });
  });

  test.afterAll(async () => {
    await agent?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  test('a page that navigates by script is followed to the redirect URI, caught with its fragment', async () => {
    const jar = await agent.newJar();
    try {
      const tab = await jar.open({ redirectUri: `${origin}/cb` });
      const nav = await tab.navigate(`${origin}/scripted`);
      expect(nav.stoppedAt).toBe(`${origin}/cb#code=frag-code&state=s1`);
      expect(nav.final).toBeUndefined();
      expect(nav.hops.map((h) => [new URL(h.request.url).pathname, h.response?.status])).toEqual([
        ['/scripted', 200],
        ['/hop', 302],
      ]);
      expect(seen.some((s) => s.path === '/cb')).toBe(false);
    } finally {
      await jar.close();
    }
  });

  test('a custom-scheme redirect is caught from a typed-in navigation, its redirect recorded', async () => {
    const jar = await agent.newJar();
    try {
      const tab = await jar.open({ redirectUri: 'myapp://callback' });
      const nav = await tab.navigate(`${origin}/to-app`);
      expect(nav.stoppedAt).toBe('myapp://callback?code=app-code');
      expect(nav.hops).toHaveLength(1);
      expect(nav.hops[0]!.response?.status).toBe(302);
      expect(nav.hops[0]!.response?.headers['location']).toBe('myapp://callback?code=app-code');
    } finally {
      await jar.close();
    }
  });

  test('a page that never answers ends with a timeout naming it', async () => {
    const jar = await agent.newJar();
    try {
      const tab = await jar.open({ redirectUri: `${origin}/cb` });
      const error = await tab.navigate(`${origin}/hang`).then(
        () => undefined,
        (e: unknown) => e as RunnerError,
      );
      expect(error).toBeInstanceOf(RunnerError);
      expect(error?.code).toBe('ERR_STEP_TIMEOUT');
      expect(error?.message).toBe(`the page at ${origin}/hang did not finish loading within 3000 ms`);
    } finally {
      await jar.close();
    }
  });

  test('a server that refuses connections ends the step with the network error', async () => {
    const jar = await agent.newJar();
    try {
      // A port that was just free: nothing listens there.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const tab = await jar.open({ redirectUri: `${origin}/cb` });
      const error = await tab.navigate(`http://127.0.0.1:${port}/authorize`).then(
        () => undefined,
        (e: unknown) => e as RunnerError,
      );
      expect(error?.code).toBe('ERR_STEP_FAILED');
      expect(error?.message).toBe(`GET http://127.0.0.1:${port}/authorize: net::ERR_CONNECTION_REFUSED`);
    } finally {
      await jar.close();
    }
  });

  test('fixed headers go to the server origin only; a cross-site start is a real cross-site navigation', async () => {
    const jar = await agent.newJar();
    try {
      const tab = await jar.open({
        redirectUri: `${origin}/cb`,
        extraHeaders: { origin, headers: { 'x-api-key': 'k-123', 'sec-fetch-site': 'cross-site' } },
      });
      const nav = await tab.navigate(`${origin}/start`);
      expect(nav.final?.status).toBe(200);
      expect(nav.final?.body).toContain('<p>/start</p>');
      const start = seen.findLast((s) => s.path === '/start')!;
      expect(start.headers['x-api-key']).toBe('k-123');
      expect(start.headers['sec-fetch-site']).toBe('cross-site');
      expect(nav.hops[0]!.request.headers['x-api-key']).toBe('k-123');
      // Headers meant for another origin never reach this one; a typed-in start is `none`.
      const other = await jar.open({
        redirectUri: `${origin}/cb`,
        extraHeaders: { origin: 'http://127.0.0.1:9', headers: { 'x-api-key': 'k-123' } },
      });
      await other.navigate(`${origin}/other`);
      const plain = seen.findLast((s) => s.path === '/other')!;
      expect(plain.headers['x-api-key']).toBeUndefined();
      expect(plain.headers['sec-fetch-site']).toBe('none');
    } finally {
      await jar.close();
    }
  });

  test('jars do not share cookies; the plain-HTTP jar receives them', async () => {
    const a = await agent.newJar();
    const b = await agent.newJar();
    try {
      const tabA = await a.open({ redirectUri: `${origin}/cb` });
      await tabA.navigate(`${origin}/set-cookie`);
      const tabB = await b.open({ redirectUri: `${origin}/cb` });
      await tabB.navigate(`${origin}/plain`);
      expect(seen.findLast((s) => s.path === '/plain')!.headers['cookie']).toBeUndefined();
      await tabA.navigate(`${origin}/again`);
      expect(seen.findLast((s) => s.path === '/again')!.headers['cookie']).toBe('who=jar-a');
      expect(await a.exportCookies()).toEqual([{ url: origin, name: 'who', value: 'jar-a' }]);
      expect(await b.exportCookies()).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
