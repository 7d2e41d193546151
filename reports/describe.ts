/**
 * Results in words, shared by every report format: the verdict, the meaning of the exit code,
 * per-suite counts, durations and the rendering of expected/actual values.
 */
import {
  type CaseResult,
  type CaseStatus,
  type CheckResult,
  type RunResult,
  type SuiteResult,
  type Summary,
  summarize,
} from './model.ts';

/** Display order of statuses: what needs attention first. */
export const STATUS_ORDER: readonly CaseStatus[] = ['failed', 'warning', 'info', 'skipped', 'passed'];

export const STATUS_LABEL: Record<CaseStatus, string> = {
  passed: 'passed',
  failed: 'failed',
  warning: 'warning',
  info: 'info',
  skipped: 'skipped',
};

/** Counts of one suite's cases. */
export function suiteSummary(suite: SuiteResult): Summary {
  return summarize([suite]);
}

/** The checks that failed in a case. */
export function failingChecks(result: CaseResult): CheckResult[] {
  return result.checks.filter((check) => check.status === 'fail');
}

/** A failed case that failed because a step could not run rather than because a check failed. */
export function isErrored(result: CaseResult): boolean {
  return (
    result.status === 'failed' &&
    (result.steps.some((step) => step.status === 'error') || failingChecks(result).length === 0)
  );
}

/** Why an errored case errored: its reason, else the first step error. */
export function errorMessage(result: CaseResult): string {
  const step = result.steps.find((s) => s.status === 'error');
  return (
    result.reason ??
    (step ? `step "${step.step}" errored${step.message ? `: ${step.message}` : ''}` : 'errored')
  );
}

export interface Verdict {
  /** PASSED, FAILED or ERROR (the run could not be made). */
  word: 'PASSED' | 'FAILED' | 'ERROR';
  /** One sentence: why. */
  sentence: string;
}

/** The verdict of a run, from its exit code (DESIGN.md, "One run, as data flows", step 5). */
export function verdictOf(run: RunResult): Verdict {
  const s = run.summary;
  if (run.exitCode === 2) return { word: 'ERROR', sentence: 'the run could not be made' };
  if (run.exitCode === 1) {
    const parts: string[] = [];
    if (s.unexpectedFailures > 0) parts.push(plural(s.unexpectedFailures, 'unexpected failure'));
    if (s.staleExpectedFailures.length > 0) {
      parts.push(plural(s.staleExpectedFailures.length, 'stale expected failure'));
    }
    return { word: 'FAILED', sentence: parts.join(' and ') || 'failed' };
  }
  const notes: string[] = [];
  if (s.warnings > 0) notes.push(plural(s.warnings, 'warning'));
  if (s.expectedFailures > 0) notes.push(plural(s.expectedFailures, 'expected failure'));
  return {
    word: 'PASSED',
    sentence: notes.length ? `no unexpected failure (${notes.join(', ')})` : 'no unexpected failure',
  };
}

/** What an exit code means. */
export function exitCodeMeaning(code: 0 | 1 | 2): string {
  switch (code) {
    case 0:
      return 'no unexpected failure';
    case 1:
      return 'unexpected failures, or expected failures that no longer happen';
    case 2:
      return 'the run could not be made';
  }
}

/** `3 cases`, `1 case`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `850 ms`, `1.2 s`, `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** An expected or actual value as text: JSON, compact or indented; `(none)` when absent. */
export function formatValue(value: unknown, pretty = false): string {
  if (value === undefined) return '(none)';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value, null, pretty ? 2 : undefined) ?? String(value);
  } catch {
    return String(value);
  }
}

// C0 and C1 control characters other than tab, newline and carriage return.
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

/**
 * Control characters made visible as `\uXXXX`: printed raw they could recolour or move a terminal's
 * cursor (ECMA-48), and XML and HTML refuse or replace them.
 */
export function showControlChars(text: string): string {
  return text.replace(CONTROL_CHARS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Cuts a long text to `max` characters, saying how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** Search text of a case: what the HTML search box and similar filters match against. */
export function caseSearchText(suite: SuiteResult, result: CaseResult): string {
  return [
    suite.id,
    suite.title,
    result.id,
    result.title,
    result.level,
    result.status,
    result.reason ?? '',
    ...result.requirements.map((r) => r.tag),
    ...result.checks.flatMap((c) => [
      c.check,
      c.description,
      c.message ?? '',
      ...c.requirements.map((r) => r.tag),
    ]),
  ]
    .join(' ')
    .toLowerCase();
}
