/**
 * The pure parts of the reference-server benchmark (bench/reference-server.ts): its command line,
 * the per-phase result and the Markdown table. Kept apart from processes and sockets so that they
 * can be unit-tested (bench/reference-report.test.ts).
 */
import {
  BenchUsageError,
  type LatencySummary,
  positiveInt,
  readFlags,
  subsetOf,
  summarize,
} from './stats.ts';

export const STORAGES = ['memory', 'sqlite'] as const;
export type Storage = (typeof STORAGES)[number];

export interface ReferenceBenchOptions {
  /** Measured MCP requests per storage (after the warm-up). */
  mcpRequests: number;
  /** MCP requests in flight at once. */
  mcpConcurrency: number;
  /** Measured authorization flows per storage (after the warm-up). */
  flows: number;
  /** Flows in progress at once. */
  flowConcurrency: number;
  /** Measured rounds per workload; the storages take turns, so that a noisy moment hits them alike. */
  rounds: number;
  /** Upper bound on one workload's measured rounds together, per storage, in seconds. */
  maxSeconds: number;
  storages: Storage[];
  json: string | undefined;
  help: boolean;
}

export const referenceBenchUsage = `Usage: npm run bench -- --suite reference [options]
       node bench/reference-server.ts [options]

Throughput and latency of the reference server (github backend, the mock IdP as its upstream,
each in its own process on 127.0.0.1): MCP \`tools/call whoami\` requests with bearer token
validation, and complete authorization flows (register, authorize, consent, upstream login,
callback, token).

Options:
  --mcp-requests N       measured MCP requests per storage (default 20000)
  --mcp-concurrency N    MCP requests in flight at once (default 32)
  --flows N              measured authorization flows per storage (default 2000)
  --flow-concurrency N   flows in progress at once (default 8)
  --rounds N             measured rounds per workload, the storages taking turns (default 2)
  --max-seconds N        bound on a workload's measured rounds per storage (default 8)
  --storage LIST         comma-separated subset of: ${STORAGES.join(', ')} (default both)
  --json FILE            also write the figures to FILE
  -h, --help             show this help`;

const OPTION_SPEC = {
  'mcp-requests': { type: 'string' },
  'mcp-concurrency': { type: 'string' },
  flows: { type: 'string' },
  'flow-concurrency': { type: 'string' },
  rounds: { type: 'string' },
  'max-seconds': { type: 'string' },
  storage: { type: 'string' },
  json: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses the reference benchmark's command line. */
export function parseReferenceBenchArgs(argv: string[]): ReferenceBenchOptions {
  const values = readFlags(argv, OPTION_SPEC);
  const storages = subsetOf(values.storage, STORAGES, '--storage', 'storage');
  if (values.json === '') throw new BenchUsageError('--json needs a file name');
  const mcpRequests = positiveInt(values['mcp-requests'], '--mcp-requests', 20_000);
  const flows = positiveInt(values.flows, '--flows', 2000);
  const rounds = positiveInt(values.rounds, '--rounds', 2);
  if (rounds > Math.min(mcpRequests, flows)) {
    throw new BenchUsageError(`--rounds (${rounds}) must not exceed --mcp-requests or --flows`);
  }
  return {
    mcpRequests,
    mcpConcurrency: positiveInt(values['mcp-concurrency'], '--mcp-concurrency', 32),
    flows,
    flowConcurrency: positiveInt(values['flow-concurrency'], '--flow-concurrency', 8),
    rounds,
    maxSeconds: positiveInt(values['max-seconds'], '--max-seconds', 8),
    storages,
    json: values.json,
    help: values.help ?? false,
  };
}

export type Workload = 'mcp' | 'flow';

/** One measured phase: a workload against one storage. */
export interface WorkloadResult {
  workload: Workload;
  storage: Storage;
  concurrency: number;
  /** Operations started (successful and failed). */
  sent: number;
  errors: number;
  errorSamples: string[];
  /** Whether a round stopped at its share of --max-seconds before starting every operation. */
  truncated: boolean;
  /** Measured time, summed over the rounds. */
  elapsedMs: number;
  /** Successful operations per second of each round, to show how steady the machine was. */
  roundRates: number[];
  /** Successful operations per second and their latencies (ms). */
  latency: LatencySummary;
}

/** What one phase (a warm-up or a measured round) of one workload against one storage gave. */
export interface PhaseOutcome {
  sent: number;
  /** Latencies of the successful operations, in milliseconds. */
  latencies: number[];
  errors: number;
  errorSamples: string[];
  elapsedMs: number;
  truncated: boolean;
}

const MAX_ERROR_SAMPLES = 5;

/**
 * One workload's result against one storage from its warm-up and measured rounds: throughput is
 * every successful measured operation over the rounds' summed time, the percentiles are over every
 * round's latencies, and a warm-up error counts as an error (it invalidates the run as well).
 */
export function combineRounds(
  workload: Workload,
  storage: Storage,
  concurrency: number,
  warm: PhaseOutcome | undefined,
  rounds: readonly PhaseOutcome[],
): WorkloadResult {
  const elapsedMs = rounds.reduce((sum, r) => sum + r.elapsedMs, 0);
  const samples = [
    ...(warm?.errorSamples.map((e) => `warm-up: ${e}`) ?? []),
    ...rounds.flatMap((r) => r.errorSamples),
  ];
  return {
    workload,
    storage,
    concurrency,
    sent: rounds.reduce((sum, r) => sum + r.sent, 0),
    errors: rounds.reduce((sum, r) => sum + r.errors, warm?.errors ?? 0),
    errorSamples: [...new Set(samples)].slice(0, MAX_ERROR_SAMPLES),
    truncated: rounds.some((r) => r.truncated),
    elapsedMs,
    roundRates: rounds.map((r) => Number(rate((r.latencies.length / r.elapsedMs) * 1000))),
    latency: summarize(
      rounds.flatMap((r) => r.latencies),
      Math.max(elapsedMs, 1e-3),
    ),
  };
}

const LABELS: Record<Workload, string> = {
  mcp: 'MCP `tools/call whoami`, bearer validated',
  flow: 'Authorization flow, register to token',
};

const ms = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

/** A rate as a whole number, or with one decimal below 100 (a few flows per second). */
export function rate(perSecond: number): string {
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

/** `memory 650 / 700; sqlite 610 / 640` for one workload's rows. */
export function roundRatesLine(results: readonly WorkloadResult[], workload: Workload): string {
  return results
    .filter((r) => r.workload === workload)
    .map((r) => `${r.storage} ${r.roundRates.join(' / ')}`)
    .join('; ');
}

/** The results as a Markdown table, one row per workload and storage; failed rows show no figures. */
export function referenceTable(results: readonly WorkloadResult[]): string {
  const rows = [
    '| Workload | Storage | Concurrency | Completed | Errors | per second | p50 ms | p90 ms | p99 ms |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of results) {
    const failed = r.errors > 0 || r.latency.count === 0;
    const cell = (value: string) => (failed ? '—' : value);
    rows.push(
      `| ${LABELS[r.workload]} | ${r.storage} | ${r.concurrency} | ${r.latency.count}${r.truncated ? ' (time limit)' : ''} | ${r.errors} | ${cell(
        rate(r.latency.rps),
      )} | ${cell(ms(r.latency.p50))} | ${cell(ms(r.latency.p90))} | ${cell(ms(r.latency.p99))} |`,
    );
  }
  return rows.join('\n');
}
