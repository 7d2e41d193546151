import { describe, expect, it } from 'vitest';
import { MockIdpError } from './errors.ts';
import { expectedUser, field, loadPersonas, parsePersonas } from './personas.ts';

describe('personas file', () => {
  const set = loadPersonas();

  it('holds the twelve personas of provider-shapes.md section 3 and the store users', () => {
    const ids = set.personas.map((p) => p.id);
    for (const id of [
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
      'frank',
      'grace',
      'heidi',
      'ivan',
      'judy',
      'kim',
      'liam',
    ]) {
      expect(ids).toContain(id);
    }
    expect(set.users.map((u) => u.id)).toEqual(expect.arrayContaining(['U1', 'U2', 'U3', 'U4', 'U5']));
    expect(set.users.find((u) => u.id === 'U1')).toEqual({
      id: 'U1',
      email: 'alice@example.com',
      login: 'alice-gh',
      groups: ['admin'],
    });
  });

  it('gives the expected resolution per provider, with a default', () => {
    const byId = (id: string) => set.personas.find((p) => p.id === id)!;
    expect(expectedUser(byId('alice'), 'google')).toBe('U1');
    expect(expectedUser(byId('erin'), 'github')).toBe('U3');
    expect(expectedUser(byId('erin'), 'google')).toBeNull();
    expect(expectedUser(byId('liam'), 'auth0')).toBeNull();
    expect(expectedUser(byId('liam'), 'google')).toBe('U6');
  });

  it('expands $repeat into an oversized claim and keeps nested claims', () => {
    const oscar = set.personas.find((p) => p.id === 'oscar')!;
    expect(typeof oscar.claims['notes']).toBe('string');
    expect((oscar.claims['notes'] as string).length).toBe(3_000);
    expect(oscar.claims['profile']).toEqual({ team: { name: 'Audit', region: 'eu-west-1' }, level: 3 });
  });

  it('reads provider blocks with fallbacks', () => {
    const dave = set.personas.find((p) => p.id === 'dave')!;
    expect(field(dave, 'github', 'email', 'fallback')).toBeNull();
    expect(field(dave, 'github', 'absent', 'fallback')).toBe('fallback');
    expect(field(dave, 'nosuch', 'login', 'x')).toBe('x');
  });
});

describe('parsePersonas errors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'personas: [', /custom\.yaml: not valid YAML/],
    ['no list', 'personas: 3', /"personas" must be a list/],
    ['bad id', 'personas: [{ id: "Bad Id" }]', /personas\[0\]\.id must be a lowercase identifier/],
    ['repeated id', 'personas: [{ id: a }, { id: a }]', /personas\[1\]\.id "a" is repeated/],
    ['bad block', 'personas: [{ id: a, github: 3 }]', /personas\[0\]\.github must be a mapping/],
    ['bad email', 'personas: [{ id: a, email: 3 }]', /personas\[0\]\.email must be a string or null/],
    ['bad user', 'users: [{ email: x }]\npersonas: []', /users\[0\]\.id must be a string/],
  ];
  for (const [name, text, message] of cases) {
    it(`refuses ${name}`, () => {
      let caught: unknown;
      try {
        parsePersonas(text, 'custom.yaml');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(MockIdpError);
      expect((caught as MockIdpError).code).toBe('ERR_PERSONAS_INVALID');
      expect((caught as MockIdpError).message).toMatch(message);
    });
  }

  it('names a missing file', () => {
    expect(() => loadPersonas('/nonexistent/personas.yaml')).toThrow(
      'cannot read personas file "/nonexistent/personas.yaml"',
    );
  });
});
