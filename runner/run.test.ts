import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPersonas } from '../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';
import { loadSettings } from '../reference-server/config.ts';
import { silentLogger } from '../reference-server/log.ts';
import { mockIdpOverrides } from '../reference-server/mock-wiring.ts';
import { type RunningReferenceServer, startReferenceServer } from '../reference-server/server.ts';
import { createMemoryStore } from '../reference-server/store/memory.ts';
import { seedUsers } from '../reference-server/users/seed.ts';
import { runConformance, WHOAMI_PROBE } from './run.ts';

let mock: RunningMockIdp;
let server: RunningReferenceServer;

beforeAll(async () => {
  mock = await startMockIdp();
  const providers = mock.idp.describe({ mode: 'path', origin: mock.url });
  const store = createMemoryStore();
  await seedUsers(store, loadPersonas());
  server = await startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: { ...mockIdpOverrides('github', providers, { baseUrl }), server: { storage: 'memory' } },
      }),
    { store, log: silentLogger },
  );
});
afterAll(async () => {
  await server.stop();
  await mock.stop();
});

describe('runConformance against the reference server', () => {
  it('passes every applicable case', async () => {
    const result = await runConformance({
      target: server.mcpUrl,
      idpUrl: mock.url,
      upstream: 'github',
      identity: WHOAMI_PROBE,
      userStore: true,
    });
    const failed = result.suites
      .flatMap((s) => s.cases)
      .filter((c) => c.status !== 'passed' && c.status !== 'skipped');
    expect(
      failed.map(
        (c) =>
          `${c.id}: ${
            c.reason ??
            c.checks
              .filter((k) => k.status === 'fail')
              .map((k) => k.message)
              .join('; ')
          }`,
      ),
    ).toEqual([]);
    expect(result.exitCode).toBe(0);
    // A case for an IdP-trusting server is skipped with a reason that says why, not a capability name.
    const idpCase = result.suites.flatMap((s) => s.cases).find((c) => c.id === 'bearer/idp-expired');
    expect(idpCase?.status).toBe('skipped');
    expect(idpCase?.reason).toMatch(
      /^idp-trusted: the authorization server \(http:.*\) is the server's own, not the mock IdP$/,
    );
  });
});
