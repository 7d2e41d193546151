import { describe, expect, it } from 'vitest';
import { ConsoleReporter, shouldUseColor, terminalSafe } from './console.ts';
import { fixtureRun, passingRun, RUNNER_SECRETS, SECRETS } from './fixtures/run.ts';
import type { RunResult } from './model.ts';
import type { OutputStream, ReporterOptions } from './reporter.ts';

const ANSI = /\u001b\[[0-9;]*m/;

class Capture implements OutputStream {
  text = '';
  isTTY: boolean;
  constructor(isTTY = false) {
    this.isTTY = isTTY;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

async function render(run: RunResult, options: ReporterOptions & { stream: Capture }): Promise<string> {
  const reporter = new ConsoleReporter({ env: {}, secrets: RUNNER_SECRETS, ...options });
  reporter.onRunStart({
    target: run.target,
    startedAt: run.startedAt,
    tool: run.tool,
    suites: run.suites.map((s) => ({ id: s.id, title: s.title, cases: s.cases.length })),
  });
  for (const suite of run.suites) {
    for (const c of suite.cases) {
      reporter.onCaseStart(suite, c);
      reporter.onCaseEnd(suite, c);
    }
  }
  expect(await reporter.onRunEnd(run)).toEqual([]);
  return options.stream.text;
}

describe('shouldUseColor', () => {
  const tty = new Capture(true);
  const pipe = new Capture(false);
  it.each([
    ['a TTY with a clean env', tty, {}, undefined, true],
    ['a pipe', pipe, {}, undefined, false],
    ['a TTY with NO_COLOR=1', tty, { NO_COLOR: '1' }, undefined, false],
    ['a TTY with an empty NO_COLOR (not set, per no-color.org)', tty, { NO_COLOR: '' }, undefined, true],
    ['a pipe with FORCE_COLOR=1', pipe, { FORCE_COLOR: '1' }, undefined, true],
    ['a pipe with FORCE_COLOR= (empty)', pipe, { FORCE_COLOR: '' }, undefined, true],
    ['FORCE_COLOR over NO_COLOR', pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }, undefined, true],
    ['a TTY with FORCE_COLOR=0', tty, { FORCE_COLOR: '0' }, undefined, false],
    ['--no-color over FORCE_COLOR', tty, { FORCE_COLOR: '3' }, false, false],
    ['--color on a pipe', pipe, { NO_COLOR: '1' }, true, true],
  ] as const)('%s -> %s', (_label, stream, env, explicit, expected) => {
    expect(shouldUseColor(stream, env, explicit)).toBe(expected);
  });
});

describe('ConsoleReporter', () => {
  it('prints one line per case, the failing checks indented, the table, totals and exit code; no colour on a pipe', async () => {
    const out = await render(fixtureRun(), { stream: new Capture(false) });
    expect(out).not.toMatch(ANSI);
    const lines = out.split('\n');
    expect(lines[0]).toBe('mcp-auth-conformance 0.1.0');
    expect(lines[1]).toBe('target: http://127.0.0.1:8000/mcp');
    expect(lines[2]).toBe('11 cases in 4 suites');
    expect(out).toContain(
      '✓ discovery/unauthenticated-401  An unauthenticated MCP request gets 401 with a resource_metadata challenge  (18 ms)',
    );
    expect(out).toContain(
      '⚠ discovery/as-metadata-cache  Authorization server metadata is cacheable  (SHOULD, 9 ms)',
    );
    expect(out).toContain('ℹ tokens/refresh-rotation  Refresh tokens rotate on use  (MAY, 23 ms)');
    expect(out).toContain(
      '○ tokens/revocation  Revoked refresh tokens stop working  (0 ms) skipped: the server does not advertise a revocation_endpoint',
    );
    expect(out).toContain('(MUST, 15 ms) [expected failure]');
    expect(out).toContain('(31 ms) [stale expected failure: it passed]');
    expect(out).toContain('    error: step "authorize-plain" errored: connect ECONNREFUSED 127.0.0.1:8000');

    // A failed MUST case: its failing check, message and tags indented under it; its passing check not shown.
    const at = lines.findIndex((l) => l.startsWith('✗ tokens/audience-bound'));
    expect(lines[at]).toBe(
      '✗ tokens/audience-bound  A token minted for another resource is refused  (MUST, 42 ms)',
    );
    expect(lines[at + 1]).toBe('    ✗ status is 401');
    expect(lines[at + 2]).toMatch(
      /^ {6}status is 200, expected 401: the server accepted "Authorization: Bearer \[redacted\]"/,
    );
    expect(lines[at + 3]).toBe(
      '      see: RFC8707-2, MCP-authorization-token-audience-binding-and-validation',
    );
    expect(lines[at + 4]).toMatch(/^ℹ tokens\/refresh-rotation/);
    expect(out).not.toContain('the response names no upstream token');

    expect(out).toContain('Suite      Cases  Passed  Failed  Warnings  Info  Skipped');
    expect(out).toContain('tokens         4       0       2         0     1        1');
    expect(out).toContain('Total         11       4       3         1     1        2');
    expect(out).toContain('11 cases: 4 passed, 3 failed (1 expected), 1 warning, 1 info, 2 skipped in 1.3 s');
    expect(out).toContain(
      'Stale expected failures (listed, but they passed; remove them from the expected-failures file): pkce/verifier-required',
    );
    expect(out).toContain('FAILED: 2 unexpected failures and 1 stale expected failure');
    expect(out).toContain('exit code 1: unexpected failures, or expected failures that no longer happen');
  });

  it('colours on a TTY, and NO_COLOR turns it off', async () => {
    const coloured = await render(fixtureRun(), { stream: new Capture(true) });
    expect(coloured).toMatch(ANSI);
    expect(coloured).toContain('\u001b[31m✗\u001b[39m tokens/audience-bound');
    expect(coloured).toContain('\u001b[32m✓\u001b[39m discovery/unauthenticated-401');
    const plain = await render(fixtureRun(), { stream: new Capture(true), env: { NO_COLOR: '1' } });
    expect(plain).not.toMatch(ANSI);
    expect(plain).toContain('✗ tokens/audience-bound');
    const forced = await render(fixtureRun(), { stream: new Capture(false), env: { FORCE_COLOR: '1' } });
    expect(forced).toMatch(ANSI);
  });

  it('says PASSED with exit code 0 for a run without unexpected failures', async () => {
    const out = await render(passingRun(), { stream: new Capture(false) });
    expect(out).toContain('PASSED: no unexpected failure (1 warning)');
    expect(out).toContain('exit code 0: no unexpected failure');
    expect(out).not.toContain('Stale expected failures');
  });

  it('--verbose prints every check and the redacted exchanges of failing checks', async () => {
    const out = await render(fixtureRun(), { stream: new Capture(false), verbose: true });
    expect(out).toContain('    ✓ the response names no upstream token');
    expect(out).toContain('    ✓ status is 401');
    expect(out).toContain('      expected: 401\n      actual:   200');
    expect(out).toContain('https://www.rfc-editor.org/rfc/rfc8707#section-2');
    expect(out).toContain('      → POST http://127.0.0.1:8000/mcp (call-with-foreign-token)');
    expect(out).toContain('        authorization: Bearer [redacted]');
    expect(out).toContain('        x-tenant-key: [redacted]');
    expect(out).toContain('      ← 200 (7 ms)');
    expect(out).toContain(
      'grant_type=authorization_code&code=[redacted]&client_id=client-1&client_secret=[redacted]',
    );
    // Exchanges of passing checks are not printed.
    expect(out).not.toContain('(consent)');
  });

  it('prints no secret and no raw control character, even verbose', async () => {
    for (const verbose of [false, true]) {
      const out = await render(fixtureRun(), { stream: new Capture(false), verbose });
      for (const [name, secret] of Object.entries(SECRETS)) expect(out, name).not.toContain(secret);
      expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    }
    const out = await render(fixtureRun(), { stream: new Capture(false) });
    expect(out).toContain('"refresh_token" is the one sent \\u0000\\u001b[31m (not rotated)');
  });

  it('makes control characters visible in nested values', () => {
    expect(terminalSafe({ a: ['x\u001b[2Jy'], n: 1, t: 'tab\tok' })).toEqual({
      a: ['x\\u001b[2Jy'],
      n: 1,
      t: 'tab\tok',
    });
  });
});
