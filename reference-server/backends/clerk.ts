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
 *   comes from userinfo.
 * @see https://clerk.com/docs/oauth/overview
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
import type { JWTVerifyGetKey } from 'jose';
import {
  buildAuthorizationUrl,
  fetchUserinfo,
  remoteJwks,
  UpstreamEndpoints,
  userinfoIdentity,
  verifyIdToken,
} from './oidc-upstream.ts';
import {
  type BackendFactory,
  type ProxyUpstream,
  UpstreamError,
  type UpstreamIdentity,
  type UpstreamTokens,
} from './types.ts';
import { clientCredentials, exchangeCode, fetchUserJson, type UpstreamClient } from './upstream-http.ts';

export const CLERK_SCOPES = ['openid', 'email', 'profile'];

class ClerkUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'clerk' as const;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #leeway: number;
  #jwks: { uri: string; get: JWTVerifyGetKey } | undefined;

  constructor(
    client: UpstreamClient,
    endpoints: UpstreamEndpoints,
    options: { clientId: string; clientSecret: string; leeway: number },
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#leeway = options.leeway;
  }

  async authorizationUrl(input: Parameters<ProxyUpstream['authorizationUrl']>[0]): Promise<URL> {
    return buildAuthorizationUrl('Clerk', await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: CLERK_SCOPES,
      oidc: true,
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
    const idTokenSub = await this.#idTokenSubject(tokens, input.nonce);
    const info = await this.#tokenInfo(tokens.access_token);
    const userinfo = await fetchUserinfo(
      this.#client,
      await this.#endpoints.get('userinfo_url'),
      tokens.access_token,
    );
    if (typeof info['sub'] === 'string' && info['sub'] !== userinfo.sub) {
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info and userinfo name different users');
    }
    if (idTokenSub !== undefined && idTokenSub !== userinfo.sub) {
      throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', 'Clerk id_token and userinfo name different users');
    }
    return { identity: userinfoIdentity('clerk', userinfo), tokens };
  }

  /** The `sub` of the response's id_token once validated (OIDC Core 3.1.3.7); none without one. */
  async #idTokenSubject(tokens: UpstreamTokens, nonce: string): Promise<string | undefined> {
    if (!tokens.id_token) return undefined;
    const uri = await this.#endpoints.get('jwks_uri');
    if (this.#jwks?.uri !== uri) this.#jwks = { uri, get: remoteJwks(this.#client, uri) };
    const issuer = await this.#endpoints.get('issuer');
    const payload = await verifyIdToken(tokens.id_token, {
      provider: 'Clerk',
      jwks: this.#jwks.get,
      issuers: () => [issuer],
      clientId: this.#clientId,
      nonce,
      leeway: this.#leeway,
      accessToken: tokens.access_token,
    });
    return payload.sub;
  }

  /** token_info: the token must be active, issued to our client, and not expired. */
  async #tokenInfo(accessToken: string): Promise<Record<string, unknown>> {
    const url = this.#endpoints.configured('token_info_url');
    if (!url) throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'Clerk has no token_info_url');
    const info = await fetchUserJson(
      this.#client,
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          token: accessToken,
          client_id: this.#clientId,
          client_secret: this.#clientSecret,
        }),
      },
      'token_info',
    );
    if (info['active'] !== true)
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info says the token is not active');
    const aud = info['aud'];
    const audiences = Array.isArray(aud) ? aud : aud === undefined ? [info['client_id']] : [aud];
    if (!audiences.includes(this.#clientId)) {
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info says the token is for another client');
    }
    const exp = info['exp'];
    if (typeof exp === 'number' && exp + this.#leeway <= Date.now() / 1000) {
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Clerk token_info says the token has expired');
    }
    return info;
  }
}

/** The Clerk proxy upstream; endpoints follow `oauth.domain` (the Frontend API host). */
export const clerkBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'Clerk', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'clerk', { preferDiscovery: false });
  return new ClerkUpstream(client, endpoints, {
    ...clientCredentials('Clerk', settings.oauth),
    leeway: settings.tokens.leeway,
  });
};
