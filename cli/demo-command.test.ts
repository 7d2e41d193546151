import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../reports/model.ts';
import { demoRuns } from './demo-command.ts';
import { main } from './main.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

/** A row of the final table as cells. */
function row(lines: string[], name: string): string[] {
  const line = lines.find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no row for ${name} in:\n${lines.join('\n')}`);
  return line.split(/\s{2,}/);
}

describe('conformance demo', () => {
  it('runs two backends (github, dev-public): a table per backend; dev-public is skipped, not failed', async () => {
    const out = mkdtempSync(join(tmpdir(), 'conformance-demo-'));
    const c = capture();
    const code = await main(
      [
        'demo',
        '--backend',
        'github',
        '--backend',
        'dev-public',
        '--suite',
        'discovery,bearer',
        '--reporter',
        'json',
        '--out',
        out,
      ],
      c.io,
    );
    expect(code, c.out.join('\n')).toBe(0);
    expect(c.out[0]).toMatch(
      /^Reference server, 2 backends \(2 runs\), mock IdP on http:\/\/127\.0\.0\.1:\d+$/,
    );
    const header = c.out.find((l) => l.startsWith('Backend'))!;
    expect(header.split(/\s+/)).toEqual([
      'Backend',
      'Upstream',
      'Cases',
      'Passed',
      'Failed',
      'Warnings',
      'Info',
      'Skipped',
      'Time',
      'Result',
    ]);
    const github = row(c.out, 'github');
    const devPublic = row(c.out, 'dev-public');
    expect(github[1]).toBe('github');
    expect(github[4]).toBe('0');
    expect(Number(github[3])).toBeGreaterThan(0);
    expect(github.at(-1)).toBe('PASSED');
    expect(devPublic[1]).toBe('-');
    expect(devPublic[3]).toBe('0'); // passed
    expect(devPublic[4]).toBe('0'); // failed
    expect(devPublic[7]).toBe(devPublic[2]); // skipped = cases
    expect(devPublic.at(-1)).toBe('PASSED');
    expect(row(c.out, 'Total').at(-1)).toBe('PASSED');
    expect(c.out).toContainEqual(expect.stringMatching(/^PASSED {2}github: \d+ passed, 0 failed, /));

    // File reports per backend.
    expect(readdirSync(out).sort()).toEqual(['dev-public', 'github']);
    const dev = JSON.parse(readFileSync(join(out, 'dev-public', 'results.json'), 'utf8')) as RunResult;
    const cases = dev.suites.flatMap((s) => s.cases);
    expect(cases.length).toBeGreaterThan(0);
    expect(cases.every((x) => x.status === 'skipped')).toBe(true);
    expect(cases[0]!.reason).toMatch(/^oauth: the server requires no authorization/);
    const gh = JSON.parse(readFileSync(join(out, 'github', 'results.json'), 'utf8')) as RunResult;
    expect(gh.profile['upstream']).toBe('github');
    expect(gh.profile['capabilities']).toEqual(
      expect.arrayContaining(['upstream', 'identity-probe', 'user-store']),
    );
  });

  it('--reporter console prints each backend report as a block', async () => {
    const c = capture();
    expect(
      await main(
        [
          'demo',
          '--backend',
          'in-memory',
          '--case',
          'discovery/prm-resource',
          '--reporter',
          'console',
          '--no-color',
        ],
        c.io,
      ),
    ).toBe(0);
    expect(c.out).toContain(`── in-memory ${'─'.repeat(51)}`);
    expect(c.out).toContainEqual(expect.stringMatching(/^✓ discovery\/prm-resource /));
    expect(c.out).toContainEqual(expect.stringMatching(/^exit code 0: no unexpected failure$/));
  });

  it('declares the capabilities each backend of the reference server has; jwt adds a required-scopes run', () => {
    expect(demoRuns(['github', 'azure', 'jwt'])).toEqual([
      { name: 'github', backend: 'github', capabilities: [] },
      { name: 'azure', backend: 'azure', capabilities: ['claims-passthrough'] },
      { name: 'jwt', backend: 'jwt', capabilities: ['claims-passthrough'] },
      {
        name: 'jwt+required-scopes',
        backend: 'jwt',
        settings: { jwt: { required_scopes: ['mcp'] } },
        capabilities: ['required-scopes', 'claims-passthrough'],
        onlyRequiring: 'required-scopes',
      },
    ]);
  });

  it('the jwt+required-scopes run has only the cases that need a required scope, and they pass', async () => {
    const out = mkdtempSync(join(tmpdir(), 'conformance-demo-scopes-'));
    const c = capture();
    const code = await main(
      ['demo', '--backend', 'jwt', '--suite', 'bearer', '--reporter', 'json', '--out', out],
      c.io,
    );
    expect(code, c.out.join('\n')).toBe(0);
    expect(c.out[0]).toMatch(/^Reference server, 1 backend \(2 runs\), mock IdP on /);
    const variant = JSON.parse(
      readFileSync(join(out, 'jwt+required-scopes', 'results.json'), 'utf8'),
    ) as RunResult;
    const cases = variant.suites.flatMap((s) => s.cases);
    expect(cases.length).toBeGreaterThan(0);
    expect(cases.map((x) => x.id)).toContain('bearer/idp-insufficient-scope');
    expect(cases.every((x) => x.status === 'passed')).toBe(true);
    expect(variant.profile['capabilities']).toContain('required-scopes');
    const main_ = JSON.parse(readFileSync(join(out, 'jwt', 'results.json'), 'utf8')) as RunResult;
    const skipped = main_.suites
      .flatMap((s) => s.cases)
      .find((x) => x.id === 'bearer/idp-insufficient-scope');
    expect(skipped?.status).toBe('skipped');
    expect(row(c.out, 'jwt+required-scopes').at(-1)).toBe('PASSED');
  });

  it('argument errors exit 2', async () => {
    const c = capture();
    expect(await main(['demo', '--backend', 'okta'], c.io)).toBe(2);
    expect(c.err[0]).toMatch(
      /^conformance: --backend "okta" is not a backend \(valid: dev-admin, dev-public, github, /,
    );
    const r = capture();
    expect(await main(['demo', '--reporter', 'pdf'], r.io)).toBe(2);
    expect(r.err[0]).toBe(
      'conformance: --reporter: unknown reporter "pdf" (valid: console, json, junit, markdown, html)',
    );
    const p = capture();
    expect(await main(['demo', '--parallel', '0'], p.io)).toBe(2);
    expect(p.err[0]).toBe('conformance: --parallel must be a positive integer, got "0"');
  });
});
