import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureRun, passingRun, RUNNER_SECRETS, SECRETS } from './fixtures/run.ts';
import { JsonReporter, RESULTS_FILE, SUMMARY_FILE, summaryFile } from './json.ts';
import { createRedactor, redactRun } from './redact.ts';
import { ReportError } from './reporter.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reports-json-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JsonReporter', () => {
  it('writes results.json (the redacted run) and summary.json (counts, target, exit code)', async () => {
    const run = fixtureRun();
    const files = await new JsonReporter({ outDir: dir, secrets: RUNNER_SECRETS }).onRunEnd(run);
    expect(files).toEqual([join(dir, RESULTS_FILE), join(dir, SUMMARY_FILE)]);

    const resultsText = await readFile(join(dir, RESULTS_FILE), 'utf8');
    const results = JSON.parse(resultsText);
    expect(results).toEqual(redactRun(run, createRedactor({ secrets: RUNNER_SECRETS })));
    expect(results.suites.map((s: { id: string }) => s.id)).toEqual([
      'discovery',
      'tokens',
      'pkce',
      'consent',
    ]);
    expect(results.suites[1].cases[0].exchanges[0].request.headers.authorization).toBe('Bearer [redacted]');

    const summary = JSON.parse(await readFile(join(dir, SUMMARY_FILE), 'utf8'));
    expect(summary).toMatchObject({
      schemaVersion: '1.0.0',
      target: 'http://127.0.0.1:8000/mcp',
      exitCode: 1,
      verdict: 'FAILED',
      total: 11,
      passed: 4,
      failed: 3,
      warnings: 1,
      info: 1,
      skipped: 2,
      expectedFailures: 1,
      staleExpectedFailures: ['pkce/verifier-required'],
      unexpectedFailures: 2,
    });
    expect(summary.suites).toEqual([
      {
        id: 'discovery',
        title: 'Discovery and the bearer challenge',
        total: 3,
        passed: 2,
        failed: 0,
        warnings: 1,
        info: 0,
        skipped: 0,
        expectedFailures: 0,
        staleExpectedFailures: [],
        unexpectedFailures: 0,
      },
      {
        id: 'tokens',
        title: 'Tokens: audience, refresh and client authentication',
        total: 4,
        passed: 0,
        failed: 2,
        warnings: 0,
        info: 1,
        skipped: 1,
        expectedFailures: 1,
        staleExpectedFailures: [],
        unexpectedFailures: 1,
      },
      {
        id: 'pkce',
        title: 'PKCE',
        total: 2,
        passed: 1,
        failed: 1,
        warnings: 0,
        info: 0,
        skipped: 0,
        expectedFailures: 0,
        staleExpectedFailures: ['pkce/verifier-required'],
        unexpectedFailures: 1,
      },
      {
        id: 'consent',
        title: 'Consent',
        total: 2,
        passed: 1,
        failed: 0,
        warnings: 0,
        info: 0,
        skipped: 1,
        expectedFailures: 0,
        staleExpectedFailures: [],
        unexpectedFailures: 0,
      },
    ]);

    for (const text of [resultsText, await readFile(join(dir, SUMMARY_FILE), 'utf8')]) {
      for (const [name, secret] of Object.entries(SECRETS)) expect(text, name).not.toContain(secret);
    }
  });

  it('says PASSED and exit code 0 for a passing run', () => {
    expect(summaryFile(passingRun())).toMatchObject({
      exitCode: 0,
      verdict: 'PASSED',
      failed: 0,
      unexpectedFailures: 0,
    });
  });

  it('refuses to be built without an output directory', () => {
    expect(() => new JsonReporter({})).toThrow(ReportError);
    expect(() => new JsonReporter({})).toThrow('the "json" report needs an output directory (--out DIR)');
  });

  it('reports a directory it cannot write with ERR_REPORT_WRITE', async () => {
    const blocked = join(dir, RESULTS_FILE, 'inside-a-file');
    await new JsonReporter({ outDir: dir }).onRunEnd(fixtureRun());
    const error = await new JsonReporter({ outDir: blocked }).onRunEnd(fixtureRun()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).code).toBe('ERR_REPORT_WRITE');
    expect((error as ReportError).message).toContain(`cannot write report "${join(blocked, RESULTS_FILE)}"`);
  });
});
