/**
 * PropelAuth as a remote authorization server: PropelAuth issues opaque access tokens for our
 * MCP resource; we validate each by RFC 7662 introspection.
 *
 * - Authorization server `{auth_url}/oauth/2.1` (its RFC 8414 metadata is at
 *   `/.well-known/oauth-authorization-server/oauth/2.1`).
 * - Introspection: `POST {auth_url}/oauth/2.1/introspect` with `token=…`, authenticated with the
 *   separate introspection client credentials by HTTP Basic (FastMCP's PropelAuth provider,
 *   PropelAuth MCP docs; checked with the search tool).
 * - The answer must be `active: true`; `exp` (when present) not past; `iss` (when present) the
 *   authorization server; `token_type` (when present) not a refresh token; `aud` (when present)
 *   must name our resource URL (PropelAuth binds tokens to the `resource` the client asked for;
 *   backends.md: "aud checked only if" there is one). No answer is cached, so a revoked token
 *   stops working at once.
 * - Identity: `sub`; the email from `{auth_url}/oauth/2.1/userinfo` when verified there
 *   (bearer-userinfo.ts) [I: userinfo path].
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 * @see https://docs.propelauth.com/reference/api/mcp
 */
import { serverUrls, upstreamEndpoints } from '../config.ts';
import { MAX_TOKEN_CHARS, rejected, scopesOf } from './bearer-jwt.ts';
import { bearerIdentity, UserinfoLookup } from './bearer-userinfo.ts';
import { type BackendFactory, type RemoteBackend, UpstreamError, type VerifiedBearer } from './types.ts';
import { basicAuthorization, readJsonObject, type UpstreamClient, upstreamRequest } from './upstream-http.ts';

/** The PropelAuth remote backend from settings (`oauth.auth_url` and the introspection credentials). */
export const propelauthBackend: BackendFactory = (settings, deps): RemoteBackend => {
  const endpoints = upstreamEndpoints(settings, 'propelauth');
  const as = endpoints.authorization_server?.replace(/\/+$/, '');
  const issuer = endpoints.issuer;
  const introspectionUrl = endpoints.introspection_url;
  const { introspection_client_id: id, introspection_client_secret: secret } = settings.oauth;
  if (!as || !issuer || !introspectionUrl || !id || !secret) {
    throw new UpstreamError(
      'ERR_UPSTREAM_CONFIG',
      'PropelAuth needs oauth.auth_url, oauth.introspection_client_id and oauth.introspection_client_secret',
    );
  }
  const client: UpstreamClient = { provider: 'PropelAuth', fetch: deps.fetch };
  const authorization = basicAuthorization(id, secret);
  const resource = serverUrls(settings).resource;
  const leeway = settings.tokens.leeway;
  const userinfo = new UserinfoLookup(client, `${as}/userinfo`);

  /** RFC 7662 2.1: the introspection answer, or a rejection naming why there is none. */
  async function introspect(token: string): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await upstreamRequest(
        client,
        introspectionUrl!,
        {
          method: 'POST',
          headers: {
            authorization,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        },
        'introspection',
      );
    } catch (error) {
      if (error instanceof UpstreamError) throw rejected(error.message);
      throw error;
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw rejected(`PropelAuth introspection refused our credentials (HTTP ${response.status})`);
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw rejected(`PropelAuth introspection answered HTTP ${response.status}`);
    }
    const answer = await readJsonObject(response);
    if (!answer) throw rejected('PropelAuth introspection answer is not a JSON object');
    return answer;
  }

  return {
    kind: 'remote',
    id: 'propelauth',
    authorizationServers: [as],
    scopesSupported: ['openid', 'email', 'profile'],
    async verify(token): Promise<VerifiedBearer> {
      if (token.length > MAX_TOKEN_CHARS) throw rejected('the access token is too long');
      const answer = await introspect(token);
      // RFC 7662 2.2: only `active: true` (the boolean) means the token may be used.
      if (answer['active'] !== true)
        throw rejected('"active" is false: the token is revoked, expired or unknown');
      const now = Math.floor(Date.now() / 1000);
      const exp = answer['exp'];
      if (exp !== undefined && (typeof exp !== 'number' || exp + leeway <= now)) {
        throw rejected('"exp": the access token has expired');
      }
      const nbf = answer['nbf'];
      if (typeof nbf === 'number' && nbf - leeway > now)
        throw rejected('"nbf": the access token is not yet valid');
      if (answer['iss'] !== undefined && answer['iss'] !== issuer)
        throw rejected('"iss" is not PropelAuth\'s issuer');
      const type = answer['token_type'];
      if (typeof type === 'string' && /refresh/i.test(type))
        throw rejected('"token_type": a refresh token is not an access token');
      const aud = answer['aud'];
      if (aud !== undefined) {
        const audiences = Array.isArray(aud) ? aud : [aud];
        if (!audiences.includes(resource)) throw rejected('"aud" does not name this resource server');
      }
      if (typeof answer['sub'] !== 'string' || answer['sub'] === '') throw rejected('"sub" is missing');
      const clientId = answer['client_id'];
      const { active: _active, token_type: _type, ...claims } = answer;
      return {
        identity: await bearerIdentity('propelauth', token, claims, userinfo),
        scopes: scopesOf(answer),
        clientId: typeof clientId === 'string' && clientId !== '' ? clientId : undefined,
        expiresAt: typeof exp === 'number' ? exp : undefined,
      };
    },
  };
};
