import { describe, expect, it } from 'vitest';
import { CaseContext, type RunContext } from '../context.ts';
import { pkcePair } from './pkce-pair.ts';

/** RFC 7636 Appendix B: the example verifier and its S256 challenge. */
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

function check(vars: Record<string, unknown>, args: Record<string, unknown>) {
  return pkcePair(new CaseContext({} as unknown as RunContext, vars), args);
}

describe('pkce_pair', () => {
  it('passes for the RFC 7636 Appendix B pair, read from the blackboard', () => {
    const outcome = check(
      { leg: { token: { code_verifier: VERIFIER }, authorize: { code_challenge: CHALLENGE } } },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: suite references, expanded by the check
      { verifier: '${leg.token.code_verifier}', challenge: '${leg.authorize.code_challenge}' },
    );
    expect([outcome.pass, outcome.message]).toEqual([true, undefined]);
  });

  it('fails when the verifier belongs to another challenge', () => {
    const outcome = check({}, { verifier: VERIFIER, challenge: CHALLENGE.replace('E9', 'F9') });
    expect([outcome.pass, outcome.message]).toEqual([
      false,
      'the code_verifier does not match the S256 code_challenge',
    ]);
  });

  it('fails for a verifier shorter than 43 characters (RFC 7636 4.1)', () => {
    const outcome = check({}, { verifier: 'short', challenge: CHALLENGE });
    expect([outcome.pass, outcome.message]).toEqual([
      false,
      'the code_verifier is not 43 to 128 unreserved characters',
    ]);
  });

  it('fails without a challenge', () => {
    const outcome = check({}, { verifier: VERIFIER, challenge: '' });
    expect([outcome.pass, outcome.message]).toEqual([false, 'there is no code_challenge']);
  });

  it('plain: the challenge is the verifier itself', () => {
    expect(check({}, { verifier: VERIFIER, challenge: VERIFIER, method: 'plain' }).pass).toBe(true);
    expect(check({}, { verifier: VERIFIER, challenge: CHALLENGE, method: 'plain' }).pass).toBe(false);
  });
});
