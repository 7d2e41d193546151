import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import {
  callbackDroppingState,
  callbackWithoutIss,
  tokenAcceptingAnySecret,
  tokenBurningRefusedCodes,
  tokenForgettingUsedCodes,
  tokenNotBindingClient,
  tokenNotBindingRedirectUri,
  tokenRedeemingTwice,
  tokenWithRacyCodes,
} from './broken/codes.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the codes suite: the correct reference server passes every case; a server
 * with one rule of code handling broken (edges 20-22, RFC 9207) fails exactly the cases for that
 * rule. Token-endpoint variants also run the tokens suite, which shares the endpoint.
 */
describe('codes suite', () => {
  let good: Target;
  beforeAll(async () => {
    good = await startTarget();
  });
  afterAll(() => good.stop());

  async function failures(
    parts: Partial<AppParts>,
    cases = ['codes/*', 'tokens/*'],
  ): Promise<{ ids: string[]; why: string }> {
    const broken = await startTarget({ mock: good.mock, parts });
    try {
      const result = await broken.run({ cases });
      return { ids: notPassing(result), why: explain(result) };
    } finally {
      await broken.stop();
    }
  }

  it('passes against the correct reference server', async () => {
    const result = await good.run({ cases: ['codes/*'] });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(result.summary.passed).toBe(10);
  });

  it('catches a token endpoint that redeems a code twice (edge 20)', async () => {
    const { ids, why } = await failures({ token: tokenRedeemingTwice });
    expect(ids, why).toEqual([
      'codes/concurrent-redemption',
      'codes/replay-refused',
      'codes/replay-revokes-access-token',
      'codes/replay-revokes-refresh-token',
    ]);
  });

  it('catches a token endpoint that does not revoke on replay (edge 20)', async () => {
    const { ids, why } = await failures({ token: tokenForgettingUsedCodes });
    expect(ids, why).toEqual(['codes/replay-revokes-access-token', 'codes/replay-revokes-refresh-token']);
  });

  it('catches a token endpoint whose single use is not atomic (edge 20)', async () => {
    const { ids, why } = await failures({ token: tokenWithRacyCodes() });
    expect(ids, why).toEqual(['codes/concurrent-redemption']);
  });

  it('catches a token endpoint that does not bind codes to their client (edge 21)', async () => {
    const { ids, why } = await failures({ token: tokenNotBindingClient });
    expect(ids, why).toEqual(['codes/other-client']);
  });

  it('catches a token endpoint that does not bind codes to the redirect_uri (edge 21)', async () => {
    const { ids, why } = await failures({ token: tokenNotBindingRedirectUri });
    expect(ids, why).toEqual(['codes/other-redirect-uri', 'codes/redirect-uri-required']);
  });

  it('catches a token endpoint that accepts any client secret (edge 22)', async () => {
    const { ids, why } = await failures({ token: tokenAcceptingAnySecret });
    expect(ids, why).toEqual(['codes/wrong-client-secret']);
  });

  it('catches a token endpoint that burns codes it refuses (edges 22, 25)', async () => {
    const { ids, why } = await failures({ token: tokenBurningRefusedCodes });
    expect(ids, why).toEqual(['codes/wrong-client-secret', 'tokens/token-foreign-resource']);
  });

  it('catches an authorization response without iss (RFC 9207)', async () => {
    const { ids, why } = await failures({ callback: callbackWithoutIss }, ['codes/*']);
    expect(ids, why).toEqual(['codes/iss-in-response']);
  });

  it('catches an authorization response without the state', async () => {
    const { ids, why } = await failures({ callback: callbackDroppingState }, ['codes/*']);
    expect(ids, why).toEqual(['codes/state-returned']);
  });
});
