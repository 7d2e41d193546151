/**
 * The JUnit XML reporter (`junit.xml`), in the Ant/Surefire shape that GitHub test-report
 * actions, GitLab (`artifacts:reports:junit`) and Jenkins read: `<testsuites>` > `<testsuite>` per
 * suite > `<testcase>` per case.
 *
 * - failed MUST case -> `<failure message type="MUST">`, the failing checks and their links in the body;
 * - errored case (a step could not run) -> `<error>`;
 * - skipped case -> `<skipped message="reason"/>`;
 * - expected failure -> `<skipped message="expected failure: ...">`;
 * - stale expected failure (listed, but passed) -> `<failure type="stale-expected-failure">`, since
 *   it fails the run (exit code 1);
 * - warning and info cases pass, with a `<system-out>` saying what was found.
 * @see https://github.com/testmoapp/junitxml (the de-facto format and which attributes viewers read)
 * @see https://docs.gitlab.com/ci/testing/unit_test_reports/
 * @see https://www.w3.org/TR/xml/#charsets (characters XML 1.0 allows)
 */
import { errorMessage, failingChecks, formatValue, isErrored, plural, truncate } from './describe.ts';
import type { CaseResult, CheckResult, RunResult, SuiteResult } from './model.ts';
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

export const JUNIT_FILE = 'junit.xml';

/** Longest expected/actual value quoted in a failure body. */
const MAX_VALUE_CHARS = 2000;

// Characters XML 1.0 does not allow at all, even as references (C0 controls but tab, LF, CR;
// lone surrogates; U+FFFE, U+FFFF). They are shown as \uXXXX instead.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

function visible(text: string): string {
  return text.replace(INVALID_XML_CHARS, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/** Escapes character data. */
export function xmlText(text: string): string {
  return visible(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes an attribute value (quoted with `"`); newlines and tabs survive as references. */
export function xmlAttr(text: string): string {
  return xmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

function attrs(values: Record<string, string | number | undefined>): string {
  return Object.entries(values)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

type Outcome = 'passed' | 'failure' | 'error' | 'skipped';

function outcomeOf(result: CaseResult): Outcome {
  if (result.expectedFailure === 'stale') return 'failure';
  if (result.status === 'skipped') return 'skipped';
  if (result.status === 'failed') {
    if (result.expectedFailure === 'matched') return 'skipped';
    return isErrored(result) ? 'error' : 'failure';
  }
  return 'passed';
}

/** The failing checks of a case as plain text: message, expected/actual, links, exchanges. */
function checksText(result: CaseResult, checks: CheckResult[]): string {
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`✗ ${check.check}: ${check.description}`);
    if (check.message) lines.push(`  ${check.message}`);
    if ('expected' in check)
      lines.push(`  expected: ${truncate(formatValue(check.expected), MAX_VALUE_CHARS)}`);
    if ('actual' in check) lines.push(`  actual:   ${truncate(formatValue(check.actual), MAX_VALUE_CHARS)}`);
    const requirements = withUrls(check.requirements.length ? check.requirements : result.requirements);
    for (const r of requirements) lines.push(`  see: ${r.tag}${r.url ? ` ${r.url}` : ''}`);
    for (const id of check.exchanges) {
      const exchange = result.exchanges.find((e) => e.id === id);
      if (!exchange) continue;
      const answer = exchange.response
        ? String(exchange.response.status)
        : `no response (${exchange.error ?? 'error'})`;
      lines.push(`  exchange #${id}: ${exchange.request.method} ${exchange.request.url} -> ${answer}`);
    }
  }
  return lines.join('\n');
}

function firstMessage(checks: CheckResult[]): string {
  const check = checks[0];
  if (!check) return '';
  return check.message ?? check.description;
}

function testcase(suite: SuiteResult, result: CaseResult, target: string): string {
  const open = `    <testcase${attrs({
    classname: suite.id,
    name: `${result.id} — ${result.title}`,
    time: seconds(result.durationMs),
    file: suite.file,
  })}`;
  const failing = failingChecks(result);
  const outcome = outcomeOf(result);
  const body: string[] = [];
  if (outcome === 'failure' && result.expectedFailure === 'stale') {
    body.push(
      `      <failure${attrs({
        type: 'stale-expected-failure',
        message:
          'listed as an expected failure, but it did not fail: remove it from the expected-failures file',
      })}/>`,
    );
  } else if (outcome === 'failure') {
    const message = `${plural(failing.length, 'failing check')}: ${firstMessage(failing)}`;
    body.push(
      `      <failure${attrs({ message, type: result.level })}>${xmlText(checksText(result, failing))}</failure>`,
    );
  } else if (outcome === 'error') {
    const text = [
      errorMessage(result),
      ...result.steps.map((s) => `${s.status} ${s.step}: ${s.title}${s.message ? ` — ${s.message}` : ''}`),
    ];
    body.push(
      `      <error${attrs({ message: errorMessage(result), type: 'error' })}>${xmlText(text.join('\n'))}</error>`,
    );
  } else if (outcome === 'skipped' && result.expectedFailure === 'matched') {
    body.push(
      `      <skipped${attrs({ message: `expected failure: ${firstMessage(failing) || errorMessage(result)}` })}/>`,
    );
    body.push(`      <system-out>${xmlText(checksText(result, failing))}</system-out>`);
  } else if (outcome === 'skipped') {
    body.push(`      <skipped${attrs({ message: result.reason ?? 'skipped' })}/>`);
  } else if (result.status === 'warning' || result.status === 'info') {
    const head = `${result.status === 'warning' ? 'WARNING' : 'INFO'} (${result.level}): ${plural(failing.length, 'failing check')} at ${target}`;
    body.push(`      <system-out>${xmlText(`${head}\n${checksText(result, failing)}`)}</system-out>`);
  }
  return body.length ? `${open}>\n${body.join('\n')}\n    </testcase>` : `${open}/>`;
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  ms: number;
}

function countsOf(cases: CaseResult[]): Counts {
  const outcomes = cases.map(outcomeOf);
  return {
    tests: cases.length,
    failures: outcomes.filter((o) => o === 'failure').length,
    errors: outcomes.filter((o) => o === 'error').length,
    skipped: outcomes.filter((o) => o === 'skipped').length,
    ms: cases.reduce((sum, c) => sum + c.durationMs, 0),
  };
}

/** junit.xml's content for a (redacted) run. */
export function junitXml(run: RunResult): string {
  const total = countsOf(run.suites.flatMap((s) => s.cases));
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({
      name: `${run.tool.name} ${run.target}`,
      tests: total.tests,
      failures: total.failures,
      errors: total.errors,
      skipped: total.skipped,
      time: seconds(run.durationMs),
      timestamp: run.startedAt,
    })}>`,
  ];
  for (const suite of run.suites) {
    const c = countsOf(suite.cases);
    lines.push(
      `  <testsuite${attrs({
        name: suite.id,
        tests: c.tests,
        failures: c.failures,
        errors: c.errors,
        skipped: c.skipped,
        time: seconds(c.ms),
        timestamp: run.startedAt,
        file: suite.file,
      })}>`,
    );
    lines.push('    <properties>');
    lines.push(`      <property${attrs({ name: 'title', value: suite.title })}/>`);
    lines.push(`      <property${attrs({ name: 'target', value: run.target })}/>`);
    lines.push(`      <property${attrs({ name: 'tool', value: `${run.tool.name} ${run.tool.version}` })}/>`);
    lines.push('    </properties>');
    for (const result of suite.cases) lines.push(testcase(suite, result, run.target));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

export class JunitReporter implements Reporter {
  readonly name = 'junit';
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
    return [await writeReportFile(this.#outDir, JUNIT_FILE, junitXml(redactRun(raw, this.#redactor)))];
  }
}
