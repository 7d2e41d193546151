/**
 * Google as the upstream of the OAuth proxy (OpenID Connect).
 *
 * The identity is the verified id_token of the code exchange: signature against Google's JWKS,
 * `iss` in one of its two documented forms, `aud` our client id, `azp` (Google always sends it)
 * our client id, `exp`/`iat`, and our nonce. No tokeninfo or userinfo round trip is needed.
 *
 * Facts (checked with the search tool; see also mock-idp/providers/google.ts):
 * - `iss` is "https://accounts.google.com" or "accounts.google.com" (Google's "Verify the Google
 *   ID token" guide and the OIDC page); both are accepted, derived from the configured issuer.
 * - `email_verified` is a boolean in the id_token; `hd` only for Workspace users.
 * - A refresh token only with `access_type=offline`, and again on later logins only with
 *   `prompt=consent` (web-server guide), so both are sent, as FastMCP does.
 * - Token endpoint: client_secret_post (the discovery document lists post and basic).
 * @see https://developers.google.com/identity/openid-connect/openid-connect
 * @see https://developers.google.com/identity/protocols/oauth2/web-server
 */
import type { JWTPayload } from 'jose';
import { buildAuthorizationUrl, UpstreamEndpoints, userClaims, verifyIdToken } from './oidc-upstream.ts';
import {
  type BackendFactory,
  type ProxyUpstream,
  UpstreamError,
  type UpstreamIdentity,
  type UpstreamTokens,
} from './types.ts';
import {
  clientCredentials,
  exchangeCode,
  stringOf,
  type UpstreamClient,
  verifiedFlag,
} from './upstream-http.ts';

export const GOOGLE_SCOPES = ['openid', 'email', 'profile'];

/** The issuer and its scheme-less form, the two values Google documents for `iss`. */
export function googleIssuers(issuer: string): string[] {
  const bare = issuer.replace(/^https?:\/\//, '');
  return bare === issuer ? [issuer] : [issuer, bare];
}

class GoogleUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'google' as const;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #leeway: number;

  constructor(
    client: UpstreamClient,
    endpoints: UpstreamEndpoints,
    credentials: { clientId: string; clientSecret: string },
    leeway: number,
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#clientId = credentials.clientId;
    this.#clientSecret = credentials.clientSecret;
    this.#leeway = leeway;
  }

  async authorizationUrl(input: Parameters<ProxyUpstream['authorizationUrl']>[0]): Promise<URL> {
    return buildAuthorizationUrl('Google', await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: GOOGLE_SCOPES,
      oidc: true,
      extra: { access_type: 'offline', prompt: 'consent' },
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
    if (!tokens.id_token) throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', 'Google sent no id_token');
    const issuers = googleIssuers(await this.#endpoints.get('issuer'));
    const payload = await verifyIdToken(tokens.id_token, {
      provider: 'Google',
      jwks: await this.#endpoints.jwks(),
      issuers: () => issuers,
      clientId: this.#clientId,
      nonce: input.nonce,
      leeway: this.#leeway,
      accessToken: tokens.access_token,
    });
    return { identity: googleIdentity(payload), tokens };
  }
}

/** The identity of a verified Google id_token. */
export function googleIdentity(payload: JWTPayload): UpstreamIdentity {
  const email = stringOf(payload['email']);
  const verified = verifiedFlag(payload['email_verified']);
  const name = stringOf(payload['name']);
  return {
    provider: 'google',
    subject: payload.sub!,
    ...(email ? { email } : {}),
    ...(email && verified !== undefined ? { emailVerified: verified } : {}),
    ...(name ? { name } : {}),
    claims: userClaims(payload),
  };
}

/**
 * The Google proxy upstream. Built-in endpoints are Google's; setting `upstream.google.discovery_url`
 * alone moves every endpoint and the issuer to that document.
 */
export const googleBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'Google', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'google', { preferDiscovery: false });
  return new GoogleUpstream(
    client,
    endpoints,
    clientCredentials('Google', settings.oauth),
    settings.tokens.leeway,
  );
};
