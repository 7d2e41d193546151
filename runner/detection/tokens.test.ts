import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import {
  authorizeIgnoringResource,
  tokenAcceptingAccessTokenAsRefresh,
  tokenIgnoringResource,
  tokenNotBindingRefreshToClient,
  tokenWithExtraAudience,
  tokenWithoutNoStore,
  tokenWithoutReuseDetection,
  tokenWithoutRotation,
  tokenWithoutTypeAndLifetime,
  tokenWithRacyRefresh,
  tokenWithRawErrorDescriptions,
  verifierAcceptingRefreshTokens,
} from './broken/tokens.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the tokens suite: the correct reference server passes every case; a server
 * with one rule of token handling broken (edges 23-25, 27) fails exactly the cases for that rule.
 * Token-endpoint variants also run the codes suite, which shares the endpoint.
 */
describe('tokens suite', () => {
  let good: Target;
  beforeAll(async () => {
    good = await startTarget();
  });
  afterAll(() => good.stop());

  async function failures(
    parts: Partial<AppParts>,
    cases = ['tokens/*', 'codes/*'],
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
    const result = await good.run({ cases: ['tokens/*'] });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(result.summary.passed).toBe(17);
  });

  it('catches a token endpoint that does not rotate refresh tokens (edge 24)', async () => {
    const { ids, why } = await failures({ token: tokenWithoutRotation });
    expect(ids, why).toEqual([
      'tokens/refresh-reuse-refused',
      'tokens/refresh-reuse-revokes-access-tokens',
      'tokens/refresh-reuse-revokes-grant',
      'tokens/refresh-rotates',
    ]);
  });

  it('catches a token endpoint that rotates without reuse detection (edge 24)', async () => {
    const { ids, why } = await failures({ token: tokenWithoutReuseDetection });
    expect(ids, why).toEqual([
      'tokens/refresh-reuse-revokes-access-tokens',
      'tokens/refresh-reuse-revokes-grant',
    ]);
  });

  it('catches a token endpoint whose rotation is not atomic (edge 24)', async () => {
    const { ids, why } = await failures({ token: tokenWithRacyRefresh() });
    expect(ids, why).toEqual(['tokens/refresh-concurrent']);
  });

  it('catches a token endpoint that lets any client use a refresh token', async () => {
    const { ids, why } = await failures({ token: tokenNotBindingRefreshToClient });
    expect(ids, why).toEqual(['tokens/refresh-other-client']);
  });

  it('catches a token endpoint that takes an access token as a refresh token (edge 23)', async () => {
    const { ids, why } = await failures({ token: tokenAcceptingAccessTokenAsRefresh });
    expect(ids, why).toEqual(['tokens/access-token-as-refresh-token']);
  });

  it('catches an MCP endpoint that takes a refresh token as a Bearer token (edge 23)', async () => {
    const { ids, why } = await failures({ verifier: verifierAcceptingRefreshTokens });
    expect(ids, why).toEqual(['tokens/refresh-token-as-bearer']);
  });

  it('catches a token endpoint that ignores resource (edge 25)', async () => {
    const { ids, why } = await failures({ token: tokenIgnoringResource });
    expect(ids, why).toEqual(['tokens/refresh-foreign-resource', 'tokens/token-foreign-resource']);
  });

  it('catches an authorization endpoint that ignores resource (edge 25)', async () => {
    const { ids, why } = await failures({ authorize: authorizeIgnoringResource });
    expect(ids, why).toEqual(['tokens/authorize-foreign-resource']);
  });

  it('catches access tokens with a second audience (edge 25)', async () => {
    const { ids, why } = await failures({ token: tokenWithExtraAudience });
    expect(ids, why).toEqual(['tokens/access-token-audience']);
  });

  it('catches token responses without Cache-Control no-store (edge 27)', async () => {
    const { ids, why } = await failures({ token: tokenWithoutNoStore });
    expect(ids, why).toEqual(['tokens/no-store-code-exchange', 'tokens/no-store-refresh']);
  });

  it('catches error descriptions with CR/LF (edge 27)', async () => {
    const { ids, why } = await failures({ token: tokenWithRawErrorDescriptions });
    expect(ids, why).toEqual(['tokens/error-responses']);
  });

  it('catches token responses without token_type and expires_in', async () => {
    const { ids, why } = await failures({ token: tokenWithoutTypeAndLifetime });
    expect(ids, why).toEqual(['tokens/token-expires-in', 'tokens/token-response-shape']);
  });
});
