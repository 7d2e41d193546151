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
 *   comes from userinfo.
 * @see https://workos.com/docs/authkit/mcp
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
import { clientCredentials, exchangeCode, type UpstreamClient } from './upstream-http.ts';

export const WORKOS_SCOPES = ['openid', 'email', 'profile'];

class WorkOSUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'workos' as const;
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
    return buildAuthorizationUrl('WorkOS', await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: WORKOS_SCOPES,
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
    const userinfo = await fetchUserinfo(
      this.#client,
      await this.#endpoints.get('userinfo_url'),
      tokens.access_token,
    );
    if (idTokenSub !== undefined && idTokenSub !== userinfo.sub) {
      throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', 'WorkOS id_token and userinfo name different users');
    }
    return { identity: userinfoIdentity('workos', userinfo), tokens };
  }

  /** The `sub` of the response's id_token once validated (OIDC Core 3.1.3.7); none without one. */
  async #idTokenSubject(tokens: UpstreamTokens, nonce: string): Promise<string | undefined> {
    if (!tokens.id_token) return undefined;
    const uri = await this.#endpoints.get('jwks_uri');
    if (this.#jwks?.uri !== uri) this.#jwks = { uri, get: remoteJwks(this.#client, uri) };
    const issuer = await this.#endpoints.get('issuer');
    const payload = await verifyIdToken(tokens.id_token, {
      provider: 'WorkOS',
      jwks: this.#jwks.get,
      issuers: () => [issuer],
      clientId: this.#clientId,
      nonce,
      leeway: this.#leeway,
      accessToken: tokens.access_token,
    });
    return payload.sub;
  }
}

/** The WorkOS proxy upstream; endpoints follow `oauth.authkit_domain`. */
export const workosBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'WorkOS', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'workos', { preferDiscovery: false });
  return new WorkOSUpstream(client, endpoints, {
    ...clientCredentials('WorkOS', settings.oauth),
    leeway: settings.tokens.leeway,
  });
};
