/**
 * Deliberately broken parts for the pkce suite: the real authorization endpoint behind a request
 * rewrite that downgrades PKCE (edge 17), and the real token endpoint with a code check that
 * skips the verifier (edge 18). Never used in production.
 */
import type { AppParts } from '../../../reference-server/app.ts';
import { authorize } from '../../../reference-server/oauth/authorize.ts';
import { s256 } from '../../../reference-server/oauth/consent.ts';
import { token } from '../../../reference-server/oauth/token.ts';
import { rebuild, withStore } from './codes.ts';

/** A verifier the downgraded server pretends the client committed to. */
const STAND_IN_VERIFIER = 'stand-in-verifier-for-a-request-without-pkce-0000';

/** The authorization request with its PKCE parameters rewritten before the real endpoint sees them. */
function rewritingPkce(edit: (params: URLSearchParams) => void): AppParts['authorize'] {
  return (rt, request) => {
    const url = new URL(request.url);
    edit(url.searchParams);
    return authorize(rt, rebuild(request, { url: url.toString() }));
  };
}

/** PKCE optional: a request without code_challenge gets a code anyway. */
export const authorizeWithoutPkce: AppParts['authorize'] = rewritingPkce((params) => {
  if (params.get('code_challenge')) return;
  params.set('code_challenge', s256(STAND_IN_VERIFIER));
  params.set('code_challenge_method', 'S256');
});

/**
 * The plain method accepted (RFC 7636 allows it; RFC 9700 2.1.1 does not want it): a plain
 * challenge is stored as the S256 of itself, so the plain verifier redeems the code.
 */
export const authorizeAcceptingPlain: AppParts['authorize'] = rewritingPkce((params) => {
  const challenge = params.get('code_challenge');
  if (params.get('code_challenge_method') !== 'plain' || !challenge) return;
  params.set('code_challenge', s256(challenge));
  params.set('code_challenge_method', 'S256');
});

/** code_challenge_method ignored: whatever it says (plain, unknown, nothing), the challenge is taken as S256. */
export const authorizeIgnoringMethod: AppParts['authorize'] = rewritingPkce((params) => {
  if (params.get('code_challenge')) params.set('code_challenge_method', 'S256');
});

/** The code's challenge is never compared with a verifier (RFC 7636 4.6 skipped). */
export const tokenSkippingVerifier: AppParts['token'] = withStore(token, (store) => ({
  consumeCode: (hash, check) =>
    store.consumeCode(hash, (code) => {
      const reason = check?.(code);
      return reason?.includes('code_verifier') ? undefined : reason;
    }),
}));
