/**
 * Discord as the upstream of the OAuth proxy (OAuth 2.0 without OpenID Connect here).
 *
 * After the code exchange the token is checked at `GET /oauth2/@me` (the authorization it
 * belongs to: `application.id` must be our client id, `expires` in the future), then the user is
 * read from `GET /users/@me`. The subject is the user's snowflake `id`; the email counts only
 * when Discord says it is `verified`.
 *
 * Facts (checked with the search tool; see also mock-idp/providers/oidc-discord.ts):
 * - Token endpoint `/api/oauth2/token`; client_secret_basic (also post) per the RFC 8414
 *   metadata at discord.com; PKCE S256 only.
 * - `/oauth2/@me` answers `{application, scopes, expires (ISO 8601), user}` (discord-api-types;
 *   FastMCP checks `application.id` and `expires`).
 * - `/users/@me` carries `email` and `verified` only with the `email` scope.
 * - Usernames can be changed and later taken by someone else, so no `login` is derived from
 *   them; they stay in the claims.
 * @see https://discord.com/developers/docs/topics/oauth2
 * @see https://discord.com/developers/docs/resources/user#get-current-user
 */
import { buildAuthorizationUrl, UpstreamEndpoints } from './oidc-upstream.ts';
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
  fetchUserJson,
  stringOf,
  type UpstreamClient,
} from './upstream-http.ts';

export const DISCORD_SCOPES = ['identify', 'email'];
/** Non-secret fields of the user object kept as claims for passthrough. */
const KEPT_CLAIMS = ['id', 'username', 'global_name', 'avatar', 'locale'];

class DiscordUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'discord' as const;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #apiBase: string;
  readonly #leeway: number;

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
    const apiBase = endpoints.configured('api_base');
    if (!apiBase) throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'Discord has no api_base');
    this.#apiBase = apiBase.replace(/\/+$/, '');
  }

  async authorizationUrl(input: Parameters<ProxyUpstream['authorizationUrl']>[0]): Promise<URL> {
    return buildAuthorizationUrl('Discord', await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: DISCORD_SCOPES,
      oidc: false,
    });
  }

  async exchange(
    input: Parameters<ProxyUpstream['exchange']>[0],
  ): Promise<{ identity: UpstreamIdentity; tokens: UpstreamTokens }> {
    const tokens = await exchangeCode(this.#client, {
      tokenUrl: await this.#endpoints.get('token_url'),
      clientId: this.#clientId,
      clientSecret: this.#clientSecret,
      auth: 'client_secret_basic',
      code: input.code,
      codeVerifier: input.codeVerifier,
      redirectUri: input.redirectUri,
    });
    const headers = { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' };
    const authorization = await fetchUserJson(
      this.#client,
      `${this.#apiBase}/oauth2/@me`,
      { headers },
      '/oauth2/@me',
    );
    this.#checkAuthorization(authorization);
    const user = await fetchUserJson(this.#client, `${this.#apiBase}/users/@me`, { headers }, '/users/@me');
    const identity = discordIdentity(user);
    const owner = (authorization['user'] as Record<string, unknown> | undefined)?.['id'];
    if (owner !== undefined && owner !== identity.subject) {
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Discord /oauth2/@me and /users/@me name different users');
    }
    return { identity, tokens };
  }

  /** The token must belong to our application and not have expired. */
  #checkAuthorization(authorization: Record<string, unknown>): void {
    const application = authorization['application'] as Record<string, unknown> | undefined;
    const appId = application?.['id'];
    if (appId !== this.#clientId) {
      throw new UpstreamError(
        'ERR_UPSTREAM_USER',
        appId === undefined
          ? 'Discord /oauth2/@me names no application'
          : 'Discord token belongs to another application',
      );
    }
    const expires =
      typeof authorization['expires'] === 'string' ? Date.parse(authorization['expires']) : Number.NaN;
    if (Number.isNaN(expires))
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Discord /oauth2/@me has no "expires"');
    if (expires + this.#leeway * 1000 <= Date.now()) {
      throw new UpstreamError('ERR_UPSTREAM_USER', 'Discord token has expired');
    }
  }
}

/** The identity of a Discord user object: snowflake id, verified email only, display name. */
export function discordIdentity(user: Record<string, unknown>): UpstreamIdentity {
  const id = user['id'];
  if (typeof id !== 'string' || !/^\d{1,20}$/.test(id)) {
    throw new UpstreamError('ERR_UPSTREAM_USER', 'Discord /users/@me has no snowflake "id"');
  }
  const email = user['verified'] === true ? stringOf(user['email']) : undefined;
  const name = stringOf(user['global_name']) ?? stringOf(user['username']);
  const claims: Record<string, unknown> = {};
  for (const key of KEPT_CLAIMS) if (user[key] !== undefined && user[key] !== null) claims[key] = user[key];
  return {
    provider: 'discord',
    subject: id,
    ...(email ? { email, emailVerified: true } : {}),
    ...(name ? { name } : {}),
    claims,
  };
}

/** The Discord proxy upstream (`upstream.discord.*` overrides point it elsewhere). */
export const discordBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'Discord', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'discord', { preferDiscovery: false });
  return new DiscordUpstream(client, endpoints, {
    ...clientCredentials('Discord', settings.oauth),
    leeway: settings.tokens.leeway,
  });
};
