import { describe, expect, it } from 'vitest';
import {
  combineRounds,
  type PhaseOutcome,
  parseReferenceBenchArgs,
  rate,
  referenceTable,
  roundRatesLine,
  type WorkloadResult,
} from './reference-report.ts';
import { selectSuite } from './run.ts';
import { BenchUsageError } from './stats.ts';

describe('parseReferenceBenchArgs', () => {
  it('has defaults for every option', () => {
    expect(parseReferenceBenchArgs([])).toEqual({
      mcpRequests: 20_000,
      mcpConcurrency: 32,
      flows: 2000,
      flowConcurrency: 8,
      rounds: 2,
      maxSeconds: 8,
      storages: ['memory', 'sqlite'],
      json: undefined,
      help: false,
    });
  });

  it('reads every option', () => {
    expect(
      parseReferenceBenchArgs([
        '--mcp-requests',
        '500',
        '--mcp-concurrency=4',
        '--flows',
        '30',
        '--flow-concurrency',
        '2',
        '--rounds',
        '3',
        '--max-seconds',
        '5',
        '--storage',
        'sqlite, sqlite',
        '--json',
        'out.json',
      ]),
    ).toEqual({
      mcpRequests: 500,
      mcpConcurrency: 4,
      flows: 30,
      flowConcurrency: 2,
      rounds: 3,
      maxSeconds: 5,
      storages: ['sqlite'],
      json: 'out.json',
      help: false,
    });
    expect(parseReferenceBenchArgs(['-h']).help).toBe(true);
  });

  it.each([
    [['--flows', '0'], '--flows must be an integer of at least 1, got "0"'],
    [['--mcp-concurrency=-1'], '--mcp-concurrency must be an integer of at least 1, got "-1"'],
    [['--max-seconds', '2.5'], '--max-seconds must be an integer of at least 1, got "2.5"'],
    [['--storage', 'postgres'], '--storage: unknown storage "postgres" (known: memory, sqlite)'],
    [['--storage', ' , '], '--storage names no storage'],
    [['--json='], '--json needs a file name'],
    [['--flows', '2', '--rounds', '3'], '--rounds (3) must not exceed --mcp-requests or --flows'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseReferenceBenchArgs(argv)).toThrow(new BenchUsageError(message));
  });

  it('refuses unknown flags and positionals as usage errors', () => {
    expect(() => parseReferenceBenchArgs(['--requests', '5'])).toThrow(BenchUsageError);
    expect(() => parseReferenceBenchArgs(['memory'])).toThrow(BenchUsageError);
  });
});

function phase(latencies: number[], elapsedMs: number, extra: Partial<PhaseOutcome> = {}): PhaseOutcome {
  return {
    sent: latencies.length,
    latencies,
    errors: 0,
    errorSamples: [],
    elapsedMs,
    truncated: false,
    ...extra,
  };
}

describe('combineRounds', () => {
  it('pools the rounds: throughput over the summed time, percentiles over every latency', () => {
    const result = combineRounds('mcp', 'memory', 32, phase([100], 50), [
      phase([1, 2, 3, 4], 1000),
      phase([5, 6, 7, 8, 9, 10], 1000),
    ]);
    expect(result).toEqual({
      workload: 'mcp',
      storage: 'memory',
      concurrency: 32,
      sent: 10,
      errors: 0,
      errorSamples: [],
      truncated: false,
      elapsedMs: 2000,
      roundRates: [4, 6],
      latency: { count: 10, rps: 5, p50: 5, p90: 9, p99: 10, max: 10, mean: 5.5 },
    });
  });

  it('counts warm-up errors, keeps distinct samples and marks a round cut by the time limit', () => {
    const result = combineRounds(
      'flow',
      'sqlite',
      8,
      phase([], 10, { sent: 1, errors: 1, errorSamples: ['token: HTTP 400'] }),
      [
        phase([10], 1000, { sent: 3, errors: 2, errorSamples: ['consent: HTTP 403', 'token: HTTP 400'] }),
        phase([20], 1000, { truncated: true, errors: 1, errorSamples: ['consent: HTTP 403'] }),
      ],
    );
    expect(result.errors).toBe(4);
    expect(result.sent).toBe(4);
    expect(result.errorSamples).toEqual(['warm-up: token: HTTP 400', 'consent: HTTP 403', 'token: HTTP 400']);
    expect(result.truncated).toBe(true);
    expect(result.latency.count).toBe(2);
    expect(result.roundRates).toEqual([1, 1]);
  });

  it('reports no figures for rounds without a success', () => {
    const result = combineRounds('flow', 'memory', 8, undefined, [phase([], 1000, { sent: 2, errors: 2 })]);
    expect(result.latency).toEqual({ count: 0, rps: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
    expect(result.errors).toBe(2);
  });
});

describe('rate', () => {
  it('shows whole numbers from 100 up and one decimal below', () => {
    expect(rate(1234.56)).toBe('1235');
    expect(rate(100)).toBe('100');
    expect(rate(99.94)).toBe('99.9');
    expect(rate(7.25)).toBe('7.3');
    expect(rate(0)).toBe('0.0');
  });
});

function workload(extra: Partial<WorkloadResult>): WorkloadResult {
  return {
    workload: 'mcp',
    storage: 'memory',
    concurrency: 32,
    sent: 1000,
    errors: 0,
    errorSamples: [],
    truncated: false,
    elapsedMs: 2000,
    roundRates: [480, 520],
    latency: { count: 1000, rps: 500, p50: 40, p90: 66.66, p99: 120.4, max: 300, mean: 45 },
    ...extra,
  };
}

describe('referenceTable', () => {
  it('renders one row per workload and storage, marking time limits and hiding failed figures', () => {
    const table = referenceTable([
      workload({}),
      workload({
        workload: 'flow',
        storage: 'sqlite',
        concurrency: 8,
        truncated: true,
        latency: { count: 150, rps: 75.04, p50: 105.5, p90: 148.2, p99: 176, max: 200, mean: 110 },
      }),
      workload({ storage: 'sqlite', errors: 3 }),
    ]);
    expect(table.split('\n')).toEqual([
      '| Workload | Storage | Concurrency | Completed | Errors | per second | p50 ms | p90 ms | p99 ms |',
      '|---|---|--:|--:|--:|--:|--:|--:|--:|',
      '| MCP `tools/call whoami`, bearer validated | memory | 32 | 1000 | 0 | 500 | 40.0 | 66.7 | 120 |',
      '| Authorization flow, register to token | sqlite | 8 | 150 (time limit) | 0 | 75.0 | 106 | 148 | 176 |',
      '| MCP `tools/call whoami`, bearer validated | sqlite | 32 | 1000 | 3 | — | — | — | — |',
    ]);
  });
});

describe('roundRatesLine', () => {
  it('lists each storage’s round rates for one workload', () => {
    const results = [
      workload({}),
      workload({ storage: 'sqlite', roundRates: [400, 410] }),
      workload({ workload: 'flow', roundRates: [70.5, 71] }),
    ];
    expect(roundRatesLine(results, 'mcp')).toBe('memory 480 / 520; sqlite 400 / 410');
    expect(roundRatesLine(results, 'flow')).toBe('memory 70.5 / 71');
  });
});

describe('selectSuite (bench/run.ts)', () => {
  it('defaults to the IdP benchmark and passes the other options on', () => {
    expect(selectSuite([])).toEqual({ suite: 'idp', rest: [] });
    expect(selectSuite(['--requests', '5'])).toEqual({ suite: 'idp', rest: ['--requests', '5'] });
  });

  it('takes --suite NAME and --suite=NAME out of the arguments', () => {
    expect(selectSuite(['--flows', '9', '--suite', 'reference', '--rounds', '1'])).toEqual({
      suite: 'reference',
      rest: ['--flows', '9', '--rounds', '1'],
    });
    expect(selectSuite(['--suite=idp', '--warmup', '0'])).toEqual({ suite: 'idp', rest: ['--warmup', '0'] });
    expect(selectSuite(['--suite', 'all'])).toEqual({ suite: 'all', rest: [] });
  });

  it.each([
    [['--suite'], '--suite must be one of idp, reference, conformance, all, got ""'],
    [['--suite', 'keycloak'], '--suite must be one of idp, reference, conformance, all, got "keycloak"'],
    [['--suite', 'all', '--flows', '3'], '--suite all takes no other options'],
  ])('refuses %j', (argv, message) => {
    expect(() => selectSuite(argv)).toThrow(new BenchUsageError(message));
  });
});
