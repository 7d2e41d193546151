import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedEntry, JournalEntry, RequestEntry } from './journal.ts';
import { toLocalUrl } from './local-url.ts';
import { loginThroughPage } from './login-client.ts';
import { github } from './providers/github.ts';

// An unmodified Node server (fixtures/github-login-server.mjs) started with
// `node --import ./mock-idp/preload.ts`: its calls to github.com and api.github.com are answered
// in its own process, and the control listener the preload opens drives the same mock.

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = 'mock-idp/fixtures/github-login-server.mjs';
const client = github.clients[0]!;
const work = mkdtempSync(join(tmpdir(), 'mock-idp-preload-'));

interface Child {
  process: ChildProcess;
  /** The app's own origin. */
  app: string;
  /** The preload's control listener. */
  control: string;
  stderr: () => string;
}

const children: ChildProcess[] = [];

function startChild(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--import', './mock-idp/preload.ts', fixture], {
    cwd: root,
    env: {
      ...process.env,
      GITHUB_CLIENT_ID: client.clientId,
      GITHUB_CLIENT_SECRET: client.clientSecret ?? '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child did not start: ${stderr}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child exited with ${code}: ${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const app = stdout.match(/listening (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
      const control = stderr.match(/; control (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
      if (app && control) {
        clearTimeout(timer);
        resolve({ process: child, app, control, stderr: () => stderr });
      }
    });
  });
}

function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', './mock-idp/preload.ts', fixture], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  return { status: response.status, body: await response.json() };
}

/** GET with redirects left to the caller: the Location, checked to exist. */
async function redirectOf(url: string): Promise<string> {
  const response = await fetch(url, { redirect: 'manual' });
  await response.body?.cancel();
  expect(response.status, url).toBe(302);
  const location = response.headers.get('location');
  expect(location, url).toBeTruthy();
  return location!;
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill();
  rmSync(work, { recursive: true, force: true });
});

describe('node --import ./mock-idp/preload.ts in front of an unmodified server', () => {
  let child: Child;
  const urlFile = join(work, 'control-url');

  beforeAll(async () => {
    child = await startChild({ MOCK_IDP_URL_FILE: urlFile, MOCK_IDP_PROVIDERS: 'github,auth0' });
  });

  it('prints one line naming the intercepted hosts and the control URL, and writes the URL file', async () => {
    const lines = child.stderr().split('\n').filter(Boolean);
    expect(lines).toEqual([
      `mock-idp: intercepting github.com, api.github.com, *.auth0.com ; control ${child.control}`,
    ]);
    expect(readFileSync(urlFile, 'utf8')).toBe(`${child.control}\n`);
    // MOCK_IDP_PROVIDERS limited the mock to two providers.
    const { status, body } = await getJson(`${child.control}/_mock/providers`);
    expect(status).toBe(200);
    expect((body as { providers: Array<{ id: string }> }).providers.map((p) => p.id)).toEqual([
      'github',
      'auth0',
    ]);
  });

  it('logs in a queued persona: the app exchanges the code at github.com and answers alice-gh', async () => {
    const mark = ((await getJson(`${child.control}/_mock/journal`)).body as { last_seq: number }).last_seq;
    const login = await redirectOf(`${child.app}/login`);
    const authorize = new URL(login);
    expect(`${authorize.origin}${authorize.pathname}`).toBe('https://github.com/login/oauth/authorize');
    expect(authorize.searchParams.get('client_id')).toBe(client.clientId);
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${child.app}/callback`);

    const queued = await getJson(`${child.control}/_mock/next-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ persona: 'alice', provider: 'github' }),
    });
    expect(queued).toEqual({
      status: 200,
      body: { queued: { persona: 'alice', provider: 'github', action: 'approve' } },
    });

    const local = toLocalUrl(login, child.control);
    expect(local.startsWith(`${child.control}/github/login/oauth/authorize?`)).toBe(true);
    const callback = await redirectOf(local);
    expect(callback.startsWith(`${child.app}/callback?`)).toBe(true);
    const code = new URL(callback).searchParams.get('code');

    const done = await getJson(callback);
    expect(done).toEqual({ status: 200, body: { login: 'alice-gh', id: 1001 } });

    // The app's server-side calls reached the mock at the real hostnames, inside the child.
    const journal = (await getJson(`${child.control}/_mock/journal?provider=github&since=${mark}`)).body as {
      entries: JournalEntry[];
    };
    const seen = journal.entries
      .filter((e): e is RequestEntry => e.type === 'request')
      .map((e) => [e.endpoint, e.url.split('?')[0], e.status]);
    expect(seen).toEqual([
      // Standalone requests are journaled with the URL the client used (the provider's prefix included).
      ['authorize', `${child.control}/github/login/oauth/authorize`, 302],
      ['token', 'https://github.com/login/oauth/access_token', 200],
      ['user', 'https://api.github.com/user', 200],
    ]);
    const issued = journal.entries.filter((e): e is IssuedEntry => e.type === 'issued');
    expect(issued.map((e) => [e.kind, e.persona])).toEqual([
      ['code', 'alice'],
      ['access_token', 'alice'],
    ]);
    expect(issued[0]!.value).toBe(code);
  });

  it('follows the login page through the control listener when no login is queued', async () => {
    const login = await redirectOf(`${child.app}/login`);
    const result = await loginThroughPage(toLocalUrl(login, child.control), 'bob');
    expect(result.page).toContain('data-persona="alice"');
    expect(result.status).toBe(302);
    expect(result.location?.startsWith(`${child.app}/callback?`)).toBe(true);
    expect(await getJson(result.location!)).toEqual({ status: 200, body: { login: 'BobSmith', id: 1002 } });
  });

  it('refuses a code the mock never issued (the app reports the upstream error)', async () => {
    const login = await redirectOf(`${child.app}/login`);
    const state = new URL(login).searchParams.get('state');
    const { status, body } = await getJson(`${child.app}/callback?code=0123456789abcdef0123&state=${state}`);
    expect(status).toBe(502);
    expect(body).toMatchObject({
      error: 'token exchange failed',
      upstream: { error: 'bad_verification_code' },
    });
  });

  it("lets the app's other traffic through untouched (onUnhandledRequest 'bypass')", async () => {
    const upstream: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('pong');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const port = (upstream.address() as AddressInfo).port;
      const target = encodeURIComponent(`http://127.0.0.1:${port}/ping`);
      expect(await getJson(`${child.app}/upstream?url=${target}`)).toEqual({
        status: 200,
        body: { status: 200, body: 'pong' },
      });
    } finally {
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

describe('preload environment', () => {
  it('honours MOCK_IDP_PORT and MOCK_IDP_PERSONAS', async () => {
    const personas = join(work, 'personas.yaml');
    writeFileSync(
      personas,
      [
        'personas:',
        '  - id: zed',
        '    name: Zed Custom',
        '    email: zed@example.com',
        '    email_verified: true',
        '    github: { id: 4242, login: zed-gh, email: zed@example.com }',
        '',
      ].join('\n'),
    );
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const custom = await startChild({ MOCK_IDP_PORT: String(port), MOCK_IDP_PERSONAS: personas });
    expect(custom.control).toBe(`http://127.0.0.1:${port}`);
    const listed = await getJson(`${custom.control}/_mock/personas`);
    expect(listed.status).toBe(200);
    expect((listed.body as { personas: Array<{ id: string }> }).personas.map((p) => p.id)).toEqual(['zed']);

    const login = await redirectOf(`${custom.app}/login`);
    const queued = await getJson(`${custom.control}/_mock/next-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ persona: 'zed' }),
    });
    expect(queued.status).toBe(200);
    const callback = await redirectOf(toLocalUrl(login, custom.control));
    expect(await getJson(callback)).toEqual({ status: 200, body: { login: 'zed-gh', id: 4242 } });
    custom.process.kill();
  });

  it('stops the process with a clear message when MOCK_IDP_PORT is not a port', async () => {
    const { code, stderr } = await runToExit({ MOCK_IDP_PORT: 'eighty' });
    expect(code).toBe(1);
    expect(stderr).toContain('MOCK_IDP_PORT "eighty" is not a port number');
    expect(stderr).not.toContain('listening');
  });

  it('stops the process when MOCK_IDP_PROVIDERS names an unknown provider', async () => {
    const { code, stderr } = await runToExit({ MOCK_IDP_PROVIDERS: 'github,nope' });
    expect(code).toBe(1);
    expect(stderr).toContain('unknown provider "nope"');
  });
});
