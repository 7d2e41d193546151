/**
 * Reports of a conformance run: the result model, redaction, requirement links, and one reporter
 * per format (console, json, junit, markdown, html). `createReporters` builds them by name.
 */
import { ConsoleReporter } from './console.ts';
import { HtmlReporter } from './html.ts';
import { JsonReporter } from './json.ts';
import { JunitReporter } from './junit.ts';
import { MarkdownReporter } from './markdown.ts';
import { ReportError, type Reporter, type ReporterOptions } from './reporter.ts';

export { ConsoleReporter, shouldUseColor } from './console.ts';
export { exitCodeMeaning, type Verdict, verdictOf } from './describe.ts';
export { DATA_ELEMENT_ID, HTML_FILE, HtmlReporter, htmlReport } from './html.ts';
export { JsonReporter, RESULTS_FILE, SUMMARY_FILE, type SummaryFile, summaryFile } from './json.ts';
export { JUNIT_FILE, JunitReporter, junitXml } from './junit.ts';
export { MARKDOWN_FILE, MarkdownReporter, markdownSummary } from './markdown.ts';
export type {
  CaseResult,
  CaseStatus,
  CheckResult,
  CheckStatus,
  Exchange,
  Level,
  Requirement,
  RunResult,
  StepResult,
  SuiteResult,
  Summary,
} from './model.ts';
export { caseStatus, exitCodeOf, RESULT_SCHEMA_VERSION, summarize } from './model.ts';
export {
  createRedactor,
  isSecretName,
  REDACTED,
  REDACTED_JWT,
  type RedactOptions,
  type Redactor,
  redactCase,
  redactExchange,
  redactRun,
} from './redact.ts';
export {
  type CaseInfo,
  combineReporters,
  type OutputStream,
  ReportError,
  type ReportErrorCode,
  type Reporter,
  type ReporterOptions,
  type RunStartInfo,
  type SuiteInfo,
} from './reporter.ts';
export {
  linkRequirement,
  MCP_SPEC_REVISION,
  requirementUrl,
  SECURITY_EDGES_URL,
  withUrls,
} from './requirements.ts';

/** The report formats `--report` accepts. */
export const REPORTER_NAMES = ['console', 'json', 'junit', 'markdown', 'html'] as const;
export type ReporterName = (typeof REPORTER_NAMES)[number];

const FACTORIES: Record<ReporterName, (options: ReporterOptions) => Reporter> = {
  console: (options) => new ConsoleReporter(options),
  json: (options) => new JsonReporter(options),
  junit: (options) => new JunitReporter(options),
  markdown: (options) => new MarkdownReporter(options),
  html: (options) => new HtmlReporter(options),
};

function isReporterName(name: string): name is ReporterName {
  return (REPORTER_NAMES as readonly string[]).includes(name);
}

/**
 * Reporters by name, in the order given (duplicates once). Every name is checked before any
 * reporter is built, so a typo is reported whole: `unknown report "jnuit" (valid: console, ...)`.
 */
export function createReporters(names: readonly string[], options: ReporterOptions = {}): Reporter[] {
  const unknown = names.filter((name) => !isReporterName(name));
  if (unknown.length) {
    throw new ReportError(
      'ERR_UNKNOWN_REPORTER',
      `unknown report ${unknown.map((n) => `"${n}"`).join(', ')} (valid: ${REPORTER_NAMES.join(', ')})`,
    );
  }
  const unique = [...new Set(names)] as ReporterName[];
  return unique.map((name) => FACTORIES[name](options));
}
