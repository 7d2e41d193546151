import { describe, expect, it } from 'vitest';
import { loadPersonas } from '../../mock-idp/personas.ts';
import { CaseContext, type RunContext } from '../context.ts';
import { expectedUser } from './expected-user.ts';

const personas = loadPersonas().personas;

function at(upstream: string | undefined) {
  const run = { upstream, personas } as unknown as RunContext;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a suite reference, expanded by the step
  const args = { persona: '${matrix.persona}' };
  return (persona: string) => expectedUser(new CaseContext(run, { matrix: { persona } }), args);
}

describe('expected_user', () => {
  it('reads the per-provider expectation of the personas file', async () => {
    expect(await at('github')('erin')).toBe('U3');
    expect(await at('google')('erin')).toBeNull();
  });

  it('falls back to the default expectation', async () => {
    expect(await at('entra')('alice')).toBe('U1');
    expect(await at(undefined)('dave')).toBe('U7');
  });

  it('null means the sign-in must be refused', async () => {
    expect(await at('auth0')('liam')).toBeNull();
    expect(await at('github')('carol')).toBeNull();
  });

  it('refuses a persona the file does not have', async () => {
    await expect(at('github')('mallory')).rejects.toMatchObject({
      code: 'ERR_STEP_FAILED',
      message: 'the personas file has no persona "mallory"',
    });
  });
});
