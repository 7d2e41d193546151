/**
 * An OpenID Connect provider behind the OAuth proxy, found through its discovery document
 * (Auth0, AWS Cognito, OCI IAM): the authorization URL with our own state, S256 challenge,
 * callback and nonce; the code exchange with our client credentials; and the id_token verified
 * (signature against the discovered JWKS, `iss`, `aud` = our client, `exp`, `iat`, `nonce`,
 * `at_hash`) before any claim in it is used (security edge 34). The providers differ only in the
 * options below.
 *
 * Built on oidc-upstream.ts (discovery, authorization URL, id_token checks) and upstream-http.ts
 * (timeouts, the code exchange).
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationValidation
 */
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { AuthBackend, Settings } from '../config.ts';
import { buildAuthorizationUrl, UpstreamEndpoints, verifyIdToken } from './oidc-upstream.ts';
import {
  type ProxyUpstream,
  type UpstreamAuthorizationInput,
  UpstreamError,
  type UpstreamExchangeInput,
  type UpstreamIdentity,
  type UpstreamTokens,
} from './types.ts';
import {
  type ClientAuthMethod,
  clientCredentials,
  exchangeCode,
  shown,
  type UpstreamClient,
} from './upstream-http.ts';

const DISCOVERY_SUFFIX = '/.well-known/openid-configuration';

/** What a verified sign-in hands to the provider's identity mapping. */
export interface VerifiedSignIn {
  /** The verified id_token payload. */
  idToken: JWTPayload;
  tokens: UpstreamTokens;
  /** The issuer the id_token was checked against. */
  issuer: string;
  /** The provider's JWKS, to verify other tokens it issued (Auth0's API access token). */
  jwks: JWTVerifyGetKey;
}

export interface OidcProxyOptions {
  id: AuthBackend;
  /** Display name for messages. */
  provider: string;
  scope: string[];
  /** Client authentication at the token endpoint. */
  auth: ClientAuthMethod;
  /** Extra authorization request parameters (Auth0's `audience`). */
  authorizeExtra?: Record<string, string>;
  /** Extra code-exchange form fields (Auth0's `audience`). */
  tokenExtra?: Record<string, string>;
  /**
   * The issuer id_tokens must name. `discovery` (the default): the `issuer` of the discovery
   * document, which must be the discovery URL without `/.well-known/openid-configuration`
   * (OIDC Discovery 4.3); a fixed string: the document must name exactly that one (OCI).
   * An explicit `upstream.<backend>.issuer` setting replaces either.
   */
  issuer?: { fixed: string };
  /** An extra check of the verified id_token: the problem, or undefined. */
  checkIdToken?(payload: JWTPayload): string | undefined;
  /** The identity (and passthrough claims) of a verified sign-in. */
  identity(signIn: VerifiedSignIn): Promise<UpstreamIdentity> | UpstreamIdentity;
}

/** The proxy upstream of a discovery-based OpenID Connect provider. */
export class OidcProxyUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id: AuthBackend;
  readonly #options: OidcProxyOptions;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #leeway: number;

  constructor(settings: Settings, deps: { fetch: typeof fetch }, options: OidcProxyOptions) {
    this.id = options.id;
    this.#options = options;
    this.#client = { provider: options.provider, fetch: deps.fetch };
    this.#endpoints = new UpstreamEndpoints(this.#client, settings, options.id, { preferDiscovery: true });
    const credentials = clientCredentials(options.provider, settings.oauth);
    this.#clientId = credentials.clientId;
    this.#clientSecret = credentials.clientSecret;
    this.#leeway = settings.tokens.leeway;
  }

  /**
   * The authorization URL; the discovery document's issuer is checked first, so no user is sent
   * to an IdP whose id_tokens would then be refused.
   * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
   */
  async authorizationUrl(input: UpstreamAuthorizationInput): Promise<URL> {
    await this.issuer();
    return buildAuthorizationUrl(this.#options.provider, await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: this.#options.scope,
      oidc: true,
      ...(this.#options.authorizeExtra ? { extra: this.#options.authorizeExtra } : {}),
    });
  }

  /**
   * Redeems the code, then verifies the id_token; an answer without one is refused, since the
   * identity comes from it alone.
   * @see https://openid.net/specs/openid-connect-core-1_0.html#TokenResponseValidation
   */
  async exchange(
    input: UpstreamExchangeInput,
  ): Promise<{ identity: UpstreamIdentity; tokens: UpstreamTokens }> {
    const p = this.#options.provider;
    const issuer = await this.issuer();
    const tokens: UpstreamTokens = await exchangeCode(this.#client, {
      tokenUrl: await this.#endpoints.get('token_url'),
      clientId: this.#clientId,
      clientSecret: this.#clientSecret,
      auth: this.#options.auth,
      code: input.code,
      codeVerifier: input.codeVerifier,
      redirectUri: input.redirectUri,
      ...(this.#options.tokenExtra ? { extra: this.#options.tokenExtra } : {}),
    });
    if (!tokens.id_token)
      throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', `${p} token response has no "id_token"`);
    const jwks = await this.#endpoints.jwks();
    const idToken = await verifyIdToken(tokens.id_token, {
      provider: p,
      jwks,
      issuers: () => [issuer],
      clientId: this.#clientId,
      nonce: input.nonce,
      leeway: this.#leeway,
      accessToken: tokens.access_token,
    });
    const problem = this.#options.checkIdToken?.(idToken);
    if (problem) throw new UpstreamError('ERR_UPSTREAM_ID_TOKEN', `${p} id_token ${problem}`);
    const identity = await this.#options.identity({ idToken, tokens, issuer, jwks });
    return { identity, tokens };
  }

  /**
   * The issuer id_tokens must name (see `OidcProxyOptions.issuer`). Checking the discovery
   * document's own `issuer` keeps a document served for another issuer from being used.
   */
  async issuer(): Promise<string> {
    const p = this.#options.provider;
    if (this.#endpoints.isExplicit('issuer')) return this.#endpoints.get('issuer');
    const doc = await this.#endpoints.discovery();
    const named = String(doc['issuer']);
    const fixed = this.#options.issuer?.fixed;
    if (fixed !== undefined) {
      if (named !== fixed) {
        throw new UpstreamError(
          'ERR_UPSTREAM_CONFIG',
          `${p} discovery "issuer" ${shown(named)} is not ${fixed}`,
        );
      }
      return fixed;
    }
    const url = this.#endpoints.configured('discovery_url') ?? '';
    if (`${named.replace(/\/$/, '')}${DISCOVERY_SUFFIX}` !== url) {
      throw new UpstreamError(
        'ERR_UPSTREAM_CONFIG',
        `${p} discovery "issuer" ${shown(named)} does not match the discovery URL`,
      );
    }
    return named;
  }
}
