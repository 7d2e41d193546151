import { randomUUID } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import { azureBackend, azureIdentity } from '../../reference-server/backends/azure.ts';
import type { ClaimsFilter } from '../../reference-server/claims.ts';
import type { GrantSecrets } from '../../reference-server/oauth/complete.ts';
import { token } from '../../reference-server/oauth/token.ts';
import type { Runtime } from '../../reference-server/runtime.ts';
import type { IssueAccessTokenInput, IssuedAccessToken } from '../../reference-server/tokens/issuer.ts';
import type { RunResult } from '../../reports/model.ts';
import { skippingIdTokenVerification } from './broken/upstream.ts';
import { explain, notPassing, startTarget, type Target, type TargetOptions } from './harness.ts';

/**
 * Detection power of the claims suite (security edges 31, 34). Claims passthrough is declared
 * (`--capability claims-passthrough`) for two correct servers: the in-memory backend (its
 * personas carry every custom claim, oscar's reserved names and oversized `notes` included) and
 * an Entra upstream (roles and groups in a verified id_token). A server with one broken part
 * fails exactly the cases that part should fail.
 */

const CASES = ['claims/*'];
const DECLARED = { cases: CASES, capabilities: ['claims-passthrough' as const] };

function statuses(result: RunResult): Record<string, string> {
  return Object.fromEntries(result.suites.flatMap((s) => s.cases).map((c) => [c.id, c.status]));
}

/** Copies every upstream claim, unfiltered and uncapped (nested under the passthrough claim). */
const copyingEveryClaim: ClaimsFilter = (upstream, settings) => ({ [settings.claim]: { ...upstream } });

/** Passes nothing on, although the server says it passes claims. */
const passingNothing: ClaimsFilter = () => ({});

/**
 * A token endpoint whose issuer lays the upstream id_token's claims over its own (iss, aud, sub,
 * scope...), as a proxy that "passes the upstream claims through" into its tokens does.
 */
const tokenCopyingIdTokenClaims: AppParts['token'] = (rt, request) => {
  async function issue(input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
    const record = input.familyId ? await rt.store.getUpstreamTokensForFamily(input.familyId) : undefined;
    const idToken = record && rt.sealer.openJson<GrantSecrets>(record.sealed, record.id).tokens?.id_token;
    const upstream = idToken ? decodeJwt(idToken) : {};
    const { kid, privateKey } = rt.keys.active();
    const now = rt.now();
    const ttl = rt.settings.tokens.access_ttl;
    const jti = randomUUID();
    const signed = await new SignJWT({
      iss: rt.urls.issuer,
      aud: rt.urls.resource,
      sub: input.sub,
      client_id: input.clientId,
      scope: input.scope.join(' '),
      token_use: 'access',
      ...(input.familyId ? { sid: input.familyId } : {}),
      iat: now,
      nbf: now,
      exp: now + ttl,
      jti,
      ...input.claims,
      ...upstream,
    })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .sign(privateKey);
    return { token: signed, jti, kid, issuedAt: now, expiresAt: now + ttl, expiresIn: ttl };
  }
  const accessTokens = new Proxy(rt.accessTokens, {
    get(target, name) {
      if (name === 'issue') return issue;
      const value = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return token({ ...rt, accessTokens } satisfies Runtime, request);
};

describe('claims suite', () => {
  let memory: Target;
  beforeAll(async () => {
    memory = await startTarget({ backend: 'in-memory' });
  });
  afterAll(() => memory?.stop());

  async function brokenRun(options: TargetOptions): Promise<RunResult> {
    const broken = await startTarget({ mock: memory.mock, ...options });
    try {
      return await broken.run(DECLARED);
    } finally {
      await broken.stop();
    }
  }

  it('passes against the correct reference server (in-memory backend)', async () => {
    const result = await memory.run(DECLARED);
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(statuses(result)).toEqual({
      'claims/allowed-claims-passed': 'passed',
      'claims/reserved-claims-not-passed': 'passed',
      'claims/oversized-claim-not-passed': 'passed',
      'claims/token-claims-are-servers': 'passed',
      // No upstream, so no upstream id_token to tamper with.
      'claims/tampered-id-token-refused': 'skipped',
    });
  });

  it('passes against the correct reference server (Entra upstream)', async () => {
    const azure = await startTarget({ backend: 'azure', mock: memory.mock });
    try {
      const result = await azure.run(DECLARED);
      expect(notPassing(result), explain(result)).toEqual([]);
      expect(Object.values(statuses(result))).toEqual(Array(5).fill('passed'));
    } finally {
      await azure.stop();
    }
  });

  it('skips every case when the server does not declare claims passthrough', async () => {
    const result = await memory.run({ cases: CASES });
    expect(Object.values(statuses(result))).toEqual(Array(5).fill('skipped'));
  });

  it('catches a claims filter that copies every upstream claim', async () => {
    const result = await brokenRun({ backend: 'in-memory', runtime: { claims: copyingEveryClaim } });
    expect(notPassing(result), explain(result)).toEqual([
      'claims/oversized-claim-not-passed',
      'claims/reserved-claims-not-passed',
    ]);
  });

  it('catches a server that passes no claim on', async () => {
    const result = await brokenRun({ backend: 'in-memory', runtime: { claims: passingNothing } });
    expect(notPassing(result), explain(result)).toEqual(['claims/allowed-claims-passed']);
  });

  it("catches a token issuer that lays the upstream id_token's claims over its own", async () => {
    const result = await brokenRun({ backend: 'azure', parts: { token: tokenCopyingIdTokenClaims } });
    expect(notPassing(result), explain(result)).toEqual([
      'claims/allowed-claims-passed',
      'claims/oversized-claim-not-passed',
      'claims/reserved-claims-not-passed',
      'claims/token-claims-are-servers',
    ]);
  });

  it('catches an Entra backend that takes claims from an unverified id_token', async () => {
    const result = await brokenRun({
      backend: 'azure',
      runtime: { backend: skippingIdTokenVerification(azureBackend, azureIdentity) },
    });
    expect(notPassing(result), explain(result)).toEqual(['claims/tampered-id-token-refused']);
  });
});
