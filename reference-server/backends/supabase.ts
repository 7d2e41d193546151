/**
 * Supabase Auth as a remote authorization server: Supabase issues the tokens (its OAuth 2.1
 * server does DCR and consent); we validate them and advertise it in our protected resource
 * metadata.
 *
 * - Authorization server and issuer: `{project_url}/auth/v1`.
 * - JWKS: `{project_url}/auth/v1/.well-known/jwks.json`; asymmetric signing keys are RS256 or
 *   ES256 (Supabase "JWT Signing Keys"); a project still on the legacy shared HS256 secret cannot
 *   be verified with a JWKS and is not supported.
 * - `aud` is `authenticated` for every signed-in user: Supabase does not bind tokens to a
 *   resource (RFC 8707), so a token minted for another app of the same project is accepted too
 *   (FastMCP logs the same warning, backends.md).
 * - Identity: `sub` (the user's UUID); the email is the userinfo answer's, only when verified
 *   (bearer-userinfo.ts): the JWT's `email` carries no confirmation status and `user_metadata`
 *   is user-editable (Supabase JWT claims reference, checked with the search tool).
 * @see https://supabase.com/docs/guides/auth/jwt-fields
 */
import { upstreamEndpoints } from '../config.ts';
import { BearerKeys, jwtRemoteBackend } from './bearer-jwt.ts';
import { bearerIdentity, UserinfoLookup } from './bearer-userinfo.ts';
import { type BackendFactory, type RemoteBackend, UpstreamError } from './types.ts';

export const SUPABASE_AUDIENCE = 'authenticated';
export const SUPABASE_ALGORITHMS = ['RS256', 'ES256'];

/** The Supabase remote backend from settings (`oauth.project_url`; `upstream.supabase.*` overrides). */
export const supabaseBackend: BackendFactory = (settings, deps): RemoteBackend => {
  const endpoints = upstreamEndpoints(settings, 'supabase');
  const as = endpoints.authorization_server;
  const issuer = endpoints.issuer;
  const jwksUri = endpoints.jwks_uri;
  if (!as || !issuer || !jwksUri) {
    throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'Supabase needs oauth.project_url');
  }
  const client = { provider: 'Supabase', fetch: deps.fetch };
  const keys = new BearerKeys(client, jwksUri);
  const userinfo = new UserinfoLookup(client, `${as.replace(/\/+$/, '')}/oauth/userinfo`);
  return jwtRemoteBackend({
    id: 'supabase',
    authorizationServer: as,
    scopesSupported: ['openid', 'email', 'profile'],
    expect: {
      keys,
      issuers: [issuer],
      audiences: [SUPABASE_AUDIENCE],
      algorithms: SUPABASE_ALGORITHMS,
      leeway: settings.tokens.leeway,
    },
    identity: (token, claims) => bearerIdentity('supabase', token, claims, userinfo),
  });
};
