import type { AuthBackend, Settings } from '../config.ts';
import type { UpstreamIdentity as ResolvableIdentity } from '../users/resolve.ts';

/**
 * Who signed in, as established from verified upstream data only (a verified id_token, the
 * provider's own user API over TLS, or an introspection answer): the identity users/resolve.ts
 * resolves (link by (provider, subject), then a verified email, then the login), plus the
 * verified upstream claims that are the source of claims passthrough (filtered later).
 * Build it with the per-provider helpers of users/resolve.ts (githubIdentity, googleIdentity...).
 */
export type UpstreamIdentity = ResolvableIdentity & { claims: Record<string, unknown> };

/** The tokens the upstream issued; stored sealed, never sent to a client. */
export interface UpstreamTokens {
  access_token: string;
  token_type?: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
  scope?: string;
}

/** Why the upstream leg failed; shown on an error page, never as a redirect with details. */
export class UpstreamError extends Error {
  readonly code:
    | 'ERR_UPSTREAM_DENIED'
    | 'ERR_UPSTREAM_TOKEN'
    | 'ERR_UPSTREAM_ID_TOKEN'
    | 'ERR_UPSTREAM_USER'
    | 'ERR_UPSTREAM_UNREACHABLE'
    | 'ERR_UPSTREAM_CONFIG';
  constructor(code: UpstreamError['code'], message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
  }
}

/** What the proxy sends toward the upstream for one transaction (security edge 19: all our own). */
export interface UpstreamAuthorizationInput {
  /** Our own unguessable state, bound to the transaction. */
  state: string;
  /** Our own PKCE challenge (S256). */
  codeChallenge: string;
  /** Our fixed callback URL. */
  redirectUri: string;
  /** Our own nonce, checked in the id_token. */
  nonce: string;
}

export interface UpstreamExchangeInput {
  code: string;
  codeVerifier: string;
  redirectUri: string;
  nonce: string;
}

/**
 * An upstream identity provider behind the OAuth proxy (GitHub, Google, Entra, Auth0, Cognito,
 * OCI, Clerk, Discord, WorkOS): the proxy runs its own authorization server and uses this to
 * sign the user in upstream.
 */
export interface ProxyUpstream {
  kind: 'proxy';
  id: AuthBackend;
  /** The upstream authorization URL for one transaction. */
  authorizationUrl(input: UpstreamAuthorizationInput): Promise<URL>;
  /** Exchanges the upstream code and verifies who signed in (id_token checks, user API). */
  exchange(input: UpstreamExchangeInput): Promise<{ identity: UpstreamIdentity; tokens: UpstreamTokens }>;
}

/** What a remote backend learned from a bearer token the IdP issued. */
export interface VerifiedBearer {
  identity: UpstreamIdentity;
  scopes: string[];
  clientId: string | undefined;
  expiresAt: number | undefined;
}

/**
 * An IdP that issues the tokens itself (Supabase, ScaleKit, PropelAuth, Descope, generic `jwt`):
 * the server validates bearer tokens and advertises the IdP in its protected resource metadata.
 */
export interface RemoteBackend {
  kind: 'remote';
  id: AuthBackend;
  /** Authorization servers listed in the protected resource metadata. */
  authorizationServers: string[];
  scopesSupported: string[];
  /** Verifies a bearer token (signature, iss, aud, exp, nbf, alg; or introspection). Throws TokenRejected. */
  verify(token: string): Promise<VerifiedBearer>;
}

export type Backend = ProxyUpstream | RemoteBackend;

/** Builds a backend from settings; `fetch` is injectable so tests can route upstream calls. */
export type BackendFactory = (
  settings: Settings,
  deps: { fetch: typeof fetch },
) => Backend | Promise<Backend>;
