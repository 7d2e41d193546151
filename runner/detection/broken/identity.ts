/**
 * Broken user resolution, for the detection tests of the user-resolution suite (security edges
 * 32, 33). Each wraps a real part of the reference server: a backend that reads an email it
 * should not trust, or a callback whose resolver reads the store differently (a store view that
 * folds addresses, forgets links, or opens a second account for a second identity).
 */
import type { AppParts } from '../../../reference-server/app.ts';
import type { BackendFactory, ProxyUpstream } from '../../../reference-server/backends/types.ts';
import { upstreamEndpoints } from '../../../reference-server/config.ts';
import { callback } from '../../../reference-server/oauth/callback.ts';
import type { Store } from '../../../reference-server/store/types.ts';

/** A backend whose identities are changed after the real exchange. */
function rewritingBackend(
  real: BackendFactory,
  change: (
    result: Awaited<ReturnType<ProxyUpstream['exchange']>>,
    context: { fetch: typeof fetch; settings: Parameters<BackendFactory>[0] },
  ) => Promise<void> | void,
): BackendFactory {
  return async (settings, deps) => {
    const backend = (await real(settings, deps)) as ProxyUpstream;
    return {
      kind: 'proxy',
      id: backend.id,
      authorizationUrl: (input) => backend.authorizationUrl(input),
      async exchange(input) {
        const result = await backend.exchange(input);
        await change(result, { fetch: deps.fetch, settings });
        return result;
      },
    };
  };
}

/**
 * GitHub: the email is `/user.email`, the public profile field, taken as verified (GitHub never
 * says it is; `/user/emails` is not read). Unverified addresses match, and a private primary
 * address is missed.
 */
export function trustingPublicGithubEmail(real: BackendFactory): BackendFactory {
  return rewritingBackend(real, async ({ identity, tokens }, { fetch, settings }) => {
    const apiBase = upstreamEndpoints(settings, 'github').api_base!.replace(/\/+$/, '');
    const res = await fetch(`${apiBase}/user`, {
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        accept: 'application/vnd.github+json',
        'user-agent': 'broken-variant',
      },
    });
    const user = (await res.json()) as { email?: string | null };
    delete identity.email;
    delete identity.emailVerified;
    if (typeof user.email === 'string') {
      identity.email = user.email;
      identity.emailVerified = true;
    }
  });
}

/** OIDC: any email in the id_token counts, `email_verified: false` included. */
export function trustingUnverifiedEmail(real: BackendFactory): BackendFactory {
  return rewritingBackend(real, ({ identity }) => {
    if (typeof identity.email === 'string') identity.emailVerified = true;
  });
}

/** A callback whose user resolution sees the store through `view`. */
function callbackWithStore(view: (store: Store) => Partial<Store>): AppParts['callback'] {
  return (rt, request) => {
    const overrides = view(rt.store);
    const store = new Proxy(rt.store, {
      get(target, name, receiver) {
        if (typeof name === 'string' && name in overrides) return overrides[name as keyof Store];
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return callback({ ...rt, store }, request);
  };
}

/** Gmail-style folding: dots and a +tag of the local part are dropped (edge 33 forbids it). */
function fold(email: string): string {
  const [local = '', domain = ''] = email.toLowerCase().split('@');
  return `${local.replace(/\+.*$/, '').replace(/\./g, '')}@${domain}`;
}

/** Resolution that folds dots and +tags: judysmith finds judy.smith, alice+test finds alice. */
export const callbackFoldingEmails: AppParts['callback'] = callbackWithStore((store) => ({
  async findUserByEmail(email: string) {
    return (await store.listUsers()).find((u) => u.email !== undefined && fold(u.email) === fold(email));
  },
}));

/** Resolution that ignores existing links: every sign-in matches by email or login again. */
export const callbackIgnoringLinks: AppParts['callback'] = callbackWithStore(() => ({
  async findLink() {
    return undefined;
  },
}));

/**
 * Resolution that gives a second upstream identity its own account: an address whose account is
 * already linked to another identity gets a new, separate account (the address being taken).
 */
export const callbackSplittingAccounts: AppParts['callback'] = callbackWithStore((store) => ({
  async findUserByEmail(email: string) {
    const user = await store.findUserByEmail(email);
    if (!user || (await store.listLinks(user.id)).length === 0) return user;
    return store.createUser({ name: email, groups: ['public'] });
  },
}));
