import type { CaseContext } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { lookup } from '../template.ts';

/** `${ref}` read loosely: an unset reference is undefined, not an error. */
function loose(value: unknown, ctx: CaseContext): unknown {
  if (typeof value !== 'string') return value;
  const m = value.match(/^\$\{([^}]+)\}$/);
  return m ? lookup(ctx.vars, m[1]!) : value;
}

/** A compact JWS whose header and payload are JSON objects (RFC 7515 7.1). */
function isJwt(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const parts = value.split('.');
  if (parts.length !== 3) return false;
  try {
    return parts.slice(0, 2).every((p) => {
      const json = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown;
      return json !== null && typeof json === 'object' && !Array.isArray(json);
    });
  } catch {
    return false;
  }
}

/**
 * Ends the case as SKIPPED (with `reason`) when what it needs is not there: `set` (a reference
 * that must hold a value, such as a refresh token the server may not issue) and `jwt` (a value
 * that must be a JWT, for cases that forge copies of a token: an opaque token has no claims to
 * copy). A case that cannot be judged is skipped, never passed or failed. But a missing value
 * that the flow should have produced is a failure, not a reason to skip: `jwt` fails the step
 * when its value is unset, and `given` names a reference that must be set for the skip to count.
 */
export async function skipUnless(ctx: CaseContext, args: Record<string, unknown>): Promise<true> {
  const reason = typeof args['reason'] === 'string' ? args['reason'] : undefined;
  const unset = (value: unknown) => value === undefined || value === null || value === '';
  for (const key of ['given', 'jwt']) {
    if (key in args && unset(loose(args[key], ctx))) {
      throw new RunnerError('ERR_STEP_FAILED', `${String(args[key])} is not set`);
    }
  }
  if ('set' in args && unset(loose(args['set'], ctx))) {
    throw new RunnerError('ERR_NOT_APPLICABLE', reason ?? `${String(args['set'])} is not set`);
  }
  if ('jwt' in args && !isJwt(loose(args['jwt'], ctx))) {
    throw new RunnerError('ERR_NOT_APPLICABLE', reason ?? `${String(args['jwt'])} is not a JWT`);
  }
  return true;
}
