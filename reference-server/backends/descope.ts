/**
 * Descope as a remote authorization server: Descope issues the tokens (with DCR for MCP
 * clients); we validate them and advertise it.
 *
 * - Discovery from `oauth.config_url`; its `issuer` (`{base}/v1/apps/{project_id}`) is the `iss`
 *   every token must carry and the authorization server we advertise (RFC 8414 metadata lives
 *   under that issuer). The document is read when the backend is built, so a wrong config_url
 *   stops the server at start-up instead of failing every request.
 * - JWKS `{origin of config_url}/{project_id}/.well-known/jwks.json` (or `upstream.descope.jwks_uri`);
 *   `aud` must be the project id (backends.md; FastMCP's Descope provider). RS256.
 * - Identity: `sub`; the email from the discovered userinfo endpoint when verified there
 *   (bearer-userinfo.ts): Descope access tokens carry none.
 */
import { BearerKeys, jwtRemoteBackend } from './bearer-jwt.ts';
import { bearerIdentity, UserinfoLookup } from './bearer-userinfo.ts';
import { UpstreamEndpoints } from './oidc-upstream.ts';
import { type BackendFactory, type RemoteBackend, UpstreamError } from './types.ts';

export const DESCOPE_ALGORITHMS = ['RS256'];

/** The Descope remote backend from settings (`oauth.config_url`, `oauth.project_id`). */
export const descopeBackend: BackendFactory = async (settings, deps): Promise<RemoteBackend> => {
  const client = { provider: 'Descope', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'descope', { preferDiscovery: true });
  const projectId = settings.oauth.project_id;
  const jwksUri = endpoints.configured('jwks_uri');
  if (!projectId || !jwksUri) {
    throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'Descope needs oauth.config_url and oauth.project_id');
  }
  const issuer = await endpoints.get('issuer');
  const as = settings.upstream.descope?.authorization_server ?? issuer;
  const keys = new BearerKeys(client, jwksUri);
  const userinfo = new UserinfoLookup(client, () => endpoints.get('userinfo_url'));
  return jwtRemoteBackend({
    id: 'descope',
    authorizationServer: as,
    scopesSupported: ['openid', 'email', 'profile'],
    expect: {
      keys,
      issuers: [issuer],
      audiences: [projectId],
      algorithms: DESCOPE_ALGORITHMS,
      leeway: settings.tokens.leeway,
    },
    identity: (token, claims) => bearerIdentity('descope', token, claims, userinfo),
  });
};
