/**
 * Security edges 6-16 (reference/security-edges.md, "Dynamic client registration and redirect
 * URIs"), proven on the reference server with the github backend in front of the mock IdP.
 *
 * Servers: `open` runs the default configuration (loopback and custom schemes only, no https
 * host); `patterned` allows `https://app.example/cb/*` and `https://app.example/cb` (so that the
 * dot-segment and exact-match checks are not hidden behind "host not allowed"); `strict` shares
 * the patterned server's store without the patterns (a policy tightened after registration).
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.1.3
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { loadSettings } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { REGISTRATIONS_PER_MINUTE } from '../oauth/register.ts';
import { createMemoryStore } from '../store/memory.ts';
import {
  answer,
  authorization,
  CALLBACK,
  CLEAN_DESCRIPTION,
  expectErrorPage,
  expectOAuthError,
  HttpAgent,
  jsonOf,
  lastSeq,
  openConsent,
  providerOf,
  REGISTRATION_ERRORS,
  redeem,
  registerClient,
  registerRaw,
  signIn,
  startMock,
  startServer,
  stopListening,
  type Target,
  TestClock,
  TOKEN_ERRORS,
  tokenRequest,
  upstreamRequests,
} from './harness.ts';

const SECRET = 'security-edges-shared-sealing-secret-0123456789';
const APP = 'https://app.example/cb';

let mock: RunningMockIdp;
let open: Target;
let patterned: Target;
let strict: Target;

beforeAll(async () => {
  mock = await startMock();
  open = await startServer(mock, 'github');
  const clock = new TestClock();
  const shared = createMemoryStore({ now: clock.now });
  patterned = await startServer(mock, 'github', {
    store: shared,
    clock,
    overrides: {
      'server.secret': SECRET,
      'registration.redirect_uri_patterns': [`${APP}/*`, APP],
    },
  });
  strict = await startServer(mock, 'github', {
    store: shared,
    clock,
    seed: false,
    overrides: { 'server.secret': SECRET },
  });
});
afterAll(async () => {
  await open.stop();
  await stopListening(patterned);
  await strict.stop();
  await mock.stop();
});

/** Registration must fail with 400 invalid_redirect_uri, and no client may exist afterwards. */
async function expectRefusedAtDcr(target: Target, uri: string, reason?: RegExp) {
  const before = await target.store.countClients();
  const a = await registerRaw(target, { redirect_uris: [uri], token_endpoint_auth_method: 'none' });
  const body = expectOAuthError(a, 400, 'invalid_redirect_uri', REGISTRATION_ERRORS);
  if (reason) expect(body['error_description']).toMatch(reason);
  expect(body).not.toHaveProperty('client_secret');
  expect(await target.store.countClients()).toBe(before);
}

describe('edge 6: the DCR response never carries the upstream client credentials', () => {
  for (const method of ['none', 'client_secret_basic', 'client_secret_post']) {
    it(`${method}: neither the GitHub client_id nor its secret appears in the response`, async () => {
      const upstream = providerOf(mock, 'github').client;
      const a = await registerRaw(open, { redirect_uris: [CALLBACK], token_endpoint_auth_method: method });
      expect(a.status).toBe(201);
      const headers = [...a.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
      for (const secret of [upstream.client_id, upstream.client_secret!]) {
        expect(a.body).not.toContain(secret);
        expect(headers).not.toContain(secret);
      }
      const body = jsonOf(a);
      expect(body['client_id']).toMatch(/^mcp_/);
      if (method === 'none') expect(body).not.toHaveProperty('client_secret');
      else expect(body['client_secret']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });
  }

  it('nor do the metadata documents', async () => {
    const upstream = providerOf(mock, 'github').client;
    for (const path of [
      '/.well-known/oauth-authorization-server',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const text = await (await fetch(`${open.url}${path}`)).text();
      expect(text).not.toContain(upstream.client_id);
      expect(text).not.toContain(upstream.client_secret!);
    }
  });
});

describe('edge 7: no permissive default pattern', () => {
  it('refuses https://evil.example/cb under the default configuration', async () => {
    await expectRefusedAtDcr(open, 'https://evil.example/cb', /not allowed by this server/);
  });

  it('refuses a wildcard URI outright', async () => {
    await expectRefusedAtDcr(open, 'https://*/cb', /wildcard/);
  });

  it('will not even load a configuration with the pattern https://*', () => {
    for (const pattern of ['https://*', 'https://*/*', 'http://*.example.com/cb']) {
      expect(() =>
        loadSettings({
          env: {},
          overrides: { auth: 'in-memory', 'registration.redirect_uri_patterns': [pattern] },
        }),
      ).toThrow(ConfigError);
    }
  });
});

describe('edge 8: userinfo cannot smuggle another host past the check', () => {
  for (const uri of [
    'http://localhost:1@evil.example/cb',
    'http://127.0.0.1@evil.example/cb',
    'http://127.0.0.1:7777@evil.example/cb',
    'https://app.example@evil.example/cb',
    'https://user:pass@app.example/cb',
  ]) {
    it(`refuses ${uri}`, async () => {
      await expectRefusedAtDcr(open, uri);
      await expectRefusedAtDcr(patterned, uri);
    });
  }
});

describe('edge 9: no dot segments through a wildcard path', () => {
  it('accepts a path under the pattern (control)', async () => {
    const client = await registerClient(patterned, { redirect_uris: [`${APP}/ok`] });
    expect(client.redirect_uris).toEqual([`${APP}/ok`]);
  });

  for (const uri of [
    `${APP}/%2e%2e/steal`,
    `${APP}/%2E%2E/steal`,
    `${APP}/.%2e/steal`,
    `${APP}/../steal`,
    `${APP}/./x`,
    `${APP}/%2f..%2fsteal`,
    'http://127.0.0.1:7777/cb/%2e%2e/steal',
  ]) {
    it(`refuses ${uri}`, async () => {
      await expectRefusedAtDcr(patterned, uri, /dot segment|encoded/);
    });
  }
});

describe('edge 10: dangerous schemes and plain http to remote hosts', () => {
  for (const uri of [
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    ' JavaScript:alert(1)',
    'java\tscript:alert(1)',
    'javascript\n:alert(1)',
    'javascript:alert(1)\u0000',
    'data:text/html,<script>alert(1)</script>',
    'DATA:text/html;base64,PHNjcmlwdD4=',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
    'http://evil.example/cb',
    'HTTP://evil.example/cb',
    'http://app.example/cb',
    'http://10.0.0.1/cb',
  ]) {
    it(`refuses ${JSON.stringify(uri)}`, async () => {
      await expectRefusedAtDcr(open, uri);
      await expectRefusedAtDcr(patterned, uri);
    });
  }
});

describe('edge 11: no fragments', () => {
  for (const uri of ['http://127.0.0.1:7777/cb#frag', 'http://127.0.0.1:7777/cb#', `${APP}#x`]) {
    it(`refuses ${uri}`, async () => {
      await expectRefusedAtDcr(patterned, uri, /fragment/);
    });
  }
});

describe('edge 12: the allow-list holds at registration, /authorize and /token', () => {
  it('refuses at /authorize an unregistered URI with an error page, never a redirect', async () => {
    const since = lastSeq(mock);
    const client = await registerClient(open);
    const auth = authorization(open, client, { redirect_uri: 'https://evil.example/cb' });
    const res = await new HttpAgent().request(auth.url);
    expectErrorPage(res, 400, 'invalid_request');
    expect(res.body).not.toContain('evil.example');
    expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
  });

  it('refuses at /authorize a URI registered before the policy was tightened', async () => {
    const client = await registerClient(patterned, { redirect_uris: [APP] });
    // The patterned server still accepts it (control) ...
    const ok = await new HttpAgent().request(authorization(patterned, client).url);
    expect(ok.status).toBe(200);
    // ... the same client at a server whose policy no longer allows the host gets an error page.
    const res = await new HttpAgent().request(authorization(strict, client).url);
    expectErrorPage(res, 400, 'invalid_request');
    expect(res.body).toContain('not allowed by this server');
  });

  it('refuses at /token a redirect_uri other than the one the code was issued for', async () => {
    const client = await registerClient(open, { redirect_uris: [CALLBACK, 'http://127.0.0.1:7777/other'] });
    const s = await signIn(open, client, 'alice', { extra: { redirect_uri: CALLBACK } });
    for (const wrong of ['http://127.0.0.1:7777/other', 'https://evil.example/cb', undefined]) {
      expectOAuthError(await redeem(open, s, { redirect_uri: wrong }), 400, 'invalid_grant');
    }
    expect((await redeem(open, s)).status).toBe(200);
  });

  it('refuses at /token a code whose redirect URI the policy no longer allows', async () => {
    const client = await registerClient(patterned, { redirect_uris: [APP] });
    const s = await signIn(patterned, client, 'alice');
    expect(s.back.origin + s.back.pathname).toBe(APP);
    expectOAuthError(await redeem(strict, s, { resource: undefined }), 400, 'invalid_grant');
    // The code was not spent by the refusal: the server that issued it still redeems it.
    expect((await redeem(patterned, s, { resource: undefined })).status).toBe(200);
  });
});

describe('edge 13: exact redirect URI matching; loopback may vary the port only', () => {
  const mutations = [
    ['a trailing slash', 'http://127.0.0.1:7777/cb/'],
    ['another path', 'http://127.0.0.1:7777/cb2'],
    ['a case change in the path', 'http://127.0.0.1:7777/CB'],
    ['an added query', 'http://127.0.0.1:7777/cb?x=1'],
    ['https instead of http', 'https://127.0.0.1:7777/cb'],
    ['an upper-case scheme', 'HTTP://127.0.0.1:7777/cb'],
    ['another loopback host name', 'http://localhost:7777/cb'],
    ['the IPv6 loopback instead', 'http://[::1]:7777/cb'],
  ] as const;
  for (const [label, uri] of mutations) {
    it(`refuses ${label} (${uri}) with an error page`, async () => {
      const since = lastSeq(mock);
      const client = await registerClient(open);
      const res = await new HttpAgent().request(authorization(open, client, { redirect_uri: uri }).url);
      expectErrorPage(res, 400, 'invalid_request');
      expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
    });
  }

  for (const [label, uri] of [
    ['a host case change', 'https://APP.example/cb'],
    ['the explicit default port', 'https://app.example:443/cb'],
    ['a trailing slash', 'https://app.example/cb/'],
    ['a sub-path the pattern would allow but the client never registered', 'https://app.example/cb/x'],
  ] as const) {
    it(`refuses for a registered https URI ${label} (${uri})`, async () => {
      const client = await registerClient(patterned, { redirect_uris: [APP] });
      const res = await new HttpAgent().request(authorization(patterned, client, { redirect_uri: uri }).url);
      expectErrorPage(res, 400, 'invalid_request');
    });
  }

  it('refuses a mutated custom-scheme URI', async () => {
    const registered = 'cursor://anysphere.cursor-retrieval/oauth/callback';
    const client = await registerClient(open, { redirect_uris: [registered] });
    for (const uri of [
      `${registered}2`,
      'Cursor://anysphere.cursor-retrieval/oauth/callback',
      `${registered}/`,
    ]) {
      const res = await new HttpAgent().request(authorization(open, client, { redirect_uri: uri }).url);
      expectErrorPage(res, 400, 'invalid_request');
    }
  });

  it('accepts the registered loopback URI on another port (RFC 8252 7.3)', async () => {
    const client = await registerClient(open);
    const res = await new HttpAgent().request(
      authorization(open, client, { redirect_uri: 'http://127.0.0.1:51234/cb' }).url,
    );
    expect(res.status).toBe(200);
    expect(res.body).toContain('<code id="redirect-uri">http://127.0.0.1:51234/cb</code>');
  });
});

describe('edge 14: the code goes only to the exact URI sent to /authorize', () => {
  it('sends the code to the loopback port the request named, and binds it to that URI at /token', async () => {
    const client = await registerClient(open);
    const requested = 'http://127.0.0.1:51234/cb';
    const s = await signIn(open, client, 'alice', { extra: { redirect_uri: requested } });
    expect(`${s.back.origin}${s.back.pathname}`).toBe(requested);
    expect([...s.back.searchParams.keys()].sort()).toEqual(['code', 'iss', 'state']);
    // The registered URI (another port) is not the one the code was sent to.
    expectOAuthError(await redeem(open, s, { redirect_uri: CALLBACK }), 400, 'invalid_grant');
    expect((await redeem(open, s)).status).toBe(200);
  });

  it('ignores a redirect_uri smuggled into the consent POST or the upstream callback', async () => {
    const client = await registerClient(open);
    const auth = authorization(open, client);
    const agent = new HttpAgent();
    const { form } = await openConsent(agent, auth.url);
    mock.idp.nextLogin('alice', { provider: 'github' });
    const evil = 'http://127.0.0.1:6666/evil';
    const callback = `${open.url}/oauth/callback`;
    const approved = await agent.submit(
      form,
      { name: 'action', value: 'approve' },
      { fields: { redirect_uri: evil }, stopAt: (u) => u.startsWith(`${callback}?`) },
    );
    const tampered = new URL(approved.stoppedAt!);
    tampered.searchParams.set('redirect_uri', evil);
    const done = await agent.navigate(tampered.toString(), {
      stopAt: (u) => u.startsWith('http://127.0.0.1:') && !u.startsWith(open.url),
    });
    const back = new URL(done.stoppedAt!);
    expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(done.stoppedAt).not.toContain('6666');
  });
});

describe('edge 15: open registration is bounded', () => {
  let limited: Target;
  let clock: TestClock;
  beforeAll(async () => {
    clock = new TestClock();
    limited = await startServer(mock, 'github', {
      clock,
      overrides: { 'registration.client_ttl': 3600 },
    });
  });
  afterAll(() => limited.stop());

  it(`answers 429 once a burst passes ${REGISTRATIONS_PER_MINUTE} registrations a minute`, async () => {
    const burst = await Promise.all(
      Array.from({ length: REGISTRATIONS_PER_MINUTE + 5 }, () =>
        registerRaw(limited, { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' }),
      ),
    );
    const statuses = burst.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(REGISTRATIONS_PER_MINUTE);
    const refused = burst.filter((a) => a.status === 429);
    expect(refused).toHaveLength(5);
    for (const a of refused) {
      expect(a.headers.get('retry-after')).toBe('60');
      // RFC 7591 registers no error code for rate limiting; the status and Retry-After say it.
      const body = jsonOf(a);
      expect(body['error']).toBe('too_many_requests');
      expect(body['error_description']).toMatch(CLEAN_DESCRIPTION);
      expect(body).not.toHaveProperty('client_id');
    }
    expect(await limited.store.countClients()).toBe(REGISTRATIONS_PER_MINUTE);
    // A minute later the budget is back.
    clock.advance(61);
    expect(
      (await registerRaw(limited, { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' })).status,
    ).toBe(201);
  });

  it('registrations expire (client_secret_expires_at), and an expired client is refused everywhere', async () => {
    const client = await registerClient(limited, { token_endpoint_auth_method: 'client_secret_basic' });
    expect(client.client_secret_expires_at).toBe(client.client_id_issued_at + 3600);
    const s = await signIn(limited, client);
    clock.advance(3601);
    const res = await new HttpAgent().request(authorization(limited, client).url);
    expectErrorPage(res, 400, 'invalid_client');
    const a = await redeem(limited, s);
    expectOAuthError(a, 401, 'invalid_client');
    expect(await limited.store.getClient(client.client_id)).toBeUndefined();
  });

  it('bounds the number of stored clients (registration.max_clients)', async () => {
    const bounded = await startServer(mock, 'github', { overrides: { 'registration.max_clients': 2 } });
    try {
      await registerClient(bounded);
      await registerClient(bounded);
      const a = await registerRaw(bounded, { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' });
      expect(a.status).toBe(429);
      expect(jsonOf(a)).not.toHaveProperty('client_id');
      expect(await bounded.store.countClients()).toBe(2);
    } finally {
      await bounded.stop();
    }
  });
});

describe('edge 16: Client ID Metadata Documents are not supported, so a URL client_id is refused unfetched', () => {
  let probe: Server;
  let hits = 0;
  let probeUrl: string;
  beforeAll(async () => {
    probe = createServer((req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client_id: `${probeUrl}`, redirect_uris: [CALLBACK] }));
      req.resume();
    });
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/client.json`;
  });
  afterAll(() => new Promise<void>((resolve) => probe.close(() => resolve())));

  it('says client_id_metadata_document_supported: false in its metadata', async () => {
    const meta = jsonOf(await answer(await fetch(`${open.url}/.well-known/oauth-authorization-server`)));
    expect(meta['client_id_metadata_document_supported']).toBe(false);
  });

  it('refuses URL client_ids at /authorize with an error page and never fetches them', async () => {
    const since = lastSeq(mock);
    for (const clientId of [
      probeUrl,
      'http://169.254.169.254/latest/meta-data/client.json',
      'http://10.0.0.1/client.json',
      'https://client.example/metadata.json',
    ]) {
      const url = `${open.url}/authorize?${new URLSearchParams({
        client_id: clientId,
        redirect_uri: CALLBACK,
        response_type: 'code',
        code_challenge: 'x'.repeat(43),
        code_challenge_method: 'S256',
      })}`;
      const res = await new HttpAgent().request(url);
      expectErrorPage(res, 400, 'invalid_client');
    }
    expect(hits).toBe(0);
    expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
  });

  it('refuses a URL client_id at /token (401 invalid_client) without fetching it', async () => {
    const a = await tokenRequest(open, {
      grant_type: 'authorization_code',
      code: 'x',
      code_verifier: 'y'.repeat(43),
      client_id: probeUrl,
      redirect_uri: CALLBACK,
    });
    expectOAuthError(a, 401, 'invalid_client', TOKEN_ERRORS);
    expect(hits).toBe(0);
  });
});
