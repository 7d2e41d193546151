/**
 * What survives a restart of the reference server on SQLite: the github backend against the mock
 * IdP (which keeps running), one data directory, two restarts on the same port (the issuer and
 * the resource URL name it, so tokens stay addressed to the server):
 * 1. in this process: a new runtime and a new store object over the same file;
 * 2. in a new Node process.
 * After each: access tokens issued before still validate at /mcp, refresh tokens rotate (and the
 * replaced one stays refused), the client registration is still known to /authorize, users and
 * identity links are still there, a code issued before the restart is redeemable exactly once,
 * the signing key is the same, and the sealing secret file was created once and reused (the
 * upstream tokens sealed before the restart still open: refreshed tokens keep their claims).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderDescription } from '../mock-idp/app.ts';
import { loadPersonas } from '../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';
import { HttpAgent, parseForms } from '../runner/agent/http.ts';
import { loadSettings } from './config.ts';
import { silentLogger } from './log.ts';
import { mockIdpOverrides } from './mock-wiring.ts';
import type { GrantSecrets } from './oauth/complete.ts';
import { type RunningReferenceServer, startReferenceServer } from './server.ts';
import { openSqliteStore, SQLITE_FILE_NAME } from './store/sqlite.ts';
import type { Store } from './store/types.ts';
import { seedUsers } from './users/seed.ts';

const CALLBACK = 'http://127.0.0.1:7777/cb';

/** What the `whoami` tool answers (reference-server/mcp.ts). */
interface Whoami {
  user: { id: string; email: string | null; login: string | null; groups: string[] };
  backend: string;
  client_id: string | null;
  scopes: string[];
  claims: Record<string, unknown>;
}
const personas = loadPersonas();

let mock: RunningMockIdp;
let providers: ProviderDescription[];
let dataDir: string;
let secretFile: string;
/** The port every instance listens on: the first picks it, the restarts reuse it. */
let port = 0;
let server: RunningReferenceServer | undefined;
let child: ChildProcess | undefined;
let baseUrl = '';

function settingsFor(url: string) {
  return loadSettings({
    env: {},
    overrides: {
      ...mockIdpOverrides('github', providers, { baseUrl: url }),
      server: { storage: 'sqlite', data_dir: dataDir },
    },
  });
}

/**
 * After a stop, lets this process see the old server's sockets close, so that fetch's keep-alive
 * pool does not hand a dead connection to the first request to the new server.
 */
function socketsSettle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

async function startInProcess(): Promise<RunningReferenceServer> {
  await socketsSettle();
  const started = await startReferenceServer(({ baseUrl: url }) => settingsFor(url), {
    log: silentLogger,
    port,
  });
  port = Number(new URL(started.url).port);
  baseUrl = started.url;
  return started;
}

const CHILD_SOURCE = `
const [server, config, wiring] = await Promise.all(
  ['server.ts', 'config.ts', 'mock-wiring.ts'].map((f) => import(new URL(f, process.env.REF_DIR).href)),
);
const { providers, dataDir, port } = JSON.parse(process.env.REF_RESTART);
const running = await server.startReferenceServer(
  ({ baseUrl }) => config.loadSettings({ env: {}, overrides: {
    ...wiring.mockIdpOverrides('github', providers, { baseUrl }),
    server: { storage: 'sqlite', data_dir: dataDir },
  } }),
  { port, log: { log: () => undefined } },
);
const stop = async () => { await running.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
process.stdout.write('READY ' + running.url + '\\n');
`;

/** The reference server in a new Node process, on the same port and data directory. */
async function startChild(): Promise<void> {
  await socketsSettle();
  const proc = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', CHILD_SOURCE], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      REF_DIR: pathToFileURL(`${import.meta.dirname}/`).href,
      REF_RESTART: JSON.stringify({ providers, dataDir, port }),
    },
  });
  child = proc;
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`the child did not start: ${stderr}`)), 15_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child exited with ${code}: ${stderr}`));
    });
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const line = stdout.split('\n').find((l) => l.startsWith('READY '));
      if (!line) return;
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      baseUrl = line.slice('READY '.length).trim();
      resolve();
    });
  });
}

function stopChild(): Promise<void> {
  const proc = child;
  child = undefined;
  if (!proc || proc.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

beforeAll(async () => {
  mock = await startMockIdp();
  providers = mock.idp.describe({ mode: 'path', origin: mock.url });
  dataDir = mkdtempSync(join(tmpdir(), 'mcc-restart-'));
  secretFile = join(dataDir, 'secret');
  const seeding = openSqliteStore({ dataDir });
  await seedUsers(seeding, personas);
  await seeding.close();
});

afterAll(async () => {
  await server?.stop();
  await stopChild();
  await mock?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function register(): Promise<string> {
  const res = await fetch(`${baseUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'none',
      client_name: 'Restart',
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

function authorizeUrl(clientId: string, challenge: string, state: string): string {
  return `${baseUrl}/authorize?${new URLSearchParams({
    client_id: clientId,
    redirect_uri: CALLBACK,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource: `${baseUrl}/mcp`,
  })}`;
}

/** Consent and the upstream sign-in as alice: the code our callback sent to the client. */
async function codeFor(clientId: string): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const agent = new HttpAgent();
  const page = await agent.navigate(authorizeUrl(clientId, challenge, 'restart'));
  expect(page.final?.status).toBe(200);
  const form = parseForms(page.final!.body, page.final!.url)[0]!;
  mock.idp.nextLogin('alice', { provider: 'github' });
  const done = await agent.submit(
    form,
    { name: 'action', value: 'approve' },
    { stopAt: (u) => u.startsWith(CALLBACK) },
  );
  const back = new URL(done.stoppedAt!);
  expect(back.searchParams.get('state')).toBe('restart');
  return { code: back.searchParams.get('code')!, verifier };
}

async function token(fields: Record<string, string>) {
  const res = await fetch(`${baseUrl}/token`, { method: 'POST', body: new URLSearchParams(fields) });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

function redeem(clientId: string, grant: { code: string; verifier: string }) {
  return token({
    grant_type: 'authorization_code',
    code: grant.code,
    code_verifier: grant.verifier,
    client_id: clientId,
    redirect_uri: CALLBACK,
  });
}

async function whoami(accessToken: string) {
  const res = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${accessToken}`,
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
  const text = await res.text();
  expect(res.status, text.slice(0, 200)).toBe(200);
  return (JSON.parse(text) as { result: { structuredContent: Whoami } }).result.structuredContent;
}

async function kids(): Promise<string[]> {
  const jwks = (await (await fetch(`${baseUrl}/.well-known/jwks.json`)).json()) as {
    keys: Array<{ kid: string }>;
  };
  return jwks.keys.map((k) => k.kid).sort();
}

function secretFacts() {
  const stat = statSync(secretFile);
  return {
    content: readFileSync(secretFile, 'utf8'),
    ino: stat.ino,
    mtimeMs: stat.mtimeMs,
    mode: stat.mode & 0o777,
  };
}

// ---------------------------------------------------------------------------------------------

describe('restarting the reference server on SQLite', () => {
  let clientId: string;
  let firstServer: RunningReferenceServer;
  let first: { access: string; refresh: string };
  let pending: { code: string; verifier: string };
  let pendingForChild: { code: string; verifier: string };
  let before: { who: Whoami; kids: string[]; secret: ReturnType<typeof secretFacts> };

  it('first start: creates the sealing secret once, signs alice in, leaves one code unredeemed', async () => {
    expect(existsSync(secretFile)).toBe(false);
    server = await startInProcess();
    firstServer = server;
    const secret = secretFacts();
    expect(secret.mode).toBe(0o600);
    expect(secret.content).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(existsSync(join(dataDir, SQLITE_FILE_NAME))).toBe(true);

    clientId = await register();
    const issued = await redeem(clientId, await codeFor(clientId));
    expect(issued.status).toBe(200);
    first = { access: issued.body['access_token']!, refresh: issued.body['refresh_token']! };
    expect(first.refresh).toMatch(/^rt_/);
    const who = await whoami(first.access);
    expect(who.user.id).toBe('U1');
    expect(who.client_id).toBe(clientId);
    pending = await codeFor(clientId);
    before = { who, kids: await kids(), secret };
    expect(before.kids.length).toBeGreaterThan(0);
    await server.stop();
    server = undefined;
  });

  it('restart in this process: a new runtime and store over the same directory and port', async () => {
    server = await startInProcess();
    expect(server.url).toBe(firstServer.url);
    expect(server.app.runtime).not.toBe(firstServer.app.runtime);
    expect(server.app.runtime.store).not.toBe(firstServer.app.runtime.store);
    // The secret file was read, not written again.
    expect(secretFacts()).toEqual(before.secret);
    expect(await kids()).toEqual(before.kids);
  });

  it('still validates the access token issued before the restart', async () => {
    expect(await whoami(first.access)).toEqual(before.who);
  });

  it('opens, with the reused secret, the upstream token it sealed before the restart', async () => {
    const rt = server!.app.runtime;
    const payload = JSON.parse(Buffer.from(first.access.split('.')[1]!, 'base64url').toString('utf8')) as {
      sid: string;
    };
    const record = await rt.store.getUpstreamTokensForFamily(payload.sid);
    expect(record).toBeDefined();
    const opened = rt.sealer.openJson<GrantSecrets>(record!.sealed, record!.id);
    // The GitHub token the mock gave alice at the first sign-in, never sent to the client.
    expect(opened.tokens?.access_token).toMatch(/^gho_/);
    const issued = mock.idp.journal
      .entries({ provider: 'github', type: 'issued' })
      .map((e) => (e.type === 'issued' ? e.value : ''));
    expect(issued).toContain(opened.tokens!.access_token);
  });

  it('rotates the refresh token issued before the restart, and refuses the replaced one', async () => {
    const rotated = await token({
      grant_type: 'refresh_token',
      refresh_token: first.refresh,
      client_id: clientId,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body['refresh_token']).toMatch(/^rt_/);
    expect(rotated.body['refresh_token']).not.toBe(first.refresh);
    // The rotated grant names the same user, client and (sealed, passed-through) claims.
    expect(await whoami(rotated.body['access_token']!)).toEqual(before.who);
    const replay = await token({
      grant_type: 'refresh_token',
      refresh_token: first.refresh,
      client_id: clientId,
    });
    expect(replay.status).toBe(400);
    expect(replay.body['error']).toBe('invalid_grant');
    // Reuse detection (RFC 9700 4.14.2) revoked the whole grant, old access token included.
    const res = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${first.access}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('still knows the registered client: /authorize shows its consent page', async () => {
    const res = await fetch(authorizeUrl(clientId, pkce().challenge, 'again'));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<strong id="client-name">Restart</strong>');
    expect(html).toContain(`<code id="client-id">${clientId}</code>`);
    const unknown = await fetch(authorizeUrl('mcp_never_registered', pkce().challenge, 'x'));
    expect(unknown.status).toBe(400);
  });

  it('still holds the users and the identity link made at the first sign-in', async () => {
    const store: Store = server!.app.runtime.store;
    expect((await store.listUsers()).map((u) => u.id).sort()).toEqual(personas.users.map((u) => u.id).sort());
    const link = await store.findLink('github', '1001');
    expect(link).toMatchObject({ provider: 'github', subject: '1001', userId: 'U1' });
    expect(await store.listLinks('U1')).toHaveLength(1);
  });

  it('redeems a code issued before the restart exactly once', async () => {
    const redeemed = await redeem(clientId, pending);
    expect(redeemed.status).toBe(200);
    expect(await whoami(redeemed.body['access_token']!)).toMatchObject({ user: { id: 'U1' } });
    const again = await redeem(clientId, pending);
    expect(again.status).toBe(400);
    expect(again.body['error']).toBe('invalid_grant');
    // RFC 6749 4.1.2: the replay revoked what the code had given.
    const res = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${redeemed.body['access_token']}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(res.status).toBe(401);
  });

  it('leaves a live grant and a pending code for the next restart', async () => {
    const issued = await redeem(clientId, await codeFor(clientId));
    expect(issued.status).toBe(200);
    first = { access: issued.body['access_token']!, refresh: issued.body['refresh_token']! };
    pendingForChild = await codeFor(clientId);
    await server!.stop();
    server = undefined;
  });

  it('restart in a new Node process: the same secret, key, tokens, client and pending code', async () => {
    await startChild();
    expect(baseUrl).toBe(firstServer.url);
    expect(secretFacts()).toEqual(before.secret);
    expect(await kids()).toEqual(before.kids);
    expect(await whoami(first.access)).toEqual(before.who);
    const rotated = await token({
      grant_type: 'refresh_token',
      refresh_token: first.refresh,
      client_id: clientId,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body['refresh_token']).not.toBe(first.refresh);
    expect(await whoami(rotated.body['access_token']!)).toEqual(before.who);
    const redeemed = await redeem(clientId, pendingForChild);
    expect(redeemed.status).toBe(200);
    expect((await redeem(clientId, pendingForChild)).body['error']).toBe('invalid_grant');
    // A whole new sign-in works on the restarted process, for the same client.
    const fresh = await redeem(clientId, await codeFor(clientId));
    expect(fresh.status).toBe(200);
    expect(await whoami(fresh.body['access_token']!)).toEqual(before.who);
    await stopChild();
  });

  it('kept one identity link and one secret through both restarts', async () => {
    const store = openSqliteStore({ dataDir });
    try {
      expect(await store.listLinks('U1')).toHaveLength(1);
      expect((await store.listUsers()).length).toBe(personas.users.length);
    } finally {
      await store.close();
    }
    expect(secretFacts()).toEqual(before.secret);
  });
});
