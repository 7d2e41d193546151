/**
 * The reference server as a benchmark target, in a child process of bench/reference-server.ts:
 * `node bench/reference-target.ts <mock-idp-origin> <memory|sqlite>`. The github backend is pointed
 * at the mock IdP (running in another child) exactly as `serve --mock-idp` and the end-to-end
 * tests do it; the personas' users are seeded. It listens on 127.0.0.1 (a free port), prints one
 * line `READY {json}`, and stops on SIGTERM or when its stdin closes (the parent went away).
 *
 * One departure from a deployment: the registration rate limit (security edge 15) is
 * lifted, because every benchmarked flow registers its own client. Nothing else is changed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProviderDescription } from '../mock-idp/app.ts';
import { loadPersonas } from '../mock-idp/personas.ts';
import { loadSettings } from '../reference-server/config.ts';
import { silentLogger } from '../reference-server/log.ts';
import { mockIdpOverrides } from '../reference-server/mock-wiring.ts';
import { startReferenceServer } from '../reference-server/server.ts';
import { createMemoryStore } from '../reference-server/store/memory.ts';
import { openSqliteStore } from '../reference-server/store/sqlite.ts';
import type { Store } from '../reference-server/store/types.ts';
import { seedUsers } from '../reference-server/users/seed.ts';
import { STORAGES, type Storage } from './reference-report.ts';
import { READY_PREFIX } from './target-server.ts';

export interface ReferenceTargetInfo {
  /** The server's base URL (issuer). */
  url: string;
  mcpUrl: string;
  storage: Storage;
  /** The mock IdP's origin, for its control API (`/_mock/next-login`). */
  mockOrigin: string;
}

async function main(): Promise<void> {
  const [mockOrigin = '', storage = ''] = process.argv.slice(2);
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(mockOrigin)) throw new Error(`bad mock IdP origin "${mockOrigin}"`);
  if (!(STORAGES as readonly string[]).includes(storage)) throw new Error(`unknown storage "${storage}"`);
  const listing = await fetch(`${mockOrigin}/_mock/providers`);
  const providers = ((await listing.json()) as { providers: ProviderDescription[] }).providers;

  const personas = loadPersonas();
  let store: Store | undefined;
  let dataDir: string | undefined;
  if (storage === 'memory') {
    store = createMemoryStore();
    await seedUsers(store, personas);
  } else {
    dataDir = mkdtempSync(join(tmpdir(), 'mcc-bench-'));
    const seeding = openSqliteStore({ dataDir });
    await seedUsers(seeding, personas);
    await seeding.close();
  }
  const running = await startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: {
          ...mockIdpOverrides('github', providers, { baseUrl }),
          server: { storage, ...(dataDir ? { data_dir: dataDir } : {}) },
          registration: { max_clients: 10_000_000 },
        },
      }),
    { log: silentLogger, ...(store ? { store } : {}) },
  );
  // Each read of `registrations` hands the limiter a fresh empty list: no registration is counted.
  Object.defineProperty(running.app.runtime, 'registrations', { get: () => [] });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop().catch(() => undefined);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  const info: ReferenceTargetInfo = {
    url: running.url,
    mcpUrl: running.mcpUrl,
    storage: storage as Storage,
    mockOrigin,
  };
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(info)}\n`);
}

if (import.meta.main) {
  main().catch((error: Error) => {
    process.stderr.write(`reference-target: ${error.message}\n`);
    process.exit(1);
  });
}
