/**
 * AWS Cognito user pools as the upstream of the OAuth proxy (an OIDC proxy).
 *
 * - Discovery at `https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/openid-configuration`
 *   (or `upstream.aws.discovery_url`); the document's `issuer` must be the pool URL it was
 *   fetched under, and id_tokens must name exactly that issuer (provider-shapes.md "AWS Cognito").
 * - Token endpoint: a confidential app client authenticates with HTTP Basic (client_secret_basic,
 *   the method the Cognito token-endpoint guide documents first; checked with the search tool).
 * - The id_token is verified like any other (`aud` = our app client id; only access tokens carry
 *   `client_id` instead of `aud`) and must say `token_use: "id"`, so that an access token of the
 *   pool can never stand in for it.
 * - Identity from the verified id_token only (`cognitoIdentity`): `email_verified` is a boolean
 *   there. userInfo, where it is the string "true"/"false", is not called at all.
 *   `cognito:username` is not a handle (federated users are `Google_…`, persona kim), so there is
 *   no login.
 * @see https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html
 * @see https://docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html
 */
import { cognitoIdentity } from '../users/resolve.ts';
import { OidcProxyUpstream } from './oidc-proxy-upstream.ts';
import { userClaims } from './oidc-upstream.ts';
import type { BackendFactory } from './types.ts';
import { shown } from './upstream-http.ts';

export const COGNITO_SCOPES = ['openid', 'email', 'profile'];

/** Why a verified Cognito JWT is not an id_token (`token_use` other than "id"), or undefined. */
export function tokenUseProblem(payload: Record<string, unknown>): string | undefined {
  return payload['token_use'] === 'id' ? undefined : `"token_use" ${shown(payload['token_use'])} is not "id"`;
}

/** The AWS Cognito proxy upstream from settings (`oauth.user_pool_id`, `oauth.aws_region`). */
export const awsBackend: BackendFactory = (settings, deps) =>
  new OidcProxyUpstream(settings, deps, {
    id: 'aws',
    provider: 'AWS Cognito',
    scope: COGNITO_SCOPES,
    auth: 'client_secret_basic',
    checkIdToken: tokenUseProblem,
    identity: ({ idToken }) => ({ ...cognitoIdentity(idToken), claims: userClaims(idToken) }),
  });
