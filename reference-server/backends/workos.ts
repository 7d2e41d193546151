/**
 * WorkOS AuthKit as the upstream of the OAuth proxy (FastMCP's `WorkOSProvider` shape; the
 * remote `AuthKitProvider` shape, where AuthKit issues the MCP tokens itself, is not this file).
 *
 * After the code exchange the user is read from `GET {authkit}/oauth2/userinfo` with the access
 * token we just received; `email_verified` decides whether the email counts.
 *
 * Facts (checked with the search tool; see also mock-idp/providers/oidc-flavours.ts):
 * - `https://{sub}.authkit.app` with `/oauth2/{authorize,token,userinfo,jwks}` (FastMCP
 *   workos.py); the userinfo claims are `sub, email, email_verified, name, given_name,
 *   family_name`.
 * - We ask for `openid`, so the token response carries an id_token: it is validated (OIDC Core
 *   3.1.3.7) and its `sub` must be the userinfo `sub` (OIDC Core 5.3.2), although the identity
 *   comes from userinfo (the shared flow is userinfo-upstream.ts).
 * @see https://workos.com/docs/authkit/mcp
 */
import type { BackendFactory } from './types.ts';
import { UserinfoProxyUpstream } from './userinfo-upstream.ts';

export const WORKOS_SCOPES = ['openid', 'email', 'profile'];

/** The WorkOS proxy upstream; endpoints follow `oauth.authkit_domain`. */
export const workosBackend: BackendFactory = (settings, deps) =>
  new UserinfoProxyUpstream(settings, deps, { id: 'workos', provider: 'WorkOS', scope: WORKOS_SCOPES });
