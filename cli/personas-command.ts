/**
 * `conformance personas`: what a server's user store must hold for the user-resolution suite
 * (the personas file's `users`), and the user a correct server resolves each persona to, per
 * provider (`expect`; `null` means the server must refuse the sign-in). DESIGN.md: one personas
 * file is the single source of identities.
 */
import { resolve } from 'node:path';
import { expectedUser, loadPersonas, type PersonaSet } from '../mock-idp/personas.ts';
import { allProviders } from '../mock-idp/providers/index.ts';
import { parseCommand, UsageError } from './args.ts';
import { toRunFailure, wrapList } from './run-command.ts';

export const personasUsage = `Usage: conformance personas [options]

Prints the users a server's store must hold for the user-resolution suite (declare it with
--user-store), then every persona and the user a correct server resolves it to, per provider
("refuse": the server must not sign the persona in).

Options:
  --provider ID      only this mock provider (repeatable or comma-separated):
                     ${wrapList(
                       allProviders.map((p) => p.id),
                       21,
                     )}
  --personas FILE    a personas file of your own (default: the bundled one)
  --json             print JSON: { users, personas: [{ id, name, description, email,
                     email_verified, expect: { <provider>: <user id> | null } }] }
  -h, --help         show this help`;

const PROVIDER_IDS = allProviders.map((p) => p.id);

/** Each persona's expected user for each provider (null: refused). */
export function expectations(set: PersonaSet, providers: readonly string[]) {
  return set.personas.map((p) => ({
    id: p.id,
    name: p.name,
    description: p.description,
    email: p.email,
    email_verified: p.email_verified,
    expect: Object.fromEntries(providers.map((provider) => [provider, expectedUser(p, provider)])),
  }));
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export async function personasCommand(
  argv: string[],
  io: { out: (s: string) => void; cwd?: string },
): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      provider: { type: 'string', multiple: true },
      personas: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.out(personasUsage);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const providers = values.provider?.flatMap((p) => p.split(',')).filter(Boolean) ?? PROVIDER_IDS;
  for (const p of providers) {
    if (!PROVIDER_IDS.includes(p)) {
      throw new UsageError(`--provider "${p}" is not a mock provider (valid: ${PROVIDER_IDS.join(', ')})`);
    }
  }
  let set: PersonaSet;
  try {
    set = loadPersonas(values.personas ? resolve(io.cwd ?? process.cwd(), values.personas) : undefined);
  } catch (error) {
    throw toRunFailure(error);
  }
  const personas = expectations(set, providers);
  if (values.json) {
    io.out(JSON.stringify({ users: set.users, personas }, null, 2));
    return 0;
  }
  io.out(`Users the server's store must hold (${set.users.length}):`);
  for (const line of table([
    ['  id', 'email', 'login', 'groups'],
    ...set.users.map((u) => [`  ${u.id}`, u.email ?? '-', u.login ?? '-', u.groups.join(', ') || '-']),
  ]))
    io.out(line);
  io.out('');
  const show = (user: string | null) => user ?? 'refuse';
  if (providers.length === 1) {
    const provider = providers[0]!;
    io.out(`Personas signing in through ${provider}, and the user each must resolve to:`);
    for (const line of table([
      ['  persona', 'resolves to', 'why'],
      ...personas.map((p) => [`  ${p.id}`, show(p.expect[provider] ?? null), p.description]),
    ]))
      io.out(line);
    return 0;
  }
  io.out('Personas, and the user each must resolve to through each provider ("refuse": no sign-in):');
  for (const line of table([
    ['  persona', ...providers, ''],
    ...personas.map((p) => [
      `  ${p.id}`,
      ...providers.map((provider) => show(p.expect[provider] ?? null)),
      '',
    ]),
  ]))
    io.out(line);
  io.out('');
  for (const p of personas) io.out(`  ${p.id}: ${p.description}`);
  return 0;
}
