import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSuites, loadSuiteText, SuiteError } from './load.ts';

const valid = `suite: demo
title: Demo
cases:
  - id: one
    title: One
    level: MUST
    tags: [RFC6750-3]
    steps:
      - mcp: {}
        as: res
    expect:
      - status: { of: res, equals: 401 }
`;

function refused(text: string): SuiteError {
  try {
    loadSuiteText(text, 'suites/demo.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(SuiteError);
    return error as SuiteError;
  }
  throw new Error('the suite was accepted');
}

describe('suite loading', () => {
  it('loads every bundled suite, ids prefixed with the suite id', () => {
    const suites = loadSuites(undefined, ['alice', 'bob']);
    expect(suites.length).toBeGreaterThanOrEqual(12);
    for (const s of suites) for (const c of s.cases) expect(c.id.startsWith(`${s.id}/`)).toBe(true);
  });

  it('parses a valid suite into steps and checks', () => {
    const suite = loadSuiteText(valid, 'suites/demo.yaml');
    expect(suite.cases[0]).toMatchObject({
      id: 'demo/one',
      level: 'MUST',
      steps: [{ kind: 'mcp', as: 'res', line: 9 }],
      expect: [{ kind: 'check', check: 'status', args: { of: 'res', equals: 401 }, line: 12 }],
    });
  });

  it('expands a matrix into one case per value', () => {
    const suite = loadSuiteText(
      valid.replace('    level: MUST', '    level: MUST\n    matrix: { persona: $personas }'),
      'x.yaml',
      ['alice', 'bob'],
    );
    expect(suite.cases.map((c) => c.id)).toEqual(['demo/one[persona=alice]', 'demo/one[persona=bob]']);
    expect(suite.cases[1]!.matrix).toEqual({ persona: 'bob' });
  });

  const cases: Array<[string, string, RegExp]> = [
    [
      'an unknown field',
      valid.replace('    level: MUST', '    level: MUST\n    severity: high'),
      /^suites\/demo\.yaml:\d+: cases\[0\]\.severity: is not a known field$/,
    ],
    [
      'a missing field',
      valid.replace('    title: One\n', ''),
      /^suites\/demo\.yaml:4: cases\[0\]: "title" is missing$/,
    ],
    [
      'a bad level',
      valid.replace('level: MUST', 'level: SHALL'),
      /^suites\/demo\.yaml:6: cases\[0\]\.level: must be one of MUST, SHOULD, MAY$/,
    ],
    [
      'two step keywords',
      valid.replace('      - mcp: {}', '      - mcp: {}\n        http: { url: x }'),
      /^suites\/demo\.yaml:9: cases\[0\]\.steps\[0\]: must hold exactly one step or check keyword$/,
    ],
    ['broken YAML', 'suite: [', /^suites\/demo\.yaml:1: not valid YAML/],
    ['a repeated case id', valid + valid.split('cases:\n')[1], /cases\[1\]\.id: "one" is repeated/],
  ];
  for (const [name, text, message] of cases) {
    it(`names the file, line and field for ${name}`, () => {
      const error = refused(text);
      expect(error.code).toBe('ERR_SUITE_INVALID');
      expect(error.message).toMatch(message);
    });
  }

  it('refuses two files with one suite id, and a missing path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'suites-'));
    writeFileSync(join(dir, 'a.yaml'), valid);
    writeFileSync(join(dir, 'b.yaml'), valid);
    expect(() => loadSuites([dir])).toThrow(/b\.yaml:1: suite: "demo" is also the id of a\.yaml/);
    expect(() => loadSuites([join(dir, 'none')])).toThrow(/none: no such file or directory/);
  });
});
