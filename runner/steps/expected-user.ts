/**
 * `expected_user: { persona }`: whom a correct server resolves the persona to when it signs in at
 * this run's upstream provider, read from the personas file (`expect`: per provider, `default`
 * for the rest). The result is a user id of the personas file's `users`, or null: the sign-in
 * must be refused. The `identity` check takes it as `expect`.
 * @see mock-idp/personas.yaml (the single source of identities and expectations)
 */
import type { CaseContext } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expandString } from '../template.ts';

export async function expectedUser(ctx: CaseContext, args: Record<string, unknown>): Promise<string | null> {
  const id = expandString(args['persona'], ctx.vars, '"persona"');
  const persona = ctx.run.personas?.find((p) => p.id === id);
  if (!persona) throw new RunnerError('ERR_STEP_FAILED', `the personas file has no persona "${id}"`);
  const provider = ctx.run.upstream ?? 'default';
  const expected = provider in persona.expect ? persona.expect[provider] : persona.expect['default'];
  return expected ?? null;
}
