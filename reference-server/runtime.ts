import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from './backends/types.ts';
import { type ClaimsFilter, passthroughClaims } from './claims.ts';
import {
  BACKEND_KINDS,
  type BackendKind,
  redirectPolicy,
  type ServerUrls,
  type Settings,
  serverUrls,
} from './config.ts';
import { createLogger, type Logger } from './log.ts';
import type { RedirectUriPolicy } from './oauth/redirect-uri.ts';
import { createMemoryStore } from './store/memory.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { Store } from './store/types.ts';
import { AccessTokens, SigningKeys } from './tokens/issuer.ts';
import { createSealer, type Sealer } from './tokens/seal.ts';

/** Everything a request handler of the reference server needs. */
export interface Runtime {
  settings: Settings;
  kind: BackendKind;
  urls: ServerUrls;
  store: Store;
  keys: SigningKeys;
  accessTokens: AccessTokens;
  sealer: Sealer;
  /** The upstream (proxy backends) or the token validator (remote and jwt backends). */
  backend: Backend | undefined;
  /** Selects the verified upstream claims our tokens carry (claims.ts `passthroughClaims`). */
  claims: ClaimsFilter;
  redirectPolicy: RedirectUriPolicy;
  fetch: typeof fetch;
  log: Logger;
  /** Registration rate limit: timestamps (seconds) of recent registrations. */
  registrations: number[];
  now(): number;
}

export interface RuntimeOptions {
  /** Replaces the store the settings describe (tests). */
  store?: Store;
  fetch?: typeof fetch;
  log?: Logger;
  /** Builds the backend; the registry in backends/index.ts by default. */
  backend?: (
    settings: Settings,
    deps: { fetch: typeof fetch },
  ) => Backend | undefined | Promise<Backend | undefined>;
  /** Selects the passed-through claims; claims.ts `passthroughClaims` by default. */
  claims?: ClaimsFilter;
}

/**
 * The sealing secret: the configured one, or one generated on first start and kept in the data
 * directory (mode 0600), so a restart can still open what it sealed. Memory storage gets a fresh
 * random secret (nothing survives a restart there anyway).
 */
function sealingSecret(settings: Settings): string {
  if (settings.server.secret) return settings.server.secret;
  if (settings.server.storage === 'memory') return randomBytes(32).toString('base64url');
  const dir = settings.server.data_dir;
  const file = join(dir, 'secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dir, { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}

/** The store the settings describe: a SQLite file in the data directory, or memory. */
function openStore(settings: Settings): Store {
  if (settings.server.storage === 'memory') return createMemoryStore();
  mkdirSync(settings.server.data_dir, { recursive: true });
  return openSqliteStore({ dataDir: settings.server.data_dir });
}

export async function createRuntime(settings: Settings, options: RuntimeOptions = {}): Promise<Runtime> {
  const fetchImpl = options.fetch ?? fetch;
  const log = options.log ?? createLogger();
  const store = options.store ?? openStore(settings);
  const sealer = createSealer(sealingSecret(settings));
  const keys = await SigningKeys.load({ store, sealer });
  const urls = serverUrls(settings);
  const accessTokens = new AccessTokens({
    keys,
    issuer: urls.issuer,
    audience: urls.resource,
    ttl: settings.tokens.access_ttl,
    leeway: settings.tokens.leeway,
    now: () => store.now(),
  });
  const build = options.backend ?? (await import('./backends/index.ts')).createBackend;
  const backend = await build(settings, { fetch: fetchImpl });
  return {
    settings,
    kind: BACKEND_KINDS[settings.auth],
    urls,
    store,
    keys,
    accessTokens,
    sealer,
    backend,
    claims: options.claims ?? passthroughClaims,
    redirectPolicy: redirectPolicy(settings),
    fetch: fetchImpl,
    log,
    registrations: [],
    now: () => store.now(),
  };
}
