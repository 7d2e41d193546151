/**
 * Clerk as the upstream of the OAuth proxy.
 *
 * After the code exchange the access token is checked at `POST {domain}/oauth/token_info` (an
 * RFC 7662-style introspection with our client credentials: `active` must be true and the token
 * must be for our client), then the user is read from `GET {domain}/oauth/userinfo`. The
 * `email_verified` of userinfo decides whether the email counts.
 *
 * Facts (checked with the search tool; see also mock-idp/providers/oidc-flavours.ts):
 * - Paths `/oauth/{authorize,token,userinfo,token_info}` under the Frontend API domain; FastMCP
 *   posts `token`, `client_id`, `client_secret` to token_info and reads `active`, `aud` (or
 *   `client_id`), `exp`, `scope`.
 * - Access tokens are opaque by default, so they cannot be checked locally.
 * - We ask for `openid`, so the token response carries an id_token: it is validated (OIDC Core
 *   3.1.3.7) and its `sub` must be the userinfo `sub` (OIDC Core 5.3.2), although the identity
 *   comes from userinfo (the shared flow is userinfo-upstream.ts).
 * @see https://clerk.com/docs/oauth/overview
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
import { type BackendFactory, UpstreamError } from './types.ts';
import { fetchUserJson } from './upstream-http.ts';
import { UserinfoProxyUpstream, type UserinfoUpstreamContext } from './userinfo-upstream.ts';

export const CLERK_SCOPES = ['openid', 'email', 'profile'];

/**
 * token_info: the token must be active, issued to our client, and not expired. Answers the `sub`
 * it names, if any.
 */
async function checkTokenInfo(
  accessToken: string,
  upstream: UserinfoUpstreamContext,
): Promise<string | undefined> {
  const url = upstream.endpoints.configured('token_info_url');
  if (!url) throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'Clerk has no token_info_url');
  const info = await fetchUserJson(
    upstream.client,
    url,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        token: accessToken,
        client_id: upstream.clientId,
        client_secret: upstream.clientSecret,
      }),
    },
    'token_info',
  );
  if (info['active'] !== true)
    throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info says the token is not active');
  const aud = info['aud'];
  const audiences = Array.isArray(aud) ? aud : aud === undefined ? [info['client_id']] : [aud];
  if (!audiences.includes(upstream.clientId)) {
    throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info says the token is for another client');
  }
  const exp = info['exp'];
  if (typeof exp === 'number' && exp + upstream.leeway <= Date.now() / 1000) {
    throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info says the token has expired');
  }
  return typeof info['sub'] === 'string' ? info['sub'] : undefined;
}

/** The Clerk proxy upstream; endpoints follow `oauth.domain` (the Frontend API host). */
export const clerkBackend: BackendFactory = (settings, deps) =>
  new UserinfoProxyUpstream(settings, deps, {
    id: 'clerk',
    provider: 'Clerk',
    scope: CLERK_SCOPES,
    tokenInfo: checkTokenInfo,
  });
