/**
 * An OpenID Connect provider behind the OAuth proxy whose identity comes from userinfo (Clerk,
 * WorkOS AuthKit): the authorization URL with our own state, S256 challenge, callback and nonce;
 * the code exchange with our client credentials (client_secret_post); the id_token, when the
 * answer carries one, validated (OIDC Core 3.1.3.7); then the user read from `GET userinfo` with
 * the access token just received. The id_token's `sub` must be the userinfo `sub` (OIDC Core
 * 5.3.2), although the identity comes from userinfo, where `email_verified` decides whether the
 * email counts. The providers differ only in the options below.
 *
 * Endpoints come from settings (`preferDiscovery: false`); discovery only when
 * `upstream.<backend>.discovery_url` is set explicitly.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#TokenResponseValidation
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse
 */
import type { AuthBackend, Settings } from '../config.ts';
import {
  buildAuthorizationUrl,
  fetchUserinfo,
  UpstreamEndpoints,
  userinfoIdentity,
  verifyIdToken,
} from './oidc-upstream.ts';
import {
  type ProxyUpstream,
  type UpstreamAuthorizationInput,
  UpstreamError,
  type UpstreamExchangeInput,
  type UpstreamIdentity,
  type UpstreamTokens,
} from './types.ts';
import { clientCredentials, exchangeCode, type UpstreamClient } from './upstream-http.ts';

/** What a provider's own check of the access token may use. */
export interface UserinfoUpstreamContext {
  client: UpstreamClient;
  endpoints: UpstreamEndpoints;
  clientId: string;
  clientSecret: string;
  /** Clock skew tolerated, in seconds. */
  leeway: number;
}

export interface UserinfoProxyOptions {
  id: AuthBackend;
  /** Display name for messages. */
  provider: string;
  scope: string[];
  /**
   * A check of the access token before userinfo is read (Clerk's token_info): answers the `sub`
   * it names, if any, which userinfo must then name too.
   */
  tokenInfo?(accessToken: string, upstream: UserinfoUpstreamContext): Promise<string | undefined>;
}

/** The proxy upstream of an OpenID Connect provider whose identity comes from userinfo. */
export class UserinfoProxyUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id: AuthBackend;
  readonly #options: UserinfoProxyOptions;
  readonly #upstream: UserinfoUpstreamContext;

  constructor(settings: Settings, deps: { fetch: typeof fetch }, options: UserinfoProxyOptions) {
    this.id = options.id;
    this.#options = options;
    const client: UpstreamClient = { provider: options.provider, fetch: deps.fetch };
    const endpoints = new UpstreamEndpoints(client, settings, options.id, { preferDiscovery: false });
    this.#upstream = {
      client,
      endpoints,
      ...clientCredentials(options.provider, settings.oauth),
      leeway: settings.tokens.leeway,
    };
  }

  async authorizationUrl(input: UpstreamAuthorizationInput): Promise<URL> {
    const { endpoints, clientId } = this.#upstream;
    return buildAuthorizationUrl(this.#options.provider, await endpoints.get('authorize_url'), input, {
      clientId,
      scope: this.#options.scope,
      oidc: true,
    });
  }

  async exchange(
    input: UpstreamExchangeInput,
  ): Promise<{ identity: UpstreamIdentity; tokens: UpstreamTokens }> {
    const p = this.#options.provider;
    const { client, endpoints, clientId, clientSecret } = this.#upstream;
    const tokens = await exchangeCode(client, {
      tokenUrl: await endpoints.get('token_url'),
      clientId,
      clientSecret,
      auth: 'client_secret_post',
      code: input.code,
      codeVerifier: input.codeVerifier,
      redirectUri: input.redirectUri,
    });
    const idTokenSub = await this.#idTokenSubject(tokens, input.nonce);
    const tokenInfoSub = await this.#options.tokenInfo?.(tokens.access_token, this.#upstream);
    const userinfo = await fetchUserinfo(client, await endpoints.get('userinfo_url'), tokens.access_token);
    if (tokenInfoSub !== undefined && tokenInfoSub !== userinfo.sub) {
      throw new UpstreamError('ERR_UPSTREAM_USER', `${p} token_info and userinfo name different users`);
    }
    if (idTokenSub !== undefined && idTokenSub !== userinfo.sub) {
      throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', `${p} id_token and userinfo name different users`);
    }
    return { identity: userinfoIdentity(this.id, userinfo), tokens };
  }

  /** The `sub` of the response's id_token once validated (OIDC Core 3.1.3.7); none without one. */
  async #idTokenSubject(tokens: UpstreamTokens, nonce: string): Promise<string | undefined> {
    if (!tokens.id_token) return undefined;
    const { endpoints, clientId, leeway } = this.#upstream;
    const jwks = await endpoints.jwks();
    const issuer = await endpoints.get('issuer');
    const payload = await verifyIdToken(tokens.id_token, {
      provider: this.#options.provider,
      jwks,
      issuers: () => [issuer],
      clientId,
      nonce,
      leeway,
      accessToken: tokens.access_token,
    });
    return payload.sub;
  }
}
