/**
 * The console reporter: one line per finished case as the run goes, the failing checks of each
 * non-passing case indented below it, then a per-suite table, the totals, the verdict and what the
 * exit code means. Colour follows the no-color.org convention: only on a TTY, never with NO_COLOR,
 * always with FORCE_COLOR (which, as in Node itself, wins over NO_COLOR; FORCE_COLOR=0 turns it off).
 * @see https://no-color.org/
 * @see https://nodejs.org/api/cli.html#force_color1-2-3
 */
import {
  errorMessage,
  exitCodeMeaning,
  failingChecks,
  formatDuration,
  formatValue,
  isErrored,
  plural,
  showControlChars,
  suiteSummary,
  truncate,
  verdictOf,
} from './describe.ts';
import type { CaseResult, CaseStatus, CheckResult, Exchange, RunResult, Summary } from './model.ts';
import { createRedactor, type Redactor, redactCase, redactRun } from './redact.ts';
import type {
  CaseInfo,
  OutputStream,
  Reporter,
  ReporterOptions,
  RunStartInfo,
  SuiteInfo,
} from './reporter.ts';
import { withUrls } from './requirements.ts';

/** Bodies longer than this are cut in verbose exchange listings. */
const MAX_BODY_CHARS = 2000;

/**
 * Whether to colour output written to `stream`. An explicit choice wins; then FORCE_COLOR
 * (any value but `0`/`false` forces colour on); then NO_COLOR (any non-empty value turns it off);
 * then whether the stream is a TTY.
 */
export function shouldUseColor(
  stream: OutputStream,
  env: Record<string, string | undefined>,
  explicit?: boolean,
): boolean {
  if (explicit !== undefined) return explicit;
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return stream.isTTY === true;
}

/** Every string inside `value` with its control characters made visible (terminal injection). */
export function terminalSafe<T>(value: T): T {
  if (typeof value === 'string') {
    return showControlChars(value) as T;
  }
  if (Array.isArray(value)) return value.map((item) => terminalSafe(item)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [terminalSafe(k), terminalSafe(v)])) as T;
  }
  return value;
}

type Paint = (text: string) => string;

interface Palette {
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  dim: Paint;
  bold: Paint;
}

function palette(color: boolean): Palette {
  const sgr =
    (open: number, close: number): Paint =>
    (text) =>
      color ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    dim: sgr(2, 22),
    bold: sgr(1, 22),
  };
}

const SYMBOL: Record<CaseStatus, string> = {
  passed: '✓',
  failed: '✗',
  warning: '⚠',
  info: 'ℹ',
  skipped: '○',
};

export class ConsoleReporter implements Reporter {
  readonly name = 'console';
  readonly #stream: OutputStream;
  readonly #paint: Palette;
  readonly #verbose: boolean;
  readonly #redactor: Redactor;

  constructor(options: ReporterOptions = {}) {
    this.#stream = options.stream ?? process.stdout;
    this.#paint = palette(shouldUseColor(this.#stream, options.env ?? process.env, options.color));
    this.#verbose = options.verbose ?? false;
    this.#redactor = createRedactor(options.secrets ? { secrets: options.secrets } : {});
  }

  onRunStart(info: RunStartInfo): void {
    const p = this.#paint;
    this.#line(p.bold(`${info.tool.name} ${info.tool.version}`));
    this.#line(`target: ${terminalSafe(this.#redactor.text(info.target))}`);
    if (info.suites) {
      const cases = info.suites.reduce((n, s) => n + s.cases, 0);
      this.#line(p.dim(`${plural(cases, 'case')} in ${plural(info.suites.length, 'suite')}`));
    }
    this.#line('');
  }

  onCaseStart(_suite: SuiteInfo, _case: CaseInfo): void {
    // Cases run in parallel: a line per started case would interleave with finished ones.
  }

  onCaseEnd(_suite: SuiteInfo, raw: CaseResult): void {
    const result = terminalSafe(redactCase(raw, this.#redactor));
    for (const line of this.caseLines(result)) this.#line(line);
  }

  async onRunEnd(raw: RunResult): Promise<string[]> {
    const run = terminalSafe(redactRun(raw, this.#redactor));
    this.#line('');
    for (const line of this.summaryLines(run)) this.#line(line);
    return [];
  }

  /** The lines printed for one finished case. */
  caseLines(result: CaseResult): string[] {
    const p = this.#paint;
    const paint = this.#statusPaint(result.status);
    const tags: string[] = [];
    if (result.status !== 'passed' && result.status !== 'skipped') tags.push(result.level);
    tags.push(formatDuration(result.durationMs));
    let line = `${paint(SYMBOL[result.status])} ${result.id}  ${result.title}  ${p.dim(`(${tags.join(', ')})`)}`;
    if (result.expectedFailure === 'matched') line += ` ${p.yellow('[expected failure]')}`;
    if (result.expectedFailure === 'stale') line += ` ${p.red('[stale expected failure: it passed]')}`;
    if (result.status === 'skipped') line += p.dim(` skipped: ${result.reason ?? 'no reason given'}`);
    const lines = [line];

    if (isErrored(result)) lines.push(`    ${p.red('error:')} ${errorMessage(result)}`);
    const checks = this.#verbose ? result.checks : failingChecks(result);
    for (const check of checks) lines.push(...this.#checkLines(result, check));
    return lines;
  }

  #checkLines(result: CaseResult, check: CheckResult): string[] {
    const p = this.#paint;
    const failed = check.status === 'fail';
    const mark = failed ? this.#statusPaint(result.status)('✗') : p.green('✓');
    const lines = [`    ${mark} ${check.description}`];
    if (!failed) return lines;
    if (check.message) lines.push(`      ${check.message}`);
    if (this.#verbose) {
      if ('expected' in check) lines.push(`      ${p.dim('expected:')} ${formatValue(check.expected)}`);
      if ('actual' in check) lines.push(`      ${p.dim('actual:  ')} ${formatValue(check.actual)}`);
    }
    const requirements = withUrls(check.requirements.length ? check.requirements : result.requirements);
    if (requirements.length) {
      const refs = requirements.map((r) => (this.#verbose && r.url ? `${r.tag} ${p.dim(r.url)}` : r.tag));
      lines.push(`      ${p.dim('see:')} ${refs.join(', ')}`);
    }
    if (this.#verbose) {
      for (const id of check.exchanges) {
        const exchange = result.exchanges.find((e) => e.id === id);
        if (exchange) lines.push(...this.#exchangeLines(exchange));
      }
    }
    return lines;
  }

  #exchangeLines(exchange: Exchange): string[] {
    const p = this.#paint;
    const pad = '        ';
    const lines = [
      `      ${p.cyan('→')} ${exchange.request.method} ${exchange.request.url} ${p.dim(`(${exchange.step})`)}`,
    ];
    for (const [name, value] of Object.entries(exchange.request.headers))
      lines.push(`${pad}${p.dim(`${name}:`)} ${value}`);
    if (exchange.request.body) lines.push(...indentBody(exchange.request.body, pad));
    if (exchange.response) {
      const r = exchange.response;
      lines.push(`      ${p.cyan('←')} ${r.status} ${p.dim(`(${formatDuration(exchange.durationMs)})`)}`);
      for (const [name, value] of Object.entries(r.headers))
        lines.push(`${pad}${p.dim(`${name}:`)} ${value}`);
      if (r.body) lines.push(...indentBody(r.body, pad));
    } else {
      lines.push(`      ${p.red('←')} no response: ${exchange.error ?? 'unknown error'}`);
    }
    return lines;
  }

  /** The table, the totals, the verdict and the exit code's meaning. */
  summaryLines(run: RunResult): string[] {
    const p = this.#paint;
    const header = ['Suite', 'Cases', 'Passed', 'Failed', 'Warnings', 'Info', 'Skipped'];
    const row = (name: string, s: Summary) => [
      name,
      String(s.total),
      String(s.passed),
      String(s.failed),
      String(s.warnings),
      String(s.info),
      String(s.skipped),
    ];
    const rows = run.suites.map((suite) => row(suite.id, suiteSummary(suite)));
    const total = row('Total', run.summary);
    const widths = header.map((h, i) => Math.max(h.length, ...[...rows, total].map((r) => r[i]!.length)));
    const format = (cells: string[]) =>
      cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    const rule = widths.map((w) => '─'.repeat(w)).join('  ');

    const s = run.summary;
    const lines = [p.bold(format(header)), rule, ...rows.map(format), rule, p.bold(format(total)), ''];
    const counts = [
      p.green(`${s.passed} passed`),
      p.red(`${s.failed} failed`) + (s.expectedFailures ? ` (${s.expectedFailures} expected)` : ''),
      p.yellow(plural(s.warnings, 'warning')),
      p.cyan(`${s.info} info`),
      p.dim(`${s.skipped} skipped`),
    ];
    lines.push(`${plural(s.total, 'case')}: ${counts.join(', ')} in ${formatDuration(run.durationMs)}`);
    if (s.staleExpectedFailures.length) {
      lines.push(
        p.red(
          `Stale expected failures (listed, but they passed; remove them from the expected-failures file): ${s.staleExpectedFailures.join(', ')}`,
        ),
      );
    }
    const verdict = verdictOf(run);
    const paint = verdict.word === 'PASSED' ? p.green : p.red;
    lines.push(`${paint(p.bold(verdict.word))}: ${verdict.sentence}`);
    lines.push(p.dim(`exit code ${run.exitCode}: ${exitCodeMeaning(run.exitCode)}`));
    return lines;
  }

  #statusPaint(status: CaseStatus): Paint {
    const p = this.#paint;
    switch (status) {
      case 'passed':
        return p.green;
      case 'failed':
        return p.red;
      case 'warning':
        return p.yellow;
      case 'info':
        return p.cyan;
      case 'skipped':
        return p.dim;
    }
  }

  #line(text: string): void {
    this.#stream.write(`${text}\n`);
  }
}

function indentBody(body: string, pad: string): string[] {
  return truncate(body, MAX_BODY_CHARS)
    .split('\n')
    .map((line) => `${pad}${line}`);
}
