/**
 * `npm run bench`: token-endpoint throughput and latency of the mock IdP's generic OIDC provider
 * against oauth2-mock-server and oidc-provider, on this machine, in one run. Each server runs
 * alone in its own child process (bench/target-server.ts) while this process generates the load
 * (bench/load.ts); the servers are measured one after the other so that they never compete for
 * the CPU. Prints a Markdown table and the machine facts; exit code 1 when any request failed.
 *
 * `--suite` picks the benchmark: `idp` (the default, this one), `reference` (the reference
 * server: MCP requests and authorization flows, bench/reference-server.ts, whose options follow),
 * `conformance` (a full conformance run for one backend and the whole demo, bench/conformance-run.ts),
 * or `all` (every one, one after the other, each with its defaults).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, platform, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type RunningChild, stopChild } from './child-process.ts';
import { combine, type PhaseResult, phase, warmUp } from './load.ts';
import {
  type BenchOptions,
  BenchUsageError,
  benchUsage,
  markdownTable,
  parseBenchArgs,
  requestsInRound,
  type ServerId,
  type ServerResult,
} from './stats.ts';
import { READY_PREFIX, type TargetInfo } from './target-server.ts';

const STARTUP_TIMEOUT_MS = 30_000;
const TARGET_SCRIPT = fileURLToPath(new URL('./target-server.ts', import.meta.url));

/**
 * Starts one server in a child process and waits for its READY line. child-process.ts
 * `startChild` does the same, but runs Node with `--no-warnings` and names the script in its
 * messages; this one keeps Node's warnings in the captured stderr and names only the server.
 */
function startTarget(id: ServerId): Promise<RunningChild<TargetInfo>> {
  const child = spawn(process.execPath, [TARGET_SCRIPT, id], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 20_000) stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${id} did not start within ${STARTUP_TIMEOUT_MS / 1000} s\n${stderr}`));
    }, STARTUP_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${id} exited with code ${code} before it was ready\n${stderr.trim()}`));
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (!line) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolve({ info: JSON.parse(line.slice(READY_PREFIX.length)) as TargetInfo, child });
    });
  });
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryGiB: number;
}

export function machineFacts(): MachineFacts {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${platform()} ${arch()}`,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

function report(options: BenchOptions, facts: MachineFacts, results: ServerResult[]): string {
  const lines = [
    `Token endpoint, \`client_credentials\` grant: ${options.requests} measured requests per server in ${options.rounds} rounds (the servers taking turns) after ${options.warmup} warm-up requests, concurrency ${options.concurrency}, keep-alive (fetch); each server in its own Node process on 127.0.0.1, measured while the others are idle.`,
    '',
    markdownTable(results),
    '',
    `Per-round req/s: ${results.map((r) => `${r.label} ${r.roundRps.join(' / ')}`).join('; ')}.`,
    '',
    `Machine: ${facts.cpus} CPUs (${facts.cpuModel}), ${facts.memoryGiB} GiB, ${facts.platform}, Node ${facts.node}. Load generator and server share the machine.`,
  ];
  const failed = results.filter((r) => r.errors > 0);
  if (failed.length > 0) {
    lines.push('', '**This run had errors; its figures are not valid.**');
    for (const r of failed) {
      lines.push(`- ${r.label}: ${r.errors} failed requests; ${r.errorSamples.join('; ')}`);
    }
  }
  const truncated = results.filter((r) => r.truncated);
  if (truncated.length > 0) {
    lines.push(
      '',
      `Stopped at the ${options.maxSeconds} s limit before every request was sent: ${truncated.map((r) => r.label).join(', ')}.`,
    );
  }
  return lines.join('\n');
}

const SUITES = ['idp', 'reference', 'conformance', 'all'] as const;
type Suite = (typeof SUITES)[number];

const suiteUsage = `Suites: --suite idp (default: the above), --suite reference (the reference server; see
--suite reference --help), --suite conformance (a full conformance run for one backend, and the whole
demo), --suite all (every one, each with its defaults).`;

/** Takes `--suite NAME` (or `--suite=NAME`) out of the arguments. */
export function selectSuite(argv: string[]): { suite: Suite; rest: string[] } {
  const at = argv.findIndex((a) => a === '--suite' || a.startsWith('--suite='));
  if (at < 0) return { suite: 'idp', rest: argv };
  const inline = argv[at]!.startsWith('--suite=');
  const name = inline ? argv[at]!.slice('--suite='.length) : argv[at + 1];
  if (!(SUITES as readonly string[]).includes(name ?? '')) {
    throw new BenchUsageError(`--suite must be one of ${SUITES.join(', ')}, got "${name ?? ''}"`);
  }
  const rest = [...argv.slice(0, at), ...argv.slice(at + (inline ? 1 : 2))];
  if (name === 'all' && rest.length > 0) throw new BenchUsageError('--suite all takes no other options');
  return { suite: name as Suite, rest };
}

async function main(argv: string[]): Promise<number> {
  let selected: { suite: Suite; rest: string[] };
  try {
    selected = selectSuite(argv);
  } catch (error) {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${suiteUsage}\n`);
      return 2;
    }
    throw error;
  }
  const reference = async (args: string[]) => (await import('./reference-server.ts')).main(args);
  if (selected.suite === 'reference') return reference(selected.rest);
  const conformance = async (args: string[]) => (await import('./conformance-run.ts')).main(args);
  if (selected.suite === 'conformance') return conformance(selected.rest);
  if (selected.suite === 'all') {
    return Math.max(await idpMain([]), await reference([]), await conformance([]));
  }
  return idpMain(selected.rest);
}

async function idpMain(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${benchUsage}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${benchUsage}\n\n${suiteUsage}\n`);
    return 0;
  }
  const facts = machineFacts();
  const targets: RunningChild<TargetInfo>[] = [];
  const results: ServerResult[] = [];
  try {
    for (const id of options.servers) {
      process.stderr.write(`bench: starting ${id}\n`);
      targets.push(await startTarget(id));
    }
    const warm = new Map<ServerId, PhaseResult>();
    if (options.warmup > 0) {
      for (const { info } of targets) {
        process.stderr.write(`bench: ${info.id}: ${options.warmup} warm-up requests\n`);
        warm.set(info.id, await warmUp(info, options));
      }
    }
    const rounds = new Map<ServerId, PhaseResult[]>(targets.map((t) => [t.info.id, []]));
    for (let round = 0; round < options.rounds; round++) {
      // Each round starts with the next server, so that no server always follows the same one.
      for (let k = 0; k < targets.length; k++) {
        const { info } = targets[(round + k) % targets.length]!;
        const done = rounds.get(info.id)!;
        const count = requestsInRound(options.requests, options.rounds, done.length);
        const result = await phase(info, count, options.concurrency, options.maxSeconds / options.rounds);
        done.push(result);
        process.stderr.write(
          `bench: round ${round + 1}/${options.rounds} ${info.id}: ${Math.round((result.latencies.length / result.elapsedMs) * 1000)} req/s, ${result.errors} errors\n`,
        );
      }
    }
    for (const { info } of targets) results.push(combine(info, warm.get(info.id), rounds.get(info.id)!));
  } finally {
    await Promise.all(targets.map((t) => stopChild(t)));
  }
  process.stdout.write(`${report(options, facts, results)}\n`);
  if (options.json) {
    const figures = {
      date: new Date().toISOString(),
      machine: facts,
      options: {
        requests: options.requests,
        rounds: options.rounds,
        warmup: options.warmup,
        concurrency: options.concurrency,
        maxSeconds: options.maxSeconds,
        grant: 'client_credentials',
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
