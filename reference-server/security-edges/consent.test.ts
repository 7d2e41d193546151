/**
 * Security edges 1-5 (reference/security-edges.md, "Consent and the confused deputy"), proven on
 * the reference server with the github backend in front of the mock IdP. The mock approves
 * silently whenever a persona is queued, so any path that skips our own consent page would reach
 * the client with a code; the journal shows whether the upstream leg was started at all.
 * @see https://modelcontextprotocol.io/specification/2025-06-18/basic/security_best_practices#confused-deputy-problem
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import {
  approveAndSignIn,
  atRedirect,
  authorization,
  CALLBACK,
  expectErrorPage,
  HttpAgent,
  lastSeq,
  openConsent,
  parseForms,
  providerOf,
  registerClient,
  startMock,
  startServer,
  type Target,
  upstreamRequests,
} from './harness.ts';

let mock: RunningMockIdp;
let target: Target;

beforeAll(async () => {
  mock = await startMock();
  target = await startServer(mock, 'github');
});
afterAll(async () => {
  await target.stop();
  await mock.stop();
});

const callbackUrl = () => `${target.url}/oauth/callback`;
const isCallback = (u: string) => u.startsWith(`${callbackUrl()}?`);
const githubAuthorize = () => providerOf(mock, 'github').endpoints['authorize']!;

describe('edge 1: a DCR client never skips consent through the shared upstream client', () => {
  it('shows our consent page (200) to a freshly registered client while the IdP would approve silently', async () => {
    const since = lastSeq(mock);
    mock.idp.nextLogin('alice', { provider: 'github' });
    try {
      const client = await registerClient(target, { client_name: 'Fresh DCR client' });
      const agent = new HttpAgent();
      const auth = authorization(target, client);
      const res = await agent.request(auth.url, { headers: { 'sec-fetch-site': 'none' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.body).toContain('<strong id="client-name">Fresh DCR client</strong>');
      expect(parseForms(res.body, auth.url)[0]!.buttons.map((b) => b.value)).toEqual(['approve', 'deny']);
      // Nothing went upstream: the upstream's remembered approval was never consulted.
      expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
    } finally {
      expect(mock.idp.takeNextLogin('github')?.persona).toBe('alice');
    }
  });

  it("an approval this browser gave one client does not carry over to an attacker's new client", async () => {
    const agent = new HttpAgent();
    const legit = await registerClient(target, { client_name: 'Legit client' });
    const first = authorization(target, legit);
    const { form } = await openConsent(agent, first.url);
    const done = await approveAndSignIn(target, agent, form, 'alice', CALLBACK);
    expect(new URL(done.stoppedAt!).searchParams.get('code')).toBeTruthy();
    expect(agent.cookieHeader(target.url)).toContain('mcp_consent=');

    const since = lastSeq(mock);
    const attacker = await registerClient(target, { client_name: 'Attacker client' });
    const res = await agent.request(authorization(target, attacker).url, {
      headers: { 'sec-fetch-site': 'none' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.body).toContain('<strong id="client-name">Attacker client</strong>');
    expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
  });
});

describe('edge 2: consent is bound to the browser that gave it', () => {
  it('refuses the upstream callback in another browser (403 page, no code, upstream code not redeemed)', async () => {
    const client = await registerClient(target);
    const auth = authorization(target, client);
    const victim = new HttpAgent();
    const { form } = await openConsent(victim, auth.url);
    mock.idp.nextLogin('alice', { provider: 'github' });
    const approved = await victim.submit(form, { name: 'action', value: 'approve' }, { stopAt: isCallback });
    expect(approved.stoppedAt).toBeDefined();
    const callback = new URL(approved.stoppedAt!);
    expect(callback.searchParams.get('code')).toBeTruthy();

    const since = lastSeq(mock);
    const other = new HttpAgent();
    const refused = await other.navigate(callback.toString(), { stopAt: atRedirect(CALLBACK) });
    expect(refused.stoppedAt).toBeUndefined();
    expect(refused.hops).toHaveLength(1);
    expectErrorPage(refused.final!, 403, 'access_denied');
    expect(upstreamRequests(mock, 'github', 'token', since)).toEqual([]);

    // The approving browser still completes: the refusal came from the binding alone.
    const finished = await victim.navigate(callback.toString(), { stopAt: atRedirect(CALLBACK) });
    const back = new URL(finished.stoppedAt!);
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(back.searchParams.get('state')).toBe(auth.state);
  });

  it('issues no second code when the callback is replayed, even by the approving browser', async () => {
    const client = await registerClient(target);
    const auth = authorization(target, client);
    const agent = new HttpAgent();
    const { form } = await openConsent(agent, auth.url);
    mock.idp.nextLogin('alice', { provider: 'github' });
    const approved = await agent.submit(form, { name: 'action', value: 'approve' }, { stopAt: isCallback });
    const first = await agent.navigate(approved.stoppedAt!, { stopAt: atRedirect(CALLBACK) });
    expect(new URL(first.stoppedAt!).searchParams.get('code')).toBeTruthy();
    const replay = await agent.navigate(approved.stoppedAt!, { stopAt: atRedirect(CALLBACK) });
    expect(replay.stoppedAt).toBeUndefined();
    expectErrorPage(replay.final!, 400, 'invalid_request');
  });

  it('refuses a callback whose state names no transaction, with the binding cookie present', async () => {
    const client = await registerClient(target);
    const agent = new HttpAgent();
    const { form } = await openConsent(agent, authorization(target, client).url);
    mock.idp.nextLogin('alice', { provider: 'github' });
    const approved = await agent.submit(form, { name: 'action', value: 'approve' }, { stopAt: isCallback });
    const forged = new URL(approved.stoppedAt!);
    forged.searchParams.set('state', 'guessed-state-value-00000000000000000');
    const res = await agent.navigate(forged.toString(), { stopAt: atRedirect(CALLBACK) });
    expect(res.stoppedAt).toBeUndefined();
    expectErrorPage(res.final!, 400, 'invalid_request');
  });
});

describe('edge 3: a remembered consent is never used cross-site', () => {
  let agent: HttpAgent;
  let remembered: Awaited<ReturnType<typeof registerClient>>;

  beforeAll(async () => {
    agent = new HttpAgent();
    remembered = await registerClient(target, { client_name: 'Remembered client' });
    const { form } = await openConsent(agent, authorization(target, remembered).url);
    const done = await approveAndSignIn(target, agent, form, 'alice', CALLBACK);
    expect(new URL(done.stoppedAt!).searchParams.get('code')).toBeTruthy();
    expect(agent.cookieHeader(target.url)).toContain('mcp_consent=');
  });

  for (const [label, headers] of [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
    ['no Sec-Fetch-Site header', {}],
  ] as const) {
    it(`shows the consent page again with ${label}`, async () => {
      const since = lastSeq(mock);
      const res = await agent.request(authorization(target, remembered).url, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('location')).toBeNull();
      expect(res.body).toContain('<strong id="client-name">Remembered client</strong>');
      expect(res.body).toContain('value="approve"');
      expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
    });
  }

  it('may skip the page for a navigation the user started (Sec-Fetch-Site: none): straight upstream, no code', async () => {
    const res = await agent.request(authorization(target, remembered).url, {
      headers: { 'sec-fetch-site': 'none' },
    });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(githubAuthorize());
    expect(location.searchParams.get('code')).toBeNull();
    expect(location.searchParams.get('redirect_uri')).toBe(callbackUrl());
  });
});

describe('edge 4: the consent form resists CSRF', () => {
  /** A consent page in a fresh browser: its form, and the agent holding the CSRF cookie. */
  async function consentPage() {
    const client = await registerClient(target);
    const agent = new HttpAgent();
    const { form } = await openConsent(agent, authorization(target, client).url);
    return { agent, form, client };
  }

  async function post(
    agent: HttpAgent,
    fields: Record<string, string>,
    headers: Record<string, string> = { origin: new URL(target.url).origin },
  ) {
    const body = new URLSearchParams(fields);
    return agent.request(`${target.url}/consent`, { method: 'POST', body, headers });
  }

  /** The refusal touched nothing: the same form can still be approved afterwards. */
  async function stillApprovable(agent: HttpAgent, form: { fields: Record<string, string> }) {
    const ok = await post(agent, { ...form.fields, action: 'approve' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')!.startsWith(githubAuthorize())).toBe(true);
  }

  function expectNoApproval(res: { headers: Headers }) {
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.getSetCookie().some((c) => c.startsWith('mcp_binding='))).toBe(false);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('mcp_consent='))).toBe(false);
  }

  it('403 without the CSRF field', async () => {
    const { agent, form } = await consentPage();
    const { csrf: _dropped, ...rest } = form.fields;
    const res = await post(agent, { ...rest, action: 'approve' });
    expectErrorPage(res, 403, 'access_denied');
    expectNoApproval(res);
    await stillApprovable(agent, form);
  });

  it('403 without the CSRF cookie (a request from a browser that never saw the page)', async () => {
    const { agent, form } = await consentPage();
    const res = await post(new HttpAgent(), { ...form.fields, action: 'approve' });
    expectErrorPage(res, 403, 'access_denied');
    expectNoApproval(res);
    await stillApprovable(agent, form);
  });

  it('403 with a CSRF token that does not match the cookie', async () => {
    const { agent, form } = await consentPage();
    const res = await post(agent, { ...form.fields, csrf: `${form.fields['csrf']}x`, action: 'approve' });
    expectErrorPage(res, 403, 'access_denied');
    expectNoApproval(res);
    await stillApprovable(agent, form);
  });

  it("403 with a valid CSRF pair of another transaction (the attacker's own page)", async () => {
    const victim = await consentPage();
    const attacker = await consentPage();
    const res = await post(attacker.agent, {
      txn: victim.form.fields['txn']!,
      csrf: attacker.form.fields['csrf']!,
      action: 'approve',
    });
    expectErrorPage(res, 403, 'access_denied');
    expectNoApproval(res);
    await stillApprovable(victim.agent, victim.form);
  });

  for (const [label, headers] of [
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['Origin: null (a sandboxed or data: page)', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site and no Origin', { 'sec-fetch-site': 'cross-site' }],
  ] as const) {
    it(`403 from ${label}, even with the right token and cookie`, async () => {
      const { agent, form } = await consentPage();
      const res = await post(agent, { ...form.fields, action: 'approve' }, headers);
      expectErrorPage(res, 403, 'access_denied');
      expectNoApproval(res);
      await stillApprovable(agent, form);
    });
  }

  for (const [label, action] of [
    ['no action', undefined],
    ['action "APPROVE" (not the exact value)', 'APPROVE'],
    ['an empty action', ''],
    ['action "yes"', 'yes'],
  ] as const) {
    it(`400 with ${label}: never taken as approval`, async () => {
      const { agent, form } = await consentPage();
      const res = await post(agent, { ...form.fields, ...(action === undefined ? {} : { action }) });
      expectErrorPage(res, 400, 'invalid_request');
      expectNoApproval(res);
      await stillApprovable(agent, form);
    });
  }

  it('400 when approve is sent twice in one body (repeated parameter)', async () => {
    const { agent, form } = await consentPage();
    const body = new URLSearchParams(form.fields);
    body.append('action', 'approve');
    body.append('action', 'approve');
    const res = await agent.request(`${target.url}/consent`, {
      method: 'POST',
      body,
      headers: { origin: new URL(target.url).origin },
    });
    expectErrorPage(res, 400, 'invalid_request');
    expectNoApproval(res);
  });

  it('405 for GET /consent (no approval by link)', async () => {
    const { agent, form } = await consentPage();
    const url = `${target.url}/consent?${new URLSearchParams({ ...form.fields, action: 'approve' })}`;
    const res = await agent.request(url);
    expectErrorPage(res, 405, 'invalid_request');
    expectNoApproval(res);
    await stillApprovable(agent, form);
  });

  it('deny sends access_denied to the client with no code, and ends the transaction', async () => {
    const { agent, form, client } = await consentPage();
    const res = await post(agent, { ...form.fields, action: 'deny' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(client.redirect_uris[0]);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
    expect(back.searchParams.get('iss')).toBe(target.url);
    const again = await post(agent, { ...form.fields, action: 'approve' });
    expectErrorPage(again, 400, 'invalid_request');
  });
});

describe('edge 5: the consent page names the client and the exact redirect URI, and cannot be framed', () => {
  it('shows the client name (escaped), its id and the exact redirect URI, with anti-framing headers', async () => {
    const name = '<img src=x onerror=alert(1)> Evil & "Co"';
    const redirectUri = 'http://127.0.0.1:7777/cb?tenant=a&next=b';
    const client = await registerClient(target, { client_name: name, redirect_uris: [redirectUri] });
    const { page } = await openConsent(new HttpAgent(), authorization(target, client).url);
    expect(page.body).not.toContain('<img');
    expect(page.body).toContain(
      '<strong id="client-name">&#60;img src=x onerror=alert(1)&#62; Evil &#38; &#34;Co&#34;</strong>',
    );
    expect(page.body).toContain(`<code id="client-id">${client.client_id}</code>`);
    expect(page.body).toContain(
      '<code id="redirect-uri">http://127.0.0.1:7777/cb?tenant=a&#38;next=b</code>',
    );
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toContain('no-store');
  });

  it('shows the loopback URI the request named (another port), which is where the code goes', async () => {
    const client = await registerClient(target);
    const requested = 'http://127.0.0.1:9999/cb';
    const { page } = await openConsent(
      new HttpAgent(),
      authorization(target, client, { redirect_uri: requested }).url,
    );
    expect(page.body).toContain(`<code id="redirect-uri">${requested}</code>`);
    expect(page.body).not.toContain(CALLBACK);
  });
});

/**
 * Whether a URL is allowed by a CSP source list (CSP3 6.7.2: `'self'`, a scheme source `x:`, or
 * a host source with scheme, host and port). Enough for the sources our pages send.
 */
function allowedBy(sources: string[], url: string, self: string): boolean {
  const u = new URL(url);
  return sources.some((source) => {
    if (source === "'self'") return u.origin === new URL(self).origin;
    if (/^[a-z][a-z0-9+.-]*:$/i.test(source)) return u.protocol === source.toLowerCase();
    try {
      const s = new URL(source);
      return s.protocol === u.protocol && s.host === u.host;
    } catch {
      return false;
    }
  });
}

function formAction(headers: Headers): string[] {
  const csp = headers.get('content-security-policy') ?? '';
  const directive = csp
    .split(';')
    .map((d) => d.trim())
    .find((d) => d.startsWith('form-action '));
  expect(directive, csp).toBeDefined();
  return directive!.split(/\s+/).slice(1);
}

describe("edge 35: the pages' CSP form-action lets the redirect chain reach the client", () => {
  const redirects = ['cursor://anysphere.cursor-retrieval/oauth/callback', 'http://127.0.0.1:7777/cb'];

  for (const redirectUri of redirects) {
    it(`github: every hop after the consent POST is allowed, up to ${redirectUri}`, async () => {
      const client = await registerClient(target, { redirect_uris: [redirectUri] });
      const agent = new HttpAgent();
      const { page, form } = await openConsent(agent, authorization(target, client).url);
      const sources = formAction(page.headers);
      expect(sources).not.toContain("'none'");
      mock.idp.nextLogin('alice', { provider: 'github' });
      const nav = await agent.submit(
        form,
        { name: 'action', value: 'approve' },
        { stopAt: atRedirect(redirectUri) },
      );
      expect(nav.stoppedAt!.startsWith(redirectUri)).toBe(true);
      const targets = [
        form.action,
        ...nav.hops.map((h) => h.response?.headers['location']).filter(Boolean),
        nav.stoppedAt!,
      ];
      expect(targets.length).toBeGreaterThanOrEqual(4);
      for (const url of targets) {
        expect(
          allowedBy(sources, new URL(url!, target.url).toString(), target.url),
          `${url} vs ${sources.join(' ')}`,
        ).toBe(true);
      }
    });
  }

  it('in-memory: the login form, posted after consent, may also redirect to the client', async () => {
    const memory = await startServer(mock, 'in-memory');
    try {
      for (const redirectUri of redirects) {
        const client = await registerClient(memory, { redirect_uris: [redirectUri] });
        const agent = new HttpAgent();
        const { page, form } = await openConsent(agent, authorization(memory, client).url);
        const consentSources = formAction(page.headers);
        const toLogin = await agent.submit(form, { name: 'action', value: 'approve' });
        const login = toLogin.final!;
        expect(login.status).toBe(200);
        expect(allowedBy(consentSources, login.url, memory.url)).toBe(true);
        const loginSources = formAction(login.headers);
        const loginForm = parseForms(login.body, login.url)[0]!;
        const done = await agent.submit(
          loginForm,
          { name: 'persona', value: 'alice' },
          { stopAt: atRedirect(redirectUri) },
        );
        expect(done.stoppedAt!.startsWith(redirectUri)).toBe(true);
        expect(new URL(done.stoppedAt!).searchParams.get('code')).toBeTruthy();
        for (const url of [loginForm.action, done.stoppedAt!]) {
          expect(allowedBy(loginSources, url, memory.url), `${url} vs ${loginSources.join(' ')}`).toBe(true);
        }
      }
    } finally {
      await memory.stop();
    }
  });
});
