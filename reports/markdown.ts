/**
 * The Markdown reporter (`summary.md`), written for CI job summaries (append it to
 * `$GITHUB_STEP_SUMMARY`, or publish it as a merge-request note): the verdict, a per-suite table,
 * the failures, warnings and info findings with their failing checks, expected vs actual values and
 * spec links, then expected failures and skipped cases folded in `<details>`.
 * GitHub Flavored Markdown: tables, and raw HTML limited to details/summary.
 * @see https://github.github.com/gfm/
 * @see https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary
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
import type {
  CaseResult,
  CheckResult,
  Exchange,
  Requirement,
  RunResult,
  SuiteResult,
  Summary,
} from './model.ts';
import { createRedactor, type Redactor, redactRun } from './redact.ts';
import {
  type CaseInfo,
  type Reporter,
  type ReporterOptions,
  type RunStartInfo,
  requireOutDir,
  type SuiteInfo,
  writeReportFile,
} from './reporter.ts';
import { withUrls } from './requirements.ts';

export const MARKDOWN_FILE = 'summary.md';

/** Longest expected/actual value quoted inline. */
const MAX_VALUE_CHARS = 300;

/** Escapes text so that neither Markdown nor HTML in it is interpreted; one line. */
export function mdText(text: string): string {
  return showControlChars(text)
    .replace(/\r?\n/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]{}()#+!|~])/g, '\\$1');
}

/** An inline code span that survives backticks in its content; `|` escaped inside table cells. */
export function mdCode(text: string, inTable = false): string {
  const oneLine = showControlChars(text).replace(/\r?\n/g, ' ');
  const longestRun = Math.max(0, ...(oneLine.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = oneLine.startsWith('`') || oneLine.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${inTable ? oneLine.replace(/\|/g, '\\|') : oneLine}${pad}${fence}`;
}

function mdLink(label: string, url: string): string {
  const safe = url.replace(/[()\s<>]/g, (ch) => encodeURIComponent(ch));
  return `[${mdText(label)}](${safe})`;
}

function requirementLinks(requirements: readonly Requirement[]): string {
  return withUrls(requirements)
    .map((r) => (r.url ? mdLink(r.tag, r.url) : mdCode(r.tag)))
    .join(', ');
}

const ICON = {
  passed: '✅',
  failed: '❌',
  warning: '⚠️',
  info: 'ℹ️',
  skipped: '⏭️',
} as const;

function tableRow(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function counts(s: Summary): string[] {
  return [s.total, s.passed, s.failed, s.warnings, s.info, s.skipped].map(String);
}

function checkLines(result: CaseResult, check: CheckResult): string[] {
  const lines = [`- ${ICON[result.status]} **${mdText(check.description)}** (${mdCode(check.check)})`];
  if (check.message) lines.push(`  - ${mdText(check.message)}`);
  if ('expected' in check)
    lines.push(`  - expected: ${mdCode(truncate(formatValue(check.expected), MAX_VALUE_CHARS))}`);
  if ('actual' in check)
    lines.push(`  - actual: ${mdCode(truncate(formatValue(check.actual), MAX_VALUE_CHARS))}`);
  const requirements = check.requirements.length ? check.requirements : result.requirements;
  if (requirements.length) lines.push(`  - spec: ${requirementLinks(requirements)}`);
  for (const id of check.exchanges) {
    const exchange = result.exchanges.find((e) => e.id === id);
    if (exchange) lines.push(`  - exchange: ${exchangeLine(exchange)}`);
  }
  return lines;
}

function exchangeLine(exchange: Exchange): string {
  const answer = exchange.response
    ? String(exchange.response.status)
    : `no response (${exchange.error ?? 'error'})`;
  return mdCode(`${exchange.request.method} ${truncate(exchange.request.url, 200)} → ${answer}`);
}

function caseBlock(suite: SuiteResult, result: CaseResult): string[] {
  const meta = [result.level, `suite ${mdCode(suite.id)}`, formatDuration(result.durationMs)];
  if (result.requirements.length) meta.push(requirementLinks(result.requirements));
  const lines = [
    `#### ${ICON[result.status]} ${mdCode(result.id)} ${mdText(result.title)}`,
    '',
    meta.join(' · '),
    '',
  ];
  if (isErrored(result)) lines.push(`- ❌ **error**: ${mdText(errorMessage(result))}`);
  for (const check of failingChecks(result)) lines.push(...checkLines(result, check));
  lines.push('');
  return lines;
}

type Entry = { suite: SuiteResult; result: CaseResult };

function section(title: string, entries: Entry[]): string[] {
  if (!entries.length) return [];
  return [`### ${title} (${entries.length})`, '', ...entries.flatMap((e) => caseBlock(e.suite, e.result))];
}

/** summary.md's content for a (redacted) run. */
export function markdownSummary(run: RunResult): string {
  const verdict = verdictOf(run);
  const icon = verdict.word === 'PASSED' ? '✅' : '❌';
  const s = run.summary;
  const lines = [
    `## ${icon} ${mdText(run.tool.name)}: ${verdict.word}`,
    '',
    [
      `**${mdText(verdict.sentence)}**`,
      `target ${mdCode(run.target)}`,
      mdText(run.startedAt),
      formatDuration(run.durationMs),
      `${mdText(run.tool.name)} ${mdText(run.tool.version)}`,
    ].join(' · '),
    '',
    tableRow(['Suite', 'Cases', '✅ Passed', '❌ Failed', '⚠️ Warnings', 'ℹ️ Info', '⏭️ Skipped']),
    tableRow(['---', '--:', '--:', '--:', '--:', '--:', '--:']),
    ...run.suites.map((suite) =>
      tableRow([`${mdCode(suite.id, true)} ${mdText(suite.title)}`, ...counts(suiteSummary(suite))]),
    ),
    tableRow(['**Total**', ...counts(s).map((n) => `**${n}**`)]),
    '',
    `Exit code ${run.exitCode}: ${exitCodeMeaning(run.exitCode)}.`,
    '',
  ];

  const entries: Entry[] = run.suites.flatMap((suite) => suite.cases.map((result) => ({ suite, result })));
  const unexpected = entries.filter(
    (e) => e.result.status === 'failed' && e.result.expectedFailure !== 'matched',
  );
  const expected = entries.filter(
    (e) => e.result.status === 'failed' && e.result.expectedFailure === 'matched',
  );
  const stale = entries.filter((e) => e.result.expectedFailure === 'stale');
  const skipped = entries.filter((e) => e.result.status === 'skipped');

  lines.push(...section('❌ Failures', unexpected));
  if (stale.length) {
    lines.push(`### ❌ Stale expected failures (${stale.length})`, '');
    lines.push('Listed in the expected-failures file, but they did not fail: remove them from it.', '');
    for (const e of stale)
      lines.push(`- ${mdCode(e.result.id)} ${mdText(e.result.title)} (${e.result.status})`);
    lines.push('');
  }
  lines.push(
    ...section(
      '⚠️ Warnings',
      entries.filter((e) => e.result.status === 'warning'),
    ),
  );
  lines.push(
    ...section(
      'ℹ️ Info',
      entries.filter((e) => e.result.status === 'info'),
    ),
  );
  if (expected.length) {
    lines.push(`<details><summary>Expected failures (${expected.length})</summary>`, '');
    lines.push(...expected.flatMap((e) => caseBlock(e.suite, e.result)));
    lines.push('</details>', '');
  }
  if (skipped.length) {
    lines.push(`<details><summary>Skipped (${plural(skipped.length, 'case')})</summary>`, '');
    for (const e of skipped) {
      lines.push(
        `- ${mdCode(e.result.id)} ${mdText(e.result.title)}: ${mdText(e.result.reason ?? 'no reason given')}`,
      );
    }
    lines.push('', '</details>', '');
  }
  return lines.join('\n');
}

export class MarkdownReporter implements Reporter {
  readonly name = 'markdown';
  readonly #outDir: string;
  readonly #redactor: Redactor;

  constructor(options: ReporterOptions) {
    this.#outDir = requireOutDir(this.name, options);
    this.#redactor = createRedactor(options.secrets ? { secrets: options.secrets } : {});
  }

  onRunStart(_info: RunStartInfo): void {}
  onCaseStart(_suite: SuiteInfo, _case: CaseInfo): void {}
  onCaseEnd(_suite: SuiteInfo, _result: CaseResult): void {}

  async onRunEnd(raw: RunResult): Promise<string[]> {
    return [
      await writeReportFile(this.#outDir, MARKDOWN_FILE, markdownSummary(redactRun(raw, this.#redactor))),
    ];
  }
}
