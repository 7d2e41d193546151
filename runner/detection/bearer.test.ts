import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningMockIdp, startMockIdp } from '../../mock-idp/server.ts';
import type { AppParts } from '../../reference-server/app.ts';
import type { RunResult } from '../../reports/model.ts';
import { loadSuites, suitesDir } from '../load.ts';
import {
  acceptsAlgNone,
  acceptsHs256WithPublicKey,
  acceptsRefreshTokens,
  acceptsTokenInQuery,
  asMetadataIssuerWithSlash,
  asMetadataOffersPlain,
  caseSensitiveScheme,
  challengesWithoutResourceMetadata,
  crashesOnMalformedHeader,
  decodesWithoutVerifying,
  passesGithubTokensThrough,
  prmWithOriginAsResource,
  rejectsValidTokens,
  skipsClaimCheck,
  skipsScopeCheck,
  trustsEmbeddedKeyForUnknownKid,
} from './broken/bearer.ts';
import { explain, notPassing, startTarget, type Target, type TargetOptions } from './harness.ts';

/**
 * Detection power of the discovery and bearer suites: a correct server passes every case that
 * applies to it; a server with one broken part fails exactly the cases that part should fail.
 * Correct targets: a proxy (github backend, its own tokens), a resource server trusting the mock
 * IdP's tokens (jwt backend), the same with a required scope, and two servers where some cases
 * cannot be judged (opaque tokens, no refresh token) and must be skipped, not failed.
 */

const SUITES = ['discovery/*', 'bearer/*'];
/** Only these suite files are loaded, so suites other work has in progress cannot interfere. */
const FILES = ['discovery.yaml', 'bearer.yaml'].map((f) => join(suitesDir, f));

/** The cases that need a server trusting the IdP's tokens (skipped on a proxy), and the reverse. */
const IDP_ONLY = [
  'bearer/idp-expired',
  'bearer/idp-hs256-public-key',
  'bearer/idp-insufficient-scope',
  'bearer/idp-not-yet-valid',
  'bearer/idp-wrong-aud',
  'bearer/idp-wrong-iss',
];
const PROXY_ONLY = [
  'bearer/hs256-public-key',
  'bearer/upstream-signed-token-refused',
  'bearer/upstream-token-refused',
];

/** The proxy cases that need an access token the server issued. */
const TOKEN_CASES = [
  'bearer/alg-none',
  'bearer/hs256-public-key',
  'bearer/refresh-token-as-bearer',
  'bearer/resigned-expired',
  'bearer/resigned-not-yet-valid',
  'bearer/resigned-wrong-aud',
  'bearer/resigned-wrong-iss',
  'bearer/scheme-case-insensitive',
  'bearer/token-in-query-refused',
  'bearer/unknown-kid',
  'bearer/untrusted-key',
  'bearer/upstream-signed-token-refused',
  'bearer/upstream-token-refused',
  'bearer/valid-token-accepted',
];

function skipped(result: RunResult): string[] {
  return result.suites
    .flatMap((s) => s.cases)
    .filter((c) => c.status === 'skipped')
    .map((c) => c.id)
    .sort();
}

interface Variant {
  name: string;
  parts: Partial<AppParts>;
  fails: string[];
}

const PROXY_VARIANTS: Variant[] = [
  {
    name: 'a verifier that accepts unsigned tokens (alg none)',
    parts: { verifier: acceptsAlgNone },
    fails: ['bearer/alg-none'],
  },
  {
    name: 'a verifier that checks HS256 tokens with its public key (algorithm confusion)',
    parts: { verifier: acceptsHs256WithPublicKey },
    fails: ['bearer/hs256-public-key'],
  },
  {
    name: 'a verifier that trusts the key a token carries when its kid is unknown',
    parts: { verifier: trustsEmbeddedKeyForUnknownKid },
    fails: ['bearer/unknown-kid'],
  },
  {
    name: 'a verifier that decodes tokens without verifying them',
    parts: { verifier: decodesWithoutVerifying },
    fails: [
      'bearer/alg-none',
      'bearer/hs256-public-key',
      'bearer/resigned-expired',
      'bearer/resigned-not-yet-valid',
      'bearer/resigned-wrong-aud',
      'bearer/resigned-wrong-iss',
      'bearer/unknown-kid',
      'bearer/untrusted-key',
      'bearer/upstream-signed-token-refused',
    ],
  },
  {
    name: 'a verifier that takes refresh tokens as access tokens',
    parts: { verifier: acceptsRefreshTokens },
    fails: ['bearer/refresh-token-as-bearer'],
  },
  {
    name: 'a verifier that passes unknown tokens through to GitHub',
    parts: { verifier: passesGithubTokensThrough },
    fails: ['bearer/upstream-token-refused'],
  },
  {
    name: 'challenges without resource_metadata',
    parts: { authenticate: challengesWithoutResourceMetadata },
    fails: [
      'bearer/garbage-token',
      'bearer/no-token-delete',
      'bearer/no-token-get',
      'bearer/no-token-post',
      'discovery/challenge-names-metadata',
    ],
  },
  {
    name: 'a case-sensitive Bearer scheme',
    parts: { authenticate: caseSensitiveScheme },
    fails: ['bearer/scheme-case-insensitive'],
  },
  {
    name: 'tokens taken from the query string',
    parts: { authenticate: acceptsTokenInQuery },
    fails: ['bearer/token-in-query-refused'],
  },
  {
    name: 'protected resource metadata naming the origin as the resource',
    parts: { protectedResourceMetadata: prmWithOriginAsResource },
    // A client that follows the document asks for tokens for the origin; the server refuses
    // that resource (invalid_target), so every case that needs one of its tokens fails too.
    fails: [...TOKEN_CASES, 'discovery/prm-path-aware', 'discovery/prm-resource'].sort(),
  },
  {
    name: 'authorization server metadata whose issuer has a trailing slash',
    parts: { authorizationServerMetadata: asMetadataIssuerWithSlash },
    fails: ['discovery/as-metadata', 'discovery/as-metadata-issuer-matches-url'],
  },
  {
    name: 'authorization server metadata offering plain PKCE',
    parts: { authorizationServerMetadata: asMetadataOffersPlain },
    fails: ['discovery/as-metadata-no-plain-pkce'],
  },
  {
    name: 'a verifier expecting another audience, refusing every token',
    parts: { verifier: rejectsValidTokens },
    fails: ['bearer/scheme-case-insensitive', 'bearer/valid-token-accepted'],
  },
  {
    name: 'an Authorization header parser that fails on anything unexpected',
    parts: { authenticate: crashesOnMalformedHeader },
    fails: ['bearer/malformed-header', 'bearer/scheme-case-insensitive'],
  },
];

const JWT_VARIANTS: Variant[] = [
  {
    name: 'a verifier that accepts expired tokens',
    parts: { verifier: skipsClaimCheck('exp') },
    fails: ['bearer/idp-expired'],
  },
  {
    name: 'a verifier that accepts tokens before nbf',
    parts: { verifier: skipsClaimCheck('nbf') },
    fails: ['bearer/idp-not-yet-valid'],
  },
  {
    name: 'a verifier that does not check the issuer',
    parts: { verifier: skipsClaimCheck('iss') },
    fails: ['bearer/idp-wrong-iss'],
  },
  {
    name: 'a verifier that does not check the audience',
    parts: { verifier: skipsClaimCheck('aud') },
    fails: ['bearer/idp-wrong-aud'],
  },
  {
    name: "a verifier that checks HS256 tokens with the IdP's public key",
    parts: { verifier: acceptsHs256WithPublicKey },
    fails: ['bearer/idp-hs256-public-key'],
  },
  {
    name: 'a verifier expecting another audience, refusing every token',
    parts: { verifier: rejectsValidTokens },
    fails: [
      'bearer/idp-expired',
      'bearer/idp-not-yet-valid',
      'bearer/idp-wrong-aud',
      'bearer/idp-wrong-iss',
      'bearer/scheme-case-insensitive',
      'bearer/valid-token-accepted',
    ],
  },
];

let mock: RunningMockIdp;
beforeAll(async () => {
  mock = await startMockIdp();
});
afterAll(() => mock.stop());

/** Runs suites against a server assembled with broken parts, then stops it. */
async function runBroken(
  options: TargetOptions & { cases: string[]; capabilities?: Array<'required-scopes'> },
): Promise<RunResult> {
  const { cases, capabilities, ...target } = options;
  const broken = await startTarget({ mock, ...target });
  try {
    return await broken.run({
      suites: FILES,
      cases,
      concurrency: 6,
      ...(capabilities ? { capabilities } : {}),
    });
  } finally {
    await broken.stop();
  }
}

describe('discovery and bearer suites against a proxy (github backend)', () => {
  let good: Target;
  beforeAll(async () => {
    good = await startTarget({ mock });
  });
  afterAll(() => good.stop());

  it('pass against the correct reference server, skipping only the IdP-token cases', async () => {
    const result = await good.run({ suites: FILES, cases: SUITES, concurrency: 6 });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(skipped(result)).toEqual(IDP_ONLY);
  });

  it.each(PROXY_VARIANTS)('catch $name', async ({ parts, fails }) => {
    const result = await runBroken({ parts, cases: SUITES });
    expect(notPassing(result), explain(result)).toEqual(fails);
  });
});

describe('bearer suite against a server that trusts the IdP (jwt backend)', () => {
  let good: Target;
  beforeAll(async () => {
    good = await startTarget({ mock, backend: 'jwt' });
  });
  afterAll(() => good.stop());

  it('passes against the correct reference server, skipping only the proxy cases', async () => {
    const result = await good.run({ suites: FILES, cases: SUITES, concurrency: 6 });
    // The one warning is the mock IdP's own metadata (like Keycloak's) offering plain PKCE: for
    // this backend the IdP is the authorization server, and the case judges the deployment.
    expect(notPassing(result), explain(result)).toEqual(['discovery/as-metadata-no-plain-pkce']);
    // idp-insufficient-scope needs a declared required scope: the last block runs it.
    expect(skipped(result)).toEqual([...PROXY_ONLY, 'bearer/idp-insufficient-scope'].sort());
  });

  it.each(JWT_VARIANTS)('catches $name', async ({ parts, fails }) => {
    const result = await runBroken({ backend: 'jwt', parts, cases: ['bearer/*'] });
    expect(notPassing(result), explain(result)).toEqual(fails);
  });
});

describe('the insufficient-scope case against a jwt backend that requires a scope', () => {
  const settings = { jwt: { required_scopes: ['mcp'] } };
  const cases = ['bearer/idp-insufficient-scope'];

  it('passes against the correct reference server', async () => {
    const result = await runBroken({ backend: 'jwt', settings, cases, capabilities: ['required-scopes'] });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(skipped(result)).toEqual([]);
  });

  it('catches a resource server that does not check the required scopes', async () => {
    const result = await runBroken({
      backend: 'jwt',
      settings,
      parts: { authenticate: skipsScopeCheck },
      cases,
      capabilities: ['required-scopes'],
    });
    expect(notPassing(result), explain(result)).toEqual(cases);
  });
});

describe('the discovery and bearer suites', () => {
  it('have a broken variant that fails each of their cases', () => {
    const caught = new Set(
      [...PROXY_VARIANTS, ...JWT_VARIANTS].flatMap((v) => v.fails).concat('bearer/idp-insufficient-scope'),
    );
    const ids = loadSuites(FILES).flatMap((suite) => suite.cases.map((c) => c.id));
    expect(ids.filter((id) => !caught.has(id))).toEqual([]);
  });
});

describe('the bearer suite where a case cannot be judged', () => {
  /** The cases that forge copies of the server's access token. */
  const FORGING = [
    'bearer/alg-none',
    'bearer/idp-expired',
    'bearer/idp-hs256-public-key',
    'bearer/idp-not-yet-valid',
    'bearer/idp-wrong-aud',
    'bearer/idp-wrong-iss',
    'bearer/resigned-expired',
    'bearer/resigned-not-yet-valid',
    'bearer/resigned-wrong-aud',
    'bearer/resigned-wrong-iss',
    'bearer/unknown-kid',
    'bearer/untrusted-key',
  ];

  function skipReasons(result: RunResult): Record<string, string | undefined> {
    return Object.fromEntries(
      result.suites
        .flatMap((s) => s.cases)
        .filter((c) => c.status === 'skipped')
        .map((c) => [c.id, c.reason]),
    );
  }

  it('skips the forging cases when the access tokens are opaque (propelauth introspection)', async () => {
    const result = await runBroken({ backend: 'propelauth', cases: ['bearer/*'] });
    expect(notPassing(result), explain(result)).toEqual([]);
    const reasons = skipReasons(result);
    for (const id of FORGING) {
      expect(reasons[id], id).toBe('the access tokens are not JWTs, so a forgery has no claims to copy');
    }
  });

  it('skips the refresh-token case when the flow issues no refresh token (scalekit)', async () => {
    const result = await runBroken({ backend: 'scalekit', cases: ['bearer/*'] });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(skipReasons(result)['bearer/refresh-token-as-bearer']).toBe(
      'the server issued no refresh token in this flow',
    );
  });
});
