import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './main.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

interface Listed {
  users: Array<{ id: string; email?: string; login?: string; groups: string[] }>;
  personas: Array<{ id: string; name: string; expect: Record<string, string | null> }>;
}

describe('conformance personas', () => {
  it('--json: the store users and each persona expected user for every provider', async () => {
    const c = capture();
    expect(await main(['personas', '--json'], c.io)).toBe(0);
    const listed = JSON.parse(c.out.join('\n')) as Listed;
    expect(listed.users[0]).toEqual({
      id: 'U1',
      email: 'alice@example.com',
      login: 'alice-gh',
      groups: ['admin'],
    });
    expect(listed.users.map((u) => u.id)).toEqual(['U1', 'U2', 'U3', 'U4', 'U5', 'U6', 'U7', 'U8', 'U9']);
    const erin = listed.personas.find((p) => p.id === 'erin')!;
    // Erin has only a GitHub login (U3); everywhere else she must be refused.
    expect(erin.expect['github']).toBe('U3');
    expect(erin.expect['google']).toBeNull();
    expect(erin.expect['entra']).toBeNull();
    const liam = listed.personas.find((p) => p.id === 'liam')!;
    expect(liam.expect['auth0']).toBeNull();
    expect(liam.expect['google']).toBe('U6');
    expect(Object.keys(erin.expect)).toEqual(
      expect.arrayContaining(['github', 'google', 'entra', 'auth0', 'cognito', 'oidc', 'discord']),
    );
  });

  it('--provider: one column, "refuse" where the sign-in must fail', async () => {
    const c = capture();
    expect(await main(['personas', '--provider', 'github'], c.io)).toBe(0);
    expect(c.out[0]).toBe("Users the server's store must hold (9):");
    expect(c.out[1]).toMatch(/^ {2}id {2}email +login +groups$/);
    expect(c.out[2]).toMatch(/^ {2}U1 {2}alice@example\.com +alice-gh +admin$/);
    expect(c.out).toContain('Personas signing in through github, and the user each must resolve to:');
    expect(c.out.find((l) => l.startsWith('  erin '))).toMatch(/^ {2}erin +U3 +Login only/);
    expect(c.out.find((l) => l.startsWith('  carol '))).toMatch(/^ {2}carol +refuse +Holds alice's address/);
    const google = capture();
    expect(await main(['personas', '--provider', 'google', '--json'], google.io)).toBe(0);
    const listed = JSON.parse(google.out.join('\n')) as Listed;
    expect(listed.personas.find((p) => p.id === 'erin')!.expect).toEqual({ google: null });
  });

  it('without --provider: a persona x provider table', async () => {
    const c = capture();
    expect(await main(['personas'], c.io)).toBe(0);
    const header = c.out.find((l) => l.startsWith('  persona'))!;
    expect(header.split(/\s+/).filter(Boolean).slice(0, 4)).toEqual(['persona', 'github', 'google', 'entra']);
    const erin = c.out
      .find((l) => l.startsWith('  erin '))!
      .split(/\s+/)
      .filter(Boolean);
    expect(erin.slice(0, 4)).toEqual(['erin', 'U3', 'refuse', 'refuse']);
  });

  it('reads --personas FILE, and reports errors with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-personas-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      'users:\n  - { id: X1, email: x@example.com }\npersonas:\n  - { id: xavier, email: x@example.com, email_verified: true, expect: { default: X1, github: null } }\n',
    );
    const c = capture();
    expect(await main(['personas', '--personas', file, '--json', '--provider', 'github,google'], c.io)).toBe(
      0,
    );
    expect(JSON.parse(c.out.join('\n'))).toEqual({
      users: [{ id: 'X1', email: 'x@example.com', groups: [] }],
      personas: [
        {
          id: 'xavier',
          name: 'xavier',
          description: '',
          email: 'x@example.com',
          email_verified: true,
          expect: { github: null, google: 'X1' },
        },
      ],
    });
    const provider = capture();
    expect(await main(['personas', '--provider', 'gitlab'], provider.io)).toBe(2);
    expect(provider.err[0]).toMatch(
      /^conformance: --provider "gitlab" is not a mock provider \(valid: github, google, /,
    );
    const missing = capture();
    expect(await main(['personas', '--personas', '/no/such.yaml'], missing.io)).toBe(2);
    expect(missing.err[0]).toBe('conformance: cannot read personas file "/no/such.yaml"');
  });
});
