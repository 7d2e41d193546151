import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockIdp } from './app.ts';
import { loadOrCreateCa } from './certificates.ts';
import { MockIdpError } from './errors.ts';
import type { RequestEntry } from './journal.ts';
import { formatProxyEnv, type InterceptingProxy, startInterceptingProxy } from './proxy.ts';

// The proxy terminates TLS for the mocked hostnames only; every test reaches it on 127.0.0.1 and
// nothing is ever forwarded, so no request leaves the machine.

const work = mkdtempSync(join(tmpdir(), 'mock-idp-proxy-'));
const caDir = join(work, 'ca');
const idp = new MockIdp();
const client = idp.provider('github').clients.default;
let proxy: InterceptingProxy;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the proxy in this process, with only the given environment. */
function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 15_000 },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** curl through the proxy; the last output line is the HTTP status. */
async function curl(url: string, extra: string[] = []): Promise<Run & { status: number; body: string }> {
  const result = await run('curl', [
    '-sS',
    '-x',
    proxy.url,
    '--cacert',
    proxy.caCertPath,
    '-w',
    '\n%{http_code}',
    ...extra,
    url,
  ]);
  const cut = result.stdout.lastIndexOf('\n');
  return { ...result, body: result.stdout.slice(0, cut), status: Number(result.stdout.slice(cut + 1)) };
}

/** Sends a raw CONNECT and returns the socket with the proxy's answer head (and body, when refused). */
function rawConnect(target: string): Promise<{ socket: Socket; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let answer = '';
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      answer = Buffer.concat(chunks).toString('latin1');
      if (answer.startsWith('HTTP/1.1 200') && answer.includes('\r\n\r\n')) {
        socket.off('data', onData);
        socket.off('end', onEnd);
        resolve({ socket, answer });
      }
    };
    const onEnd = () => resolve({ socket, answer });
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', reject);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}

/** A TLS session through a CONNECT tunnel, trusting only the proxy's CA. */
async function tunnel(hostname: string): Promise<TLSSocket> {
  const { socket, answer } = await rawConnect(`${hostname}:443`);
  expect(answer.startsWith('HTTP/1.1 200 Connection Established\r\n')).toBe(true);
  const ca = readFileSync(proxy.caCertPath, 'utf8');
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername: hostname, ca }, () => resolve(tls));
    tls.on('error', reject);
  });
}

/** One HTTP/1.1 request over an open TLS tunnel; the raw answer. */
function requestOver(tls: TLSSocket, head: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    tls.setEncoding('utf8');
    tls.on('data', (chunk: string) => {
      text += chunk;
    });
    tls.on('end', () => resolve(text));
    tls.write(`${head}\r\nconnection: close\r\n\r\n`);
  });
}

function journalFor(endpoint: string): RequestEntry[] {
  return idp
    .journalEntries({ type: 'request' })
    .filter((e): e is RequestEntry => e.type === 'request' && e.endpoint === endpoint);
}

beforeAll(async () => {
  proxy = await startInterceptingProxy({ idp, caDir });
});

afterAll(async () => {
  await proxy?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('intercepting HTTPS proxy', () => {
  it('makes a CA on first start and returns the environment that uses it', () => {
    expect(proxy.caCreated).toBe(true);
    expect(proxy.caCertPath).toBe(join(caDir, 'ca-cert.pem'));
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proxy.env).toEqual({
      HTTPS_PROXY: proxy.url,
      SSL_CERT_FILE: proxy.caCertPath,
      NODE_EXTRA_CA_CERTS: proxy.caCertPath,
      NODE_USE_ENV_PROXY: '1',
      REQUESTS_CA_BUNDLE: proxy.caCertPath,
      CURL_CA_BUNDLE: proxy.caCertPath,
      NO_PROXY: 'localhost,127.0.0.1,::1',
    });
    const ca = new X509Certificate(readFileSync(proxy.caCertPath));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toMatch(
      /^O=mcp-auth-conformance\nCN=mcp-auth-conformance local CA \d{4}-\d{2}-\d{2}$/,
    );
  });

  it('formats the environment as export lines, quoting what a shell would split', () => {
    expect(formatProxyEnv(proxy.env).split('\n')).toEqual([
      `export HTTPS_PROXY=${proxy.url}`,
      `export SSL_CERT_FILE=${proxy.caCertPath}`,
      `export NODE_EXTRA_CA_CERTS=${proxy.caCertPath}`,
      'export NODE_USE_ENV_PROXY=1',
      `export REQUESTS_CA_BUNDLE=${proxy.caCertPath}`,
      `export CURL_CA_BUNDLE=${proxy.caCertPath}`,
      'export NO_PROXY=localhost,127.0.0.1,::1',
    ]);
    expect(formatProxyEnv({ SSL_CERT_FILE: "/tmp/it's here/ca.pem" })).toBe(
      `export SSL_CERT_FILE='/tmp/it'\\''s here/ca.pem'`,
    );
  });

  it('lets curl reach https://github.com/login/oauth/access_token (a bad code -> 200 bad_verification_code)', async () => {
    const result = await curl('https://github.com/login/oauth/access_token', [
      '-H',
      'Accept: application/json',
      '--data',
      `client_id=${client.clientId}&client_secret=${client.clientSecret}&code=not-a-code`,
    ]);
    expect(result.code).toBe(0);
    expect(result.status).toBe(200);
    const body = JSON.parse(result.body) as Record<string, string>;
    expect(body['error']).toBe('bad_verification_code');
    expect(body).not.toHaveProperty('access_token');
    // Served by the MockIdp at the real hostname.
    expect(journalFor('token').at(-1)).toMatchObject({
      url: 'https://github.com/login/oauth/access_token',
      method: 'POST',
      status: 200,
    });
  });

  it('lets curl reach https://api.github.com/user (an unknown token -> 401 Bad credentials)', async () => {
    const result = await curl('https://api.github.com/user', ['-H', 'Authorization: Bearer gho_notissued']);
    expect(result.code).toBe(0);
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ message: 'Bad credentials' });
  });

  it('works from the returned environment alone (HTTPS_PROXY + SSL_CERT_FILE, no curl flags)', async () => {
    const result = await run(
      'curl',
      [
        '-sS',
        '-w',
        '\n%{http_code}',
        '-H',
        'Authorization: Bearer gho_notissued',
        'https://api.github.com/user',
      ],
      { ...proxy.env },
    );
    expect(result.code).toBe(0);
    expect(result.stdout.endsWith('\n401')).toBe(true);
    expect(result.stdout).toContain('"message":"Bad credentials"');
  });

  it('works from the returned environment in a shell that already sets SSL_CERT_DIR and CURL_CA_BUNDLE', async () => {
    // Debian-based CI images often export these; curl then ignores SSL_CERT_FILE.
    const preset = { SSL_CERT_DIR: '/etc/ssl/certs', CURL_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt' };
    const result = await run('curl', ['-sS', '-w', '\n%{http_code}', 'https://api.github.com/user'], {
      ...preset,
      ...proxy.env,
    });
    expect(result.code).toBe(0);
    expect(result.stdout.endsWith('\n401')).toBe(true);
  });

  it('serves a wildcard host with a leaf certificate for exactly the hostname asked', async () => {
    const result = await curl('https://mytenant.us.auth0.com/.well-known/openid-configuration');
    expect(result.status).toBe(200);
    expect((JSON.parse(result.body) as Record<string, string>)['issuer']).toBe(
      'https://mytenant.us.auth0.com/',
    );
    const tls = await tunnel('othertenant.eu.auth0.com');
    const peer = tls.getPeerCertificate();
    expect(peer.subject.CN).toBe('othertenant.eu.auth0.com');
    expect(peer.subjectaltname).toBe('DNS:othertenant.eu.auth0.com');
    expect(tls.alpnProtocol).toBe(false);
    tls.destroy();
  });

  it('is not trusted without the CA (curl refuses the certificate)', async () => {
    const result = await run('curl', ['-sS', '-x', proxy.url, 'https://api.github.com/user']);
    expect(result.code).toBe(60);
    expect(result.stderr).toContain('SSL certificate problem');
  });

  it('refuses CONNECT to an unmocked host with 403 and forwards nothing', async () => {
    const before = idp.journalEntries().length;
    const result = await curl('https://example.com/');
    expect(result.code).toBe(56);
    expect(result.stderr).toContain('CONNECT tunnel failed, response 403');
    const { answer } = await rawConnect('example.com:443');
    const [head, body] = answer.split('\r\n\r\n');
    expect(head?.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(body).toBe(
      'mock-idp proxy: refused CONNECT example.com:443: not a mocked host; the proxy forwards nothing\n',
    );
    expect(proxy.refusals().filter((r) => r.target === 'example.com:443')).toHaveLength(2);
    expect(idp.journalEntries()).toHaveLength(before);
  });

  it('refuses CONNECT to a mocked host on a port other than 443, and to a bad target', async () => {
    const other = await rawConnect('github.com:8443');
    expect(other.answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(other.answer.endsWith('refused CONNECT github.com:8443: only port 443 is mocked\n')).toBe(true);
    const bad = await rawConnect('[::1]:443');
    expect(bad.answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(bad.answer.endsWith('refused CONNECT [::1]:443: not a host:port target\n')).toBe(true);
  });

  it('refuses plain-HTTP proxy requests to unmocked hosts, and sends mocked hosts to https', async () => {
    const refused = await run('curl', ['-sS', '-i', '-x', proxy.url, 'http://example.com/path']);
    expect(refused.stdout).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(refused.stdout).toContain(
      'mock-idp proxy: refused GET http://example.com: not a mocked host; the proxy forwards nothing\n',
    );
    const moved = await run('curl', ['-sS', '-i', '-x', proxy.url, 'http://github.com/login?x=1']);
    expect(moved.stdout).toMatch(/^HTTP\/1\.1 301 Moved Permanently\r\n/);
    expect(moved.stdout).toMatch(/\r\nlocation: https:\/\/github\.com\/login\?x=1\r\n/i);
    const direct = await run('curl', ['-sS', '-i', `${proxy.url}/_mock/providers`]);
    expect(direct.stdout).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(direct.stdout).toContain('not a proxy request (send CONNECT or an absolute URL)');
  });

  it('answers 421 when the Host inside a tunnel is not the host the tunnel was opened for', async () => {
    const before = idp.journalEntries().length;
    const tls = await tunnel('github.com');
    const answer = await requestOver(tls, 'GET /_mock/journal HTTP/1.1\r\nhost: 127.0.0.1');
    expect(answer).toMatch(/^HTTP\/1\.1 421 Misdirected Request\r\n/);
    expect(answer).toContain('mock-idp proxy: Host "127.0.0.1" does not match the tunnel to github.com\n');
    expect(idp.journalEntries()).toHaveLength(before);
  });

  it('lets a Node child reach the mock with HTTPS_PROXY + NODE_USE_ENV_PROXY + NODE_EXTRA_CA_CERTS', async () => {
    const script = `
      const https = require('node:https');
      const viaHttps = () => new Promise((resolve, reject) => {
        https.get('https://api.github.com/user', { headers: { 'user-agent': 'child', authorization: 'Bearer gho_x' } }, (res) => {
          let text = ''; res.on('data', (c) => { text += c; }); res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
        }).on('error', reject);
      });
      (async () => {
        const r = await fetch('https://github.com/login/oauth/access_token', {
          method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams({ client_id: ${JSON.stringify(client.clientId)}, client_secret: ${JSON.stringify(client.clientSecret)}, code: 'nope' }),
        });
        const fetched = { status: r.status, body: await r.json() };
        console.log(JSON.stringify({ fetched, https: await viaHttps() }));
      })().catch((e) => { console.error(String(e.cause ?? e)); process.exit(3); });`;
    const result = await run(process.execPath, ['--no-warnings', '-e', script], { ...proxy.env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as {
      fetched: { status: number; body: Record<string, string> };
      https: { status: number; body: Record<string, string> };
    };
    expect(out.fetched.status).toBe(200);
    expect(out.fetched.body['error']).toBe('bad_verification_code');
    expect(out.https.status).toBe(401);
    expect(out.https.body['message']).toBe('Bad credentials');
  });

  it('does not reach the mock from a Node child that lacks the CA (TLS fails, nothing answered)', async () => {
    const { NODE_EXTRA_CA_CERTS: _ignored, ...env } = proxy.env;
    const before = idp.journalEntries().length;
    const result = await run(
      process.execPath,
      [
        '--no-warnings',
        '-e',
        "fetch('https://api.github.com/user').then((r) => console.log(r.status), (e) => { console.error(String(e.cause?.code ?? e)); process.exit(3); })",
      ],
      { ...env },
    );
    expect(result.code).toBe(3);
    expect(result.stderr.trim()).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(idp.journalEntries()).toHaveLength(before);
  });

  it('reuses the CA on a second start', async () => {
    const pem = readFileSync(proxy.caCertPath, 'utf8');
    const second = await startInterceptingProxy({ idp, caDir });
    try {
      expect(second.caCreated).toBe(false);
      expect(second.caCertPath).toBe(proxy.caCertPath);
      expect(readFileSync(second.caCertPath, 'utf8')).toBe(pem);
      expect(second.url).not.toBe(proxy.url);
      // The CA a client already trusts still verifies the new proxy's leaves.
      const result = await run('curl', [
        '-sS',
        '-w',
        '\n%{http_code}',
        '-x',
        second.url,
        '--cacert',
        proxy.caCertPath,
        '-H',
        'Authorization: Bearer gho_notissued',
        'https://api.github.com/user',
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout.endsWith('\n401')).toBe(true);
    } finally {
      await second.stop();
    }
  });
});

describe('the local CA', () => {
  it('signs leaves that chain to it and name only the hostname asked', () => {
    const ca = loadOrCreateCa(caDir);
    expect(ca.created).toBe(false);
    const leaf = ca.issue('Login.MicrosoftOnline.com');
    const cert = new X509Certificate(leaf.certPem);
    const root = new X509Certificate(ca.certPem);
    expect(cert.checkIssued(root)).toBe(true);
    expect(cert.verify(root.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toBe('CN=login.microsoftonline.com');
    expect(cert.subjectAltName).toBe('DNS:login.microsoftonline.com');
    expect(cert.checkHost('login.microsoftonline.com')).toBe('login.microsoftonline.com');
    expect(cert.checkHost('graph.microsoft.com')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(cert.validTo).getTime()).toBeLessThanOrEqual(Date.now() + 31 * 86_400_000);
  });

  it('refuses to issue for something that is not a hostname', () => {
    const ca = loadOrCreateCa(caDir);
    expect(() => ca.issue('*.auth0.com')).toThrow(
      expect.objectContaining({ code: 'ERR_PROXY', message: '"*.auth0.com" is not a hostname' }),
    );
  });

  it('refuses an unreadable CA directory with a message that names it', () => {
    const broken = join(work, 'broken-ca');
    mkdirSync(broken);
    writeFileSync(join(broken, 'ca-cert.pem'), 'not a certificate');
    writeFileSync(join(broken, 'ca-key.pem'), 'not a key');
    let caught: unknown;
    try {
      loadOrCreateCa(broken);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MockIdpError);
    expect(caught).toMatchObject({ code: 'ERR_PROXY' });
    expect((caught as Error).message).toMatch(
      new RegExp(`^the CA in "${broken}" is unreadable \\(.+\\); delete the directory to make a new one$`),
    );
  });

  it('makes a CA in an existing empty directory', () => {
    const empty = join(work, 'empty-ca');
    mkdirSync(empty);
    const ca = loadOrCreateCa(empty);
    expect(ca.created).toBe(true);
    expect(new X509Certificate(ca.certPem).ca).toBe(true);
  });
});
