import type { RemoteBackend } from './backends/types.ts';
import { TokenError } from './errors.ts';
import { type AppUser, type Principal, TokenRejected, type TokenVerifier } from './principal.ts';
import type { Runtime } from './runtime.ts';
import type { UserRecord } from './store/types.ts';
import { resolveUser } from './users/resolve.ts';

function appUser(user: UserRecord): AppUser {
  return {
    id: user.id,
    ...(user.email ? { email: user.email } : {}),
    ...(user.login ? { login: user.login } : {}),
    groups: user.groups,
  };
}

/**
 * Verifies our own access tokens (proxy and in-memory backends): signature by our keys, ES256
 * only, `iss`, `aud` = the MCP resource (edge 25), `exp`/`nbf`, the token type (a refresh token
 * or an upstream token never passes; edges 23, 26), and a grant that was not revoked.
 */
export function ownTokenVerifier(rt: Runtime): TokenVerifier {
  return {
    async verify(token) {
      let verified: Awaited<ReturnType<Runtime['accessTokens']['verify']>>;
      try {
        verified = await rt.accessTokens.verify(token, { audience: rt.urls.resource });
      } catch (error) {
        if (error instanceof TokenError) throw new TokenRejected('invalid_token', error.message);
        throw new TokenRejected('invalid_token', 'the access token could not be verified');
      }
      const { claims } = verified;
      if (claims.sid) {
        const family = await rt.store.getFamily(claims.sid);
        if (!family || family.revokedAt !== undefined)
          throw new TokenRejected('invalid_token', 'the grant was revoked');
      }
      const user = await rt.store.getUser(claims.sub);
      if (!user) throw new TokenRejected('invalid_token', 'the token names no user of this server');
      const passed = claims[rt.settings.claims.claim];
      return {
        user: appUser(user),
        backend: rt.settings.auth,
        clientId: claims.client_id,
        scopes: verified.scopes,
        claims: passed && typeof passed === 'object' ? (passed as Record<string, unknown>) : {},
        expiresAt: claims.exp,
      } satisfies Principal;
    },
  };
}

/** Verifies tokens the IdP issued (remote and jwt backends), then resolves the user they name. */
export function remoteTokenVerifier(rt: Runtime, backend: RemoteBackend): TokenVerifier {
  return {
    async verify(token) {
      const bearer = await backend.verify(token);
      const resolution = await resolveUser(rt.store, bearer.identity);
      if (resolution.kind === 'unknown_user') {
        throw new TokenRejected('invalid_token', 'no account of this server matches the token');
      }
      const passed = rt.claims(bearer.identity.claims, rt.settings.claims)[rt.settings.claims.claim];
      return {
        user: appUser(resolution.user),
        backend: rt.settings.auth,
        clientId: bearer.clientId,
        scopes: bearer.scopes,
        claims: (passed as Record<string, unknown> | undefined) ?? {},
        expiresAt: bearer.expiresAt,
      };
    },
  };
}

/**
 * dev-admin / dev-public (catalogue): no authentication; the first admin (or public) user of the
 * store, else a synthetic user with groups [admin] (or [public]).
 */
export async function devPrincipal(rt: Runtime): Promise<Principal> {
  const group = rt.settings.auth === 'dev-admin' ? 'admin' : 'public';
  const user = (await rt.store.listUsers()).find((u) => u.groups.includes(group));
  return {
    user: user ? appUser(user) : { id: `synthetic-${group}`, groups: [group] },
    backend: rt.settings.auth,
    clientId: undefined,
    scopes: [],
    claims: {},
    expiresAt: undefined,
  };
}
