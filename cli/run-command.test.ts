import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockIdp } from '../mock-idp/app.ts';
import { loadPersonas } from '../mock-idp/personas.ts';
import { loadSettings } from '../reference-server/config.ts';
import { silentLogger } from '../reference-server/log.ts';
import { mockIdpOverrides } from '../reference-server/mock-wiring.ts';
import { type RunningReferenceServer, startReferenceServer } from '../reference-server/server.ts';
import { createMemoryStore } from '../reference-server/store/memory.ts';
import { seedUsers } from '../reference-server/users/seed.ts';
import type { RunResult } from '../reports/model.ts';
import { startTarget, type Target } from '../runner/detection/harness.ts';
import { main } from './main.ts';

const bin = fileURLToPath(new URL('./bin.js', import.meta.url));

function capture(cwd?: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), ...(cwd ? { cwd } : {}) },
    out,
    err,
    all: () => [...out, ...err].join('\n'),
  };
}

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `conformance-${prefix}-`));
}

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A suite with one case that always fails (the check compares 1 with 2) and one that passes. */
const EXTRA_SUITE = `suite: extra
title: Extra cases of a project
cases:
  - id: always-fails
    title: A check that cannot hold
    level: MUST
    tags: [MCP-authorization]
    requires: [oauth]
    steps:
      - set: { x: 1 }
        as: doc
    expect:
      - value: { of: doc.x, equals: 2 }
  - id: always-passes
    title: A check that always holds
    level: MUST
    tags: [MCP-authorization]
    requires: [oauth]
    steps:
      - set: { x: 1 }
        as: doc
    expect:
      - value: { of: doc.x, equals: 1 }
`;

describe('conformance <url>: argument errors (exit 2, no stack trace)', () => {
  const cases: Array<[string[], string]> = [
    [['run'], 'conformance: missing the server URL: conformance <server-url> (or "url" in the config file)'],
    [['ftp://example.com/mcp'], 'conformance: unknown command "ftp://example.com/mcp"'],
    [['run', 'ftp://example.com/mcp'], 'conformance: "ftp://example.com/mcp" is not an http(s) URL'],
    [
      ['http://127.0.0.1:9/mcp', '--reporter', 'console,jnuit'],
      'conformance: --reporter: unknown reporter "jnuit" (valid: console, json, junit, markdown, html)',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--upstream', 'github'],
      'conformance: --upstream needs a mock IdP: add --idp URL or --start-idp',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--start-idp', '--upstream', 'gitlab'],
      'conformance: --upstream "gitlab" is not a mock provider (valid: github, google, entra, auth0, cognito, oidc, discord, clerk, workos, descope, supabase, scalekit, propelauth, oci)',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--idp', 'http://127.0.0.1:4010', '--start-idp'],
      'conformance: use either --idp (a mock IdP already running) or --start-idp, not both',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--header', 'no-colon'],
      'conformance: --header must be "Name: value", got "no-colon"',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--concurrency', '0'],
      'conformance: --concurrency must be a positive integer, got "0"',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--timeout', 'soon'],
      'conformance: --timeout must be a positive integer, got "soon"',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--start-idp', '70000'],
      'conformance: --start-idp must be a port number (0-65535), got "70000"',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--capability', 'dcr'],
      'conformance: --capability "dcr" cannot be declared (valid: required-scopes, claims-passthrough; the probe finds the others)',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--client-secret', 's3cret'],
      'conformance: --client-secret needs --client-id',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--client-id', 'c1', '--client-auth', 'private_key_jwt'],
      'conformance: --client-auth must be one of none, client_secret_basic, client_secret_post, got "private_key_jwt"',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--client-id', 'c1', '--client-auth', 'client_secret_post'],
      'conformance: --client-auth client_secret_post needs --client-secret',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--identity-field', 'email=user.email'],
      'conformance: --identity-field needs --identity-tool NAME',
    ],
    [
      ['http://127.0.0.1:9/mcp', '--identity-tool', 'whoami', '--identity-field', 'mail=user.email'],
      'conformance: --identity-field: "mail" is not an identity field (id, email, login, groups)',
    ],
    [['http://127.0.0.1:9/mcp', '--suite', 'nope'], 'conformance: --suite "nope" is not a suite (valid: '],
    [
      ['http://127.0.0.1:9/mcp', '--case', 'nothing/*'],
      'conformance: --case "nothing/*" matches no case (case ids are suite/case; see "conformance list")',
    ],
    [['http://127.0.0.1:9/mcp', 'extra'], 'conformance: unexpected argument "extra"'],
    [['http://127.0.0.1:9/mcp', '--bogus'], "conformance: Unknown option '--bogus'"],
    [
      ['http://127.0.0.1:9/mcp', '--expected-failures', '/no/such/list.txt'],
      'conformance: /no/such/list.txt: cannot read the file',
    ],
  ];
  for (const [argv, message] of cases) {
    it(`${argv.join(' ')} -> ${message.slice(13, 70)}`, async () => {
      const c = capture(tmp('args'));
      expect(await main(argv, c.io)).toBe(2);
      if (message.endsWith('(valid: ') || message.startsWith('conformance: Unknown option')) {
        expect(c.err[0]!.startsWith(message)).toBe(true);
      } else {
        expect(c.err[0]).toBe(message);
      }
      expect(c.out).toEqual([]);
      expect(c.all()).not.toMatch(/\n\s+at /);
    });
  }

  it('hints at the scheme when the URL has none', async () => {
    const c = capture();
    expect(await main(['localhost:8000/mcp'], c.io)).toBe(2);
    expect(c.err).toEqual([
      'conformance: unknown command "localhost:8000/mcp"',
      'hint: a server URL starts with http:// or https:// (conformance http://localhost:8000/mcp)',
      'Run "conformance help" for usage.',
    ]);
  });

  it('prints the usage with every option for --help, exit 0', async () => {
    const c = capture();
    expect(await main(['run', '--help'], c.io)).toBe(0);
    const text = c.out.join('\n');
    for (const flag of [
      '--idp URL',
      '--start-idp [PORT]',
      '--upstream PROVIDER',
      '--suite ID',
      '--case GLOB',
      '--suites-dir DIR',
      '--replace-suites',
      '--header "Name: value"',
      '--identity-tool NAME',
      '--identity-field F=PATH',
      '--user-store',
      '--personas FILE',
      '--capability NAME',
      '--client-id ID',
      '--client-secret SECRET',
      '--redirect-uri URI',
      '--client-auth METHOD',
      '--expected-failures FILE',
      '--reporter NAMES',
      '--out DIR',
      '--verbose',
      '--color, --no-color',
      '--browser',
      '--no-browser',
      '--concurrency N',
      '--timeout MS',
      '--config FILE',
    ]) {
      expect(text).toContain(`  ${flag}`);
    }
    const viaUrl = capture();
    expect(await main(['http://127.0.0.1:9/mcp', '--help'], viaUrl.io)).toBe(0);
    expect(viaUrl.out.join('\n')).toBe(text);
  });
});

describe('conformance <url>: servers a run cannot be made against (exit 2)', () => {
  let notMcp: Server;
  let garbage: Server;
  let hanging: TcpServer;
  const sockets = new Set<Socket>();
  const urls = { notMcp: '', garbage: '', hanging: '' };

  beforeAll(async () => {
    notMcp = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Not Found</title><h1>Not Found</h1>');
    });
    garbage = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello, this is not JSON-RPC');
    });
    hanging = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.resume(); // read the request, never answer
    });
    urls.notMcp = `http://127.0.0.1:${await listen(notMcp)}/mcp`;
    urls.garbage = `http://127.0.0.1:${await listen(garbage)}/mcp`;
    urls.hanging = `http://127.0.0.1:${await listen(hanging)}/mcp`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(
      [notMcp, garbage, hanging].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
  });

  it('an unreachable URL: "refused the connection"', async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const c = capture();
    expect(await main([url, '--suite', 'discovery'], c.io)).toBe(2);
    expect(c.err).toEqual([
      `conformance: ${url} refused the connection`,
      'hint: is the server running, and is the URL (host, port, path) right?',
    ]);
    expect(c.out).toEqual([]);
  });

  it('a server that is not MCP (404 HTML)', async () => {
    const c = capture();
    expect(await main([urls.notMcp], c.io)).toBe(2);
    expect(c.err).toEqual([
      `conformance: ${urls.notMcp} answered an MCP initialize with HTTP 404 (text/html; charset=utf-8); an MCP server with authorization answers 401`,
      'hint: <server-url> is the MCP endpoint itself (often ending in /mcp), not the site or the metadata URL',
    ]);
    expect(c.out).toEqual([]);
  });

  it('a server that answers garbage (200 text/plain)', async () => {
    const c = capture();
    expect(await main([urls.garbage], c.io)).toBe(2);
    expect(c.err[0]).toBe(
      `conformance: ${urls.garbage} answered 200 to an MCP initialize without a JSON-RPC result`,
    );
    expect(c.out).toEqual([]);
  });

  it('a server that accepts and never answers: the probe times out (--timeout 500)', async () => {
    const c = capture();
    expect(await main([urls.hanging, '--timeout', '500'], c.io)).toBe(2);
    expect(c.err).toEqual([
      `conformance: ${urls.hanging} did not answer within 500 ms`,
      'hint: the server accepted the connection but sent no answer; check it is healthy, or raise --timeout (now 500 ms)',
    ]);
  });

  it('the real command exits 2 on a hanging server and leaves nothing running', async () => {
    const child: ChildProcess = spawn(process.execPath, [bin, urls.hanging, '--timeout', '500'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain(`conformance: ${urls.hanging} did not answer within 500 ms\n`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('conformance <url> against the reference server (github backend)', () => {
  let target: Target;
  let common: string[];
  beforeAll(async () => {
    target = await startTarget({ backend: 'github' });
    common = [
      target.server.mcpUrl,
      '--idp',
      target.mock.url,
      '--upstream',
      'github',
      '--identity-tool',
      'whoami',
      '--user-store',
      '--no-color',
    ];
  });
  afterAll(() => target.stop());

  it('--reporter json,junit --out DIR: exit 0 and the files exist', async () => {
    const dir = join(tmp('reports'), 'out');
    const c = capture();
    const code = await main(
      [...common, '--suite', 'discovery,bearer', '--reporter', 'json,junit', '--out', dir],
      c.io,
    );
    expect(code, c.all()).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['junit.xml', 'results.json', 'summary.json']);
    const result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
    expect(result.exitCode).toBe(0);
    expect(result.suites.map((s) => s.id)).toEqual(['bearer', 'discovery']);
    expect(result.summary.failed).toBe(0);
    expect(result.summary.passed).toBeGreaterThanOrEqual(10);
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toMatch(/^<\?xml[^>]*>\s*<testsuites /);
    // Without the console reporter: one verdict line and where the reports are.
    expect(c.out[0]).toMatch(
      /^PASSED: \d+ cases: \d+ passed, 0 failed, \d+ warnings, \d+ info, \d+ skipped$/,
    );
    expect(c.out[1]).toBe(
      `Reports: ${join(dir, 'results.json')}, ${join(dir, 'summary.json')}, ${join(dir, 'junit.xml')}`,
    );
  });

  it('--header: sent with every request, its value in no written report nor on the console', async () => {
    const dir = tmp('header');
    const secret = 'hdr-value-6f1c2a44-never-printed';
    const c = capture();
    const code = await main(
      [
        ...common,
        '--suite',
        'discovery',
        '--header',
        `X-Conformance-Key: ${secret}`,
        '--reporter',
        'console,json,junit,markdown,html',
        '--verbose',
        '--out',
        dir,
      ],
      c.io,
    );
    expect(code, c.all()).toBe(0);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['junit.xml', 'report.html', 'results.json', 'summary.json', 'summary.md']);
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(secret);
    expect(c.all()).not.toContain(secret);
    // It was sent: the recorded requests carry the header, redacted.
    const results = readFileSync(join(dir, 'results.json'), 'utf8');
    expect(results).toContain('"X-Conformance-Key": "[redacted]"');
  });

  it('--expected-failures: a listed case that passes is stale -> exit 1, and the console names it', async () => {
    const dir = tmp('stale');
    const list = join(dir, 'expected-failures.txt');
    writeFileSync(list, '# known failures\ndiscovery/prm-resource   # fixed since\n');
    const c = capture();
    const code = await main([...common, '--suite', 'discovery', '--expected-failures', list], c.io);
    expect(code, c.all()).toBe(1);
    const text = c.out.join('\n');
    expect(text).toMatch(/discovery\/prm-resource .*\[stale expected failure: it passed\]/);
    expect(text).toContain(
      'Stale expected failures (listed, but they passed; remove them from the expected-failures file): discovery/prm-resource',
    );
    expect(c.out).toContain(
      `stale expected failure: ${list}:2: "discovery/prm-resource" passed; remove it from the list`,
    );
    expect(text).toContain('FAILED: 1 stale expected failure');
  });

  it('--expected-failures: a listed case that fails does not count (exit 0); unlisted it does (exit 1)', async () => {
    const dir = tmp('expected');
    writeFileSync(join(dir, 'extra.yaml'), EXTRA_SUITE);
    const list = join(tmp('expected-list'), 'known.yaml');
    writeFileSync(
      list,
      '- case: extra/always-fails\n  reason: the check compares 1 with 2\n- extra/renamed-*\n',
    );
    const listed = capture();
    const args = [...common, '--suites-dir', dir, '--replace-suites'];
    expect(await main([...args, '--expected-failures', list], listed.io), listed.all()).toBe(0);
    const text = listed.out.join('\n');
    expect(text).toMatch(/✗ extra\/always-fails .*\[expected failure\]/);
    expect(text).toMatch(/^✓ extra\/always-passes /m);
    expect(listed.out).toContain(`note: ${list}:3: "extra/renamed-*" matches no case of this run`);
    expect(text).toContain('PASSED: no unexpected failure (1 expected failure)');

    const unlisted = capture();
    expect(await main(args, unlisted.io)).toBe(1);
    expect(unlisted.out.join('\n')).toContain('FAILED: 1 unexpected failure');
  });

  it('an invalid suite: exit 2 with file:line: field', async () => {
    const dir = tmp('bad-suite');
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, EXTRA_SUITE.replace('level: MUST', 'level: MANDATORY'));
    const c = capture();
    expect(await main([...common, '--suites-dir', dir], c.io)).toBe(2);
    expect(c.err).toEqual([
      `conformance: invalid suite: ${file}:6: cases[0].level: must be one of MUST, SHOULD, MAY`,
      'hint: suites are checked against suites/suite.schema.json',
    ]);
  });

  it('--case selects cases by glob, --suite by id', async () => {
    const dir = tmp('select');
    const c = capture();
    const code = await main(
      [...common, '--suite', 'discovery', '--case', '*/as-metadata*', '--reporter', 'json', '--out', dir],
      c.io,
    );
    expect(code, c.all()).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
    const listed = capture();
    expect(await main(['list', '--json', '--suite', 'discovery'], listed.io)).toBe(0);
    const all = (JSON.parse(listed.out.join('\n')) as Array<{ cases: Array<{ id: string }> }>).flatMap((s) =>
      s.cases.map((x) => x.id),
    );
    const expected = all.filter((id) => /^discovery\/as-metadata/.test(id)).sort();
    expect(expected).toContain('discovery/as-metadata');
    expect(expected.length).toBeLessThan(all.length);
    expect(result.suites.flatMap((s) => s.cases.map((x) => x.id)).sort()).toEqual(expected);
  });

  it('without a mock IdP, the upstream cases are skipped with the reason', async () => {
    const dir = tmp('no-idp');
    writeFileSync(
      join(dir, 'upstream.yaml'),
      `suite: up
title: Upstream
cases:
  - id: needs-upstream
    title: Needs the upstream leg
    level: MUST
    tags: [MCP-authorization]
    requires: [upstream]
    steps:
      - set: { x: 1 }
        as: doc
    expect:
      - value: { of: doc.x, equals: 1 }
`,
    );
    const c = capture();
    const code = await main(
      [target.server.mcpUrl, '--suites-dir', dir, '--replace-suites', '--reporter', 'json', '--out', dir],
      c.io,
    );
    expect(code, c.all()).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
    const only = result.suites[0]!.cases[0]!;
    expect(only).toMatchObject({ id: 'up/needs-upstream', status: 'skipped' });
    expect(only.reason).toBe('upstream: no mock IdP is in front of the server');
  });
});

describe('conformance <url> --start-idp PORT', () => {
  let server: RunningReferenceServer;
  let port: number;
  beforeAll(async () => {
    // The server is configured for a mock IdP on a known port before that mock runs, as a
    // server under test would be.
    port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const providers = new MockIdp().describe({ mode: 'path', origin });
    const store = createMemoryStore();
    await seedUsers(store, loadPersonas());
    server = await startReferenceServer(
      ({ baseUrl }) =>
        loadSettings({
          env: {},
          overrides: { ...mockIdpOverrides('github', providers, { baseUrl }), server: { storage: 'memory' } },
        }),
      { store, log: silentLogger },
    );
  });
  afterAll(() => server.stop());

  it('starts the mock IdP there for the run, says where, and stops it after', async () => {
    const dir = tmp('start-idp');
    const c = capture();
    const code = await main(
      [
        server.mcpUrl,
        '--start-idp',
        String(port),
        '--upstream',
        'github',
        '--case',
        'bearer/valid-token-accepted',
        '--reporter',
        'json',
        '--out',
        dir,
      ],
      c.io,
    );
    expect(code, c.all()).toBe(0);
    expect(c.err[0]).toBe(
      `Mock IdP started on http://127.0.0.1:${port} (the server under test must use its "github" provider); providers: http://127.0.0.1:${port}/_mock/providers`,
    );
    const result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
    // A sign-in through the mock's GitHub worked: the case needs the upstream to answer.
    expect(result.suites[0]!.cases[0]).toMatchObject({ id: 'bearer/valid-token-accepted', status: 'passed' });
    expect(result.profile['capabilities']).toContain('upstream');
    await expect(fetch(`http://127.0.0.1:${port}/_mock/providers`)).rejects.toThrow();
    expect(existsSync(join(dir, 'summary.json'))).toBe(true);
  });
});
