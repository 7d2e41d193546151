/**
 * An intercepting HTTPS proxy for servers in any language: point the server at it with
 * `HTTPS_PROXY` and trust the local CA (`SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`), and its calls to
 * github.com, login.microsoftonline.com, *.auth0.com... reach the mock IdP at their real names.
 *
 * A CONNECT to a mocked hostname on port 443 is answered here: the tunnel is terminated with a
 * leaf certificate for that hostname, signed by the local CA, and the requests inside it are
 * served by the MockIdp in host mode. Every other CONNECT, and every plain-HTTP proxy request to
 * an unmocked host, is refused with 403 and a one-line reason; nothing is ever forwarded.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6 (CONNECT)
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.5.20 (421 Misdirected Request)
 * @see https://nodejs.org/api/cli.html#node_use_env_proxy1 (Node's fetch and http honour HTTPS_PROXY)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { getRequestListener } from '@hono/node-server';
import type { MockIdp } from './app.ts';
import { type CertificateAuthority, loadOrCreateCa } from './certificates.ts';

/** What the proxy needs of a MockIdp. */
export type InterceptedIdp = Pick<MockIdp, 'fetch' | 'handlesHost' | 'hostPatterns'>;

export interface InterceptingProxyOptions {
  idp: InterceptedIdp;
  /** Port on 127.0.0.1 (0, the default, picks a free one). */
  port?: number;
  /** Where the CA lives; made on first use and reused (default `~/.cache/mcp-auth-conformance/ca`). */
  caDir?: string;
}

/** The environment that sends a server's HTTPS calls through the proxy. */
export interface ProxyEnv {
  HTTPS_PROXY: string;
  /** OpenSSL-based clients (curl, Python's ssl and httpx, Go on Linux, Ruby). */
  SSL_CERT_FILE: string;
  /** Node adds this CA to its bundled roots. */
  NODE_EXTRA_CA_CERTS: string;
  /** Node 22.21+ / 24: fetch and http(s) use HTTPS_PROXY and NO_PROXY. */
  NODE_USE_ENV_PROXY: '1';
  /** Python requests reads its own variable rather than SSL_CERT_FILE. */
  REQUESTS_CA_BUNDLE: string;
  /** curl reads this first; it ignores SSL_CERT_FILE when SSL_CERT_DIR is set (Debian images often set it). */
  CURL_CA_BUNDLE: string;
  /** Loopback calls (the server's own tests, a local mock) skip the proxy. */
  NO_PROXY: string;
}

/** One request the proxy refused. */
export interface ProxyRefusal {
  method: string;
  target: string;
  reason: string;
}

export interface InterceptingProxy {
  /** The proxy's URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  caCertPath: string;
  /** Whether this start made the CA (false when an existing one was reused). */
  caCreated: boolean;
  env: ProxyEnv;
  /** Requests refused so far (what the server tried to reach that is not mocked). */
  refusals(): ProxyRefusal[];
  stop(): Promise<void>;
}

function hostOfHeader(host: string | undefined): string {
  return (host ?? '').replace(/:443$/, '').replace(/\.$/, '').toLowerCase();
}

function plainReply(res: ServerResponse, status: number, line: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...headers });
  res.end(`${line}\n`);
}

/** Starts the proxy on 127.0.0.1. */
export async function startInterceptingProxy(options: InterceptingProxyOptions): Promise<InterceptingProxy> {
  const { idp } = options;
  const ca: CertificateAuthority = loadOrCreateCa(options.caDir);
  const contexts = new Map<string, SecureContext>();
  const tunnelHosts = new WeakMap<object, string>();
  const refused: ProxyRefusal[] = [];
  const sockets = new Set<Socket>();

  const refuse = (method: string, target: string, reason: string): string => {
    refused.push({ method, target, reason });
    if (refused.length > 1000) refused.shift();
    return `mock-idp proxy: refused ${method} ${target}: ${reason}`;
  };

  const contextFor = (hostname: string): SecureContext => {
    let context = contexts.get(hostname);
    if (!context) {
      const leaf = ca.issue(hostname);
      context = createSecureContext({ key: leaf.keyPem, cert: leaf.certPem });
      contexts.set(hostname, context);
    }
    return context;
  };

  // Requests inside the TLS tunnels: the MockIdp at the real hostnames.
  const serveIdp = getRequestListener(idp.fetch, { overrideGlobalObjects: false });
  const inner = createServer((req: IncomingMessage, res: ServerResponse) => {
    const tunnel = tunnelHosts.get(req.socket);
    const host = hostOfHeader(req.headers.host);
    if (!tunnel || host !== tunnel) {
      plainReply(
        res,
        421,
        `mock-idp proxy: Host "${req.headers.host ?? ''}" does not match the tunnel to ${tunnel}`,
      );
      return;
    }
    void serveIdp(req, res);
  });
  inner.keepAliveTimeout = 5_000;
  inner.requestTimeout = 30_000;

  // Plain-HTTP proxy requests: redirect a mocked host to https (as the real hosts do), refuse the rest.
  const front = createServer((req: IncomingMessage, res: ServerResponse) => {
    const target = req.url ?? '';
    const method = req.method ?? 'GET';
    let url: URL | undefined;
    try {
      url = /^https?:\/\//i.test(target) ? new URL(target) : undefined;
    } catch {
      url = undefined;
    }
    if (!url) {
      plainReply(res, 400, refuse(method, target, 'not a proxy request (send CONNECT or an absolute URL)'));
      return;
    }
    if (url.protocol === 'http:' && url.port === '' && idp.handlesHost(url.hostname)) {
      url.protocol = 'https:';
      plainReply(res, 301, `mock-idp proxy: ${url.hostname} is served over https`, {
        location: url.toString(),
      });
      return;
    }
    plainReply(res, 403, refuse(method, url.origin, 'not a mocked host; the proxy forwards nothing'));
  });

  front.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const authority = req.url ?? '';
    const match = /^([a-z0-9.-]+):(\d+)$/i.exec(authority);
    const hostname = match?.[1]?.toLowerCase().replace(/\.$/, '') ?? '';
    const port = Number(match?.[2]);
    socket.on('error', () => socket.destroy());
    if (!match || port !== 443 || !idp.handlesHost(hostname)) {
      const reason = !match
        ? 'not a host:port target'
        : port !== 443
          ? 'only port 443 is mocked'
          : 'not a mocked host; the proxy forwards nothing';
      const line = `${refuse('CONNECT', authority, reason)}\n`;
      socket.end(
        `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(line)}\r\nconnection: close\r\n\r\n${line}`,
      );
      return;
    }
    let context: SecureContext;
    try {
      context = contextFor(hostname);
    } catch (error) {
      const line = `${refuse('CONNECT', authority, (error as Error).message)}\n`;
      socket.end(
        `HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(line)}\r\nconnection: close\r\n\r\n${line}`,
      );
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
    });
    tls.on('error', () => tls.destroy());
    tunnelHosts.set(tls, hostname);
    inner.emit('connection', tls);
  });

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(options.port ?? 0, '127.0.0.1', () => {
      front.off('error', reject);
      resolve();
    });
  });
  const port = (front.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    caCertPath: ca.certPath,
    caCreated: ca.created,
    env: {
      HTTPS_PROXY: url,
      SSL_CERT_FILE: ca.certPath,
      NODE_EXTRA_CA_CERTS: ca.certPath,
      NODE_USE_ENV_PROXY: '1',
      REQUESTS_CA_BUNDLE: ca.certPath,
      CURL_CA_BUNDLE: ca.certPath,
      NO_PROXY: 'localhost,127.0.0.1,::1',
    },
    refusals: () => [...refused],
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        inner.closeAllConnections();
        front.closeAllConnections();
        front.close(() => resolve());
      }),
  };
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The proxy environment as `export NAME=value` lines, for a shell to `eval` or a user to copy. */
export function formatProxyEnv(env: ProxyEnv | Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => `export ${name}=${shellQuote(String(value))}`)
    .join('\n');
}
