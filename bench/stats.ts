/**
 * The bench's pure parts: argument parsing, latency statistics and the Markdown table. Kept apart
 * from the processes and sockets so that they can be unit-tested (bench/stats.test.ts).
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

export const SERVER_IDS = ['mock-idp', 'oauth2-mock-server', 'oidc-provider'] as const;
export type ServerId = (typeof SERVER_IDS)[number];

export interface BenchOptions {
  /** Measured requests per server (after the warm-up), split evenly over the rounds. */
  requests: number;
  /** Measured rounds per server; the servers take turns, so that a noisy moment hits them alike. */
  rounds: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Unmeasured requests per server before the measured ones. */
  warmup: number;
  /** Upper bound on one server's measured rounds together, in seconds; they stop early when it is reached. */
  maxSeconds: number;
  /** Also write the figures as JSON to this file. */
  json: string | undefined;
  servers: ServerId[];
  help: boolean;
}

export const benchUsage = `Usage: npm run bench -- [options]

Token-endpoint throughput and latency (client_credentials grant) of the mock IdP's generic
OIDC provider, oauth2-mock-server and oidc-provider, each in its own process on 127.0.0.1.

Options:
  --requests N       measured requests per server, over all rounds (default 6000)
  --rounds N         measured rounds per server, the servers taking turns (default 3)
  --concurrency N    requests in flight at once (default 32)
  --warmup N         unmeasured requests per server first (default 1000)
  --max-seconds N    stop a server's measured rounds after N seconds in all (default 15)
  --servers LIST     comma-separated subset of: ${SERVER_IDS.join(', ')}
  --json FILE        also write the figures to FILE
  -h, --help         show this help`;

export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

/** A whole-number flag of at least `min`, or `fallback` when it is absent. */
export function positiveInt(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new BenchUsageError(`${flag} must be an integer of at least ${min}, got "${value}"`);
  }
  return Number(value);
}

const OPTION_SPEC = {
  requests: { type: 'string' },
  rounds: { type: 'string' },
  concurrency: { type: 'string' },
  warmup: { type: 'string' },
  'max-seconds': { type: 'string' },
  servers: { type: 'string' },
  json: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The flags of a bench command line (no positionals; an unknown flag is a usage error). */
export function readFlags<const Options extends ParseArgsOptionsConfig>(argv: string[], options: Options) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
}

/**
 * A comma-separated subset of `known` (each name once, in the order given), or all of `known`
 * when the flag is absent; `noun` names one member in the messages.
 */
export function subsetOf<const Name extends string>(
  value: string | undefined,
  known: readonly Name[],
  flag: string,
  noun: string,
): Name[] {
  const names = value
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [...known];
  for (const name of names) {
    if (!(known as readonly string[]).includes(name)) {
      throw new BenchUsageError(`${flag}: unknown ${noun} "${name}" (known: ${known.join(', ')})`);
    }
  }
  if (names.length === 0) throw new BenchUsageError(`${flag} names no ${noun}`);
  return [...new Set(names)] as Name[];
}

/** Parses the bench's command line (`process.argv.slice(2)`). */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const values = readFlags(argv, OPTION_SPEC);
  const servers = subsetOf(values.servers, SERVER_IDS, '--servers', 'server');
  if (values.json === '') throw new BenchUsageError('--json needs a file name');
  const requests = positiveInt(values.requests, '--requests', 6000);
  const rounds = positiveInt(values.rounds, '--rounds', 3);
  if (rounds > requests) {
    throw new BenchUsageError(`--rounds (${rounds}) must not exceed --requests (${requests})`);
  }
  return {
    requests,
    rounds,
    concurrency: positiveInt(values.concurrency, '--concurrency', 32),
    warmup: positiveInt(values.warmup, '--warmup', 1000, 0),
    maxSeconds: positiveInt(values['max-seconds'], '--max-seconds', 15),
    json: values.json,
    servers,
    help: values.help ?? false,
  };
}

/** Requests of round `index` (from 0) when `total` are split as evenly as possible over `rounds`. */
export function requestsInRound(total: number, rounds: number, index: number): number {
  return Math.floor(total / rounds) + (index < total % rounds ? 1 : 0);
}

/**
 * The p-th percentile (0 < p <= 100) of values sorted ascending, by the nearest-rank method: the
 * smallest value such that at least p% of the values are less than or equal to it.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty list');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface LatencySummary {
  /** Successful measured requests. */
  count: number;
  /** Successful requests per second over the measured phase. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Summarizes the latencies (milliseconds) of the successful requests of a phase lasting `elapsedMs`. */
export function summarize(latenciesMs: readonly number[], elapsedMs: number): LatencySummary {
  if (elapsedMs <= 0) throw new RangeError(`elapsed time must be positive, got ${elapsedMs}`);
  if (latenciesMs.length === 0) return { count: 0, rps: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    rps: sorted.length / (elapsedMs / 1000),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

/** One server's result in a run. */
export interface ServerResult {
  id: ServerId;
  label: string;
  version: string;
  /** What the access tokens are: `opaque`, or `JWT (RS256)`... */
  tokenFormat: string;
  /** Measured requests sent (successful and failed). */
  sent: number;
  errors: number;
  /** A few distinct error descriptions. */
  errorSamples: string[];
  /** Whether the measured rounds stopped at --max-seconds before sending every request. */
  truncated: boolean;
  /** Measured time, summed over the rounds. */
  elapsedMs: number;
  /** Successful requests per second of each round, to show how steady the machine was. */
  roundRps: number[];
  latency: LatencySummary;
}

const ms = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

/** `ours / theirs` as `2.31×`, or `n/a` when either side has no throughput. */
export function ratio(ours: number, theirs: number): string {
  if (!(ours > 0) || !(theirs > 0)) return 'n/a';
  return `${(ours / theirs).toFixed(2)}×`;
}

/**
 * The results as a Markdown table; the last column is the mock IdP's throughput divided by the
 * row's (above 1: the mock IdP answers more requests per second).
 */
export function markdownTable(results: readonly ServerResult[]): string {
  const ours = results.find((r) => r.id === 'mock-idp');
  const rows = [
    '| Server | Version | Access token | Requests | Errors | req/s | p50 ms | p90 ms | p99 ms | mock-idp ÷ server (req/s) |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of results) {
    const failed = r.errors > 0 || r.latency.count === 0;
    rows.push(
      `| ${r.label} | ${r.version} | ${r.tokenFormat} | ${r.sent}${r.truncated ? ' (time limit)' : ''} | ${r.errors} | ${
        failed ? '—' : r.latency.rps.toFixed(0)
      } | ${failed ? '—' : ms(r.latency.p50)} | ${failed ? '—' : ms(r.latency.p90)} | ${
        failed ? '—' : ms(r.latency.p99)
      } | ${ours && !failed && ours.errors === 0 ? ratio(ours.latency.rps, r.latency.rps) : 'n/a'} |`,
    );
  }
  return rows.join('\n');
}
