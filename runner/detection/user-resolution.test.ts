import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPersonas } from '../../mock-idp/personas.ts';
import { githubBackend } from '../../reference-server/backends/github.ts';
import { googleBackend } from '../../reference-server/backends/google.ts';
import type { RunResult } from '../../reports/model.ts';
import {
  callbackFoldingEmails,
  callbackIgnoringLinks,
  callbackSplittingAccounts,
  trustingPublicGithubEmail,
  trustingUnverifiedEmail,
} from './broken/identity.ts';
import { explain, notPassing, startTarget, type Target, type TargetOptions } from './harness.ts';

/**
 * Detection power of the user-resolution suite (security edges 32, 33): the correct server
 * resolves every persona as the personas file expects with a GitHub and a Google upstream; a
 * server with one broken part (a backend that trusts an email it should not, or a resolver that
 * folds addresses, forgets links or splits accounts) fails exactly the cases it should fail.
 */

const CASES = ['user-resolution/*'];
const FOCUSED = 9;

function statusCount(result: RunResult, status: string): number {
  return result.suites.flatMap((s) => s.cases).filter((c) => c.status === status).length;
}

describe('user-resolution suite', () => {
  let github: Target;
  const personas = loadPersonas().personas.length;
  beforeAll(async () => {
    github = await startTarget({ backend: 'github' });
  });
  afterAll(() => github?.stop());

  async function brokenRun(options: TargetOptions, concurrency = 4): Promise<RunResult> {
    const broken = await startTarget({ mock: github.mock, ...options });
    try {
      return await broken.run({ cases: CASES, concurrency });
    } finally {
      await broken.stop();
    }
  }

  it('passes against the correct reference server (GitHub upstream)', async () => {
    const result = await github.run({ cases: CASES });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(statusCount(result, 'passed')).toBe(personas + FOCUSED);
  });

  it('passes against the correct reference server (Google upstream)', async () => {
    const google = await startTarget({ backend: 'google', mock: github.mock });
    try {
      const result = await google.run({ cases: CASES });
      expect(notPassing(result), explain(result)).toEqual([]);
      expect(statusCount(result, 'passed')).toBe(personas + FOCUSED);
    } finally {
      await google.stop();
    }
  });

  it("catches a GitHub backend that trusts /user's public email", async () => {
    const result = await brokenRun({ runtime: { backend: trustingPublicGithubEmail(githubBackend) } });
    expect(notPassing(result), explain(result)).toEqual([
      'user-resolution/link-kept-by-immutable-id',
      'user-resolution/persona[persona=carol]',
      'user-resolution/persona[persona=dave]',
      'user-resolution/private-primary-email',
      'user-resolution/unverified-email-never-matches',
    ]);
  });

  it('catches a Google backend that trusts an unverified email', async () => {
    const result = await brokenRun({
      backend: 'google',
      runtime: { backend: trustingUnverifiedEmail(googleBackend) },
    });
    expect(notPassing(result), explain(result)).toEqual([
      'user-resolution/persona[persona=carol]',
      'user-resolution/persona[persona=ivan]',
      'user-resolution/unverified-email-never-matches',
    ]);
  });

  it('catches a resolver that folds dots and +tags', async () => {
    const result = await brokenRun({ parts: { callback: callbackFoldingEmails } });
    expect(notPassing(result), explain(result)).toEqual([
      'user-resolution/no-dot-folding',
      'user-resolution/no-plus-tag-folding',
      'user-resolution/persona[persona=alice-plus]',
      'user-resolution/persona[persona=judy-nodots]',
    ]);
  });

  it('catches a resolver that ignores the link by immutable id', async () => {
    const result = await brokenRun({ parts: { callback: callbackIgnoringLinks } });
    expect(notPassing(result), explain(result)).toEqual(['user-resolution/link-kept-by-immutable-id']);
  });

  it('catches a resolver that opens a second account for a second identity', async () => {
    // One case at a time: which of frank's identities signs in first decides which one the
    // broken resolver splits off, so the order must be the suite's.
    const result = await brokenRun({ parts: { callback: callbackSplittingAccounts } }, 1);
    expect(notPassing(result), explain(result)).toEqual([
      'user-resolution/one-account-for-two-identities',
      'user-resolution/persona[persona=frank-google]',
      'user-resolution/persona[persona=kim]',
    ]);
  });
});
