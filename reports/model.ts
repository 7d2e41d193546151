/**
 * The result model of a conformance run: run -> suite -> case -> check. Every reporter reads this
 * and nothing else. Versioned: a change that removes or renames a field bumps the major version;
 * the JSON Schema in reports/result.schema.json describes it.
 */
export const RESULT_SCHEMA_VERSION = '1.0.0';

/** A check decides pass or fail only; the case's level decides what a failure means. */
export type CheckStatus = 'pass' | 'fail';

/**
 * - passed: every check passed.
 * - failed: a check failed in a MUST case, or the case errored (a step could not run).
 * - warning: a check failed in a SHOULD case.
 * - info: a check failed in a MAY case.
 * - skipped: the case does not apply to this server (the reason says why).
 */
export type CaseStatus = 'passed' | 'failed' | 'warning' | 'info' | 'skipped';

export type Level = 'MUST' | 'SHOULD' | 'MAY';

/** An HTTP request and its response as the runner saw them, secrets redacted. */
export interface Exchange {
  id: number;
  /** The step that made the request. */
  step: string;
  request: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body?: string;
  };
  response?: {
    status: number;
    headers: Record<string, string>;
    body?: string;
  };
  /** Why no response came (timeout, connection refused...). */
  error?: string;
  durationMs: number;
}

/** A requirement tag with its link (RFC7636-4.6 -> https://www.rfc-editor.org/rfc/rfc7636#section-4.6). */
export interface Requirement {
  tag: string;
  url?: string;
}

export interface CheckResult {
  /** Name of the single assertion, e.g. `status`, `header`, `json-field`, `no-redirect`. */
  check: string;
  /** What was checked, in words: `status is 400`, `"error" is invalid_grant`. */
  description: string;
  status: CheckStatus;
  requirements: Requirement[];
  expected?: unknown;
  actual?: unknown;
  /** Why it failed, naming the value at fault. */
  message?: string;
  /** Ids of the exchanges this check judged. */
  exchanges: number[];
}

export interface StepResult {
  step: string;
  title: string;
  status: 'ok' | 'error' | 'skipped';
  message?: string;
  durationMs: number;
}

export interface CaseResult {
  id: string;
  title: string;
  level: Level;
  requirements: Requirement[];
  status: CaseStatus;
  /** Why the case was skipped or errored. */
  reason?: string;
  /** Listed in the expected-failures file: a failure that does not count, or a stale entry when it passed. */
  expectedFailure?: 'matched' | 'stale';
  durationMs: number;
  steps: StepResult[];
  checks: CheckResult[];
  exchanges: Exchange[];
}

export interface SuiteResult {
  id: string;
  title: string;
  file: string;
  cases: CaseResult[];
}

export interface Summary {
  total: number;
  passed: number;
  failed: number;
  warnings: number;
  info: number;
  skipped: number;
  /** Failures listed in the expected-failures file. */
  expectedFailures: number;
  /** Entries of the expected-failures file that matched a case that did not fail. */
  staleExpectedFailures: string[];
  /** Failures that count: failed cases not listed as expected. */
  unexpectedFailures: number;
}

export interface RunResult {
  schemaVersion: typeof RESULT_SCHEMA_VERSION;
  tool: { name: string; version: string };
  target: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** What the probe found out about the server (PRM, AS metadata, capabilities). */
  profile: Record<string, unknown>;
  suites: SuiteResult[];
  summary: Summary;
  /** 0 no unexpected failure; 1 unexpected failures or stale expected failures; 2 the run could not be made. */
  exitCode: 0 | 1 | 2;
}

/** Case status from its level and its checks. */
export function caseStatus(level: Level, checks: CheckResult[], errored: boolean): CaseStatus {
  if (errored) return 'failed';
  if (checks.every((c) => c.status === 'pass')) return 'passed';
  return level === 'MUST' ? 'failed' : level === 'SHOULD' ? 'warning' : 'info';
}

/** Counts a run's cases. */
export function summarize(suites: SuiteResult[]): Summary {
  const cases = suites.flatMap((s) => s.cases);
  const count = (status: CaseStatus) => cases.filter((c) => c.status === status).length;
  const expectedFailures = cases.filter(
    (c) => c.status === 'failed' && c.expectedFailure === 'matched',
  ).length;
  return {
    total: cases.length,
    passed: count('passed'),
    failed: count('failed'),
    warnings: count('warning'),
    info: count('info'),
    skipped: count('skipped'),
    expectedFailures,
    staleExpectedFailures: cases.filter((c) => c.expectedFailure === 'stale').map((c) => c.id),
    unexpectedFailures: count('failed') - expectedFailures,
  };
}

/** Exit code of a finished run (DESIGN.md, "One run, as data flows", step 5). */
export function exitCodeOf(summary: Summary): 0 | 1 {
  return summary.unexpectedFailures > 0 || summary.staleExpectedFailures.length > 0 ? 1 : 0;
}
