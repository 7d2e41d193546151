/**
 * The JSON reporter: `results.json` is the whole RunResult (redacted), valid against
 * reports/result.schema.json; `summary.json` is the counts, the target and the exit code, for
 * scripts and badges that need no more.
 */
import { suiteSummary, verdictOf } from './describe.ts';
import type { CaseResult, RunResult, Summary } from './model.ts';
import { createRedactor, type Redactor, redactRun } from './redact.ts';
import {
  type CaseInfo,
  type Reporter,
  type ReporterOptions,
  type RunStartInfo,
  requireOutDir,
  type SuiteInfo,
  writeReportFile,
} from './reporter.ts';

export const RESULTS_FILE = 'results.json';
export const SUMMARY_FILE = 'summary.json';

/** The content of summary.json. */
export interface SummaryFile extends Summary {
  schemaVersion: RunResult['schemaVersion'];
  tool: RunResult['tool'];
  target: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  exitCode: RunResult['exitCode'];
  verdict: 'PASSED' | 'FAILED' | 'ERROR';
  suites: ({ id: string; title: string } & Summary)[];
}

/** summary.json's content for a (redacted) run. */
export function summaryFile(run: RunResult): SummaryFile {
  return {
    schemaVersion: run.schemaVersion,
    tool: run.tool,
    target: run.target,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.durationMs,
    exitCode: run.exitCode,
    verdict: verdictOf(run).word,
    ...run.summary,
    suites: run.suites.map((suite) => ({ id: suite.id, title: suite.title, ...suiteSummary(suite) })),
  };
}

export class JsonReporter implements Reporter {
  readonly name = 'json';
  readonly #outDir: string;
  readonly #redactor: Redactor;

  constructor(options: ReporterOptions) {
    this.#outDir = requireOutDir(this.name, options);
    this.#redactor = createRedactor(options.secrets ? { secrets: options.secrets } : {});
  }

  onRunStart(_info: RunStartInfo): void {}
  onCaseStart(_suite: SuiteInfo, _case: CaseInfo): void {}
  onCaseEnd(_suite: SuiteInfo, _result: CaseResult): void {}

  async onRunEnd(raw: RunResult): Promise<string[]> {
    const run = redactRun(raw, this.#redactor);
    return [
      await writeReportFile(this.#outDir, RESULTS_FILE, `${JSON.stringify(run, null, 2)}\n`),
      await writeReportFile(this.#outDir, SUMMARY_FILE, `${JSON.stringify(summaryFile(run), null, 2)}\n`),
    ];
  }
}
