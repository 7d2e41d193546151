/**
 * Scalekit as a remote authorization server: Scalekit issues the tokens for our MCP resource
 * (registered there with a resource id); we validate them and advertise it.
 *
 * - Authorization server: the environment URL (`oauth.environment_url`).
 * - JWKS `{env}/keys`, RS256 (backends.md; FastMCP's Scalekit provider).
 * - `iss` is the environment URL, or `{env}/resources/{resource_id}` for tokens minted through
 *   the resource's own authorization server metadata; `aud` must name `oauth.resource_id`.
 * - Identity: `sub`; Scalekit access tokens carry no email, so it comes from `{env}/userinfo`
 *   when verified there (bearer-userinfo.ts) [I: userinfo path from the mock's flavour notes].
 * - `oauth.client_id` is required by the catalogue but plays no part in validation.
 */
import { upstreamEndpoints } from '../config.ts';
import { BearerKeys, jwtRemoteBackend } from './bearer-jwt.ts';
import { bearerIdentity, UserinfoLookup } from './bearer-userinfo.ts';
import { type BackendFactory, type RemoteBackend, UpstreamError } from './types.ts';

export const SCALEKIT_ALGORITHMS = ['RS256'];

/** The Scalekit remote backend from settings (`oauth.environment_url`, `oauth.resource_id`). */
export const scalekitBackend: BackendFactory = (settings, deps): RemoteBackend => {
  const endpoints = upstreamEndpoints(settings, 'scalekit');
  const resourceId = settings.oauth.resource_id;
  const env = endpoints.issuer?.replace(/\/+$/, '');
  const as = endpoints.authorization_server;
  const jwksUri = endpoints.jwks_uri;
  if (!env || !as || !jwksUri || !resourceId) {
    throw new UpstreamError(
      'ERR_UPSTREAM_CONFIG',
      'Scalekit needs oauth.environment_url and oauth.resource_id',
    );
  }
  const client = { provider: 'Scalekit', fetch: deps.fetch };
  const keys = new BearerKeys(client, jwksUri);
  const userinfo = new UserinfoLookup(client, `${env}/userinfo`);
  const issuers = [env, `${env}/resources/${resourceId}`];
  return jwtRemoteBackend({
    id: 'scalekit',
    authorizationServer: as,
    scopesSupported: ['openid', 'email', 'profile'],
    expect: {
      keys,
      issuers,
      audiences: [resourceId],
      algorithms: SCALEKIT_ALGORITHMS,
      leeway: settings.tokens.leeway,
    },
    identity: (token, claims) => bearerIdentity('scalekit', token, claims, userinfo),
  });
};
