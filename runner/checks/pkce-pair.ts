import { createHash } from 'node:crypto';
import type { CaseContext } from '../context.ts';
import { expand } from '../template.ts';
import type { CheckOutcome } from './index.ts';

/**
 * `pkce_pair: { verifier, challenge, method? }`: the verifier belongs to the challenge
 * (S256: BASE64URL(SHA256(verifier)) equals the challenge; `plain`: equal), and the verifier has
 * the form RFC 7636 4.1 requires (43 to 128 unreserved characters). Used on the upstream leg: the
 * verifier the server sent to the IdP's token endpoint must match the challenge it sent to the
 * IdP's authorization endpoint (its own pair; edge 19).
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6
 */
export function pkcePair(ctx: CaseContext, args: Record<string, unknown>): CheckOutcome {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const verifier = a['verifier'];
  const challenge = a['challenge'];
  const method = typeof a['method'] === 'string' ? a['method'] : 'S256';
  const fails: string[] = [];
  if (typeof verifier !== 'string' || !/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) {
    fails.push('the code_verifier is not 43 to 128 unreserved characters');
  }
  if (typeof challenge !== 'string' || challenge === '') fails.push('there is no code_challenge');
  if (fails.length === 0) {
    const derived =
      method === 'S256'
        ? createHash('sha256')
            .update(verifier as string)
            .digest('base64url')
        : verifier;
    if (derived !== challenge) fails.push(`the code_verifier does not match the ${method} code_challenge`);
  }
  return {
    pass: fails.length === 0,
    description: `the code_verifier matches the ${method} code_challenge`,
    expected: { method, challenge },
    actual:
      typeof verifier === 'string' ? `${verifier.slice(0, 6)}... (${verifier.length} characters)` : verifier,
    ...(fails.length ? { message: fails.join('; ') } : {}),
    exchanges: [],
  };
}
