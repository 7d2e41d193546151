import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import {
  authorizeAutoApprove,
  authorizeFramableConsent,
  authorizeHidingRedirectUri,
  authorizeSelfOnlyFormAction,
  authorizeTrustingAnyNavigation,
  authorizeUnescapedClientName,
  callbackWithoutBinding,
  consentApprovingAnyAction,
  consentApprovingWithoutAction,
  consentWithoutCsrfCheck,
  consentWithoutOriginCheck,
} from './broken/consent.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the consent suite: the correct reference server passes every case; a server
 * with one consent defense removed (edges 1-5, 35) fails exactly the cases that defense is for.
 */
describe('consent suite', () => {
  const cases = ['consent/*'];
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
    expect(result.summary.passed).toBe(15);
  });

  it('catches a server that skips consent for new clients (edge 1)', async () => {
    const { ids, why } = await failures({ authorize: authorizeAutoApprove });
    // Without a consent page there is nothing to bind, protect, frame or read: every case fails.
    expect(ids, why).toEqual([
      'consent/bound-to-browser',
      'consent/csp-form-action',
      'consent/csp-form-action-custom-scheme',
      'consent/deny',
      'consent/escapes-client-name',
      'consent/names-client-and-redirect',
      'consent/new-client-sees-consent',
      'consent/not-framable',
      'consent/post-control',
      'consent/post-foreign-origin',
      'consent/post-without-action',
      'consent/post-without-csrf',
      'consent/post-wrong-csrf',
      'consent/remembered-cross-site',
      'consent/remembered-no-fetch-metadata',
    ]);
  });

  it('catches a callback that does not check the browser binding (edge 2)', async () => {
    const { ids, why } = await failures({ callback: callbackWithoutBinding });
    expect(ids, why).toEqual(['consent/bound-to-browser']);
  });

  it('catches remembered consent honoured for any navigation (edge 3)', async () => {
    const { ids, why } = await failures({ authorize: authorizeTrustingAnyNavigation });
    expect(ids, why).toEqual(['consent/remembered-cross-site', 'consent/remembered-no-fetch-metadata']);
  });

  it('catches a consent handler without a CSRF check (edge 4)', async () => {
    const { ids, why } = await failures({ consent: consentWithoutCsrfCheck });
    expect(ids, why).toEqual(['consent/post-without-csrf', 'consent/post-wrong-csrf']);
  });

  it('catches a consent handler without an Origin check (edge 4)', async () => {
    const { ids, why } = await failures({ consent: consentWithoutOriginCheck });
    expect(ids, why).toEqual(['consent/post-foreign-origin']);
  });

  it('catches a consent handler that takes a POST without action as approval (edge 4)', async () => {
    const { ids, why } = await failures({ consent: consentApprovingWithoutAction });
    expect(ids, why).toEqual(['consent/post-without-action']);
  });

  it('catches a consent handler that approves on any action, Deny included', async () => {
    const { ids, why } = await failures({ consent: consentApprovingAnyAction });
    expect(ids, why).toEqual(['consent/deny']);
  });

  it('catches a consent page that may be framed (edge 5)', async () => {
    const { ids, why } = await failures({ authorize: authorizeFramableConsent });
    expect(ids, why).toEqual(['consent/not-framable']);
  });

  it('catches a consent page that does not show the redirect URI (edge 5)', async () => {
    const { ids, why } = await failures({ authorize: authorizeHidingRedirectUri });
    expect(ids, why).toEqual(['consent/names-client-and-redirect']);
  });

  it('catches a consent page that renders the client name as HTML (edge 5)', async () => {
    const { ids, why } = await failures({ authorize: authorizeUnescapedClientName });
    expect(ids, why).toEqual(['consent/escapes-client-name']);
  });

  it("catches a consent page whose CSP form-action is 'self' only (edge 35)", async () => {
    const { ids, why } = await failures({ authorize: authorizeSelfOnlyFormAction });
    expect(ids, why).toEqual(['consent/csp-form-action', 'consent/csp-form-action-custom-scheme']);
  });
});
