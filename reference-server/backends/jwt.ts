/**
 * The generic OIDC resource server (`auth: jwt`): any IdP that publishes a JWKS (Keycloak,
 * Authentik, Okta, Dex...) issues the tokens; we only verify them.
 *
 * - Settings (the catalogue's `jwt:` block): `jwks_uri`, `issuer` (compared exactly, trailing
 *   slash included), `audience`, `authorization_server` (advertised in our protected resource
 *   metadata; defaults to the issuer), `required_scopes` (advertised as `scopes_supported`; the
 *   resource server answers 403 insufficient_scope when a token lacks one, see resource.ts).
 * - Algorithms RS256, ES256 and PS256; never `none` or HS* (bearer-jwt.ts).
 * - Identity: the catalogue resolves it "from the token's email claim" (`claims.email_claim`,
 *   default `email`). Following users/resolve.ts (security edge 32), that email counts only when
 *   the same token says `email_verified: true` (or the string "true"); an IdP that does not put
 *   `email_verified` into access tokens gives identities without an email (Keycloak does by
 *   default). The subject is namespaced by the issuer (`oidc:<iss>`), since `sub` is unique only
 *   per issuer. No userinfo call: the `jwt:` block names no userinfo endpoint.
 */
import { oidcIdentity } from '../users/resolve.ts';
import { BearerKeys, DEFAULT_ALGORITHMS, jwtRemoteBackend } from './bearer-jwt.ts';
import { userClaims } from './oidc-upstream.ts';
import { type BackendFactory, type RemoteBackend, UpstreamError } from './types.ts';

/** The generic JWT backend from the `jwt:` settings block. */
export const jwtBackend: BackendFactory = (settings, deps): RemoteBackend => {
  const { jwks_uri: jwksUri, issuer, audience, authorization_server: as } = settings.jwt;
  if (!jwksUri || !issuer || !audience) {
    throw new UpstreamError(
      'ERR_UPSTREAM_CONFIG',
      'the jwt backend needs jwt.jwks_uri, jwt.issuer and jwt.audience',
    );
  }
  const keys = new BearerKeys({ provider: 'the IdP', fetch: deps.fetch }, jwksUri);
  const emailClaim = settings.claims.email_claim;
  return jwtRemoteBackend({
    id: 'jwt',
    authorizationServer: as ?? issuer,
    scopesSupported: [...settings.jwt.required_scopes],
    expect: {
      keys,
      issuers: [issuer],
      audiences: [audience],
      algorithms: DEFAULT_ALGORITHMS,
      leeway: settings.tokens.leeway,
    },
    identity: (_token, claims) => ({ ...oidcIdentity(claims, { emailClaim }), claims: userClaims(claims) }),
  });
};
