import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPersonas } from '../mock-idp/personas.ts';
import { loadSuites } from '../runner/load.ts';
import { main } from './main.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

interface Listed {
  id: string;
  title: string;
  file: string;
  cases: Array<{
    id: string;
    title: string;
    level: string;
    tags: string[];
    edges: number[];
    requires: string[];
  }>;
}

describe('conformance list', () => {
  it('--json: every bundled suite and case with level, tags, edges and required capabilities', async () => {
    const c = capture();
    expect(await main(['list', '--json'], c.io)).toBe(0);
    const listed = JSON.parse(c.out.join('\n')) as Listed[];
    const bundled = loadSuites(
      undefined,
      loadPersonas().personas.map((p) => p.id),
    );
    expect(listed.map((s) => s.id)).toEqual(bundled.map((s) => s.id));
    expect(listed.flatMap((s) => s.cases.map((x) => x.id))).toEqual(
      bundled.flatMap((s) => s.cases.map((x) => x.id)),
    );
    const discovery = listed.find((s) => s.id === 'discovery')!;
    expect(discovery.file).toMatch(/suites\/discovery\.yaml$/);
    expect(discovery.cases.find((x) => x.id === 'discovery/challenge-names-metadata')).toEqual({
      id: 'discovery/challenge-names-metadata',
      title: 'An unauthenticated MCP request gets 401 with a resource_metadata challenge',
      level: 'MUST',
      tags: ['RFC9728-5.1', 'RFC6750-3', 'MCP-authorization'],
      edges: [28],
      requires: ['oauth'],
    });
    for (const s of listed) {
      for (const x of s.cases) expect(['MUST', 'SHOULD', 'MAY']).toContain(x.level);
    }
  });

  it('prints a readable listing with --suite, one line per case and its details', async () => {
    const c = capture();
    expect(await main(['list', '--suite', 'discovery'], c.io)).toBe(0);
    expect(c.out[0]).toMatch(/^discovery {2}Discovery .* \(\d+ cases\)$/);
    expect(c.out).toContain(
      '  MUST   discovery/challenge-names-metadata  An unauthenticated MCP request gets 401 with a resource_metadata challenge',
    );
    expect(c.out).toContain(
      '         tags: RFC9728-5.1, RFC6750-3, MCP-authorization  ·  edges: 28  ·  requires: oauth',
    );
    expect(c.out.some((l) => l.startsWith('bearer '))).toBe(false);
    expect(c.out.at(-1)).toMatch(/^\d+ cases in 1 suite$/);
  });

  it('--case narrows to matching ids; --suites-dir adds suites; --replace-suites lists only those', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-list-'));
    writeFileSync(
      join(dir, 'mine.yaml'),
      `suite: mine
title: My cases
cases:
  - id: one
    title: One
    level: SHOULD
    tags: [RFC6749-4.1.2]
    requires: [dcr, refresh]
    steps:
      - set: { x: 1 }
        as: doc
    expect:
      - value: { of: doc.x, equals: 1 }
`,
    );
    const only = capture();
    expect(await main(['list', '--json', '--suites-dir', dir, '--replace-suites'], only.io)).toBe(0);
    expect(JSON.parse(only.out.join('\n'))).toEqual([
      {
        id: 'mine',
        title: 'My cases',
        file: join(dir, 'mine.yaml'),
        cases: [
          {
            id: 'mine/one',
            title: 'One',
            level: 'SHOULD',
            tags: ['RFC6749-4.1.2'],
            edges: [],
            requires: ['dcr', 'refresh'],
          },
        ],
      },
    ]);
    const both = capture();
    expect(
      await main(
        ['list', '--json', '--suites-dir', dir, '--case', 'mine/*', '--case', 'discovery/prm-resource'],
        both.io,
      ),
    ).toBe(0);
    expect((JSON.parse(both.out.join('\n')) as Listed[]).flatMap((s) => s.cases.map((x) => x.id))).toEqual([
      'discovery/prm-resource',
      'mine/one',
    ]);
  });

  it('argument errors exit 2 with the message', async () => {
    const suite = capture();
    expect(await main(['list', '--suite', 'nope'], suite.io)).toBe(2);
    expect(suite.err[0]).toMatch(/^conformance: --suite "nope" is not a suite \(valid: .*discovery/);
    expect(suite.err[1]).toBe('Run "conformance list --help" for usage.');
    const glob = capture();
    expect(await main(['list', '--case', 'zzz*'], glob.io)).toBe(2);
    expect(glob.err[0]).toBe(
      'conformance: --case "zzz*" matches no case (case ids are suite/case; see "conformance list")',
    );
    const replace = capture();
    expect(await main(['list', '--replace-suites'], replace.io)).toBe(2);
    expect(replace.err[0]).toBe('conformance: --replace-suites needs --suites-dir DIR');
    const dir = mkdtempSync(join(tmpdir(), 'conformance-list-bad-'));
    writeFileSync(join(dir, 'bad.yaml'), 'suite: bad\ntitle: Bad\ncases: 3\n');
    const bad = capture();
    expect(await main(['list', '--suites-dir', dir], bad.io)).toBe(2);
    expect(bad.err).toEqual([
      `conformance: invalid suite: ${join(dir, 'bad.yaml')}:3: cases: must be array`,
      'hint: suites are checked against suites/suite.schema.json',
    ]);
  });
});
