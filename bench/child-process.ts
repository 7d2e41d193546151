/**
 * A benchmark target in a child process: started with `node <script> ...args`, ready when it
 * prints `READY {json}` (bench/target-server.ts READY_PREFIX), stopped with SIGTERM (SIGKILL after
 * 5 s). Closing its stdin also stops it, so a target never outlives the benchmark.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { READY_PREFIX } from './target-server.ts';

const STARTUP_TIMEOUT_MS = 30_000;

export interface RunningChild<Info> {
  info: Info;
  child: ChildProcess;
}

export function startChild<Info>(script: string, args: string[]): Promise<RunningChild<Info>> {
  const child = spawn(process.execPath, ['--no-warnings', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 20_000) stderr += chunk;
  });
  const name = `${script.split('/').at(-1)} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${name} did not start within ${STARTUP_TIMEOUT_MS / 1000} s\n${stderr}`));
    }, STARTUP_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready\n${stderr.trim()}`));
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (!line) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolve({ info: JSON.parse(line.slice(READY_PREFIX.length)) as Info, child });
    });
  });
}

export function stopChild(target: RunningChild<unknown>): Promise<void> {
  const { child } = target;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
