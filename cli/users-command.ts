import { existsSync } from 'node:fs';
import { loadPersonas } from '../mock-idp/personas.ts';
import { openSqliteStore } from '../reference-server/store/sqlite.ts';
import { seedUsers } from '../reference-server/users/seed.ts';
import { parseCommand, UsageError } from './args.ts';

export const usersUsage = `Usage: conformance users <list|add|seed> [options]

Manages the users of the reference server's store (the SQLite file in the data directory).

  users list                       list every user
  users add --email E [--login L] [--groups a,b] [--id ID]
                                   add a user (an email or a login is required)
  users seed [--personas FILE]     add the personas file's users (kept by id; existing ones untouched)

Options:
  --data-dir DIR     the data directory of the server (default ./data)
  --json             print JSON instead of a table`;

/** `conformance users`: list, add, seed. */
export async function usersCommand(argv: string[], io: { out: (s: string) => void }) {
  const { values, positionals } = parseCommand(
    argv,
    {
      'data-dir': { type: 'string' },
      email: { type: 'string' },
      login: { type: 'string' },
      groups: { type: 'string' },
      id: { type: 'string' },
      personas: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  const action = positionals[0];
  if (values.help || !action) {
    io.out(usersUsage);
    return values.help ? 0 : 2;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  if (!['list', 'add', 'seed'].includes(action)) throw new UsageError(`unknown users action "${action}"`);
  if (values.personas && !existsSync(values.personas))
    throw new UsageError(`--personas: no such file "${values.personas}"`);
  const store = openSqliteStore({ dataDir: values['data-dir'] ?? './data' });
  try {
    if (action === 'add') {
      if (!values.email && !values.login) throw new UsageError('users add needs --email or --login');
      if (values.email && !/^[^@\s]+@[^@\s]+$/.test(values.email)) {
        throw new UsageError(`--email "${values.email}" is not an email address`);
      }
      if (values.email && (await store.findUserByEmail(values.email))) {
        throw new UsageError(`a user with email ${values.email} already exists`);
      }
      if (values.id && (await store.getUser(values.id)))
        throw new UsageError(`user ${values.id} already exists`);
      const user = await store.createUser({
        ...(values.id ? { id: values.id } : {}),
        ...(values.email ? { email: values.email } : {}),
        ...(values.login ? { login: values.login } : {}),
        groups: (values.groups ?? '')
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean),
      });
      io.out(values.json ? JSON.stringify(user) : `added ${user.id}`);
      return 0;
    }
    if (action === 'seed') {
      const added = await seedUsers(store, loadPersonas(values.personas));
      io.out(values.json ? JSON.stringify(added) : `added ${added.length} users`);
      return 0;
    }
    const users = await store.listUsers();
    if (values.json) {
      io.out(JSON.stringify(users, null, 2));
      return 0;
    }
    io.out(['id', 'email', 'login', 'groups'].join('\t'));
    for (const u of users)
      io.out([u.id, u.email ?? '-', u.login ?? '-', u.groups.join(',') || '-'].join('\t'));
    return 0;
  } finally {
    await store.close();
  }
}
