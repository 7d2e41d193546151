/**
 * `conformance demo`: every suite against the reference server, once per auth backend, each in
 * front of one shared mock IdP, in this process (as runner/detection/harness.ts assembles them:
 * memory store seeded from the personas). It shows what a passing server looks like and proves
 * that every suite can pass. dev-admin and dev-public answer MCP without authorization, so almost
 * every case is skipped there (with the reason), not failed.
 */
import { join, resolve } from 'node:path';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';
import { AUTH_BACKENDS, type AuthBackend } from '../reference-server/config.ts';
import { MOCK_PROVIDER } from '../reference-server/mock-wiring.ts';
import { formatDuration } from '../reports/describe.ts';
import { createReporters, REPORTER_NAMES } from '../reports/index.ts';
import type { CaseResult, RunResult, Summary } from '../reports/model.ts';
import type { OutputStream, Reporter } from '../reports/reporter.ts';
import { startTarget } from '../runner/detection/harness.ts';
import type { Capability, SuiteDef } from '../runner/suite.ts';
import { parseCommand, UsageError } from './args.ts';
import {
  type CommandIo,
  commaList,
  countOption,
  DEFAULT_CONCURRENCY,
  DEFAULT_OUT_DIR,
  DEFAULT_TIMEOUT_MS,
  RunFailure,
  selectSuites,
  toRunFailure,
  wrapList,
} from './run-command.ts';

/**
 * Backends run at once by default: a run waits on HTTP most of the time, so even on 2 cores six
 * at once keep the process busy without starving the cases' own timeouts.
 */
export const DEFAULT_PARALLEL_BACKENDS = 6;

/** Non-passing cases listed under a backend's line (the console reporter lists them all). */
const MAX_CASE_LINES = 10;

export const demoUsage = `Usage: conformance demo [options]

Runs every suite against the reference server once per auth backend (${AUTH_BACKENDS.length} backends), each
in front of the mock IdP, all in this process, and prints a table of the results per backend.
dev-admin and dev-public need no authorization, so most cases are skipped there. The jwt backend
runs a second time with a required scope (jwt+required-scopes) for the cases that need one.

Options:
  --backend NAME     only this backend (repeatable or comma-separated):
                     ${wrapList(AUTH_BACKENDS, 21)}
  --suite ID         only this suite (repeatable)
  --case GLOB        only the cases whose id matches (repeatable; * matches anything)
  --reporter NAMES   ${REPORTER_NAMES.join(', ')} (repeatable or comma-separated);
                     console prints each backend's full report; files go to DIR/<run>/
  --out DIR          where file reports are written (default ./${DEFAULT_OUT_DIR})
  --parallel N       backends run at once (default ${DEFAULT_PARALLEL_BACKENDS})
  --concurrency N    cases run at once in each backend (default ${DEFAULT_CONCURRENCY})
  --timeout MS       time limit of each step (default ${DEFAULT_TIMEOUT_MS})
  --verbose          with --reporter console: every check and the exchanges of failing ones
  --color, --no-color  with --reporter console: force colour on or off
  -h, --help         show this help

Exit code: 0 no backend has an unexpected failure; 1 one has; 2 a backend could not be run.`;

/** One run of the demo: a backend, how the reference server is configured, what it declares. */
export interface DemoRun {
  /** The row's name: the backend, or `backend+variant`. */
  name: string;
  backend: AuthBackend;
  /** Extra settings (nested) for the reference server. */
  settings?: Record<string, unknown>;
  /** Capabilities the probe cannot see, which this configuration has. */
  capabilities: Capability[];
  /** A variant runs only the cases that need this capability (the backend's main run has the rest). */
  onlyRequiring?: Capability;
}

/**
 * Backends whose upstream identity carries the personas' roles and groups under the names the
 * reference server passes on by default (claims.allow_list: roles, groups, permissions): Entra
 * id_tokens, the in-memory login (the personas' own claims) and the generic OIDC issuer's tokens
 * (jwt). GitHub, Google and Discord have no such claims; Auth0 namespaces custom claims and
 * Cognito prefixes them (`cognito:groups`), so nothing passes the allow-list there; the remote
 * backends' tokens carry none. (runner/detection/claims.test.ts declares the same.)
 */
const CLAIMS_PASSTHROUGH: readonly AuthBackend[] = ['azure', 'in-memory', 'jwt'];

/**
 * Required scopes (RFC 6750 3.1 insufficient_scope) are checked on the jwt backend with
 * `jwt.required_scopes: [mcp]`, as runner/detection/bearer.test.ts does. It is a variant that runs
 * only the cases needing `required-scopes`: with a required scope, the IdP's ordinary tokens
 * (no `mcp` scope) that the other cases present would rightly be refused.
 */
const REQUIRED_SCOPES_VARIANT: DemoRun = {
  name: 'jwt+required-scopes',
  backend: 'jwt',
  settings: { jwt: { required_scopes: ['mcp'] } },
  capabilities: ['required-scopes', 'claims-passthrough'],
  onlyRequiring: 'required-scopes',
};

/** The runs of the demo for these backends, in their order (a backend's variants follow it). */
export function demoRuns(backends: readonly AuthBackend[]): DemoRun[] {
  return backends.flatMap((backend) => [
    {
      name: backend,
      backend,
      capabilities: CLAIMS_PASSTHROUGH.includes(backend) ? (['claims-passthrough'] as Capability[]) : [],
    },
    ...(backend === REQUIRED_SCOPES_VARIANT.backend ? [REQUIRED_SCOPES_VARIANT] : []),
  ]);
}

/** One run's outcome. */
export interface DemoRow {
  name: string;
  backend: AuthBackend;
  upstream: string | undefined;
  result?: RunResult;
  /** Why the run could not be made. */
  error?: string;
  durationMs: number;
}

function bufferStream(isTTY: boolean): OutputStream & { text: () => string } {
  let text = '';
  return {
    write(chunk: string) {
      text += chunk;
      return true;
    },
    isTTY,
    text: () => text,
  };
}

/** Runs `fn` over `items`, at most `limit` at once, keeping the order of the results. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function caseLine(c: CaseResult): string {
  const why =
    c.reason ??
    c.checks
      .filter((k) => k.status === 'fail')
      .map((k) => k.message ?? k.description)
      .join('; ');
  return `    ${c.status === 'failed' ? '✗' : c.status === 'warning' ? '⚠' : 'ℹ'} ${c.id} [${c.status}]${why ? `: ${why}` : ''}`;
}

function verdict(row: DemoRow): string {
  if (row.error !== undefined) return 'ERROR';
  return row.result!.exitCode === 0 ? 'PASSED' : 'FAILED';
}

/** The per-backend table printed at the end. */
export function demoTable(rows: DemoRow[]): string[] {
  const header = [
    'Backend',
    'Upstream',
    'Cases',
    'Passed',
    'Failed',
    'Warnings',
    'Info',
    'Skipped',
    'Time',
    'Result',
  ];
  const zero: Summary = {
    total: 0,
    passed: 0,
    failed: 0,
    warnings: 0,
    info: 0,
    skipped: 0,
    expectedFailures: 0,
    staleExpectedFailures: [],
    unexpectedFailures: 0,
  };
  const cells = (name: string, upstream: string, s: Summary, time: string, result: string) => [
    name,
    upstream,
    String(s.total),
    String(s.passed),
    String(s.failed),
    String(s.warnings),
    String(s.info),
    String(s.skipped),
    time,
    result,
  ];
  const body = rows.map((r) =>
    cells(r.name, r.upstream ?? '-', r.result?.summary ?? zero, formatDuration(r.durationMs), verdict(r)),
  );
  const total: Summary = { ...zero };
  for (const r of rows) {
    const s = r.result?.summary ?? zero;
    total.total += s.total;
    total.passed += s.passed;
    total.failed += s.failed;
    total.warnings += s.warnings;
    total.info += s.info;
    total.skipped += s.skipped;
  }
  const overall = rows.some((r) => r.error !== undefined)
    ? 'ERROR'
    : rows.every((r) => r.result!.exitCode === 0)
      ? 'PASSED'
      : 'FAILED';
  const totalRow = cells('Total', '', total, '', overall);
  const widths = header.map((h, i) => Math.max(h.length, ...[...body, totalRow].map((r) => r[i]!.length)));
  const format = (row: string[]) =>
    row
      .map((cell, i) =>
        i <= 1 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [format(header), rule, ...body.map(format), rule, format(totalRow)];
}

export async function demoCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      backend: { type: 'string', multiple: true },
      suite: { type: 'string', multiple: true },
      case: { type: 'string', multiple: true },
      reporter: { type: 'string', multiple: true },
      out: { type: 'string' },
      parallel: { type: 'string' },
      concurrency: { type: 'string' },
      timeout: { type: 'string' },
      verbose: { type: 'boolean' },
      color: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.out(demoUsage);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const backends = [...new Set(commaList(values.backend) ?? AUTH_BACKENDS)] as AuthBackend[];
  for (const b of backends) {
    if (!(AUTH_BACKENDS as readonly string[]).includes(b)) {
      throw new UsageError(`--backend "${b}" is not a backend (valid: ${AUTH_BACKENDS.join(', ')})`);
    }
  }
  const reporterNames = commaList(values.reporter) ?? [];
  const unknown = reporterNames.filter((n) => !(REPORTER_NAMES as readonly string[]).includes(n));
  if (unknown.length) {
    throw new UsageError(
      `--reporter: unknown reporter ${unknown.map((n) => `"${n}"`).join(', ')} (valid: ${REPORTER_NAMES.join(', ')})`,
    );
  }
  if (values.color && values['no-color']) throw new UsageError('use either --color or --no-color');
  const color = values.color ? true : values['no-color'] ? false : undefined;
  const parallel = countOption(values.parallel, '--parallel') ?? DEFAULT_PARALLEL_BACKENDS;
  const concurrency = countOption(values.concurrency, '--concurrency') ?? DEFAULT_CONCURRENCY;
  const timeout = countOption(values.timeout, '--timeout') ?? DEFAULT_TIMEOUT_MS;
  const outDir = resolve(io.cwd ?? process.cwd(), values.out ?? DEFAULT_OUT_DIR);
  const suiteIds = commaList(values.suite);
  let suites: SuiteDef[];
  try {
    suites = selectSuites({
      ...(suiteIds?.length ? { suiteIds } : {}),
      ...(values.case?.length ? { caseGlobs: values.case } : {}),
    });
  } catch (error) {
    throw toRunFailure(error);
  }
  const selected = suiteIds?.length || values.case?.length;
  /** The case ids a run is limited to (undefined: every case). */
  const casesFor = (run: DemoRun): string[] | undefined => {
    const defs = suites.flatMap((s) => s.cases);
    if (run.onlyRequiring)
      return defs.filter((c) => c.requires.includes(run.onlyRequiring!)).map((c) => c.id);
    return selected ? defs.map((c) => c.id) : undefined;
  };
  // A variant with no case to run is left out.
  const runs = demoRuns(backends).filter((r) => !r.onlyRequiring || casesFor(r)!.length > 0);

  let mock: RunningMockIdp;
  try {
    mock = await startMockIdp();
  } catch (error) {
    throw new RunFailure(`the mock IdP could not start: ${(error as Error).message}`);
  }
  io.out(
    `Reference server, ${backends.length} backend${backends.length === 1 ? '' : 's'} (${runs.length} run${runs.length === 1 ? '' : 's'}), mock IdP on ${mock.url}`,
  );
  const written: string[] = [];
  try {
    const runOne = async (profile: DemoRun): Promise<DemoRow> => {
      const started = performance.now();
      const { name, backend } = profile;
      const upstream = MOCK_PROVIDER[backend];
      const cases = casesFor(profile);
      const consoleOut = bufferStream(io.isTTY === true);
      let reporters: Reporter[] = [];
      let target: Awaited<ReturnType<typeof startTarget>> | undefined;
      try {
        reporters = createReporters(reporterNames, {
          outDir: join(outDir, name),
          stream: consoleOut,
          verbose: values.verbose === true,
          ...(color !== undefined ? { color } : {}),
        });
        target = await startTarget({
          backend,
          mock,
          ...(profile.settings ? { settings: profile.settings } : {}),
        });
        const result = await target.run({
          ...(profile.capabilities.length ? { capabilities: profile.capabilities } : {}),
          ...(cases ? { cases } : {}),
          concurrency,
          stepTimeoutMs: timeout,
          reporters: reporters.map((r) => ({
            name: r.name,
            onRunStart: (info) => r.onRunStart(info),
            onCaseStart: (s, c) => r.onCaseStart(s, c),
            onCaseEnd: (s, c) => r.onCaseEnd(s, c),
            onRunEnd: async (run) => {
              const files = await r.onRunEnd(run);
              written.push(...files);
              return files;
            },
          })),
        });
        const row: DemoRow = { name, backend, upstream, result, durationMs: performance.now() - started };
        print(io, row, consoleOut.text());
        return row;
      } catch (error) {
        const failure = toRunFailure(error) as Error;
        const row: DemoRow = {
          name,
          backend,
          upstream,
          error: failure.message,
          durationMs: performance.now() - started,
        };
        print(io, row, consoleOut.text());
        return row;
      } finally {
        await target?.stop();
      }
    };
    // A backend's runs share its mock provider (faults, journal), so they run one after the other.
    const groups = backends.map((b) => runs.filter((r) => r.backend === b)).filter((g) => g.length > 0);
    const grouped = await pool(groups, parallel, async (group) => {
      const out: DemoRow[] = [];
      for (const run of group) out.push(await runOne(run));
      return out;
    });
    const rows = grouped.flat();
    io.out('');
    for (const line of demoTable(rows)) io.out(line);
    if (written.length) io.out(`Reports: ${outDir}/<run>/ (${written.length} files)`);
    if (rows.some((r) => r.error !== undefined)) return 2;
    return rows.every((r) => r.result!.exitCode === 0) ? 0 : 1;
  } finally {
    await mock.stop();
  }
}

/** One backend's block: its console report (with --reporter console) or a line and its non-passing cases. */
function print(io: CommandIo, row: DemoRow, consoleText: string): void {
  if (consoleText) {
    io.out('');
    io.out(`── ${row.name} ${'─'.repeat(Math.max(0, 60 - row.name.length))}`);
    for (const line of consoleText.replace(/\n$/, '').split('\n')) io.out(line);
  }
  if (row.error !== undefined) {
    io.out(`ERROR   ${row.name}: ${row.error}`);
    return;
  }
  const s = row.result!.summary;
  io.out(
    `${verdict(row).padEnd(7)} ${row.name}: ${s.passed} passed, ${s.failed} failed, ${s.warnings} warnings, ${s.info} info, ${s.skipped} skipped (${formatDuration(row.durationMs)})`,
  );
  if (consoleText) return;
  const notPassing = row
    .result!.suites.flatMap((suite) => suite.cases)
    .filter((c) => c.status === 'failed' || c.status === 'warning' || c.status === 'info');
  for (const c of notPassing.slice(0, MAX_CASE_LINES)) io.out(caseLine(c));
  if (notPassing.length > MAX_CASE_LINES) {
    io.out(
      `    ... and ${notPassing.length - MAX_CASE_LINES} more (--backend ${row.backend} --reporter console shows them all)`,
    );
  }
}
