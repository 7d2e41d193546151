import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from './main.ts';

const bin = fileURLToPath(new URL('./bin.js', import.meta.url));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('conformance command line', () => {
  it('prints usage for help and exits 0; with no command exits 2', async () => {
    const help = capture();
    expect(await main(['help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toContain('mock-idp');
    expect(await main([], capture().io)).toBe(2);
  });

  it('names an unknown command and an unknown flag, exit 2, no stack trace', async () => {
    const unknown = capture();
    expect(await main(['frobnicate'], unknown.io)).toBe(2);
    expect(unknown.err[0]).toBe('conformance: unknown command "frobnicate"');
    const flag = capture();
    expect(await main(['mock-idp', '--bogus'], flag.io)).toBe(2);
    expect(flag.err[0]).toMatch(/^conformance: Unknown option '--bogus'/);
    expect(flag.err.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('checks ports and personas files before starting', async () => {
    const port = capture();
    expect(await main(['mock-idp', '--port', 'eighty'], port.io)).toBe(2);
    expect(port.err[0]).toBe('conformance: --port must be a port number (0-65535), got "eighty"');
    const personas = capture();
    expect(await main(['mock-idp', '--personas', '/no/such.yaml'], personas.io)).toBe(2);
    expect(personas.err[0]).toBe('conformance: --personas: no such file "/no/such.yaml"');
  });
});

describe('conformance mock-idp (a real process)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('serves every provider on 127.0.0.1, prints where, and stops cleanly on SIGTERM', async () => {
    child = spawn(process.execPath, [bin, 'mock-idp', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: string) => {
        output += chunk;
        const match = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
        if (match && output.includes('client_id=')) resolve(match[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`exited early with ${code}: ${output}`)));
    });
    for (const id of ['github', 'google', 'entra', 'auth0', 'cognito', 'oidc']) {
      expect(output).toMatch(new RegExp(`^  ${id}\\s+http://127\\.0\\.0\\.1:\\d+/`, 'm'));
    }
    const providers = (await (await fetch(`${url}/_mock/providers`)).json()) as {
      providers: Array<{ id: string }>;
    };
    expect(providers.providers.map((p) => p.id)).toEqual(
      expect.arrayContaining(['github', 'google', 'entra', 'auth0', 'cognito', 'oidc']),
    );
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});
