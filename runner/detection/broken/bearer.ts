/**
 * Deliberately broken parts of the resource server (the MCP endpoint's token checks and its
 * discovery documents), for the detection tests of the discovery and bearer suites. Each wraps
 * the real part and breaks one thing, the way servers in the wild get it wrong; none of this is
 * reachable from the production server (reference-server/app.ts takes parts only from callers).
 */
import { createHmac } from 'node:crypto';
import { compactVerify, createRemoteJWKSet, importJWK, type JWK } from 'jose';
import { type AppParts, DEFAULT_PARTS } from '../../../reference-server/app.ts';
import { clientIdOf, expiryOf, scopesOf } from '../../../reference-server/backends/bearer-jwt.ts';
import { authorizationServerMetadata } from '../../../reference-server/oauth/metadata.ts';
import { type AppUser, type Principal, TokenRejected } from '../../../reference-server/principal.ts';
import { authenticate, protectedResourceMetadata } from '../../../reference-server/resource.ts';
import type { Runtime } from '../../../reference-server/runtime.ts';
import type { UserRecord } from '../../../reference-server/store/types.ts';
import { hashToken } from '../../../reference-server/tokens/hash.ts';
import { githubIdentity, oidcIdentity, resolveUser } from '../../../reference-server/users/resolve.ts';

type VerifierPart = AppParts['verifier'];
type Claims = Record<string, unknown>;

function appUser(user: UserRecord): AppUser {
  return {
    id: user.id,
    ...(user.email ? { email: user.email } : {}),
    ...(user.login ? { login: user.login } : {}),
    groups: user.groups,
  };
}

function decode(
  token: string,
): { header: Claims; claims: Claims; input: string; signature: string } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Claims,
      claims: JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Claims,
      input: `${parts[0]}.${parts[1]}`,
      signature: parts[2]!,
    };
  } catch {
    return undefined;
  }
}

/**
 * The principal the server builds from claims it (wrongly) accepted: our own tokens name our
 * user in `sub`; IdP tokens resolve like the jwt backend, namespaced by the configured issuer.
 */
async function principalOf(rt: Runtime, claims: Claims): Promise<Principal> {
  const exp = expiryOf(claims);
  if (rt.backend?.kind === 'remote') {
    const identity = oidcIdentity(claims, {
      provider: `oidc:${rt.settings.jwt.issuer}`,
      emailClaim: rt.settings.claims.email_claim,
    });
    const resolution = await resolveUser(rt.store, identity);
    if (resolution.kind === 'unknown_user') throw new TokenRejected('invalid_token', 'no account matches');
    return {
      user: appUser(resolution.user),
      backend: rt.settings.auth,
      clientId: clientIdOf(claims),
      scopes: scopesOf(claims),
      claims: {},
      expiresAt: exp,
    };
  }
  const user = await rt.store.getUser(String(claims['sub']));
  if (!user) throw new TokenRejected('invalid_token', 'the token names no user of this server');
  return {
    user: appUser(user),
    backend: rt.settings.auth,
    clientId: clientIdOf(claims),
    scopes: scopesOf(claims),
    claims: {},
    expiresAt: exp,
  };
}

/** The public keys the server trusts: its own, or the jwt backend's IdP JWKS. */
async function trustedJwks(rt: Runtime): Promise<JWK[]> {
  if (rt.backend?.kind !== 'remote') return rt.keys.jwks().keys;
  const res = await rt.fetch(rt.settings.jwt.jwks_uri!);
  return ((await res.json()) as { keys: JWK[] }).keys;
}

/**
 * A verifier that accepts what `accept` lets through (a principal) and hands everything else
 * to the real verifier of the server.
 */
function loosened(accept: (rt: Runtime, token: string) => Promise<Principal | undefined>): VerifierPart {
  return (rt) => {
    const real = DEFAULT_PARTS.verifier(rt)!;
    return {
      async verify(token) {
        const principal = await accept(rt, token).catch(() => undefined);
        return principal ?? real.verify(token);
      },
    };
  };
}

/** Accepts unsigned tokens (`alg: none`; RFC 8725 3.1). */
export const acceptsAlgNone: VerifierPart = loosened(async (rt, token) => {
  const jwt = decode(token);
  return jwt?.header['alg'] === 'none' ? principalOf(rt, jwt.claims) : undefined;
});

/**
 * Algorithm confusion: an HS256 token is checked with the published public key (its JWK JSON)
 * as the HMAC secret, as libraries that let the token pick the algorithm do (RFC 8725 2.1).
 */
export const acceptsHs256WithPublicKey: VerifierPart = loosened(async (rt, token) => {
  const jwt = decode(token);
  if (jwt?.header['alg'] !== 'HS256') return undefined;
  const key = (await trustedJwks(rt)).find((k) => k.kid === jwt.header['kid']);
  if (!key) return undefined;
  const mac = createHmac('sha256', JSON.stringify(key)).update(jwt.input).digest('base64url');
  return mac === jwt.signature ? principalOf(rt, jwt.claims) : undefined;
});

/**
 * Any `kid`: when the token names a key the server does not have, it verifies with the key the
 * token carries in its own header (`jwk`; CVE-2018-0114).
 */
export const trustsEmbeddedKeyForUnknownKid: VerifierPart = loosened(async (rt, token) => {
  const jwt = decode(token);
  const embedded = jwt?.header['jwk'];
  if (!jwt || !embedded || typeof embedded !== 'object') return undefined;
  if ((await trustedJwks(rt)).some((k) => k.kid === jwt.header['kid'])) return undefined;
  const key = await importJWK(embedded as JWK, String(jwt.header['alg']));
  await compactVerify(token, key);
  return principalOf(rt, jwt.claims);
});

/**
 * Refuses every token, valid ones too (an audience configured as the issuer instead of the MCP
 * URL): the positive cases and the controls of the IdP-token cases catch it.
 */
export const rejectsValidTokens: VerifierPart = (rt) => {
  const real = DEFAULT_PARTS.verifier(rt)!;
  return {
    async verify(token) {
      await real.verify(token);
      throw new TokenRejected('invalid_token', '"aud" does not name this resource server');
    },
  };
};

/** Decodes the token and never verifies it (`jwt.decode` where `jwt.verify` was meant). */
export const decodesWithoutVerifying: VerifierPart = loosened(async (rt, token) => {
  const jwt = decode(token);
  return jwt ? principalOf(rt, jwt.claims) : undefined;
});

/** Takes one of its refresh tokens for an access token (edge 23). */
export const acceptsRefreshTokens: VerifierPart = loosened(async (rt, token) => {
  const record = await rt.store.getRefreshToken(hashToken(token));
  if (!record) return undefined;
  return principalOf(rt, { sub: record.userId, client_id: record.clientId, scope: record.scope.join(' ') });
});

/**
 * Token passthrough (edge 26): a token it cannot verify is tried at GitHub's user API, and a
 * token GitHub accepts signs the user in.
 */
export const passesGithubTokensThrough: VerifierPart = loosened(async (rt, token) => {
  const apiBase = rt.settings.upstream.github?.api_base;
  if (!apiBase) return undefined;
  const res = await rt.fetch(`${apiBase}/user`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json' },
  });
  if (res.status !== 200) return undefined;
  const user = (await res.json()) as Parameters<typeof githubIdentity>[0];
  const resolution = await resolveUser(rt.store, githubIdentity(user, undefined));
  if (resolution.kind === 'unknown_user') return undefined;
  return {
    user: appUser(resolution.user),
    backend: rt.settings.auth,
    clientId: undefined,
    scopes: rt.settings.jwt.required_scopes,
    claims: {},
    expiresAt: undefined,
  };
});

/**
 * A jwt-backend verifier that checks the signature against the IdP's keys and every claim but
 * one (`exp`, `nbf`, `iss` or `aud`), the way hand-written verifiers forget one.
 */
export function skipsClaimCheck(skipped: 'exp' | 'nbf' | 'iss' | 'aud'): VerifierPart {
  return (rt) => {
    if (rt.backend?.kind !== 'remote') throw new Error('skipsClaimCheck needs the jwt backend');
    const { jwks_uri: jwksUri, issuer, audience } = rt.settings.jwt;
    const keys = createRemoteJWKSet(new URL(jwksUri!));
    const leeway = rt.settings.tokens.leeway;
    return loosened(async (innerRt, token) => {
      const { payload } = await compactVerify(token, keys, { algorithms: ['RS256', 'ES256', 'PS256'] });
      const claims = JSON.parse(new TextDecoder().decode(payload)) as Claims;
      const now = Math.floor(Date.now() / 1000);
      const aud = ([] as unknown[]).concat(claims['aud']);
      const holds = {
        exp: typeof claims['exp'] === 'number' && claims['exp'] + leeway > now,
        nbf:
          claims['nbf'] === undefined || (typeof claims['nbf'] === 'number' && claims['nbf'] - leeway <= now),
        iss: claims['iss'] === issuer,
        aud: aud.includes(audience),
      };
      const failed = Object.entries(holds).some(([claim, ok]) => claim !== skipped && !ok);
      return failed ? undefined : principalOf(innerRt, claims);
    })(rt)!;
  };
}

type AuthenticatePart = AppParts['authenticate'];

/** Never answers insufficient_scope: the required scopes are not checked (edge 30). */
export const skipsScopeCheck: AuthenticatePart = (request, options, verifier) =>
  authenticate(request, { ...options, requiredScopes: [] }, verifier);

/** Its challenges leave out `resource_metadata` (RFC 9728 5.1; edge 28). */
export const challengesWithoutResourceMetadata: AuthenticatePart = async (request, options, verifier) => {
  const result = await authenticate(request, options, verifier);
  if (!(result instanceof Response)) return result;
  const headers = new Headers(result.headers);
  const challenge = headers.get('www-authenticate');
  if (challenge) {
    headers.set(
      'www-authenticate',
      challenge.replace(/,?\s*resource_metadata="[^"]*"/, '').replace(/^Bearer\s*$/, 'Bearer'),
    );
  }
  return new Response(result.body, { status: result.status, headers });
};

function withAuthorization(request: Request, value: string | undefined): Request {
  const headers = new Headers(request.headers);
  if (value === undefined) headers.delete('authorization');
  else headers.set('authorization', value);
  return new Request(request.url, {
    method: request.method,
    headers,
    ...(request.method === 'GET' || request.method === 'HEAD' ? {} : { body: request.body, duplex: 'half' }),
  } as RequestInit);
}

/** Parses the Authorization header unguarded: anything but `Bearer <token>` makes it fail (500). */
export const crashesOnMalformedHeader: AuthenticatePart = (request, options, verifier) => {
  const header = request.headers.get('authorization');
  if (header !== null && !/^Bearer [A-Za-z0-9\-._~+/]+=*$/.test(header)) {
    throw new TypeError(`cannot read the token of ${header.split(' ')[0]}`);
  }
  return authenticate(request, options, verifier);
};

/** Takes the token from the `access_token` query parameter too (RFC 6750 2.3, which MCP forbids). */
export const acceptsTokenInQuery: AuthenticatePart = (request, options, verifier) => {
  const query = new URL(request.url).searchParams.get('access_token');
  if (query === null || request.headers.has('authorization')) return authenticate(request, options, verifier);
  return authenticate(withAuthorization(request, `Bearer ${query}`), options, verifier);
};

/** Takes the scheme only as `Bearer` exactly; `bearer` is ignored (RFC 7235 2.1: case-insensitive). */
export const caseSensitiveScheme: AuthenticatePart = (request, options, verifier) => {
  const header = request.headers.get('authorization');
  if (header === null || header.startsWith('Bearer ')) return authenticate(request, options, verifier);
  return authenticate(withAuthorization(request, undefined), options, verifier);
};

/** A protected resource metadata document that names the server's origin, not the MCP URL (RFC 9728 3.3). */
export const prmWithOriginAsResource: AppParts['protectedResourceMetadata'] = (options) => ({
  ...protectedResourceMetadata(options),
  resource: `${new URL(options.resource).origin}/`,
});

/** Authorization server metadata whose `issuer` gained a trailing slash (RFC 8414 3.3). */
export const asMetadataIssuerWithSlash: AppParts['authorizationServerMetadata'] = (rt) => ({
  ...authorizationServerMetadata(rt),
  issuer: `${rt.urls.issuer}/`,
});

/** Authorization server metadata that offers the plain PKCE method (RFC 9700 2.1.1). */
export const asMetadataOffersPlain: AppParts['authorizationServerMetadata'] = (rt) => ({
  ...authorizationServerMetadata(rt),
  code_challenge_methods_supported: ['S256', 'plain'],
});
