import { existsSync } from 'node:fs';
import { loadPersonas } from '../mock-idp/personas.ts';
import { AUTH_BACKENDS, type AuthBackend, loadSettings, type Settings } from '../reference-server/config.ts';
import { ConfigError } from '../reference-server/errors.ts';
import { createLogger } from '../reference-server/log.ts';
import { MOCK_PROVIDER, mockIdpOverrides } from '../reference-server/mock-wiring.ts';
import { startReferenceServer } from '../reference-server/server.ts';
import { createMemoryStore } from '../reference-server/store/memory.ts';
import { seedUsers } from '../reference-server/users/seed.ts';
import { parseCommand, portOption, UsageError } from './args.ts';

export const serveUsage = `Usage: conformance serve --auth <backend> [options]

Starts the reference MCP server on 127.0.0.1: the MCP endpoint at /mcp, its protected resource
metadata at /.well-known/oauth-protected-resource/mcp, and for proxy backends its authorization
server at the base URL.

Backends: ${AUTH_BACKENDS.join(', ')}

Options:
  --auth BACKEND     the auth backend (or "auth" in the settings file, or MCC_AUTH)
  --config FILE      a YAML settings file with profiles (default:, ...)
  --profile NAME     the profile of the settings file (default "default", or MCC_PROFILE)
  --port N           listen on port N (default 8000; 0 picks a free port)
  --data-dir DIR     where the SQLite store lives (default ./data)
  --memory           keep everything in memory (lost on exit)
  --mock-idp         also start the mock IdP and point the backend at it (no real credentials)
  --seed             add the personas file's users to the store (implied by --mock-idp)
  -h, --help         show this help`;

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev && v && typeof prev === 'object' && typeof v === 'object' && !Array.isArray(v)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** `conformance serve`: runs until interrupted. */
export async function serveCommand(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void },
) {
  const { values } = parseCommand(argv, {
    auth: { type: 'string' },
    config: { type: 'string' },
    profile: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    memory: { type: 'boolean' },
    'mock-idp': { type: 'boolean' },
    seed: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(serveUsage);
    return 0;
  }
  if (values.auth !== undefined && !AUTH_BACKENDS.includes(values.auth as AuthBackend)) {
    throw new UsageError(`--auth must be one of ${AUTH_BACKENDS.join(', ')}; got "${values.auth}"`);
  }
  if (values.config !== undefined && !existsSync(values.config)) {
    throw new UsageError(`--config: no such file "${values.config}"`);
  }
  // Only a given --port overrides server.port of the settings file or MCC_SERVER__PORT.
  const flagPort = portOption(values.port, '--port');
  let port = flagPort ?? 8000;
  const server: Record<string, unknown> = flagPort === undefined ? {} : { port: flagPort };
  if (values['data-dir']) server['data_dir'] = values['data-dir'];
  if (values.memory) server['storage'] = 'memory';
  const base: Record<string, unknown> = { server, ...(values.auth ? { auth: values.auth } : {}) };
  const load = (extra: Record<string, unknown> = {}, check = true): Settings =>
    loadSettings({
      check,
      ...(values.config ? { file: values.config } : {}),
      ...(values.profile ? { profile: values.profile } : {}),
      overrides: deepMerge(base, extra),
    });

  const stops: Array<() => Promise<void>> = [];
  try {
    let settings = load({}, !values['mock-idp']);
    port = settings.server.port;
    let mockUrl: string | undefined;
    if (values['mock-idp']) {
      const { startMockIdp } = await import('../mock-idp/server.ts');
      const mock = await startMockIdp({ port: 0 });
      stops.push(mock.stop);
      mockUrl = mock.url;
      const providers = mock.idp.describe({ mode: 'path', origin: mock.url });
      const backend = settings.auth;
      const store = settings.server.storage === 'memory' ? createMemoryStore() : undefined;
      const running = await startReferenceServer(
        ({ baseUrl }) =>
          load(mockIdpOverrides(backend, providers, { baseUrl, mcpPath: settings.server.mcp_path })),
        { port, host: settings.server.host, ...(store ? { store } : {}) },
      );
      stops.unshift(running.stop);
      settings = running.app.runtime.settings;
      const added = await seedUsers(running.app.runtime.store, loadPersonas());
      report(io, settings, running.url, running.mcpUrl, mockUrl, added.length);
    } else {
      const running = await startReferenceServer(settings, { log: createLogger() });
      stops.unshift(running.stop);
      const added = values.seed ? await seedUsers(running.app.runtime.store, loadPersonas()) : [];
      report(io, settings, running.url, running.mcpUrl, undefined, added.length);
    }
  } catch (error) {
    for (const stop of stops) await stop();
    if (error instanceof ConfigError) throw new UsageError(error.message);
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new UsageError(`port ${port} is already in use (try --port 0)`);
    throw error;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  for (const stop of stops) await stop();
  return 0;
}

function report(
  io: { out: (s: string) => void; err: (s: string) => void },
  settings: Settings,
  url: string,
  mcpUrl: string,
  mockUrl: string | undefined,
  seeded: number,
): void {
  if (settings.auth === 'dev-admin') {
    io.err('WARNING: auth "dev-admin" gives every request full admin access with no authentication.');
    io.err('WARNING: never use it outside local development.');
  }
  io.out(`Reference MCP server (auth "${settings.auth}") listening on ${url}`);
  io.out(`  MCP endpoint:                ${mcpUrl}`);
  if (settings.auth !== 'dev-admin' && settings.auth !== 'dev-public') {
    io.out(
      `  Protected resource metadata: ${url}/.well-known/oauth-protected-resource${new URL(mcpUrl).pathname}`,
    );
  }
  if (mockUrl) {
    const provider = MOCK_PROVIDER[settings.auth];
    io.out(`  Mock IdP:                    ${mockUrl}${provider ? ` (standing in for ${provider})` : ''}`);
    io.out(
      `  Store:                       ${settings.server.storage}${seeded ? `, ${seeded} users seeded from the personas` : ''}`,
    );
    io.out('');
    io.out('Connect an MCP client to the MCP endpoint; when it opens the browser, approve the consent page');
    io.out('and pick a persona on the mock sign-in page (alice resolves to the admin user U1).');
    io.out(`For example: npx @modelcontextprotocol/inspector  (Streamable HTTP, URL ${mcpUrl})`);
  }
}
