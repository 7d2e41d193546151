/**
 * Microsoft Entra ID (Azure AD, v2.0 endpoints) as the upstream of the OAuth proxy.
 *
 * The identity is the verified id_token: signature against the tenant's JWKS, `iss` the tenant's
 * own issuer (for `common`/`organizations` the discovery issuer is the template
 * `https://login.microsoftonline.com/{tenantid}/v2.0`, resolved with the token's `tid`), `aud`
 * our client id, `exp`/`nbf`/`iat`, and our nonce. The subject is `tid:oid`: `oid` is the user's
 * immutable id in its tenant (the same in every app), `sub` is pairwise per app.
 *
 * Facts (checked with the search tool; see also mock-idp/providers/entra.ts):
 * - v2 refuses the RFC 8707 `resource` parameter (AADSTS901002); FastMCP strips it and adds
 *   `prompt=select_account`; `offline_access` is needed for a refresh token.
 * - `email` is optional and unverified ("never use it for authorization"); the optional claim
 *   `xms_edov` ("email domain owner verified", a boolean) says whether the domain owner
 *   verified it. We take the email only when `xms_edov` is true; `preferred_username`/`upn` are
 *   never an email (they are mutable UPNs).
 * - Multi-tenant apps cannot compare `iss` with the templated discovery issuer; the usual fix is
 *   substituting the token's `tid` (Microsoft.Identity.Web's AadIssuerValidator does this).
 *   `organizations` excludes the personal-account tenant 9188040d-6c67-4c5b-b112-36a304b66dad.
 * - Token request: a form, client_secret_post; `scope` is optional there and left out.
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 * @see https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
 */
import type { JWTPayload } from 'jose';
import { buildAuthorizationUrl, UpstreamEndpoints, verifyIdToken } from './oidc-upstream.ts';
import {
  type BackendFactory,
  type ProxyUpstream,
  UpstreamError,
  type UpstreamIdentity,
  type UpstreamTokens,
} from './types.ts';
import { clientCredentials, exchangeCode, stringOf, type UpstreamClient } from './upstream-http.ts';

/** The tenant of personal Microsoft accounts. */
export const CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];
/** id_token claims kept for passthrough (the rest is protocol or opaque: aio, rh, uti, sid...). */
const KEPT_CLAIMS = ['oid', 'tid', 'name', 'preferred_username', 'roles', 'groups'];

/**
 * The scopes asked for: the OIDC ones (with `offline_access`), then custom API scopes prefixed
 * with `api://{client_id}/` unless already resource-qualified (a URL or `api://` form).
 */
export function azureScopes(clientId: string, custom: string[] = []): string[] {
  const qualified = custom
    .filter((s) => !OIDC_SCOPES.includes(s))
    .map((s) => (/^(api:\/\/|https?:\/\/)/.test(s) ? s : `api://${clientId}/${s}`));
  return [...OIDC_SCOPES, ...qualified];
}

/**
 * The `iss` values accepted for a verified payload: the configured (or discovered) issuer; for a
 * multi-tenant alias its `{tenantid}` template resolved from the token's own `tid`.
 */
export function azureIssuers(template: string, tenant: string, payload: JWTPayload): string[] {
  const alias = tenant.toLowerCase();
  if (!template.includes('{tenantid}')) return [template];
  if (alias !== 'common' && alias !== 'organizations') return [];
  const tid = payload['tid'];
  if (typeof tid !== 'string' || !GUID.test(tid)) return [];
  if (alias === 'organizations' && tid.toLowerCase() === CONSUMER_TENANT) return [];
  return [template.replace('{tenantid}', tid)];
}

class AzureUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'azure' as const;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #tenant: string;
  readonly #leeway: number;
  readonly #scopes: string[];

  constructor(
    client: UpstreamClient,
    endpoints: UpstreamEndpoints,
    options: { clientId: string; clientSecret: string; tenant: string; leeway: number; scopes: string[] },
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#tenant = options.tenant;
    this.#leeway = options.leeway;
    this.#scopes = options.scopes;
  }

  async authorizationUrl(input: Parameters<ProxyUpstream['authorizationUrl']>[0]): Promise<URL> {
    return buildAuthorizationUrl('Entra', await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: this.#scopes,
      oidc: true,
      extra: { response_mode: 'query', prompt: 'select_account' },
    });
  }

  async exchange(
    input: Parameters<ProxyUpstream['exchange']>[0],
  ): Promise<{ identity: UpstreamIdentity; tokens: UpstreamTokens }> {
    const tokens = await exchangeCode(this.#client, {
      tokenUrl: await this.#endpoints.get('token_url'),
      clientId: this.#clientId,
      clientSecret: this.#clientSecret,
      auth: 'client_secret_post',
      code: input.code,
      codeVerifier: input.codeVerifier,
      redirectUri: input.redirectUri,
    });
    if (!tokens.id_token) throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', 'Entra sent no id_token');
    const template = await this.#endpoints.get('issuer');
    const payload = await verifyIdToken(tokens.id_token, {
      provider: 'Entra',
      jwks: await this.#endpoints.jwks(),
      issuers: (p) => azureIssuers(template, this.#tenant, p),
      clientId: this.#clientId,
      nonce: input.nonce,
      leeway: this.#leeway,
    });
    return { identity: azureIdentity(payload), tokens };
  }
}

/** The identity of a verified Entra id_token. */
export function azureIdentity(payload: JWTPayload): UpstreamIdentity {
  const tid = payload['tid'];
  const oid = payload['oid'];
  if (typeof tid !== 'string' || !GUID.test(tid)) {
    throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', 'Entra id_token has no tenant id "tid"');
  }
  if (typeof oid !== 'string' || !GUID.test(oid)) {
    throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', 'Entra id_token has no object id "oid"');
  }
  // Only a domain-owner-verified address is an email; never preferred_username or upn.
  const email = payload['xms_edov'] === true ? stringOf(payload['email']) : undefined;
  const name = stringOf(payload['name']);
  const claims: Record<string, unknown> = {};
  for (const key of KEPT_CLAIMS) if (payload[key] !== undefined) claims[key] = payload[key];
  return {
    provider: 'azure',
    subject: `${tid.toLowerCase()}:${oid.toLowerCase()}`,
    ...(email ? { email, emailVerified: true } : {}),
    ...(name ? { name } : {}),
    claims,
  };
}

/**
 * The Entra proxy upstream. Endpoints follow `oauth.tenant_id` and `upstream.azure.authority`;
 * the issuer and JWKS come from the tenant's discovery document unless set explicitly.
 */
export const azureBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'Entra', fetch: deps.fetch };
  const tenant = settings.oauth.tenant_id;
  if (!tenant) throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'Entra needs oauth.tenant_id');
  const endpoints = new UpstreamEndpoints(client, settings, 'azure', { preferDiscovery: true });
  const credentials = clientCredentials('Entra', settings.oauth);
  return new AzureUpstream(client, endpoints, {
    ...credentials,
    tenant,
    leeway: settings.tokens.leeway,
    scopes: azureScopes(credentials.clientId),
  });
};
