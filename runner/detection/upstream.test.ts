import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azureBackend, azureIdentity } from '../../reference-server/backends/azure.ts';
import { googleBackend, googleIdentity } from '../../reference-server/backends/google.ts';
import type { RunResult } from '../../reports/model.ts';
import {
  callbackDroppingStateOnError,
  callbackIssuingCodeBeforeExchange,
  consentForwardingClientChallenge,
  consentForwardingClientRedirectUri,
  consentForwardingClientState,
  consentWithCounterState,
  skippingIdTokenVerification,
} from './broken/upstream.ts';
import { explain, notPassing, startTarget, type Target, type TargetOptions } from './harness.ts';

/**
 * Detection power of the upstream suite (security edges 19, 34): the correct server passes every
 * case with a GitHub and an OIDC (Google, Entra) upstream; a server with one broken part fails
 * exactly the cases that part should fail.
 */

const CASES = ['upstream/*'];
const ID_TOKEN_CASES = [
  'upstream/id-token-refused[defect=alg-none]',
  'upstream/id-token-refused[defect=bad-signature]',
  'upstream/id-token-refused[defect=expired]',
  'upstream/id-token-refused[defect=not-yet-valid]',
  'upstream/id-token-refused[defect=wrong-aud]',
  'upstream/id-token-refused[defect=wrong-iss]',
];

function count(result: RunResult, status: string): number {
  return result.suites.flatMap((s) => s.cases).filter((c) => c.status === status).length;
}

describe('upstream suite', () => {
  let github: Target;
  beforeAll(async () => {
    github = await startTarget({ backend: 'github' });
  });
  afterAll(() => github?.stop());

  async function brokenRun(options: TargetOptions): Promise<RunResult> {
    const broken = await startTarget({ mock: github.mock, ...options });
    try {
      return await broken.run({ cases: CASES });
    } finally {
      await broken.stop();
    }
  }

  it('passes against the correct reference server (GitHub upstream; id_token cases skipped)', async () => {
    const result = await github.run({ cases: CASES });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(count(result, 'passed')).toBe(7);
    expect(count(result, 'skipped')).toBe(ID_TOKEN_CASES.length);
  });

  it('passes against the correct reference server (Google and Entra upstreams)', async () => {
    for (const backend of ['google', 'azure'] as const) {
      const target = await startTarget({ backend, mock: github.mock });
      try {
        const result = await target.run({ cases: CASES });
        expect(notPassing(result), `${backend}\n${explain(result)}`).toEqual([]);
        expect(count(result, 'passed'), backend).toBe(7 + ID_TOKEN_CASES.length);
      } finally {
        await target.stop();
      }
    }
  });

  it("catches a proxy that sends the client's state upstream", async () => {
    const result = await brokenRun({ parts: { consent: consentForwardingClientState } });
    expect(notPassing(result), explain(result)).toEqual([
      'upstream/state-not-client-state',
      'upstream/state-unguessable',
    ]);
  });

  it('catches a guessable upstream state (a counter)', async () => {
    const result = await brokenRun({ parts: { consent: consentWithCounterState } });
    expect(notPassing(result), explain(result)).toEqual(['upstream/state-unguessable']);
  });

  it("catches a proxy that sends the client's PKCE challenge upstream", async () => {
    const result = await brokenRun({ parts: { consent: consentForwardingClientChallenge } });
    expect(notPassing(result), explain(result)).toEqual([
      'upstream/challenge-not-client-challenge',
      'upstream/verifier-matches-challenge',
    ]);
  });

  it("catches a proxy that sends the client's redirect_uri upstream", async () => {
    const result = await brokenRun({ parts: { consent: consentForwardingClientRedirectUri } });
    expect(notPassing(result), explain(result)).toEqual([
      'upstream/fixed-callback',
      'upstream/upstream-denial-is-an-error',
      'upstream/upstream-token-error-is-an-error',
      'upstream/verifier-matches-challenge',
    ]);
  });

  it("catches an upstream error relayed without the client's state", async () => {
    const result = await brokenRun({ parts: { callback: callbackDroppingStateOnError } });
    expect(notPassing(result), explain(result)).toEqual(['upstream/upstream-denial-is-an-error']);
  });

  it('catches a code handed out although the upstream code exchange failed', async () => {
    const result = await brokenRun({ parts: { callback: callbackIssuingCodeBeforeExchange } });
    expect(notPassing(result), explain(result)).toEqual(['upstream/upstream-token-error-is-an-error']);
  });

  it('catches a Google backend that does not verify the id_token', async () => {
    const result = await brokenRun({
      backend: 'google',
      runtime: { backend: skippingIdTokenVerification(googleBackend, googleIdentity) },
    });
    expect(notPassing(result), explain(result)).toEqual(ID_TOKEN_CASES);
  });

  it('catches an Entra backend that does not verify the id_token', async () => {
    const result = await brokenRun({
      backend: 'azure',
      runtime: { backend: skippingIdTokenVerification(azureBackend, azureIdentity) },
    });
    expect(notPassing(result), explain(result)).toEqual(ID_TOKEN_CASES);
  });
});
