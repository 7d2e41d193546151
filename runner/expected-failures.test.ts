import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ExpectedFailuresError,
  loadExpectedFailures,
  parseExpectedFailures,
  staleEntries,
  unmatchedEntries,
} from './expected-failures.ts';

describe('expected-failures file', () => {
  it('plain text: one glob a line, # comments (whole line or trailing), blank lines ignored', () => {
    const list = parseExpectedFailures(
      '# known failures\n\npkce/plain-method-refused\ncodes/*  # refresh rotation not done yet\n  consent/remembered-*\n',
      'known.txt',
    );
    expect(list).toEqual({
      file: 'known.txt',
      entries: [
        { pattern: 'pkce/plain-method-refused', line: 3 },
        { pattern: 'codes/*', line: 4, reason: 'refresh rotation not done yet' },
        { pattern: 'consent/remembered-*', line: 5 },
      ],
    });
  });

  it('YAML: a list of globs or { case, reason }, by extension or by a leading "- "', () => {
    const yaml = parseExpectedFailures(
      '- pkce/*\n- case: "user-resolution/*[persona=erin]"\n  reason: no login match\n',
      'k.yaml',
    );
    expect(yaml.entries).toEqual([
      { pattern: 'pkce/*', line: 1 },
      { pattern: 'user-resolution/*[persona=erin]', line: 2, reason: 'no login match' },
    ]);
    const sniffed = parseExpectedFailures('# list\n- bearer/alg-none\n', 'known.txt');
    expect(sniffed.entries).toEqual([{ pattern: 'bearer/alg-none', line: 2 }]);
    expect(parseExpectedFailures('', 'empty.yaml').entries).toEqual([]);
  });

  it('refuses what is not a glob, naming file and line', () => {
    expect(() => parseExpectedFailures('pkce/a\nbearer alg none\n', 'k.txt')).toThrow(
      new ExpectedFailuresError('k.txt', 2, '"bearer alg none" is not a case id glob (no spaces or "#")'),
    );
    expect(() => parseExpectedFailures('- pkce/a\n- { id: x }\n', 'k.yaml')).toThrow(
      'k.yaml:2: [1].id: is not a known field (case, reason)',
    );
    expect(() => parseExpectedFailures('- [a, b]\n', 'k.yaml')).toThrow(
      'k.yaml:1: [0]: must be a case id glob or { case, reason }',
    );
    expect(() => parseExpectedFailures('cases: [a]\n', 'k.yaml')).toThrow(
      'k.yaml:1: a YAML expected-failures file is a list',
    );
    expect(() => loadExpectedFailures('/no/such/file')).toThrow('/no/such/file: cannot read the file');
    const dir = mkdtempSync(join(tmpdir(), 'expected-'));
    writeFileSync(join(dir, 'k.txt'), 'pkce/*\n');
    expect(loadExpectedFailures(join(dir, 'k.txt')).entries).toEqual([{ pattern: 'pkce/*', line: 1 }]);
  });

  it('finds stale entries (their case passed) and entries matching no case', () => {
    const list = parseExpectedFailures('pkce/*\nbearer/alg-none\ngone/case\n', 'k.txt');
    expect(staleEntries(list, ['bearer/alg-none']).map((e) => e.line)).toEqual([2]);
    expect(staleEntries(list, []).map((e) => e.line)).toEqual([]);
    expect(
      unmatchedEntries(list, ['pkce/plain-method-refused', 'bearer/alg-none']).map((e) => e.pattern),
    ).toEqual(['gone/case']);
  });
});
