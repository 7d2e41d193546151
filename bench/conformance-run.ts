/**
 * `npm run bench -- --suite conformance`: how long conformance runs take on this machine.
 * 1. A full run of every bundled suite against the reference server for one backend (github in
 *    front of the mock IdP, both in this process), repeated; the target is at most 15 s.
 * 2. The whole `conformance demo` (every backend) as a child process, as a user runs it; the
 *    target is at most 2 minutes.
 * Prints a Markdown table and the machine facts; exit 1 when a run failed or missed its target.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { notPassing, startTarget } from '../runner/detection/harness.ts';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const ONE_BACKEND_TARGET_S = 15;
const DEMO_TARGET_S = 120;

function runDemo(): Promise<{ seconds: number; code: number | null; tail: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'demo', '--no-color'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({
        seconds: (performance.now() - started) / 1000,
        code,
        tail: output.trim().split('\n').slice(-3).join('\n'),
      });
    });
  });
}

export async function main(argv: string[]): Promise<number> {
  const rounds = Number(argv[argv.indexOf('--rounds') + 1] ?? 3) || 3;
  const load = loadavg()[0]!.toFixed(2);
  const times: number[] = [];
  let cases = 0;
  let failed: string[] = [];
  // A fresh server per round, as in CI: a run spends the server's registration budget (edge 15).
  for (let i = 0; i < rounds; i++) {
    const target = await startTarget({ backend: 'github' });
    try {
      const t0 = performance.now();
      const result = await target.run();
      times.push((performance.now() - t0) / 1000);
      cases = result.summary.total;
      failed = [...new Set([...failed, ...notPassing(result)])];
    } finally {
      await target.stop();
    }
  }
  const demo = await runDemo();
  const best = Math.min(...times);
  const worst = Math.max(...times);
  const ok =
    failed.length === 0 && worst <= ONE_BACKEND_TARGET_S && demo.code === 0 && demo.seconds <= DEMO_TARGET_S;
  const lines = [
    '| Run | Cases | Time | Target | Result |',
    '|---|--:|--:|--:|---|',
    `| every suite, reference server (github backend) | ${cases} | ${best.toFixed(1)} s best, ${worst.toFixed(1)} s worst of ${rounds} | ≤ ${ONE_BACKEND_TARGET_S} s | ${failed.length ? `${failed.length} not passing` : 'all passed'} |`,
    `| \`conformance demo\` (every backend) | | ${demo.seconds.toFixed(1)} s | ≤ ${DEMO_TARGET_S} s | ${demo.code === 0 ? 'exit 0' : `exit ${demo.code}`} |`,
    '',
    `Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, 1-minute load ${load} at the start.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (failed.length) process.stdout.write(`not passing: ${failed.join(', ')}\n`);
  if (demo.code !== 0) process.stdout.write(`demo output:\n${demo.tail}\n`);
  return ok ? 0 : 1;
}
