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
    const typo = capture();
    expect(await main(['http://127.0.0.1:1/mcp', '--idpp', 'x'], typo.io)).toBe(2);
    expect(typo.err[0]).toBe("conformance: Unknown option '--idpp'; did you mean --idp?");
    const far = capture();
    expect(await main(['list', '--frobnicate'], far.io)).toBe(2);
    expect(far.err[0]).toBe("conformance: Unknown option '--frobnicate'");
  });

  it('checks ports and personas files before starting', async () => {
    const port = capture();
    expect(await main(['mock-idp', '--port', 'eighty'], port.io)).toBe(2);
    expect(port.err[0]).toBe('conformance: --port must be a port number (0-65535), got "eighty"');
    const personas = capture();
    expect(await main(['mock-idp', '--personas', '/no/such.yaml'], personas.io)).toBe(2);
    expect(personas.err[0]).toBe('conformance: --personas: no such file "/no/such.yaml"');
    expect(personas.err[1]).toBe('Run "conformance mock-idp --help" for usage.');
    const none = capture();
    expect(await main(['mock-idp', '--providers', ' , '], none.io)).toBe(2);
    expect(none.err[0]).toBe('conformance: --providers needs at least one provider id');
  });

  it('names a proxy port in use and exits instead of staying up with the mock IdP', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as { port: number }).port);
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const caDir = mkdtempSync(join(tmpdir(), 'mock-idp-ca-'));
    const child = spawn(
      process.execPath,
      [bin, 'mock-idp', '--port', '0', '--proxy', '--proxy-port', port, '--ca-dir', caDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = await once(child, 'exit');
    clearTimeout(timer);
    taken.close();
    rmSync(caDir, { recursive: true, force: true });
    expect(code).toBe(2);
    expect(stderr).toContain(`conformance: proxy port ${port} is already in use (try --proxy-port 0)`);
  });
});

describe('conformance list | head (a real process)', () => {
  it('ends quietly when the reader closes the pipe early', async () => {
    // `true` exits without reading, so every write of the listing meets a closed pipe.
    const child = spawn('sh', ['-c', `"${process.execPath}" "${bin}" list | true`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    await once(child, 'exit');
    expect(output).not.toContain('EPIPE');
    expect(output).not.toMatch(/\n\s+at /);
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
        if (match && output.includes('Ready.')) resolve(match[1]!);
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

  it('with --json prints one JSON document on stdout, the proxy and its environment included', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const caDir = mkdtempSync(join(tmpdir(), 'mock-idp-ca-'));
    const args = ['mock-idp', '--json', '--port', '0', '--proxy', '--proxy-port', '0', '--ca-dir', caDir];
    child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    await new Promise<void>((resolve, reject) => {
      child!.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('Ready.')) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stdout}${stderr}`)));
    });
    const printed = JSON.parse(stdout) as {
      url: string;
      providers: Array<{ id: string }>;
      proxy: { url: string; ca_cert: string; env: Record<string, string> };
    };
    expect(printed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed.providers.map((p) => p.id)).toContain('github');
    expect(printed.proxy.ca_cert).toBe(join(caDir, 'ca-cert.pem'));
    expect(printed.proxy.env).toMatchObject({
      HTTPS_PROXY: printed.proxy.url,
      SSL_CERT_FILE: printed.proxy.ca_cert,
    });
    child.kill('SIGTERM');
    await once(child, 'exit');
    rmSync(caDir, { recursive: true, force: true });
  });
});

async function startCli(
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; output: () => string; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    output += chunk;
  });
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      output += chunk;
      const m = output.match(ready);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${output}`)));
  });
  return { child, output: () => output, match };
}

describe('conformance serve (a real process)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('starts the reference server in front of the mock IdP and prints how to connect', async () => {
    const started = await startCli(
      ['serve', '--auth', 'google', '--mock-idp', '--port', '0', '--memory'],
      /For example: .*URL (http:\/\/127\.0\.0\.1:\d+\/mcp)/,
    );
    child = started.child;
    const mcpUrl = started.match[1]!;
    expect(started.output()).toContain('(standing in for google)');
    expect(started.output()).toContain('9 users seeded from the personas');
    expect(started.output()).not.toContain('ExperimentalWarning');
    const challenge = await fetch(mcpUrl, { method: 'POST' });
    expect(challenge.status).toBe(401);
    const metadata = (await (
      await fetch(`${new URL(mcpUrl).origin}/.well-known/oauth-authorization-server`)
    ).json()) as {
      issuer: string;
    };
    expect(metadata.issuer).toBe(new URL(mcpUrl).origin);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('takes the port from the settings file profile when --port is not given', async () => {
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(mkdtempSync(join(tmpdir(), 'serve-settings-')), 'mcc.yaml');
    writeFileSync(
      file,
      `default:\n  auth: dev-public\nlocal:\n  server:\n    port: ${port}\n    storage: memory\n`,
    );
    const started = await startCli(['serve', '--config', file, '--profile', 'local'], /MCP endpoint: +(\S+)/);
    child = started.child;
    expect(started.match[1]).toBe(`http://127.0.0.1:${port}/mcp`);
  });

  it('warns loudly for dev-admin', async () => {
    const started = await startCli(
      ['serve', '--auth', 'dev-admin', '--port', '0', '--memory'],
      /MCP endpoint: +(\S+)/,
    );
    child = started.child;
    expect(started.output()).toContain('WARNING: auth "dev-admin" gives every request full admin access');
  });

  it('names the backend and the missing field, exit 2', async () => {
    const io = capture();
    expect(await main(['serve', '--auth', 'azure', '--port', '0', '--memory'], io.io)).toBe(2);
    expect(io.err[0]).toContain('auth "azure" needs oauth.base_url (MCC_OAUTH__BASE_URL)');
    expect(io.err[0]).toContain('oauth.tenant_id (MCC_OAUTH__TENANT_ID)');
    const bad = capture();
    expect(await main(['serve', '--auth', 'nope'], bad.io)).toBe(2);
    expect(bad.err[0]).toMatch(/^conformance: --auth must be one of dev-admin, dev-public, github/);
  });
});

describe('conformance users', () => {
  it('seeds, adds and lists users in a data directory that survives', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'users-'));
    const seed = capture();
    expect(await main(['users', 'seed', '--data-dir', dir], seed.io)).toBe(0);
    expect(seed.out).toEqual(['added 9 users']);
    const add = capture();
    expect(
      await main(
        ['users', 'add', '--email', 'zoe@example.com', '--groups', 'admin,ops', '--data-dir', dir],
        add.io,
      ),
    ).toBe(0);
    const dup = capture();
    expect(await main(['users', 'add', '--email', 'zoe@example.com', '--data-dir', dir], dup.io)).toBe(2);
    expect(dup.err[0]).toBe('conformance: a user with email zoe@example.com already exists');
    const list = capture();
    expect(await main(['users', 'list', '--json', '--data-dir', dir], list.io)).toBe(0);
    const users = JSON.parse(list.out.join('\n')) as Array<{ id: string; email?: string; groups: string[] }>;
    expect(users).toHaveLength(10);
    expect(users.find((u) => u.email === 'zoe@example.com')?.groups).toEqual(['admin', 'ops']);
    expect(users[0]).toMatchObject({ id: 'U1', email: 'alice@example.com' });
  });
});
