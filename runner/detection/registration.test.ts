import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import { loadSuites, suitesDir } from '../load.ts';
import {
  cacheableResponses,
  credentialsOnly,
  exactWithoutLoopbackPorts,
  failsOnUnparseableBody,
  firstRegisteredUri,
  ignoresRedirectUriAtToken,
  leaksUpstreamCredentials,
  neverExpires,
  normalisedMatching,
  plainTextErrors,
  policyOnlyMatching,
  prefixMatching,
  skipsRedirectValidation,
  withoutRateLimit,
} from './broken/registration.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the dcr and redirect-uri suites: the correct reference server (github
 * backend, a proxy) passes every case; a server with one broken part of its registration,
 * authorization or token endpoint fails exactly the cases that part should fail.
 */

/** Only these suite files are loaded, so suites other work has in progress cannot interfere. */
const FILES = ['dcr.yaml', 'redirect-uri.yaml'].map((f) => join(suitesDir, f));
const CASES = loadSuites(FILES).flatMap((suite) => suite.cases.map((c) => c.id));
const CASES_PER_FILE = loadSuites(FILES).map((suite) => suite.cases.length);

/** An exclusive case that registers a client (see the first test). */
const EXCLUSIVE_PROBE = `suite: exclusive-probe
title: An exclusive case that registers
cases:
  - id: registers
    title: Registration works in an exclusive case of the same run
    level: MUST
    tags: [RFC7591-3.2.1]
    requires: [dcr]
    exclusive: true
    steps:
      - register: {}
        as: client
    expect:
      - status: { of: client, equals: 201 }
`;
/** The registration burst spends a server's budget for a minute: broken servers run it alone. */
const BURST = 'dcr/rate-limited';
const WITHOUT_BURST = CASES.filter((id) => id !== BURST);

/** The cases that register redirect URIs registration must refuse. */
const DCR_REFUSALS = [
  'redirect-uri/dcr-dangerous-schemes',
  'redirect-uri/dcr-dot-segments',
  'redirect-uri/dcr-fragment',
  'redirect-uri/dcr-http-non-loopback',
  'redirect-uri/dcr-https-not-allowed',
  'redirect-uri/dcr-one-bad-among-good',
  'redirect-uri/dcr-userinfo',
];

interface Variant {
  name: string;
  parts: Partial<AppParts>;
  fails: string[];
}

const VARIANTS: Variant[] = [
  {
    name: 'a registration that skips redirect URI validation',
    parts: { register: skipsRedirectValidation },
    fails: ['dcr/missing-redirect-uris', ...DCR_REFUSALS].sort(),
  },
  {
    name: 'a registration that echoes the upstream client credentials',
    parts: { register: leaksUpstreamCredentials },
    fails: ['dcr/no-upstream-credentials'],
  },
  {
    name: 'registrations that never expire',
    parts: { register: neverExpires },
    fails: ['dcr/registration-expires'],
  },
  {
    name: 'a registration that answers with the credentials only',
    parts: { register: credentialsOnly },
    // Without token_endpoint_auth_method a client must assume client_secret_basic (RFC 7591
    // 2), so a public client's code exchanges fail too.
    fails: [
      'dcr/confidential-client',
      'dcr/public-client',
      'redirect-uri/authorize-loopback-port-allowed',
      'redirect-uri/code-to-requested-uri',
      'redirect-uri/token-loopback-port-mismatch',
      'redirect-uri/token-redirect-uri-mismatch',
    ],
  },
  {
    name: 'a registration that fails with 500 on a body that is not a JSON object',
    parts: { register: failsOnUnparseableBody },
    fails: ['dcr/unparseable-body'],
  },
  {
    name: 'a registration whose errors are plain text',
    parts: { register: plainTextErrors },
    fails: ['dcr/missing-redirect-uris', 'dcr/unparseable-body', ...DCR_REFUSALS].sort(),
  },
  {
    name: 'cacheable registration responses',
    parts: { register: cacheableResponses },
    fails: ['dcr/no-store'],
  },
  {
    name: 'an authorization endpoint matching redirect URIs by prefix',
    parts: { authorize: prefixMatching },
    fails: [
      'redirect-uri/authorize-path-mutated',
      'redirect-uri/authorize-query-added',
      'redirect-uri/authorize-trailing-slash',
    ],
  },
  {
    name: 'an authorization endpoint matching normalised redirect URIs (case, scheme, port)',
    parts: { authorize: normalisedMatching },
    fails: [
      'redirect-uri/authorize-case-changed',
      'redirect-uri/authorize-port-non-loopback',
      'redirect-uri/authorize-scheme-changed',
    ],
  },
  {
    name: "an authorization endpoint that checks the policy but not the client's URIs",
    parts: { authorize: policyOnlyMatching },
    fails: [
      'redirect-uri/authorize-case-changed',
      'redirect-uri/authorize-path-mutated',
      'redirect-uri/authorize-port-non-loopback',
      'redirect-uri/authorize-query-added',
      'redirect-uri/authorize-scheme-changed',
      'redirect-uri/authorize-trailing-slash',
      'redirect-uri/authorize-unregistered',
    ],
  },
  {
    name: 'an authorization endpoint without the loopback port exception',
    parts: { authorize: exactWithoutLoopbackPorts },
    fails: ['redirect-uri/authorize-loopback-port-allowed', 'redirect-uri/token-loopback-port-mismatch'],
  },
  {
    name: 'an authorization endpoint that sends the code to the first registered URI',
    parts: { authorize: firstRegisteredUri },
    fails: ['redirect-uri/code-to-requested-uri'],
  },
  {
    name: 'a token endpoint that does not compare redirect_uri',
    parts: { token: ignoresRedirectUriAtToken },
    fails: ['redirect-uri/token-loopback-port-mismatch', 'redirect-uri/token-redirect-uri-mismatch'],
  },
];

describe('dcr and redirect-uri suites', () => {
  let good: Target;
  beforeAll(async () => {
    good = await startTarget();
  });
  afterAll(() => good.stop());

  async function runBroken(parts: Partial<AppParts>, cases: string[]) {
    const broken = await startTarget({ mock: good.mock, parts });
    try {
      return await broken.run({ suites: FILES, cases, concurrency: 6 });
    } finally {
      await broken.stop();
    }
  }

  it('pass against the correct reference server, the registration burst last', async () => {
    // The burst is `exclusive: last`: the engine runs it alone after every other case, exclusive
    // ones included, so no registration meets the limit it provokes. The probe suite, loaded
    // after dcr.yaml, holds an exclusive case that registers: it passes only when it runs first.
    const dir = mkdtempSync(join(tmpdir(), 'exclusive-probe-'));
    const probe = join(dir, 'exclusive-probe.yaml');
    writeFileSync(probe, EXCLUSIVE_PROBE);
    try {
      const result = await good.run({
        suites: [...FILES, probe],
        cases: [...CASES, 'exclusive-probe/*'],
        concurrency: 6,
      });
      expect(notPassing(result), explain(result)).toEqual([]);
      expect(result.summary.skipped).toBe(0);
      expect(result.suites.map((s) => s.cases.length)).toEqual([...CASES_PER_FILE, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('catch a registration endpoint without a rate limit', async () => {
    const result = await runBroken({ register: withoutRateLimit }, [BURST]);
    expect(notPassing(result), explain(result)).toEqual([BURST]);
  });

  it.each(VARIANTS)('catch $name', async ({ parts, fails }) => {
    const result = await runBroken(parts, WITHOUT_BURST);
    expect(notPassing(result), explain(result)).toEqual(fails);
  });

  it('have a broken variant that fails each of their cases', () => {
    const caught = new Set([...VARIANTS.flatMap((v) => v.fails), BURST]);
    expect(CASES.filter((id) => !caught.has(id))).toEqual([]);
  });
});
