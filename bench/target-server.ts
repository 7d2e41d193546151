/**
 * One benchmarked server, run in a child process of bench/run.ts so that the load generator does
 * not share its event loop: `node bench/target-server.ts <server-id>`. It listens on 127.0.0.1
 * (a free port), prints one line `READY {json}` describing its token endpoint and client, and
 * stops on SIGTERM or when its stdin closes (the parent went away).
 *
 * Configuration of the other two servers, from their READMEs and sources (read in node_modules):
 * - oauth2-mock-server 8: `new OAuth2Server()`, `issuer.keys.generate('RS256')`, `start(port,
 *   host)`; token endpoint `/token`; client_credentials is answered out of the box with an RS256
 *   JWT and no client check.
 * - oidc-provider 9: client_credentials needs `features.clientCredentials.enabled` and a client
 *   whose `grant_types` include it; token endpoint `/token`; tokens are opaque by default (JWT
 *   access tokens need a resource indicator), stored in its development in-memory adapter.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SERVER_IDS, type ServerId } from './stats.ts';

export interface TargetInfo {
  id: ServerId;
  label: string;
  version: string;
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string | undefined;
  /** How the load generator authenticates the client (RFC 6749 2.3.1). */
  authMethod: 'client_secret_basic' | 'client_secret_post' | 'none';
}

/** The line prefix a ready child prints before its TargetInfo. */
export const READY_PREFIX = 'READY ';

const BENCH_CLIENT = { id: 'bench-client', secret: 'bench-client-secret-0123456789' };

function packageVersion(path: string): string {
  const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

interface Started {
  info: TargetInfo;
  stop(): Promise<void>;
}

/** Our mock IdP, every provider mounted (as `conformance mock-idp` serves it), generic OIDC realm `mock`. */
async function startOurs(): Promise<Started> {
  const { startMockIdp } = await import('../mock-idp/server.ts');
  const running = await startMockIdp({ port: 0 });
  // The default client and the endpoints come from the control API, as any user would read them.
  const response = await fetch(`${running.url}/_mock/providers`);
  const body = (await response.json()) as {
    providers: Array<{
      id: string;
      endpoints: Record<string, string>;
      client: { client_id: string; client_secret?: string; token_endpoint_auth_method: string };
    }>;
  };
  const oidc = body.providers.find((p) => p.id === 'oidc');
  if (!oidc) throw new Error('the mock IdP serves no provider "oidc"');
  const method = oidc.client.token_endpoint_auth_method;
  return {
    info: {
      id: 'mock-idp',
      label: 'mock-idp (generic oidc)',
      version: packageVersion('../package.json'),
      tokenEndpoint:
        oidc.endpoints['token'] ??
        oidc.endpoints['token_endpoint'] ??
        `${running.url}/oidc/realms/mock/protocol/openid-connect/token`,
      clientId: oidc.client.client_id,
      clientSecret: oidc.client.client_secret,
      authMethod: method === 'client_secret_post' || method === 'none' ? method : 'client_secret_basic',
    },
    stop: () => running.stop(),
  };
}

async function startOauth2MockServer(): Promise<Started> {
  const { OAuth2Server } = await import('oauth2-mock-server');
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  const issuer = server.issuer.url;
  if (!issuer) throw new Error('oauth2-mock-server reported no issuer URL');
  return {
    info: {
      id: 'oauth2-mock-server',
      label: 'oauth2-mock-server',
      version: packageVersion('../node_modules/oauth2-mock-server/package.json'),
      tokenEndpoint: `${issuer}/token`,
      clientId: BENCH_CLIENT.id,
      clientSecret: BENCH_CLIENT.secret,
      authMethod: 'client_secret_basic',
    },
    stop: () => server.stop(),
  };
}

async function startOidcProvider(): Promise<Started> {
  const { Provider } = await import('oidc-provider');
  // Listen first, so that the issuer names the real port.
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: BENCH_CLIENT.id,
        client_secret: BENCH_CLIENT.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    ttl: { ClientCredentials: 3600 },
  });
  server.on('request', provider.callback());
  return {
    info: {
      id: 'oidc-provider',
      label: 'oidc-provider',
      version: packageVersion('../node_modules/oidc-provider/package.json'),
      tokenEndpoint: `${issuer}/token`,
      clientId: BENCH_CLIENT.id,
      clientSecret: BENCH_CLIENT.secret,
      authMethod: 'client_secret_basic',
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const starters: Record<ServerId, () => Promise<Started>> = {
  'mock-idp': startOurs,
  'oauth2-mock-server': startOauth2MockServer,
  'oidc-provider': startOidcProvider,
};

async function main(): Promise<void> {
  const id = process.argv[2] ?? '';
  if (!(SERVER_IDS as readonly string[]).includes(id)) {
    throw new Error(`unknown server "${id}" (known: ${SERVER_IDS.join(', ')})`);
  }
  const started = await starters[id as ServerId]();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await started.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(started.info)}\n`);
}

if (import.meta.main) {
  main().catch((error: Error) => {
    process.stderr.write(`target-server: ${error.message}\n`);
    process.exit(1);
  });
}
