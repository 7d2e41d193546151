import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { type AppParts, createApp, type ReferenceApp } from './app.ts';
import type { Settings } from './config.ts';
import { createRuntime, type RuntimeOptions } from './runtime.ts';

/** Builds the settings once the listener is bound (for a base URL that names the real port). */
export type SettingsBuilder = (bound: { baseUrl: string; port: number }) => Settings;

export interface RunningReferenceServer {
  url: string;
  /** The MCP endpoint. */
  mcpUrl: string;
  app: ReferenceApp;
  server: Server;
  stop(): Promise<void>;
}

/**
 * Serves the reference server on the settings' host and port. With port 0 and no configured
 * base URL, the base URL becomes the address actually bound.
 */
export async function startReferenceServer(
  input: Settings | SettingsBuilder,
  options: RuntimeOptions & { host?: string; port?: number; parts?: Partial<AppParts> } = {},
): Promise<RunningReferenceServer> {
  let app: ReferenceApp | undefined;
  const listener = getRequestListener(
    (request) =>
      app
        ? app.fetch(request)
        : Promise.resolve(new Response('starting', { status: 503, headers: { 'retry-after': '1' } })),
    { overrideGlobalObjects: false },
  );
  const server = createServer(listener);
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const host = typeof input === 'function' ? (options.host ?? '127.0.0.1') : input.server.host;
    const port = typeof input === 'function' ? (options.port ?? 0) : input.server.port;
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const port = address.port;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const bound = `http://${host}:${port}`;
  let settings: Settings;
  try {
    settings = typeof input === 'function' ? input({ baseUrl: bound, port }) : input;
  } catch (error) {
    server.close();
    throw error;
  }
  const effective: Settings =
    settings.auth === 'jwt'
      ? {
          ...settings,
          server: { ...settings.server, port },
          jwt: { ...settings.jwt, base_url: settings.jwt.base_url ?? bound },
        }
      : {
          ...settings,
          server: { ...settings.server, port },
          oauth: { ...settings.oauth, base_url: settings.oauth.base_url ?? bound },
        };
  try {
    app = createApp(await createRuntime(effective, options), options.parts);
  } catch (error) {
    server.close();
    throw error;
  }
  const runtime = app.runtime;
  return {
    url: runtime.urls.baseUrl,
    mcpUrl: runtime.urls.resource,
    app,
    server,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.store.close();
    },
  };
}
