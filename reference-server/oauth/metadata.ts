import type { Runtime } from '../runtime.ts';

/** The endpoint URLs of our authorization server, all under the issuer (base URL). */
export function endpoints(rt: Runtime) {
  const base = rt.urls.issuer;
  return {
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    revocation_endpoint: `${base}/revoke`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    consent: `${base}/consent`,
    callback: `${base}/oauth/callback`,
    login: `${base}/login`,
  };
}

/** The scopes our tokens can carry. */
export function supportedScopes(rt: Runtime): string[] {
  return [...new Set(['mcp', ...rt.settings.jwt.required_scopes])];
}

/**
 * Authorization server metadata (RFC 8414 section 2), as MCP clients read it.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function authorizationServerMetadata(rt: Runtime): Record<string, unknown> {
  const e = endpoints(rt);
  return {
    issuer: rt.urls.issuer,
    authorization_endpoint: e.authorization_endpoint,
    token_endpoint: e.token_endpoint,
    registration_endpoint: e.registration_endpoint,
    revocation_endpoint: e.revocation_endpoint,
    jwks_uri: e.jwks_uri,
    scopes_supported: supportedScopes(rt),
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: false,
  };
}

/** The path-aware well-known URL of our metadata (RFC 8414 3.1). */
export function metadataPath(issuer: string): string {
  const path = new URL(issuer).pathname.replace(/\/$/, '');
  return `/.well-known/oauth-authorization-server${path}`;
}
