import type { PersonaSet } from '../../mock-idp/personas.ts';
import type { Store, UserRecord } from '../store/types.ts';

/**
 * Adds the personas file's application users (`users:`) to the store, keeping their ids; users
 * already present (by id) are left as they are. Returns the users added.
 */
export async function seedUsers(store: Store, personas: PersonaSet): Promise<UserRecord[]> {
  const added: UserRecord[] = [];
  for (const user of personas.users) {
    if (await store.getUser(user.id)) continue;
    added.push(
      await store.createUser({
        id: user.id,
        ...(user.email ? { email: user.email } : {}),
        ...(user.login ? { login: user.login } : {}),
        groups: user.groups,
      }),
    );
  }
  return added;
}
