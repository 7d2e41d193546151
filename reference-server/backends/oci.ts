/**
 * Oracle Cloud Infrastructure IAM (an identity domain) as the upstream of the OAuth proxy (an
 * OIDC proxy).
 *
 * - Endpoints from the domain's discovery document (`oauth.config_url`,
 *   `https://idcs-….identity.oraclecloud.com/.well-known/openid-configuration`).
 * - The issuer is the same for every domain, `https://identity.oraclecloud.com/`, not the domain
 *   URL (FastMCP OCI docs; mock-idp oidc-flavours.ts): the discovery document must name it and
 *   id_tokens must carry it exactly.
 * - The code exchange carries no `scope` (FastMCP's OCI provider omits it, backends.md); the
 *   client authenticates with HTTP Basic.
 * - Identity: `sub` is the user NAME by default (`sub_mappingattr: userName`), which an
 *   administrator can change, so the subject is the immutable `user_id` (the user's OCID-style
 *   GUID) when the id_token carries one [I: OCI IAM id_token reference, not confirmed by the
 *   search tool]; the email only with `email_verified` true.
 */
import { oidcIdentity } from '../users/resolve.ts';
import { OidcProxyUpstream } from './oidc-proxy-upstream.ts';
import { userClaims } from './oidc-upstream.ts';
import type { BackendFactory } from './types.ts';

export const OCI_ISSUER = 'https://identity.oraclecloud.com/';
export const OCI_SCOPES = ['openid', 'email', 'profile'];

/** The OCI IAM proxy upstream from settings (`oauth.config_url`; `upstream.oci.*` overrides). */
export const ociBackend: BackendFactory = (settings, deps) =>
  new OidcProxyUpstream(settings, deps, {
    id: 'oci',
    provider: 'OCI IAM',
    scope: OCI_SCOPES,
    auth: 'client_secret_basic',
    issuer: { fixed: OCI_ISSUER },
    identity: ({ idToken }) => {
      const userId = idToken['user_id'];
      const subject = typeof userId === 'string' && userId !== '' ? userId : idToken.sub;
      return {
        ...oidcIdentity({ ...idToken, sub: subject }, { provider: 'oci' }),
        claims: userClaims(idToken),
      };
    },
  });
