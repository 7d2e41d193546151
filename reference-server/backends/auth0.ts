/**
 * Auth0 as the upstream of the OAuth proxy (an OIDC proxy: Auth0 can do DCR, but the catalogue
 * fronts it with our own authorization server).
 *
 * - Endpoints from the tenant's discovery document (`oauth.config_url`).
 * - `iss` is `https://{domain}/` WITH the trailing slash, and is compared exactly: a slash-less
 *   `iss` (persona liam) is refused (provider-shapes.md "Auth0"; okta-jwt-verifier-java #306).
 * - `audience` (setting `upstream.auth0.audience`) goes on both /authorize and /token, as
 *   FastMCP's Auth0 provider sends it (backends.md). With an API audience the access token is an
 *   RS256 JWT whose `permissions` (Auth0 RBAC, "Add Permissions in the Access Token") are merged
 *   into the identity's claims, after that token is verified too (`iss`, `aud` containing the
 *   audience, `exp`, same `sub` as the id_token). Without one the access token is opaque.
 * - Identity: `sub` (`connection|id`: two unlinked connections are two subjects, persona frank)
 *   and the email only when `email_verified` is true (users/resolve.ts `auth0Identity`).
 * - Client authentication: client_secret_post, the default of an Auth0 regular web application.
 * @see https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis
 */
import { errors, jwtVerify } from 'jose';
import { upstreamEndpoints } from '../config.ts';
import { auth0Identity } from '../users/resolve.ts';
import { OidcProxyUpstream, type VerifiedSignIn } from './oidc-proxy-upstream.ts';
import { userClaims } from './oidc-upstream.ts';
import { type BackendFactory, UpstreamError, type UpstreamIdentity } from './types.ts';

export const AUTH0_SCOPES = ['openid', 'profile', 'email'];

/** The `permissions` of Auth0's API access token, once that token is verified. */
async function apiPermissions(signIn: VerifiedSignIn, audience: string, leeway: number): Promise<string[]> {
  const token = signIn.tokens.access_token;
  // An audience Auth0 treats as its own (`/userinfo`) still gives an opaque token: nothing to merge.
  if (token.split('.').length !== 3) return [];
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, signIn.jwks, {
      algorithms: ['RS256'],
      issuer: signIn.issuer,
      audience,
      clockTolerance: leeway,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    let what = 'could not be verified';
    if (error instanceof errors.JWTExpired) what = 'has expired';
    else if (error instanceof errors.JWTClaimValidationFailed) what = `"${error.claim}" is invalid`;
    else if (error instanceof errors.JWSSignatureVerificationFailed) what = 'signature is invalid';
    throw new UpstreamError('ERR_UPSTREAM_TOKEN', `Auth0 access token ${what}`);
  }
  if (payload['sub'] !== signIn.idToken.sub) {
    throw new UpstreamError('ERR_UPSTREAM_TOKEN', 'Auth0 access token "sub" is not the id_token\'s');
  }
  const permissions = payload['permissions'];
  return Array.isArray(permissions) ? permissions.filter((p): p is string => typeof p === 'string') : [];
}

/** The Auth0 proxy upstream from settings (`oauth.config_url`; `upstream.auth0.*` overrides). */
export const auth0Backend: BackendFactory = (settings, deps) => {
  const audience = upstreamEndpoints(settings, 'auth0').audience;
  const leeway = settings.tokens.leeway;
  const withAudience = audience !== undefined ? { audience } : undefined;
  return new OidcProxyUpstream(settings, deps, {
    id: 'auth0',
    provider: 'Auth0',
    scope: AUTH0_SCOPES,
    auth: 'client_secret_post',
    ...(withAudience ? { authorizeExtra: withAudience, tokenExtra: withAudience } : {}),
    async identity(signIn): Promise<UpstreamIdentity> {
      const claims = userClaims(signIn.idToken);
      if (audience !== undefined) {
        const permissions = await apiPermissions(signIn, audience, leeway);
        if (permissions.length > 0) claims['permissions'] = permissions;
      }
      return { ...auth0Identity(signIn.idToken), claims };
    },
  });
};
