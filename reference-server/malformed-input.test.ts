/**
 * Malformed input at every endpoint of the reference server: wrong methods, bad JSON, wrong
 * content types, missing and repeated parameters, 2 MB bodies, unknown clients, garbage tokens,
 * control characters and very long values. Every answer must be shaped as its RFC says, never a
 * 5xx, and the server must keep answering normal requests:
 * - token, revocation and registration endpoints: JSON `{error, error_description}` with a
 *   registered code (RFC 6749 5.2, RFC 7009 2.2.1, RFC 7591 3.2.2, RFC 8707 2) and a description
 *   of the characters RFC 6749 5.2 allows, `Cache-Control: no-store`;
 * - browser endpoints (authorize, consent, upstream callback, login): an HTML error page and no
 *   redirect while the redirect URI cannot be trusted (RFC 6749 4.1.2.1); once client and
 *   redirect URI are verified, the error goes to the client with `state` (4.1.2.1);
 * - the MCP endpoint: the bearer challenge (RFC 6750 3, RFC 9728 5.1);
 * - every 405 carries `Allow` (RFC 9110 15.5.6).
 * The github backend runs on SQLite (what a deployment uses); the in-memory backend serves /login.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderDescription } from '../mock-idp/app.ts';
import { loadPersonas } from '../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';
import { HttpAgent, parseForms } from '../runner/agent/http.ts';
import { loadSettings } from './config.ts';
import type { Logger } from './log.ts';
import { mockIdpOverrides } from './mock-wiring.ts';
import { type RunningReferenceServer, startReferenceServer } from './server.ts';
import { createMemoryStore } from './store/memory.ts';
import { openSqliteStore } from './store/sqlite.ts';
import { seedUsers } from './users/seed.ts';

const CALLBACK = 'http://127.0.0.1:7777/cb';
const TWO_MB = 'a'.repeat(2 * 1024 * 1024);
/** Long, but under Node's 16 KiB header limit, so the application sees it. */
const LONG = 'x'.repeat(8000);
const CONTROL = '\u0000\u0001\u0007\u001b[31m\r\n\t\u007f\u0085\u2028';

/** Error codes registered for each kind of endpoint. */
const TOKEN_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
];
const REVOKE_ERRORS = [...TOKEN_ERRORS, 'unsupported_token_type'];
const REGISTER_ERRORS = [
  'invalid_request',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
];
const PAGE_ERRORS = ['invalid_request', 'invalid_client', 'access_denied', 'server_error', 'not_found'];
const BEARER_ERRORS = ['invalid_request', 'invalid_token', 'insufficient_scope'];
/** RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

const personas = loadPersonas();
let mock: RunningMockIdp;
let providers: ProviderDescription[];
let github: RunningReferenceServer;
let inMemory: RunningReferenceServer;
let dataDir: string;
/** Errors the server logged (a handler that threw becomes `request.failed` and a 500). */
const failures: string[] = [];
const capture: Logger = {
  log(level, event, fields) {
    if (level === 'error') failures.push(`${event} ${JSON.stringify(fields)}`);
  },
};

let publicClient: string;
let confidential: { id: string; secret: string };
let accessToken: string;
let refreshToken: string;

beforeAll(async () => {
  mock = await startMockIdp();
  providers = mock.idp.describe({ mode: 'path', origin: mock.url });
  dataDir = mkdtempSync(join(tmpdir(), 'mcc-malformed-'));
  const seeding = openSqliteStore({ dataDir });
  await seedUsers(seeding, personas);
  await seeding.close();
  github = await startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: {
          ...mockIdpOverrides('github', providers, { baseUrl }),
          server: { storage: 'sqlite', data_dir: dataDir },
        },
      }),
    { log: capture },
  );
  const memoryStore = createMemoryStore();
  await seedUsers(memoryStore, personas);
  inMemory = await startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: { auth: 'in-memory', oauth: { base_url: baseUrl }, server: { storage: 'memory' } },
      }),
    { store: memoryStore, log: capture },
  );
  publicClient = (await registerClient(github, { token_endpoint_auth_method: 'none' })).client_id;
  const conf = await registerClient(github, { token_endpoint_auth_method: 'client_secret_basic' });
  confidential = { id: conf.client_id, secret: conf.client_secret! };
  const tokens = await signIn(github, publicClient);
  accessToken = tokens.access_token;
  refreshToken = tokens.refresh_token;
});

afterAll(async () => {
  await github?.stop();
  await inMemory?.stop();
  await mock?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

async function registerClient(
  server: RunningReferenceServer,
  extra: Record<string, unknown>,
): Promise<{ client_id: string; client_secret?: string }> {
  const res = await fetch(`${server.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: [CALLBACK], client_name: 'Malformed', ...extra }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { client_id: string; client_secret?: string };
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(server: RunningReferenceServer, params: Record<string, string>): string {
  return `${server.url}/authorize?${new URLSearchParams(params)}`;
}

function goodAuthorizeParams(clientId: string, challenge = pkce().challenge): Record<string, string> {
  return {
    client_id: clientId,
    redirect_uri: CALLBACK,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
    resource: github.mcpUrl,
  };
}

/** The consent page of a fresh authorization request: the agent (with its cookies) and the form. */
async function consentForm(clientId: string) {
  const agent = new HttpAgent();
  const nav = await agent.navigate(authorizeUrl(github, goodAuthorizeParams(clientId)));
  expect(nav.final?.status).toBe(200);
  const form = parseForms(nav.final!.body, nav.final!.url)[0]!;
  expect(form.fields['txn']).toBeTruthy();
  return { agent, form };
}

/** The whole github flow for alice: our tokens. */
async function signIn(server: RunningReferenceServer, clientId: string) {
  const { verifier, challenge } = pkce();
  const agent = new HttpAgent();
  const nav = await agent.navigate(authorizeUrl(server, goodAuthorizeParams(clientId, challenge)));
  const form = parseForms(nav.final!.body, nav.final!.url)[0]!;
  mock.idp.nextLogin('alice', { provider: 'github' });
  const done = await agent.submit(
    form,
    { name: 'action', value: 'approve' },
    { stopAt: (u) => u.startsWith(CALLBACK) },
  );
  const code = new URL(done.stoppedAt!).searchParams.get('code')!;
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: CALLBACK,
    }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; refresh_token: string };
}

async function expectOAuthError(
  res: Response,
  codes: readonly string[],
  status?: number,
): Promise<{ error: string; error_description: string }> {
  const text = await res.text();
  expect(res.status, text.slice(0, 200)).toBeGreaterThanOrEqual(400);
  expect(res.status, text.slice(0, 200)).toBeLessThan(500);
  if (status !== undefined) expect(res.status, text.slice(0, 200)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = JSON.parse(text) as { error: string; error_description: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(codes).toContain(body.error);
  expect(body.error_description).toMatch(DESCRIPTION);
  if (res.status === 405) expect(res.headers.get('allow')).toBeTruthy();
  return body;
}

async function expectErrorPage(res: Response, status?: number, code?: string): Promise<string> {
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBeGreaterThanOrEqual(400);
  expect(res.status, text.slice(0, 300)).toBeLessThan(500);
  if (status !== undefined) expect(res.status, text.slice(0, 300)).toBe(status);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  const shown = text.match(/<strong id="error">([^<]*)<\/strong>/)?.[1];
  expect(PAGE_ERRORS).toContain(shown);
  if (code !== undefined) expect(shown).toBe(code);
  if (res.status === 405) expect(res.headers.get('allow')).toBeTruthy();
  return text;
}

/** The 302 an authorization error sends to a verified redirect URI (RFC 6749 4.1.2.1). */
function expectErrorRedirect(res: Response, error: string, state = 'st'): URL {
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
  expect(location.searchParams.get('error')).toBe(error);
  expect(location.searchParams.get('error_description')).toMatch(DESCRIPTION);
  expect(location.searchParams.get('state')).toBe(state);
  expect(location.searchParams.get('iss')).toBe(github.url);
  expect(location.searchParams.get('code')).toBeNull();
  return location;
}

async function expectChallenge(res: Response, status: number, error?: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text.slice(0, 200)).toBe(status);
  const challenge = res.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge).toContain(`resource_metadata="${github.url}/.well-known/oauth-protected-resource/mcp"`);
  const body = JSON.parse(text) as { error: string; error_description: string };
  expect(BEARER_ERRORS).toContain(body.error);
  if (error === undefined) expect(challenge).not.toContain('error=');
  else {
    expect(challenge).toContain(`error="${error}"`);
    expect(body.error).toBe(error);
  }
  // RFC 6750 3: auth-param values are quoted strings of printable ASCII.
  expect(challenge).toMatch(/^[\x20-\x7e]+$/);
}

function mcpCall(token: string | undefined, init: RequestInit & { headers?: Record<string, string> } = {}) {
  return fetch(github.mcpUrl, {
    method: 'POST',
    ...init,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers ?? {}),
    },
    body:
      init.body ??
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'whoami', arguments: {} },
      }),
  });
}

async function whoamiUser(token: string): Promise<string> {
  const res = await mcpCall(token);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { result: { structuredContent: { user: { id: string } } } };
  return body.result.structuredContent.user.id;
}

function tokenRequest(body: URLSearchParams | string, headers: Record<string, string> = {}) {
  return fetch(`${github.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : body.toString(),
  });
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

interface RawAnswer {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * One raw HTTP/1.1 exchange over a socket, for what fetch refuses to send (control characters in
 * header values, a malformed request line). The request should say `Connection: close`.
 */
function rawHttp(port: number, bytes: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const split = received.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = received.slice(0, split < 0 ? undefined : split).split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      let body = split < 0 ? '' : received.slice(split + 4);
      if (headers.get('transfer-encoding') === 'chunked') {
        let out = '';
        for (let at = 0; ; ) {
          const eol = body.indexOf('\r\n', at);
          const size = Number.parseInt(body.slice(at, eol), 16);
          if (!(size > 0)) break;
          out += body.slice(eol + 2, eol + 2 + size);
          at = eol + 2 + size + 2;
        }
        body = out;
      }
      resolve({ statusLine, status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.end(bytes, 'latin1');
  });
}

/** A raw POST to /mcp with one extra header line, as sent (Latin-1 bytes). */
function rawMcp(headerLine: string): Promise<RawAnswer> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  return rawHttp(
    Number(new URL(github.url).port),
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\n${headerLine}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

// ---------------------------------------------------------------------------------------------

describe('metadata, protected resource metadata and JWKS', () => {
  const paths = () => [
    '/.well-known/oauth-authorization-server',
    '/.well-known/oauth-protected-resource/mcp',
    '/.well-known/oauth-protected-resource',
    '/.well-known/jwks.json',
  ];

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    it(`refuses ${method} with 405 invalid_request and Allow: GET, HEAD`, async () => {
      for (const path of paths()) {
        const res = await fetch(`${github.url}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: method === 'DELETE' ? null : '{"issuer":"https://evil.example"}',
        });
        expect(res.headers.get('allow'), path).toBe('GET, HEAD');
        await expectOAuthError(res, ['invalid_request'], 405);
      }
    });
  }

  it('ignores garbage query parameters and answers the documents', async () => {
    for (const path of paths()) {
      const res = await fetch(
        `${github.url}${path}?issuer=https://evil.example&x=${encodeURIComponent(CONTROL)}`,
      );
      expect(res.status, path).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(JSON.stringify(body)).not.toContain('evil.example');
    }
    const meta = (await (await fetch(`${github.url}/.well-known/oauth-authorization-server`)).json()) as {
      issuer: string;
    };
    expect(meta.issuer).toBe(github.url);
  });

  it('answers HEAD with 200 and no body', async () => {
    const res = await fetch(`${github.url}/.well-known/jwks.json`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('answers an unknown path with a JSON 404, long and control-character paths included', async () => {
    for (const path of [
      '/nope',
      `/${'p'.repeat(8000)}`,
      '/%00%0d%0a',
      '/.well-known/oauth-authorization-server/x',
    ]) {
      const res = await fetch(`${github.url}${path}`);
      expect(res.status, path.slice(0, 40)).toBe(404);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error).toBe('not_found');
      expect(body.error_description.length).toBeLessThan(200);
    }
  });
});

describe('POST /register', () => {
  const post = (body: string | Blob, contentType: string | null = 'application/json') =>
    fetch(`${github.url}/register`, {
      method: 'POST',
      headers: contentType !== null ? { 'content-type': contentType } : {},
      body,
    });

  for (const method of ['GET', 'PUT', 'DELETE']) {
    it(`refuses ${method} with 405 and Allow: POST`, async () => {
      const res = await fetch(`${github.url}/register`, { method });
      expect(res.headers.get('allow')).toBe('POST');
      await expectOAuthError(res, ['invalid_request'], 405);
    });
  }

  it('refuses a body that is not JSON by content type', async () => {
    const ok = JSON.stringify({ redirect_uris: [CALLBACK] });
    // Without a Content-Type, fetch labels a string body text/plain; a typeless Blob goes without one.
    for (const [body, type] of [
      [new Blob([ok]), null],
      [ok, 'text/plain'],
      [ok, 'application/x-www-form-urlencoded'],
      [ok, 'application/jsonx'],
      [ok, 'multipart/form-data; boundary=x'],
    ] as const) {
      const answer = await expectOAuthError(await post(body, type), REGISTER_ERRORS, 400);
      expect(answer.error).toBe('invalid_client_metadata');
    }
  });

  it('refuses bad JSON and JSON that is not an object', async () => {
    for (const text of [
      '',
      '{',
      '{"redirect_uris":',
      'null',
      '[]',
      '"x"',
      '42',
      'true',
      '{"a":1}}',
      '\u0000{}',
    ]) {
      const body = await expectOAuthError(await post(text), REGISTER_ERRORS, 400);
      expect(body.error, text).toBe('invalid_client_metadata');
    }
  });

  it('refuses a 2 MB body with 413', async () => {
    const res = await post(JSON.stringify({ redirect_uris: [CALLBACK], client_name: TWO_MB }));
    await expectOAuthError(res, REGISTER_ERRORS, 413);
  });

  it('refuses missing, empty, mistyped, oversized and hostile redirect_uris', async () => {
    const cases: unknown[] = [
      undefined,
      [],
      CALLBACK,
      [42],
      [null],
      [{ uri: CALLBACK }],
      [`${CALLBACK}${CONTROL}`],
      [`http://127.0.0.1:7777/${'a'.repeat(3000)}`],
      ['javascript:alert(1)//'],
      ['https://evil.example/cb'],
      ['http://127.0.0.1:7777/cb#frag'],
      [`http://127.0.0.1:7777/cb\r\nSet-Cookie: x=1`],
      Array.from({ length: 21 }, (_, i) => `http://127.0.0.1:7777/cb${i}`),
    ];
    for (const uris of cases) {
      const body = await expectOAuthError(
        await post(JSON.stringify(uris === undefined ? {} : { redirect_uris: uris })),
        REGISTER_ERRORS,
        400,
      );
      expect(body.error, String(JSON.stringify(uris)).slice(0, 80)).toBe('invalid_redirect_uri');
    }
  });

  it('refuses mistyped and oversized metadata fields', async () => {
    const cases: Record<string, unknown>[] = [
      { token_endpoint_auth_method: 'private_key_jwt' },
      { token_endpoint_auth_method: 42 },
      { grant_types: 'authorization_code' },
      { grant_types: ['implicit'] },
      { grant_types: [] },
      { response_types: ['token'] },
      { client_name: 42 },
      { client_name: 'n'.repeat(513) },
      { scope: ['mcp'] },
      { client_uri: { href: 'x' } },
      { contacts: 'admin@example.com' },
      { contacts: [{ deep: { nested: true } }] },
      { contacts: Array.from({ length: 11 }, (_, i) => `c${i}@example.com`) },
    ];
    for (const extra of cases) {
      const body = await expectOAuthError(
        await post(JSON.stringify({ redirect_uris: [CALLBACK], ...extra })),
        REGISTER_ERRORS,
        400,
      );
      expect(body.error, JSON.stringify(extra)).toBe('invalid_client_metadata');
    }
  });

  it('keeps control characters and markup of client_name inert on the consent page', async () => {
    const name = `<script>alert(1)</script>${CONTROL}`;
    const client = await registerClient(github, { token_endpoint_auth_method: 'none', client_name: name });
    const res = await fetch(authorizeUrl(github, goodAuthorizeParams(client.client_id)));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

describe('GET /authorize', () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    it(`refuses ${method} with a 405 error page and Allow: GET`, async () => {
      const res = await fetch(authorizeUrl(github, goodAuthorizeParams(publicClient)), { method });
      expect(res.headers.get('allow')).toBe('GET');
      await expectErrorPage(res, 405, 'invalid_request');
    });
  }

  it('shows an error page, never a redirect, for a missing, unknown, long or control-character client_id', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ redirect_uri: CALLBACK, response_type: 'code' }, 'invalid_request'],
      [{ client_id: '', redirect_uri: CALLBACK }, 'invalid_request'],
      [{ client_id: 'mcp_unknown', redirect_uri: CALLBACK }, 'invalid_client'],
      [{ client_id: LONG, redirect_uri: CALLBACK }, 'invalid_client'],
      [{ client_id: CONTROL, redirect_uri: CALLBACK }, 'invalid_client'],
      [{ client_id: "' OR 1=1 --", redirect_uri: CALLBACK }, 'invalid_client'],
    ];
    for (const [params, code] of cases) {
      await expectErrorPage(await fetch(authorizeUrl(github, params), { redirect: 'manual' }), 400, code);
    }
  });

  it('shows an error page for a redirect_uri it cannot trust, hostile ones included', async () => {
    for (const uri of [
      'https://evil.example/cb',
      `${CALLBACK}/other`,
      `${CALLBACK}\r\nSet-Cookie: x=1`,
      `${CALLBACK}${CONTROL}`,
      `http://127.0.0.1:7777/${'a'.repeat(3000)}`,
      'javascript:alert(1)//',
      '',
    ]) {
      const params = { ...goodAuthorizeParams(publicClient), redirect_uri: uri };
      await expectErrorPage(
        await fetch(authorizeUrl(github, params), { redirect: 'manual' }),
        400,
        'invalid_request',
      );
    }
  });

  it('refuses any repeated parameter with an error page', async () => {
    for (const name of ['client_id', 'redirect_uri', 'state', 'code_challenge', 'response_type']) {
      const url = `${authorizeUrl(github, goodAuthorizeParams(publicClient))}&${name}=again`;
      const html = await expectErrorPage(await fetch(url, { redirect: 'manual' }), 400, 'invalid_request');
      expect(html).toContain(`&#34;${name}&#34; is repeated`);
    }
  });

  it('sends errors after client and redirect URI are verified to the client, with state', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ response_type: '' }, 'unsupported_response_type'],
      [{ code_challenge: '' }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge: LONG }, 'invalid_request'],
      [{ code_challenge: `${'a'.repeat(42)}\u0000` }, 'invalid_request'],
      [{ resource: 'https://evil.example/mcp' }, 'invalid_target'],
      [{ resource: CONTROL }, 'invalid_target'],
      [{ scope: `mcp ${CONTROL}` }, 'invalid_scope'],
      [{ scope: LONG }, 'invalid_scope'],
    ];
    for (const [override, error] of cases) {
      const res = await fetch(authorizeUrl(github, { ...goodAuthorizeParams(publicClient), ...override }), {
        redirect: 'manual',
      });
      expectErrorRedirect(res, error);
    }
  });

  it('returns a long state with control characters unchanged and safely encoded', async () => {
    const state = `${'s'.repeat(4000)}${CONTROL}\r\nSet-Cookie: x=1`;
    const res = await fetch(
      authorizeUrl(github, { ...goodAuthorizeParams(publicClient), state, response_type: 'token' }),
      { redirect: 'manual' },
    );
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('location')).toMatch(/^[\x21-\x7e]+$/);
    expectErrorRedirect(res, 'unsupported_response_type', state);
  });

  it('tolerates invalid percent-encoding and non-UTF-8 bytes in the query', async () => {
    const res = await fetch(`${github.url}/authorize?client_id=%ff%fe%zz&redirect_uri=%`, {
      redirect: 'manual',
    });
    await expectErrorPage(res, 400, 'invalid_client');
  });
});

describe('POST /consent', () => {
  for (const method of ['GET', 'PUT', 'DELETE']) {
    it(`refuses ${method} with a 405 error page and Allow: POST`, async () => {
      const res = await fetch(`${github.url}/consent`, { method });
      expect(res.headers.get('allow')).toBe('POST');
      await expectErrorPage(res, 405, 'invalid_request');
    });
  }

  it('refuses a body that is not a form', async () => {
    for (const [type, body] of [
      ['application/json', '{"action":"approve"}'],
      ['text/plain', 'action=approve'],
      [undefined, 'action=approve'],
    ] as const) {
      const res = await fetch(`${github.url}/consent`, {
        method: 'POST',
        headers: type ? { 'content-type': type } : {},
        body,
      });
      await expectErrorPage(res, 400, 'invalid_request');
    }
  });

  it('refuses a 2 MB form with 413', async () => {
    const res = await fetch(`${github.url}/consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `txn=${TWO_MB}`,
    });
    await expectErrorPage(res, 413, 'invalid_request');
  });

  it('refuses a missing, unknown, long or control-character transaction', async () => {
    for (const body of [
      '',
      'action=approve',
      `txn=nope&csrf=x&action=approve`,
      `txn=${LONG}`,
      `txn=%00%0d%0a`,
    ]) {
      const res = await fetch(`${github.url}/consent`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      await expectErrorPage(res, 400, 'invalid_request');
    }
  });

  it('refuses repeated fields, a foreign origin, a wrong CSRF token and an unclear action', async () => {
    const { agent, form } = await consentForm(publicClient);
    const post = (body: string, headers: Record<string, string> = {}) =>
      agent.request(`${github.url}/consent`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    const fields = new URLSearchParams(form.fields);
    const expectPage = (
      r: { status: number; headers: Headers; body: string },
      status: number,
      code: string,
    ) => {
      expect(r.status, r.body.slice(0, 200)).toBe(status);
      expect(r.headers.get('location')).toBeNull();
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(r.body).toContain(`<strong id="error">${code}</strong>`);
    };
    expectPage(await post(`${fields}&action=approve&action=approve`), 400, 'invalid_request');
    expectPage(await post(`${fields}&txn=${form.fields['txn']}&action=approve`), 400, 'invalid_request');
    expectPage(
      await post(`${fields}&action=approve`, { origin: 'https://evil.example' }),
      403,
      'access_denied',
    );
    expectPage(
      await post(`${fields}&action=approve`, { 'sec-fetch-site': 'cross-site' }),
      403,
      'access_denied',
    );
    const wrongCsrf = new URLSearchParams({ ...form.fields, csrf: `${CONTROL}${LONG}`, action: 'approve' });
    expectPage(await post(wrongCsrf.toString()), 403, 'access_denied');
    expectPage(await post(`${fields}&action=${encodeURIComponent(CONTROL)}`), 400, 'invalid_request');
    expectPage(await post(fields.toString()), 400, 'invalid_request');
    // None of these answered the request: it can still be approved once.
    mock.idp.nextLogin('alice', { provider: 'github' });
    const done = await agent.submit(
      form,
      { name: 'action', value: 'approve' },
      { stopAt: (u) => u.startsWith(CALLBACK) },
    );
    expect(new URL(done.stoppedAt!).searchParams.get('code')).toBeTruthy();
  });
});

describe('GET /oauth/callback', () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    it(`refuses ${method} with a 405 error page and Allow: GET`, async () => {
      const res = await fetch(`${github.url}/oauth/callback?state=x&code=y`, { method });
      expect(res.headers.get('allow')).toBe('GET');
      await expectErrorPage(res, 405, 'invalid_request');
    });
  }

  it('shows an error page, never a redirect, for a missing, unknown, long or control-character state', async () => {
    for (const query of [
      '',
      'code=abc',
      'state=unknown&code=abc',
      `state=${LONG}&code=abc`,
      `state=${encodeURIComponent(CONTROL)}&code=${encodeURIComponent(CONTROL)}`,
      'state=unknown&error=access_denied&error_description=%0d%0a',
      'state=a&state=b&code=c&code=d',
    ]) {
      const res = await fetch(`${github.url}/oauth/callback?${query}`, { redirect: 'manual' });
      await expectErrorPage(res, 400, 'invalid_request');
    }
  });

  it('refuses a known state from a browser without the binding cookie', async () => {
    const { agent, form } = await consentForm(publicClient);
    const approved = await agent.request(`${github.url}/consent`, {
      method: 'POST',
      headers: { origin: github.url },
      body: new URLSearchParams({ ...form.fields, action: 'approve' }),
    });
    expect(approved.status).toBe(303);
    const upstream = new URL(approved.headers.get('location')!);
    const state = upstream.searchParams.get('state')!;
    const res = await fetch(`${github.url}/oauth/callback?state=${state}&code=garbage`, {
      redirect: 'manual',
    });
    await expectErrorPage(res, 403, 'access_denied');
    // With the cookie but a garbage upstream code: the upstream refuses, we show a page (no code).
    const bad = await agent.request(
      `${github.url}/oauth/callback?state=${state}&code=${encodeURIComponent(CONTROL)}`,
    );
    expect(bad.status).toBe(502);
    expect(bad.headers.get('location')).toBeNull();
    expect(bad.body).toContain('<strong id="error">server_error</strong>');
  });
});

describe('/login (in-memory backend) and its absence elsewhere', () => {
  it('is a 404 error page on a proxy backend', async () => {
    await expectErrorPage(await fetch(`${github.url}/login?txn=x`), 404, 'not_found');
  });

  it('refuses other methods with a 405 error page and Allow: GET, POST', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${inMemory.url}/login`, { method });
      expect(res.headers.get('allow')).toBe('GET, POST');
      await expectErrorPage(res, 405, 'invalid_request');
    }
  });

  it('refuses an unknown, long or control-character transaction on GET', async () => {
    for (const query of [
      '',
      'txn=nope',
      `txn=${LONG}`,
      `txn=${encodeURIComponent(CONTROL)}`,
      'txn=a&txn=b',
    ]) {
      await expectErrorPage(await fetch(`${inMemory.url}/login?${query}`), 400, 'invalid_request');
    }
  });

  it('refuses a non-form, oversized, foreign or CSRF-less POST', async () => {
    const post = (body: string, headers: Record<string, string>) =>
      fetch(`${inMemory.url}/login`, { method: 'POST', headers, body });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    await expectErrorPage(await post('{"persona":"alice"}', { 'content-type': 'application/json' }), 400);
    await expectErrorPage(await post(`txn=${TWO_MB}`, form), 413);
    await expectErrorPage(
      await post('txn=x&persona=alice', { ...form, origin: 'https://evil.example' }),
      403,
    );
    await expectErrorPage(await post('txn=x&persona=alice', form), 403, 'access_denied');
    await expectErrorPage(await post('txn=x&txn=y&persona=alice', form), 400, 'invalid_request');
    await expectErrorPage(await post(`txn=${encodeURIComponent(CONTROL)}&csrf=&persona=${LONG}`, form), 403);
  });
});

describe('POST /token', () => {
  for (const method of ['GET', 'PUT', 'DELETE']) {
    it(`refuses ${method} with 405 and Allow: POST`, async () => {
      const res = await fetch(`${github.url}/token?grant_type=authorization_code`, { method });
      expect(res.headers.get('allow')).toBe('POST');
      await expectOAuthError(res, TOKEN_ERRORS, 405);
    });
  }

  it('refuses a body that is not a form', async () => {
    for (const [type, body] of [
      ['application/json', JSON.stringify({ grant_type: 'refresh_token', refresh_token: refreshToken })],
      ['text/plain', `grant_type=refresh_token&client_id=${publicClient}`],
      [
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nx\r\n--x--',
      ],
    ] as const) {
      const body2 = await expectOAuthError(
        await tokenRequest(body, { 'content-type': type }),
        TOKEN_ERRORS,
        400,
      );
      expect(body2.error).toBe('invalid_request');
    }
  });

  it('refuses a 2 MB form with 413 invalid_request', async () => {
    const body = await expectOAuthError(await tokenRequest(`grant_type=x&pad=${TWO_MB}`), TOKEN_ERRORS, 413);
    expect(body.error).toBe('invalid_request');
  });

  it('refuses a missing or repeated grant_type with invalid_request', async () => {
    for (const form of [
      `client_id=${publicClient}`,
      `grant_type=refresh_token&grant_type=authorization_code&client_id=${publicClient}`,
      `grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=${publicClient}`,
      `client_id=${publicClient}&client_id=${publicClient}&grant_type=refresh_token`,
    ]) {
      const body = await expectOAuthError(await tokenRequest(form), TOKEN_ERRORS, 400);
      expect(body.error, form).toBe('invalid_request');
    }
  });

  it('refuses unknown clients, garbage Basic credentials and wrong secrets with 401 invalid_client', async () => {
    const cases: Array<[string, Record<string, string>, boolean]> = [
      [`grant_type=refresh_token&refresh_token=x`, {}, false],
      [`grant_type=refresh_token&refresh_token=x&client_id=mcp_unknown`, {}, false],
      [`grant_type=refresh_token&refresh_token=x&client_id=${encodeURIComponent(CONTROL)}`, {}, false],
      [`grant_type=refresh_token&refresh_token=x&client_id=${LONG}`, {}, false],
      ['grant_type=refresh_token&refresh_token=x', { authorization: 'Basic !!!notbase64' }, true],
      ['grant_type=refresh_token&refresh_token=x', { authorization: 'Basic Og==' }, true],
      [
        'grant_type=refresh_token&refresh_token=x',
        { authorization: `Basic ${Buffer.from('%zz:%zz').toString('base64')}` },
        true,
      ],
      ['grant_type=refresh_token&refresh_token=x', { authorization: basic(confidential.id, 'wrong') }, true],
      [
        'grant_type=refresh_token&refresh_token=x',
        { authorization: basic(confidential.id, LONG.slice(0, 6000)) },
        true,
      ],
      [
        `grant_type=refresh_token&refresh_token=x&client_id=${confidential.id}&client_secret=${confidential.secret}`,
        {},
        false,
      ],
      [`grant_type=refresh_token&refresh_token=x&client_id=${publicClient}&client_secret=x`, {}, false],
      [
        'grant_type=refresh_token&refresh_token=x&client_id=other',
        { authorization: basic(confidential.id, confidential.secret) },
        true,
      ],
    ];
    for (const [form, headers, viaHeader] of cases) {
      const res = await tokenRequest(form, headers);
      const challenge = res.headers.get('www-authenticate');
      const body = await expectOAuthError(res, TOKEN_ERRORS, 401);
      expect(body.error, form.slice(0, 80)).toBe('invalid_client');
      // RFC 6749 5.2: a client that tried the Authorization header gets a matching challenge.
      if (viaHeader) expect(challenge, JSON.stringify(headers)).toMatch(/^Basic /);
      else expect(challenge).toBeNull();
    }
  });

  it('refuses an unsupported grant type', async () => {
    for (const grant of [
      'password',
      'client_credentials',
      'urn:ietf:params:oauth:grant-type:device_code',
      LONG,
      CONTROL,
    ]) {
      const body = await expectOAuthError(
        await tokenRequest(new URLSearchParams({ grant_type: grant, client_id: publicClient })),
        TOKEN_ERRORS,
        400,
      );
      expect(body.error).toBe('unsupported_grant_type');
    }
  });

  it('refuses garbage codes, verifiers and refresh tokens with invalid_grant', async () => {
    const cases: Record<string, string>[] = [
      { grant_type: 'authorization_code', code: 'garbage', code_verifier: 'v'.repeat(43) },
      { grant_type: 'authorization_code', code: LONG, code_verifier: LONG },
      { grant_type: 'authorization_code', code: CONTROL, code_verifier: CONTROL, redirect_uri: CONTROL },
      { grant_type: 'refresh_token', refresh_token: 'rt_garbage' },
      { grant_type: 'refresh_token', refresh_token: LONG, scope: CONTROL },
      { grant_type: 'refresh_token', refresh_token: accessToken },
    ];
    for (const fields of cases) {
      const body = await expectOAuthError(
        await tokenRequest(new URLSearchParams({ ...fields, client_id: publicClient })),
        TOKEN_ERRORS,
        400,
      );
      expect(body.error, JSON.stringify(fields).slice(0, 80)).toBe('invalid_grant');
    }
  });

  it('refuses missing parameters and a foreign resource with their own codes', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ grant_type: 'authorization_code' }, 'invalid_request'],
      [{ grant_type: 'refresh_token' }, 'invalid_request'],
      [
        { grant_type: 'authorization_code', code: 'x', resource: 'https://evil.example/mcp' },
        'invalid_target',
      ],
      [{ grant_type: 'refresh_token', refresh_token: 'x', resource: CONTROL }, 'invalid_target'],
    ];
    for (const [fields, error] of cases) {
      const body = await expectOAuthError(
        await tokenRequest(new URLSearchParams({ ...fields, client_id: publicClient })),
        TOKEN_ERRORS,
        400,
      );
      expect(body.error).toBe(error);
    }
  });
});

describe('POST /revoke', () => {
  const revoke = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${github.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });

  for (const method of ['GET', 'PUT', 'DELETE']) {
    it(`refuses ${method} with 405 and Allow: POST`, async () => {
      const res = await fetch(`${github.url}/revoke?token=x`, { method });
      expect(res.headers.get('allow')).toBe('POST');
      await expectOAuthError(res, REVOKE_ERRORS, 405);
    });
  }

  it('refuses non-form, 2 MB, repeated and token-less requests with invalid_request', async () => {
    await expectOAuthError(
      await revoke(JSON.stringify({ token: 'x', client_id: publicClient }), {
        'content-type': 'application/json',
      }),
      ['invalid_request'],
      400,
    );
    await expectOAuthError(
      await revoke(`token=${TWO_MB}&client_id=${publicClient}`),
      ['invalid_request'],
      413,
    );
    await expectOAuthError(
      await revoke(`token=a&token=b&client_id=${publicClient}`),
      ['invalid_request'],
      400,
    );
    await expectOAuthError(await revoke(`client_id=${publicClient}`), ['invalid_request'], 400);
  });

  it('refuses unknown clients with 401 invalid_client', async () => {
    for (const form of [
      'token=x',
      'token=x&client_id=mcp_unknown',
      `token=x&client_id=${encodeURIComponent(CONTROL)}`,
    ]) {
      await expectOAuthError(await revoke(form), ['invalid_client'], 401);
    }
  });

  it('answers 200 without effect for garbage tokens and hints (RFC 7009 2.2)', async () => {
    for (const token of ['garbage', LONG, CONTROL, 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJVMSJ9.']) {
      const res = await revoke(
        new URLSearchParams({ token, token_type_hint: CONTROL, client_id: publicClient }).toString(),
      );
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('');
    }
    // The access token of the client's grant still works: nothing was revoked.
    expect(await whoamiUser(accessToken)).toBe('U1');
  });
});

describe('/mcp', () => {
  it('answers a request without credentials with the bare challenge', async () => {
    await expectChallenge(await mcpCall(undefined), 401);
    // RFC 6750 2.3: a token in the query is not a credential here.
    const res = await fetch(`${github.mcpUrl}?access_token=${accessToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{}',
    });
    await expectChallenge(res, 401);
  });

  it('answers a malformed Authorization header with 400 invalid_request', async () => {
    for (const header of [
      'Basic dXNlcjpwYXNz',
      'Bearer',
      'Bearer ',
      `Bearer ${accessToken} extra`,
      `Bearer ${accessToken}, Bearer ${accessToken}`,
      'Bearer a"b',
      'Bearer é',
      'Token abc',
    ]) {
      const res = await mcpCall(undefined, { headers: { authorization: header } });
      await expectChallenge(res, 400, 'invalid_request');
    }
  });

  it('answers control characters in the Authorization header with 400, never 5xx', async () => {
    // Node's parser refuses control characters itself (400 Bad Request, no challenge); what it
    // lets through (bytes above 0x7f) reaches us and gets the invalid_request challenge.
    for (const value of ['Bearer \u0001\u0007', 'Bearer a\u0000b', 'Bearer a\u007fb']) {
      const answer = await rawMcp(`Authorization: ${value}`);
      expect(answer.statusLine, JSON.stringify(value)).toBe('HTTP/1.1 400 Bad Request');
    }
    for (const value of ['Bearer \u00ff\u00e9', 'Bearer abc\u0085']) {
      const answer = await rawMcp(`Authorization: ${value}`);
      expect(answer.status, JSON.stringify(value)).toBe(400);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_request"/);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('answers garbage, forged and foreign tokens with 401 invalid_token', async () => {
    const forged = [
      'garbage',
      'a.b.c',
      'x'.repeat(8000),
      'eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJVMSIsImF1ZCI6Imh0dHA6Ly8xMjcuMC4wLjEifQ.',
      `${accessToken.split('.').slice(0, 2).join('.')}.${'A'.repeat(86)}`,
      refreshToken,
    ];
    for (const token of forged) {
      await expectChallenge(await mcpCall(token), 401, 'invalid_token');
    }
  });

  it('answers a 2 MB body without a token with the bare challenge', async () => {
    await expectChallenge(await mcpCall(undefined, { body: TWO_MB }), 401);
  });

  it('answers malformed MCP requests with a valid token as JSON-RPC errors, not 5xx', async () => {
    const cases: Array<[RequestInit & { headers?: Record<string, string> }, number]> = [
      [{ body: '{' }, 400],
      [{ body: TWO_MB }, 413],
      [{ body: 'method=tools/call', headers: { 'content-type': 'text/plain' } }, 415],
      [{ headers: { accept: 'text/html' } }, 406],
      [{ body: JSON.stringify({ jsonrpc: '2.0' }) }, 400],
      [{ headers: { 'mcp-protocol-version': '1999-01-01' } }, 400],
      [{ headers: { 'mcp-protocol-version': LONG } }, 400],
    ];
    for (const [init, status] of cases) {
      const res = await mcpCall(accessToken, init);
      const text = await res.text();
      expect(res.status, `${JSON.stringify(init).slice(0, 80)} ${text.slice(0, 120)}`).toBe(status);
      const body = JSON.parse(text) as { jsonrpc: string; error: { code: number; message: string } };
      expect(body.jsonrpc).toBe('2.0');
      expect(body.error.code).toBeLessThan(0);
    }
  });

  it('answers GET, DELETE and PUT on the stateless endpoint with 405, and an unknown tool as an error result', async () => {
    for (const method of ['GET', 'DELETE', 'PUT']) {
      const res = await fetch(github.mcpUrl, {
        method,
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json, text/event-stream' },
      });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    }
    // Without a token, the challenge comes first whatever the method.
    await expectChallenge(await fetch(github.mcpUrl, { method: 'GET' }), 401);
    const res = await mcpCall(accessToken, {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: LONG, arguments: {} },
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      id: number;
      result?: { isError: boolean };
      error?: { code: number };
    };
    expect(body.id).toBe(7);
    expect(body.result?.isError ?? body.error?.code !== undefined).toBe(true);
  });
});

describe('a sweep: every endpoint, every method, junk bodies', () => {
  type Kind = 'oauth' | 'document' | 'page' | 'mcp';
  const endpoints: Array<[string, Kind]> = [
    ['/.well-known/oauth-authorization-server', 'document'],
    ['/.well-known/oauth-protected-resource/mcp', 'document'],
    ['/.well-known/jwks.json', 'document'],
    ['/register', 'oauth'],
    ['/token', 'oauth'],
    ['/revoke', 'oauth'],
    ['/authorize', 'page'],
    ['/consent', 'page'],
    ['/oauth/callback', 'page'],
    ['/login', 'page'],
    ['/mcp', 'mcp'],
  ];
  const bodies: Array<[string, string, string]> = [
    ['bad JSON', 'application/json', '{"redirect_uris": ['],
    ['a garbage form', 'application/x-www-form-urlencoded', `a=${encodeURIComponent(CONTROL)}&a=&=&%zz`],
    ['2 MB of form', 'application/x-www-form-urlencoded', `x=${TWO_MB}`],
    ['2 MB of JSON', 'application/json', `{"x":"${TWO_MB}"}`],
    ['XML', 'application/xml', '<x/>'],
  ];

  /** The shape every answer of the endpoint's kind must have, whatever it was sent. */
  async function expectShape(res: Response, kind: Kind, label: string): Promise<void> {
    const text = await res.text();
    expect(res.status, `${label}: ${text.slice(0, 120)}`).toBeLessThan(500);
    if (res.status === 405) expect(res.headers.get('allow'), label).toBeTruthy();
    if (label === 'HEAD') {
      // No content to a HEAD (RFC 9110 9.3.2); the headers are those a GET would get.
      expect(text).toBe('');
      if (kind === 'page') expect(res.headers.get('content-type'), label).toBe('text/html; charset=utf-8');
      return;
    }
    if (kind === 'page' && res.status >= 400) {
      expect(res.headers.get('content-type'), label).toBe('text/html; charset=utf-8');
      expect(res.headers.get('location'), label).toBeNull();
      expect(PAGE_ERRORS, label).toContain(text.match(/<strong id="error">([^<]*)<\/strong>/)?.[1]);
    } else if (kind === 'mcp') {
      expect(res.status, label).toBe(401);
      expect(res.headers.get('www-authenticate'), label).toMatch(/^Bearer resource_metadata="/);
    } else {
      expect(res.headers.get('content-type'), label).toMatch(/^application\/json/);
      if (res.status >= 400) {
        const body = JSON.parse(text) as { error: string; error_description: string };
        expect([...REVOKE_ERRORS, ...REGISTER_ERRORS], label).toContain(body.error);
        expect(body.error_description, label).toMatch(DESCRIPTION);
      }
    }
  }

  for (const [path, kind] of endpoints) {
    it(`${path}: never a 5xx, always its own error shape`, async () => {
      for (const method of ['GET', 'HEAD', 'DELETE', 'PATCH']) {
        await expectShape(await fetch(`${github.url}${path}`, { method, redirect: 'manual' }), kind, method);
      }
      for (const method of ['POST', 'PUT']) {
        for (const [name, type, body] of bodies) {
          const res = await fetch(`${github.url}${path}?${encodeURIComponent(CONTROL)}=${LONG}`, {
            method,
            headers: { 'content-type': type },
            body,
            redirect: 'manual',
          });
          await expectShape(res, kind, `${method} ${name}`);
        }
      }
      const preflight = await fetch(`${github.url}${path}`, { method: 'OPTIONS' });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    });
  }
});

describe('the HTTP layer', () => {
  it('answers a malformed request line and a bad Content-Length with 400, and oversized headers with 431', async () => {
    const port = Number(new URL(github.url).port);
    expect((await rawHttp(port, 'GARBAGE\r\n\r\n')).statusLine).toBe('HTTP/1.1 400 Bad Request');
    const badLength = await rawHttp(
      port,
      'POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n',
    );
    expect(badLength.statusLine).toBe('HTTP/1.1 400 Bad Request');
    const big = await rawHttp(
      port,
      `GET /authorize HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
    );
    expect(big.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });

  it('answers a form with non-UTF-8 bytes and NULs as an ordinary refusal', async () => {
    const port = Number(new URL(github.url).port);
    const body = `grant_type=refresh_token&refresh_token=\u00ff\u00fe%ff%00&client_id=${publicClient}`;
    const answer = await rawHttp(
      port,
      `POST /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_grant' });
  });

  it('keeps answering others while a client sends a body slower than it declared', async () => {
    const port = Number(new URL(github.url).port);
    const answered: number[] = [];
    const stalled = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '100' },
      },
      (res) => {
        answered.push(res.statusCode ?? 0);
        res.resume();
      },
    );
    const gone = new Promise<void>((resolve) => stalled.on('close', () => resolve()));
    stalled.on('error', () => undefined);
    stalled.write('grant_type=x');
    // The stalled request waits for the rest of its body; the server answers everyone else.
    expect(await whoamiUser(accessToken)).toBe('U1');
    const meta = await fetch(`${github.url}/.well-known/oauth-authorization-server`);
    expect(meta.status).toBe(200);
    expect(answered).toEqual([]);
    stalled.destroy();
    await gone;
    expect(await whoamiUser(accessToken)).toBe('U1');
  });
});

describe('afterwards', () => {
  it('still serves a whole sign-in, refresh and MCP call, and logged no handler failure', async () => {
    const client = await registerClient(github, { token_endpoint_auth_method: 'none' });
    const tokens = await signIn(github, client.client_id);
    expect(await whoamiUser(tokens.access_token)).toBe('U1');
    const refreshed = await tokenRequest(
      new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: client.client_id,
      }),
    );
    expect(refreshed.status).toBe(200);
    const body = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(body.refresh_token).not.toBe(tokens.refresh_token);
    expect(await whoamiUser(body.access_token)).toBe('U1');
    const meta = await fetch(`${inMemory.url}/.well-known/oauth-authorization-server`);
    expect(meta.status).toBe(200);
    expect(failures).toEqual([]);
  });
});
