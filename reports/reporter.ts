/**
 * The reporter interface: reporters receive events as a run happens (live progress) and write
 * their files into the output directory at the end (DESIGN.md, "One run, as data flows", step 5).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CaseResult, Level, RunResult } from './model.ts';

/** Closed set of error codes of the reports module. */
export type ReportErrorCode = 'ERR_UNKNOWN_REPORTER' | 'ERR_OUT_DIR_REQUIRED' | 'ERR_REPORT_WRITE';

export class ReportError extends Error {
  readonly code: ReportErrorCode;
  constructor(code: ReportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReportError';
    this.code = code;
  }
}

/** What is known when a run starts. */
export interface RunStartInfo {
  target: string;
  startedAt: string;
  tool: { name: string; version: string };
  /** The suites that will run, with their number of cases (skipped ones included). */
  suites?: { id: string; title: string; cases: number }[];
}

/** The suite a case belongs to. */
export interface SuiteInfo {
  id: string;
  title: string;
  file?: string;
}

/** A case about to run. */
export interface CaseInfo {
  id: string;
  title: string;
  level: Level;
}

/** Where a reporter writes text (process.stdout, or a buffer in tests). */
export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface Reporter {
  readonly name: string;
  onRunStart(info: RunStartInfo): void;
  onCaseStart(suite: SuiteInfo, caseInfo: CaseInfo): void;
  onCaseEnd(suite: SuiteInfo, result: CaseResult): void;
  /** The finished run; resolves to the paths of the files written. */
  onRunEnd(run: RunResult): Promise<string[]>;
}

export interface ReporterOptions {
  /** Directory the file reports are written into (`--out DIR`); created when missing. */
  outDir?: string;
  /** Where the console reporter writes; process.stdout by default. */
  stream?: OutputStream;
  /** Force colour on or off (`--color`/`--no-color`); detected from the stream and env when absent. */
  color?: boolean;
  /** Print every check and the exchanges of failing checks. */
  verbose?: boolean;
  /** Literal values to redact everywhere (values of `--header` flags, secrets the runner knows). */
  secrets?: readonly string[];
  /** Environment for colour detection (NO_COLOR, FORCE_COLOR); process.env by default. */
  env?: Record<string, string | undefined>;
}

/** Writes one report file into the output directory and returns its path. */
export async function writeReportFile(outDir: string, name: string, content: string): Promise<string> {
  const path = join(outDir, name);
  try {
    await mkdir(outDir, { recursive: true });
    await writeFile(path, content, 'utf8');
  } catch (error) {
    throw new ReportError('ERR_REPORT_WRITE', `cannot write report "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  return path;
}

/** The output directory a file reporter needs, or a clear error naming the reporter. */
export function requireOutDir(reporter: string, options: ReporterOptions): string {
  if (!options.outDir) {
    throw new ReportError(
      'ERR_OUT_DIR_REQUIRED',
      `the "${reporter}" report needs an output directory (--out DIR)`,
    );
  }
  return options.outDir;
}

/** One reporter that forwards every event to several, in order. */
export function combineReporters(reporters: readonly Reporter[]): Reporter {
  return {
    name: reporters.map((r) => r.name).join(','),
    onRunStart: (info) => {
      for (const r of reporters) r.onRunStart(info);
    },
    onCaseStart: (suite, caseInfo) => {
      for (const r of reporters) r.onCaseStart(suite, caseInfo);
    },
    onCaseEnd: (suite, result) => {
      for (const r of reporters) r.onCaseEnd(suite, result);
    },
    onRunEnd: async (run) => {
      const files: string[] = [];
      for (const r of reporters) files.push(...(await r.onRunEnd(run)));
      return files;
    },
  };
}
