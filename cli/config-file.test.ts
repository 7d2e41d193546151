import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../reports/model.ts';
import { startTarget, type Target } from '../runner/detection/harness.ts';
import { ConfigFileError, closestKey, loadConfigFile, validateConfig } from './config-file.ts';
import { main } from './main.ts';
import { readRunOptions } from './run-command.ts';

function capture(cwd?: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), ...(cwd ? { cwd } : {}) },
    out,
    err,
    all: () => [...out, ...err].join('\n'),
  };
}

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `conformance-config-${prefix}-`));
}

function results(dir: string): RunResult {
  return JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
}

const caseIds = (r: RunResult) => r.suites.flatMap((s) => s.cases.map((c) => c.id));

describe('config file: loading and checking', () => {
  it('reads YAML with camelCase keys, resolves paths against the file, and accepts the browser and identity blocks', async () => {
    const dir = tmp('yaml');
    const file = join(dir, 'conformance.config.yaml');
    writeFileSync(
      file,
      `url: http://127.0.0.1:8000/mcp
startIdp: 4020
upstream: google
suite: [discovery, bearer]
header:
  X-Api-Key: k-123456
identity:
  tool: whoami
  fields: { email: user.email, id: user.id }
userStore: true
capability: claims-passthrough
clientId: static-client
clientSecret: static-secret
redirectUri: http://127.0.0.1:9999/cb
clientAuth: client_secret_post
expectedFailures: known-failures.txt
reporter: [console, junit]
out: reports
concurrency: 2
timeout: 5000
verbose: true
color: false
browser:
  - match: 'https://login.example.com/*'
    commands:
      - fill: { selector: '#user', value: alice }
      - click: 'button[type=submit]'
      - wait: '#done'
`,
    );
    const config = await loadConfigFile(file);
    expect(config).toEqual({
      url: 'http://127.0.0.1:8000/mcp',
      startIdp: 4020,
      upstream: 'google',
      suite: ['discovery', 'bearer'],
      header: { 'X-Api-Key': 'k-123456' },
      identity: { tool: 'whoami', fields: { email: 'user.email', id: 'user.id' } },
      userStore: true,
      capability: ['claims-passthrough'],
      clientId: 'static-client',
      clientSecret: 'static-secret',
      redirectUri: 'http://127.0.0.1:9999/cb',
      clientAuth: 'client_secret_post',
      expectedFailures: join(dir, 'known-failures.txt'),
      reporter: ['console', 'junit'],
      out: join(dir, 'reports'),
      concurrency: 2,
      timeout: 5000,
      verbose: true,
      color: false,
      browser: [
        {
          match: 'https://login.example.com/*',
          commands: [
            { fill: { selector: '#user', value: 'alice' } },
            { click: 'button[type=submit]' },
            { wait: '#done' },
          ],
        },
      ],
    });
  });

  it('names the file, the line and the key at fault in YAML', async () => {
    const dir = tmp('yaml-bad');
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'url: http://127.0.0.1:8000/mcp\nsutes: [discovery]\n');
    await expect(loadConfigFile(file)).rejects.toThrow(
      new ConfigFileError(`${file}:2: unknown key "sutes" (did you mean "suite"?)`),
    );
    writeFileSync(file, 'url: http://127.0.0.1:8000/mcp\nconcurrency: four\n');
    await expect(loadConfigFile(file)).rejects.toThrow(
      `${file}:2: concurrency: must be a positive integer, got "four"`,
    );
    writeFileSync(file, 'browser:\n  - match: "*"\n    commands:\n      - press: Enter\n');
    await expect(loadConfigFile(file)).rejects.toThrow(
      `${file}:4: browser[0].commands[0]: unknown command "press" (fill, click or wait)`,
    );
    writeFileSync(file, 'identity:\n  tool: whoami\n  fields:\n    mail: user.email\n');
    await expect(loadConfigFile(file)).rejects.toThrow(
      `${file}:4: identity.fields.mail: is not an identity field (id, email, login, groups)`,
    );
    writeFileSync(file, 'url: [1\n');
    await expect(loadConfigFile(file)).rejects.toThrow(/c\.yaml:\d+: not valid YAML/);
  });

  it('refuses kebab-case and unknown keys, suggesting the known one', () => {
    const where = () => 'conformance.config.json';
    expect(() => validateConfig({ 'client-id': 'x' }, '/', where)).toThrow(
      'conformance.config.json: unknown key "client-id" (did you mean "clientId"?)',
    );
    expect(() => validateConfig({ reporters: ['json'] }, '/', where)).toThrow(
      'conformance.config.json: unknown key "reporters" (did you mean "reporter"?)',
    );
    expect(() => validateConfig({ frobnicate: 1 }, '/', where)).toThrow(
      'conformance.config.json: unknown key "frobnicate"',
    );
    expect(closestKey('frobnicate')).toBeUndefined();
    expect(() => validateConfig([], '/', where)).toThrow(
      'conformance.config.json: the config must be a mapping of options, got a list',
    );
    expect(() => validateConfig({ startIdp: 'yes' }, '/', where)).toThrow(
      'conformance.config.json: startIdp: must be true or a port number, got "yes"',
    );
    expect(() => validateConfig({ header: { 'Bad Name': 'x' } }, '/', where)).toThrow(
      'conformance.config.json: header: "Bad Name" is not a header name',
    );
  });

  it('reads JSON and reports invalid JSON', async () => {
    const dir = tmp('json');
    const file = join(dir, 'conformance.config.json');
    writeFileSync(file, JSON.stringify({ url: 'http://127.0.0.1:8000/mcp', header: ['X-Team: blue'] }));
    expect(await loadConfigFile(file)).toEqual({
      url: 'http://127.0.0.1:8000/mcp',
      header: { 'X-Team': 'blue' },
    });
    writeFileSync(file, '{ "url": ');
    await expect(loadConfigFile(file)).rejects.toThrow(/conformance\.config\.json: not valid JSON \(/);
  });

  it('imports a TS module: its default export, or what a default-exported function returns', async () => {
    const dir = tmp('ts');
    const file = join(dir, 'conformance.config.ts');
    writeFileSync(
      file,
      `interface Options { url: string; timeout: number }
const options: Options = { url: 'http://127.0.0.1:8000/mcp', timeout: 1234 };
export default options;
`,
    );
    expect(await loadConfigFile(file)).toEqual({ url: 'http://127.0.0.1:8000/mcp', timeout: 1234 });
    const fn = join(dir, 'fn.config.ts');
    writeFileSync(fn, `export default async (): Promise<object> => ({ upstream: 'entra' });\n`);
    expect(await loadConfigFile(fn)).toEqual({ upstream: 'entra' });
    const none = join(dir, 'none.config.ts');
    writeFileSync(none, 'export const url = 1;\n');
    await expect(loadConfigFile(none)).rejects.toThrow(`${none}: the module has no default export`);
    const badKey = join(dir, 'bad.config.ts');
    writeFileSync(badKey, `export default { url: 'http://x/mcp', idpUrl: 'http://127.0.0.1:4010' };\n`);
    await expect(loadConfigFile(badKey)).rejects.toThrow(
      `${badKey}: unknown key "idpUrl" (did you mean "idp"?)`,
    );
  });

  it('flags win over the file; identity fields merge one by one', async () => {
    const dir = tmp('merge');
    writeFileSync(
      join(dir, 'conformance.config.yaml'),
      'url: http://127.0.0.1:8000/mcp\ntimeout: 5000\nreporter: [junit]\nidentity: { tool: me, fields: { email: profile.mail, id: profile.id } }\n',
    );
    const run = await readRunOptions(
      ['--timeout', '700', '--reporter', 'json', '--identity-field', 'email=user.email'],
      dir,
    );
    if (run === 'help') throw new Error('unexpected help');
    expect(run.configFile).toBe(join(dir, 'conformance.config.yaml'));
    expect(run.options.stepTimeoutMs).toBe(700);
    expect(run.reporterNames).toEqual(['json']);
    expect(run.options.identity).toEqual({
      tool: 'me',
      fields: {
        email: 'user.email',
        id: 'profile.id',
        login: 'user.login',
        groups: 'user.groups',
        claims: 'claims',
      },
    });
    expect(run.outDir).toBe(join(dir, 'conformance-report'));
  });

  it('browser: true or rules (which imply Chromium); --no-browser turns it off, --browser keeps the rules', async () => {
    const dir = tmp('browser');
    writeFileSync(
      join(dir, 'conformance.config.yaml'),
      `url: http://127.0.0.1:8000/mcp
browser:
  - match: 'http://127.0.0.1:8000/consent*'
    consent: true
    commands: [{ click: '#approve' }]
    deny: [{ click: '#deny' }]
`,
    );
    const rules = [
      {
        match: 'http://127.0.0.1:8000/consent*',
        consent: true,
        commands: [{ click: '#approve' }],
        deny: [{ click: '#deny' }],
      },
    ];
    const withRules = await readRunOptions([], dir);
    if (withRules === 'help') throw new Error('unexpected help');
    expect(withRules.options.browser).toBe(true);
    expect(withRules.options.browserRules).toEqual(rules);
    const flagged = await readRunOptions(['--browser'], dir);
    if (flagged === 'help') throw new Error('unexpected help');
    expect(flagged.options.browserRules).toEqual(rules);
    const off = await readRunOptions(['--no-browser'], dir);
    if (off === 'help') throw new Error('unexpected help');
    expect(off.options.browser).toBeUndefined();
    expect(off.options.browserRules).toBeUndefined();
    writeFileSync(join(dir, 'conformance.config.yaml'), 'url: http://127.0.0.1:8000/mcp\nbrowser: true\n');
    const bare = await readRunOptions([], dir);
    if (bare === 'help') throw new Error('unexpected help');
    expect(bare.options.browser).toBe(true);
    expect(bare.options.browserRules).toBeUndefined();
    const plain = await readRunOptions(['http://127.0.0.1:8000/mcp'], tmp('none'));
    if (plain === 'help') throw new Error('unexpected help');
    expect(plain.options.browser).toBeUndefined();
    writeFileSync(
      join(dir, 'conformance.config.yaml'),
      'url: http://127.0.0.1:8000/mcp\nbrowser: chromium\n',
    );
    await expect(readRunOptions([], dir)).rejects.toThrow(
      `${join(dir, 'conformance.config.yaml')}:2: browser: must be true, false or a list of { match, commands }, got "chromium"`,
    );
  });

  it('refuses two config files side by side, naming both', async () => {
    const dir = tmp('two');
    writeFileSync(join(dir, 'conformance.config.json'), '{}');
    writeFileSync(join(dir, 'conformance.config.yaml'), '{}');
    const c = capture(dir);
    expect(await main(['http://127.0.0.1:9/mcp'], c.io)).toBe(2);
    expect(c.err[0]).toBe(
      `conformance: ${dir} holds several config files (conformance.config.json, conformance.config.yaml); keep one or pass --config`,
    );
  });

  it('a missing --config file is an argument error', async () => {
    const c = capture();
    expect(await main(['http://127.0.0.1:9/mcp', '--config', '/no/such/conformance.config.yaml'], c.io)).toBe(
      2,
    );
    expect(c.err[0]).toBe('conformance: --config: no such file "/no/such/conformance.config.yaml"');
  });
});

describe('config file: runs against the reference server', () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget({ backend: 'github' });
  });
  afterAll(() => target.stop());

  const options = () => ({
    url: target.server.mcpUrl,
    idp: target.mock.url,
    upstream: 'github',
    suite: ['discovery'],
    identity: { tool: 'whoami', fields: { email: 'user.email' } },
    userStore: true,
    reporter: ['json'],
    out: 'out',
  });

  it('JSON (--config): runs with its options; relative out is under the file', async () => {
    const dir = tmp('run-json');
    writeFileSync(join(dir, 'my.json'), JSON.stringify(options()));
    const c = capture(tmp('cwd'));
    expect(await main(['--config', join(dir, 'my.json')], c.io), c.all()).toBe(0);
    const r = results(join(dir, 'out'));
    expect(r.target).toBe(target.server.mcpUrl);
    expect(r.suites.map((s) => s.id)).toEqual(['discovery']);
    expect(r.profile['capabilities']).toEqual(
      expect.arrayContaining(['upstream', 'identity-probe', 'user-store']),
    );
  });

  it('YAML (found in the working directory); a flag overrides the suite', async () => {
    const dir = tmp('run-yaml');
    const o = options();
    writeFileSync(
      join(dir, 'conformance.config.yaml'),
      `url: ${o.url}\nidp: ${o.idp}\nupstream: github\nsuite: [bearer]\nreporter: json\nout: out\n`,
    );
    const c = capture(dir);
    expect(await main(['--suite', 'discovery'], c.io), c.all()).toBe(0);
    const r = results(join(dir, 'out'));
    expect(r.suites.map((s) => s.id)).toEqual(['discovery']);
    expect(caseIds(r)).toContain('discovery/prm-resource');
  });

  it('a bare `conformance` (no arguments) runs the config file of the working directory', async () => {
    const dir = tmp('run-bare');
    writeFileSync(
      join(dir, 'conformance.config.yaml'),
      `url: ${options().url}\nsuite: [discovery]\nreporter: json\nout: out\n`,
    );
    const c = capture(dir);
    expect(await main([], c.io), c.all()).toBe(0);
    expect(results(join(dir, 'out')).suites.map((s) => s.id)).toEqual(['discovery']);
    const empty = capture(tmp('run-bare-none'));
    expect(await main([], empty.io)).toBe(2);
    expect(empty.out[0]).toMatch(/^Usage: conformance <server-url>/);
  });

  it('TS (a module default-exporting the options, reading process.env)', async () => {
    const dir = tmp('run-ts');
    process.env['CONFORMANCE_TEST_TARGET'] = target.server.mcpUrl;
    writeFileSync(
      join(dir, 'conformance.config.ts'),
      `const config: Record<string, unknown> = {
  url: process.env['CONFORMANCE_TEST_TARGET'],
  idp: ${JSON.stringify(target.mock.url)},
  upstream: 'github',
  case: ['discovery/as-*'],
  reporter: ['json'],
  out: 'ts-out',
};
export default config;
`,
    );
    const c = capture(dir);
    try {
      expect(await main(['run'], c.io), c.all()).toBe(0);
    } finally {
      delete process.env['CONFORMANCE_TEST_TARGET'];
    }
    const r = results(join(dir, 'ts-out'));
    expect(caseIds(r)).toContain('discovery/as-metadata');
    expect(caseIds(r).every((id) => id.startsWith('discovery/as-'))).toBe(true);
  });

  it('an unknown key stops the run before it starts (exit 2)', async () => {
    const dir = tmp('run-bad');
    writeFileSync(
      join(dir, 'conformance.config.json'),
      JSON.stringify({ ...options(), reporters: ['json'] }),
    );
    const c = capture(dir);
    expect(await main(['run'], c.io)).toBe(2);
    expect(c.err[0]).toBe(
      `conformance: ${join(dir, 'conformance.config.json')}: unknown key "reporters" (did you mean "reporter"?)`,
    );
    expect(c.out).toEqual([]);
  });
});
