import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import {
  authorizeAcceptingPlain,
  authorizeIgnoringMethod,
  authorizeWithoutPkce,
  tokenSkippingVerifier,
} from './broken/pkce.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the pkce suite: the correct reference server passes every case; a server
 * with one PKCE defense removed fails exactly the cases that defense is for.
 */
describe('pkce suite', () => {
  const cases = ['pkce/*'];
  let good: Target;
  beforeAll(async () => {
    good = await startTarget();
  });
  afterAll(() => good.stop());

  async function failures(parts: Partial<AppParts>): Promise<{ ids: string[]; why: string }> {
    const broken = await startTarget({ mock: good.mock, parts });
    try {
      const result = await broken.run({ cases });
      return { ids: notPassing(result), why: explain(result) };
    } finally {
      await broken.stop();
    }
  }

  it('passes against the correct reference server', async () => {
    const result = await good.run({ cases });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(result.summary.passed).toBe(7);
  });

  it('catches an authorization endpoint that issues codes without a code_challenge', async () => {
    const { ids, why } = await failures({ authorize: authorizeWithoutPkce });
    expect(ids, why).toEqual(['pkce/missing-challenge']);
  });

  it('catches an authorization endpoint that accepts the plain method', async () => {
    const { ids, why } = await failures({ authorize: authorizeAcceptingPlain });
    expect(ids, why).toEqual(['pkce/plain-method-refused']);
  });

  it('catches an authorization endpoint that ignores code_challenge_method', async () => {
    const { ids, why } = await failures({ authorize: authorizeIgnoringMethod });
    expect(ids, why).toEqual([
      'pkce/missing-method-refused',
      'pkce/plain-method-refused',
      'pkce/unknown-method-refused',
    ]);
  });

  it('catches a token endpoint that never checks the code_verifier', async () => {
    const { ids, why } = await failures({ token: tokenSkippingVerifier });
    expect(ids, why).toEqual(['pkce/missing-verifier', 'pkce/wrong-verifier']);
  });
});
