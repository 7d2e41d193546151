import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { MockIdp, type MockIdpOptions } from './app.ts';

export interface RunningMockIdp {
  /** The listener's origin, e.g. http://127.0.0.1:4010 */
  url: string;
  port: number;
  idp: MockIdp;
  server: Server;
  stop(): Promise<void>;
}

/** Serves the mock IdP on 127.0.0.1 (port 0 picks a free port). */
export async function startMockIdp(
  options: MockIdpOptions & { port?: number } = {},
): Promise<RunningMockIdp> {
  const idp = new MockIdp(options);
  const listener = getRequestListener(idp.fetch, { overrideGlobalObjects: false });
  const server = createServer(listener);
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    idp,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
