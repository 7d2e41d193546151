import { loadPersonas } from '../../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../../mock-idp/server.ts';
import type { AppParts } from '../../reference-server/app.ts';
import { type AuthBackend, loadSettings } from '../../reference-server/config.ts';
import { silentLogger } from '../../reference-server/log.ts';
import { MOCK_PROVIDER, mockIdpOverrides } from '../../reference-server/mock-wiring.ts';
import type { RuntimeOptions } from '../../reference-server/runtime.ts';
import { type RunningReferenceServer, startReferenceServer } from '../../reference-server/server.ts';
import { createMemoryStore } from '../../reference-server/store/memory.ts';
import { seedUsers } from '../../reference-server/users/seed.ts';
import type { RunResult } from '../../reports/model.ts';
import { type ConformanceOptions, runConformance, WHOAMI_PROBE } from '../run.ts';

/**
 * A reference server (correct, or assembled with deliberately broken parts) in front of the mock
 * IdP, ready for conformance runs: the detection-power tests of the suites use it.
 */
export interface Target {
  mock: RunningMockIdp;
  server: RunningReferenceServer;
  backend: AuthBackend;
  /** Runs suites against the target with the options a user of this server would give. */
  run(options?: Partial<ConformanceOptions>): Promise<RunResult>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  backend?: AuthBackend;
  /** Broken parts to assemble the server with. */
  parts?: Partial<AppParts>;
  /** Broken runtime parts: a wrapped backend factory, another claims filter. */
  runtime?: Pick<RuntimeOptions, 'backend' | 'claims'>;
  /** Extra settings (nested), e.g. `{ jwt: { required_scopes: ['mcp'] } }`. */
  settings?: Record<string, unknown>;
  /** Share a running mock IdP (several targets in one file). */
  mock?: RunningMockIdp;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev && v && typeof prev === 'object' && typeof v === 'object' && !Array.isArray(v)
        ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export async function startTarget(options: TargetOptions = {}): Promise<Target> {
  const backend = options.backend ?? 'github';
  const ownMock = !options.mock;
  const mock = options.mock ?? (await startMockIdp());
  const providers = mock.idp.describe({ mode: 'path', origin: mock.url });
  const store = createMemoryStore();
  await seedUsers(store, loadPersonas());
  const server = await startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: merge(
          merge(mockIdpOverrides(backend, providers, { baseUrl }), { server: { storage: 'memory' } }),
          options.settings ?? {},
        ),
      }),
    {
      store,
      log: silentLogger,
      ...(options.parts ? { parts: options.parts } : {}),
      ...(options.runtime ?? {}),
    },
  );
  return {
    mock,
    server,
    backend,
    run: (extra = {}) =>
      runConformance({
        target: server.mcpUrl,
        idpUrl: mock.url,
        ...(MOCK_PROVIDER[backend] ? { upstream: MOCK_PROVIDER[backend] } : {}),
        identity: WHOAMI_PROBE,
        userStore: true,
        concurrency: 4,
        ...extra,
      }),
    async stop() {
      await server.stop();
      if (ownMock) await mock.stop();
    },
  };
}

/** Ids of the cases that did not pass (failed, warning or info), sorted. */
export function notPassing(result: RunResult): string[] {
  return result.suites
    .flatMap((s) => s.cases)
    .filter((c) => c.status === 'failed' || c.status === 'warning' || c.status === 'info')
    .map((c) => c.id)
    .sort();
}

/** One line per non-passing case with its reason (for assertion messages). */
export function explain(result: RunResult): string {
  return result.suites
    .flatMap((s) => s.cases)
    .filter((c) => c.status !== 'passed' && c.status !== 'skipped')
    .map(
      (c) =>
        `${c.id} [${c.status}]: ${
          c.reason ??
          c.checks
            .filter((k) => k.status === 'fail')
            .map((k) => k.message)
            .join('; ')
        }`,
    )
    .join('\n');
}
