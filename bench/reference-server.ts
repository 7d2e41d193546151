/**
 * `npm run bench -- --suite reference` (or `node bench/reference-server.ts`): throughput and
 * latency of the reference server on this machine, for two workloads, per storage:
 * - MCP requests: `tools/call whoami` with a valid bearer token at a fixed concurrency; each
 *   request verifies the ES256 access token (signature, iss, aud, exp), looks up its grant and
 *   user in the store, and runs a fresh stateless MCP server;
 * - complete authorization flows (bench/reference-load.ts `authorizationFlow`), each one sequence
 *   of HTTP requests, at a fixed concurrency.
 *
 * Processes: the mock IdP (bench/target-server.ts `mock-idp`, as the IdP benchmark runs it) and
 * the reference server (bench/reference-target.ts) each in its own child, this process generating
 * the load. The mock is kept out of the reference server's process because in a deployment the
 * upstream is elsewhere: its work (authorize, token, the user API) must not count as ours, and
 * the MCP workload does not touch it at all. Each storage gets its own reference server process;
 * they are measured in interleaved rounds, one at a time (the idle one waits). Prints a Markdown table and the machine facts; exit code 1 when
 * any operation failed.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { REGISTRATIONS_PER_MINUTE } from '../reference-server/oauth/register.ts';
import { type RunningChild, startChild, stopChild } from './child-process.ts';
import { authorizationFlow, mcpWhoami, runPhase } from './reference-load.ts';
import {
  combineRounds,
  type PhaseOutcome,
  parseReferenceBenchArgs,
  type ReferenceBenchOptions,
  rate,
  referenceBenchUsage,
  referenceTable,
  roundRatesLine,
  type Storage,
  type Workload,
  type WorkloadResult,
} from './reference-report.ts';
import type { ReferenceTargetInfo } from './reference-target.ts';
import { type MachineFacts, machineFacts } from './run.ts';
import { BenchUsageError, requestsInRound } from './stats.ts';
import type { TargetInfo } from './target-server.ts';

const TARGET_SCRIPT = fileURLToPath(new URL('./target-server.ts', import.meta.url));
const REFERENCE_SCRIPT = fileURLToPath(new URL('./reference-target.ts', import.meta.url));
/** Unmeasured operations before each measured phase, and their time bound. */
const MCP_WARMUP = 1000;
const FLOW_WARMUP = 40;
const WARMUP_MAX_SECONDS = 3;
/** The user the personas file resolves alice to. */
const ALICE = 'U1';

interface StorageTarget {
  storage: Storage;
  child: RunningChild<ReferenceTargetInfo>;
  /** alice's access token at this server (from one flow before the measurements). */
  token: string;
}

/**
 * One workload against every storage: a warm-up each, then the measured rounds, the storages
 * taking turns (each round starts with the next one, so that none always follows the same).
 */
async function measureWorkload(
  workload: Workload,
  options: ReferenceBenchOptions,
  targets: readonly StorageTarget[],
): Promise<WorkloadResult[]> {
  const mcp = workload === 'mcp';
  const total = mcp ? options.mcpRequests : options.flows;
  const concurrency = mcp ? options.mcpConcurrency : options.flowConcurrency;
  const operation = (t: StorageTarget) =>
    mcp ? () => mcpWhoami(t.child.info, t.token, ALICE) : () => authorizationFlow(t.child.info);
  const warm = new Map<Storage, PhaseOutcome>();
  for (const t of targets) {
    warm.set(
      t.storage,
      await runPhase(mcp ? MCP_WARMUP : FLOW_WARMUP, concurrency, WARMUP_MAX_SECONDS, operation(t)),
    );
  }
  const rounds = new Map<Storage, PhaseOutcome[]>(targets.map((t) => [t.storage, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(round + k) % targets.length]!;
      const done = rounds.get(t.storage)!;
      const count = requestsInRound(total, options.rounds, done.length);
      const outcome = await runPhase(count, concurrency, options.maxSeconds / options.rounds, operation(t));
      done.push(outcome);
      process.stderr.write(
        `bench: ${workload} round ${round + 1}/${options.rounds} ${t.storage}: ${rate((outcome.latencies.length / outcome.elapsedMs) * 1000)}/s, ${outcome.errors} errors\n`,
      );
    }
  }
  return targets.map((t) =>
    combineRounds(workload, t.storage, concurrency, warm.get(t.storage), rounds.get(t.storage)!),
  );
}

export function referenceReport(
  options: ReferenceBenchOptions,
  facts: MachineFacts & { loadAverage: number },
  results: WorkloadResult[],
): string {
  const lines = [
    `Reference server, github backend with the mock IdP's GitHub as its upstream; the server, the mock IdP and this load generator each in its own Node process on 127.0.0.1, keep-alive (fetch). Up to ${options.mcpRequests} MCP requests and ${options.flows} flows per storage in ${options.rounds} rounds (the storages taking turns, each with its own server process) after ${MCP_WARMUP} and ${FLOW_WARMUP} warm-up ones; each workload's rounds bounded to ${options.maxSeconds} s per storage.`,
    '',
    referenceTable(results),
    '',
    `Per-round rates: MCP ${roundRatesLine(results, 'mcp')}; flows ${roundRatesLine(results, 'flow')}.`,
    '',
    '- MCP: `tools/call whoami` over Streamable HTTP (JSON response, stateless): the ES256 access token is verified (signature, `iss`, `aud`, `exp`), its grant and user are read from the store, and the answer is checked to name the user.',
    "- Flow: 7 HTTP requests in sequence (a client's and a browser's, plus the harness's one call to queue the persona): `POST /register`, `GET /authorize` (consent page), `POST /_mock/next-login` (the harness queues the persona), `POST /consent`, `GET` the mock's authorize, `GET /oauth/callback` (our server redeems the upstream code and reads `/user` and `/user/emails` from the mock), `POST /token`. The registration rate limit (" +
      `${REGISTRATIONS_PER_MINUTE} a minute) is lifted for the run.`,
    '',
    `Machine: ${facts.cpus} CPUs (${facts.cpuModel}), ${facts.memoryGiB} GiB, ${facts.platform}, Node ${facts.node}. Load generator, server and mock IdP share the machine; its 1-minute load average was ${facts.loadAverage.toFixed(2)} when the run started.`,
  ];
  const failed = results.filter((r) => r.errors > 0);
  if (failed.length > 0) {
    lines.push('', '**This run had errors; its figures are not valid.**');
    for (const r of failed) {
      lines.push(`- ${r.workload} (${r.storage}): ${r.errors} failed; ${r.errorSamples.join('; ')}`);
    }
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let options: ReferenceBenchOptions;
  try {
    options = parseReferenceBenchArgs(argv);
  } catch (error) {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${referenceBenchUsage}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${referenceBenchUsage}\n`);
    return 0;
  }
  // Other work on the machine skews the figures; the load average says how busy it was.
  const facts = { ...machineFacts(), loadAverage: loadavg()[0] ?? 0 };
  const results: WorkloadResult[] = [];
  process.stderr.write('bench: starting the mock IdP\n');
  const mock: RunningChild<TargetInfo> = await startChild(TARGET_SCRIPT, ['mock-idp']);
  const targets: StorageTarget[] = [];
  try {
    const mockOrigin = new URL(mock.info.tokenEndpoint).origin;
    for (const storage of options.storages) {
      process.stderr.write(`bench: starting the reference server (${storage})\n`);
      const child = await startChild<ReferenceTargetInfo>(REFERENCE_SCRIPT, [mockOrigin, storage]);
      targets.push({ storage, child, token: '' });
      // One flow first, to check the wiring and to get the token the MCP workload presents.
      const token = await authorizationFlow(child.info);
      await mcpWhoami(child.info, token, ALICE);
      targets[targets.length - 1]!.token = token;
    }
    results.push(...(await measureWorkload('mcp', options, targets)));
    results.push(...(await measureWorkload('flow', options, targets)));
  } finally {
    await Promise.all([...targets.map((t) => stopChild(t.child)), stopChild(mock)]);
  }
  process.stdout.write(`${referenceReport(options, facts, results)}\n`);
  if (options.json) {
    const figures = {
      date: new Date().toISOString(),
      machine: facts,
      options: {
        ...options,
        json: undefined,
        help: undefined,
        mcpWarmup: MCP_WARMUP,
        flowWarmup: FLOW_WARMUP,
      },
      results,
    };
    writeFileSync(options.json, `${JSON.stringify(figures, null, 2)}\n`);
    process.stderr.write(`bench: figures written to ${options.json}\n`);
  }
  return results.some((r) => r.errors > 0 || r.latency.count === 0) ? 1 : 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: Error) => {
      process.stderr.write(`bench: ${error.message}\n`);
      process.exitCode = 2;
    },
  );
}
