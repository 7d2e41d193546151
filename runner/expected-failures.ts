/**
 * The expected-failures file: case id globs of cases known to fail, so that a run can pass while
 * they are being fixed. A listed case that fails does not count; a listed case that passes is a
 * stale entry and fails the run (DESIGN.md, "One run, as data flows", step 5), so the list never
 * outlives the bugs it excuses.
 *
 * Two forms are accepted:
 * - plain text: one glob a line; `#` starts a comment (a whole line, or after whitespace);
 * - YAML (a `.yaml`/`.yml` file, or text whose first entry starts with `- `): a list of globs, or
 *   of `{ case: <glob>, reason: <text> }`.
 *
 * A glob is a case id (`suite/case`, `suite/case[persona=alice]`) where `*` matches any run of
 * characters, `/` included.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { globToRegExp } from './run.ts';

export interface ExpectedFailure {
  /** The case id glob. */
  pattern: string;
  /** Where it is written (1-based line). */
  line: number;
  reason?: string;
}

export interface ExpectedFailures {
  file: string;
  entries: ExpectedFailure[];
}

/** An expected-failures file that cannot be used: file, line and why. */
export class ExpectedFailuresError extends Error {
  readonly code = 'ERR_EXPECTED_FAILURES_INVALID';
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, line: number | undefined, message: string) {
    super(`${file}${line ? `:${line}` : ''}: ${message}`);
    this.name = 'ExpectedFailuresError';
    this.file = file;
    this.line = line;
  }
}

/** Case ids are printable and have no whitespace; a glob adds `*`. */
const GLOB = /^[^\s#]+$/;

function checkGlob(file: string, line: number, value: string): string {
  if (!GLOB.test(value)) {
    throw new ExpectedFailuresError(file, line, `"${value}" is not a case id glob (no spaces or "#")`);
  }
  return value;
}

function looksLikeYaml(file: string, text: string): boolean {
  if (/\.ya?ml$/i.test(file)) return true;
  const first = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  return first !== undefined && /^\s*-(\s|$)/.test(first);
}

function parseYaml(text: string, file: string): ExpectedFailure[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new ExpectedFailuresError(
      file,
      e.linePos?.[0]?.line,
      `not valid YAML (${e.message.split('\n')[0]})`,
    );
  }
  if (doc.contents === null) return [];
  if (!isSeq(doc.contents))
    throw new ExpectedFailuresError(file, 1, 'a YAML expected-failures file is a list');
  const lineOf = (node: { range?: [number, number, number] | null | undefined }) =>
    node.range ? lines.linePos(node.range[0]).line : 1;
  return doc.contents.items.map((item, i) => {
    const node = item as { range?: [number, number, number] };
    const line = lineOf(node);
    if (isScalar(item) && typeof item.value === 'string') {
      return { pattern: checkGlob(file, line, item.value), line };
    }
    if (isMap(item)) {
      const value = item.toJSON() as Record<string, unknown>;
      const extra = Object.keys(value).find((k) => k !== 'case' && k !== 'reason');
      if (extra)
        throw new ExpectedFailuresError(file, line, `[${i}].${extra}: is not a known field (case, reason)`);
      if (typeof value['case'] !== 'string') {
        throw new ExpectedFailuresError(file, line, `[${i}].case: must be a case id glob`);
      }
      if (value['reason'] !== undefined && typeof value['reason'] !== 'string') {
        throw new ExpectedFailuresError(file, line, `[${i}].reason: must be a string`);
      }
      return {
        pattern: checkGlob(file, line, value['case']),
        line,
        ...(typeof value['reason'] === 'string' ? { reason: value['reason'] } : {}),
      };
    }
    throw new ExpectedFailuresError(file, line, `[${i}]: must be a case id glob or { case, reason }`);
  });
}

function parseLines(text: string, file: string): ExpectedFailure[] {
  const entries: ExpectedFailure[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const hash = raw.search(/(^|\s)#/);
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    const comment =
      hash >= 0
        ? raw
            .slice(hash)
            .replace(/^\s*#\s*/, '')
            .trim()
        : '';
    if (!content) continue;
    entries.push({
      pattern: checkGlob(file, i + 1, content),
      line: i + 1,
      ...(comment ? { reason: comment } : {}),
    });
  }
  return entries;
}

/** Parses the text of an expected-failures file; `file` names it in messages and picks the form. */
export function parseExpectedFailures(text: string, file: string): ExpectedFailures {
  return { file, entries: looksLikeYaml(file, text) ? parseYaml(text, file) : parseLines(text, file) };
}

export function loadExpectedFailures(file: string): ExpectedFailures {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ExpectedFailuresError(file, undefined, 'cannot read the file');
  }
  return parseExpectedFailures(text, file);
}

/** Entries that match none of these case ids (a typo, or a case that was renamed or removed). */
export function unmatchedEntries(list: ExpectedFailures, caseIds: readonly string[]): ExpectedFailure[] {
  return list.entries.filter((e) => {
    const re = globToRegExp(e.pattern);
    return !caseIds.some((id) => re.test(id));
  });
}

/** Entries that match a case that passed: each is a stale expected failure. */
export function staleEntries(list: ExpectedFailures, staleCaseIds: readonly string[]): ExpectedFailure[] {
  return list.entries.filter((e) => {
    const re = globToRegExp(e.pattern);
    return staleCaseIds.some((id) => re.test(id));
  });
}
