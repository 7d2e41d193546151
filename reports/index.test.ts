import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureRun, RUNNER_SECRETS, SECRETS } from './fixtures/run.ts';
import {
  ConsoleReporter,
  combineReporters,
  createReporters,
  HtmlReporter,
  JsonReporter,
  JunitReporter,
  MarkdownReporter,
  REPORTER_NAMES,
  ReportError,
} from './index.ts';
import type { OutputStream } from './reporter.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reports-all-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(): OutputStream & { text: string } {
  return {
    text: '',
    isTTY: false,
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

describe('createReporters', () => {
  it('builds one reporter per name, in order, once each', () => {
    const reporters = createReporters(['junit', 'console', 'json', 'markdown', 'html', 'junit'], {
      outDir: dir,
      stream: capture(),
    });
    expect(reporters.map((r) => r.name)).toEqual(['junit', 'console', 'json', 'markdown', 'html']);
    expect(reporters[0]).toBeInstanceOf(JunitReporter);
    expect(reporters[1]).toBeInstanceOf(ConsoleReporter);
    expect(reporters[2]).toBeInstanceOf(JsonReporter);
    expect(reporters[3]).toBeInstanceOf(MarkdownReporter);
    expect(reporters[4]).toBeInstanceOf(HtmlReporter);
    expect(REPORTER_NAMES).toEqual(['console', 'json', 'junit', 'markdown', 'html']);
  });

  it('refuses unknown names, listing them all and the valid ones', () => {
    let error: unknown;
    try {
      createReporters(['console', 'jnuit', 'pdf'], { outDir: dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReportError);
    expect(error).toMatchObject({
      code: 'ERR_UNKNOWN_REPORTER',
      message: 'unknown report "jnuit", "pdf" (valid: console, json, junit, markdown, html)',
    });
  });

  it('needs an output directory for file reports but not for the console', () => {
    expect(createReporters(['console'], { stream: capture() }).map((r) => r.name)).toEqual(['console']);
    expect(() => createReporters(['console', 'html'], {})).toThrow(
      expect.objectContaining({
        code: 'ERR_OUT_DIR_REQUIRED',
        message: 'the "html" report needs an output directory (--out DIR)',
      }),
    );
  });
});

describe('every format together', () => {
  it('writes every file and prints progress, with no secret anywhere', async () => {
    const run = fixtureRun();
    const stream = capture();
    const all = combineReporters(
      createReporters([...REPORTER_NAMES], { outDir: dir, stream, verbose: true, secrets: RUNNER_SECRETS }),
    );
    expect(all.name).toBe('console,json,junit,markdown,html');
    all.onRunStart({ target: run.target, startedAt: run.startedAt, tool: run.tool });
    for (const suite of run.suites) {
      for (const c of suite.cases) {
        all.onCaseStart(suite, c);
        all.onCaseEnd(suite, c);
      }
    }
    const files = await all.onRunEnd(run);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([
      'results.json',
      'summary.json',
      'junit.xml',
      'summary.md',
      'report.html',
    ]);
    expect((await readdir(dir)).sort()).toEqual([
      'junit.xml',
      'report.html',
      'results.json',
      'summary.json',
      'summary.md',
    ]);

    const outputs: [string, string][] = [['console', stream.text]];
    for (const file of files) outputs.push([file, await readFile(file, 'utf8')]);
    for (const [where, text] of outputs) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        expect(text, `${name} in ${where}`).not.toContain(secret);
        // Not even a recognisable piece of it.
        expect(text, `${name} prefix in ${where}`).not.toContain(secret.slice(0, 16));
      }
    }
    // The console saw every case as it finished.
    expect(stream.text.match(/^[✓✗⚠ℹ○] /gmu)).toHaveLength(11);
  });

  it('leaves the run it was given untouched', async () => {
    const run = fixtureRun();
    const before = JSON.stringify(run);
    await combineReporters(createReporters(['json', 'html'], { outDir: dir })).onRunEnd(run);
    expect(JSON.stringify(run)).toBe(before);
    expect(before).toContain(SECRETS.bearer);
  });
});
