/**
 * GitHub as the upstream of the OAuth proxy (an OAuth App, or a GitHub App's user tokens).
 *
 * GitHub is not OpenID Connect: the identity comes from its REST API over TLS with the access
 * token we just received, `GET /user` (the immutable numeric `id`, the mutable `login`) and
 * `GET /user/emails` (the only place that says which address is verified).
 *
 * Facts (checked with the search tool; see also mock-idp/providers/github.ts):
 * - The token endpoint answers in the format `Accept` names; errors (`bad_verification_code`,
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`, `unverified_user_email`) come with
 *   HTTP 200 (docs "Troubleshooting OAuth app access token request errors").
 * - PKCE: only S256 (changelog 2025-07-14).
 * - `/user/emails` needs `user` or `user:email`; without it GitHub answers 404 (the reference page
 *   also lists 403). `/user.email` is only the public address: null when private (dave).
 * - The REST API refuses requests without a `User-Agent` (403).
 * - Scopes: backends.md notes FastMCP asks for `user`; that also grants profile *writes*, so we
 *   ask for `read:user user:email`, the least that reads the profile and the addresses.
 * @see https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * @see https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user
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
  checkUserStatus,
  clientCredentials,
  exchangeCode,
  fetchUserJson,
  readJsonArray,
  stringOf,
  type UpstreamClient,
  upstreamRequest,
} from './upstream-http.ts';

export const GITHUB_SCOPES = ['read:user', 'user:email'];
/** GitHub's REST API refuses requests without one. */
const USER_AGENT = 'mcp-auth-conformance-reference-server';
/** The media type GitHub recommends for the REST API. */
const API_ACCEPT = 'application/vnd.github+json';
/** Addresses GitHub makes up to hide the real one; never an identity. */
const NOREPLY = /@users\.noreply\.github\.com$/i;

/** Non-secret profile fields of `GET /user` kept as claims for passthrough. */
const PROFILE_CLAIMS = ['login', 'id', 'node_id', 'name', 'avatar_url', 'html_url', 'type', 'company'];

interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

/**
 * The primary address, when GitHub has verified it and it is not a noreply address; otherwise
 * none. A non-primary verified address is not used: the primary one is what the user chose.
 */
export function primaryVerifiedEmail(emails: unknown[]): string | undefined {
  const primary = emails.find(
    (e): e is GitHubEmail =>
      typeof e === 'object' && e !== null && (e as Record<string, unknown>)['primary'] === true,
  );
  if (primary?.verified !== true || typeof primary.email !== 'string') return undefined;
  if (primary.email === '' || NOREPLY.test(primary.email)) return undefined;
  return primary.email;
}

class GitHubUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'github' as const;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #apiBase: string;

  constructor(
    client: UpstreamClient,
    endpoints: UpstreamEndpoints,
    credentials: { clientId: string; clientSecret: string },
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#clientId = credentials.clientId;
    this.#clientSecret = credentials.clientSecret;
    const apiBase = endpoints.configured('api_base');
    if (!apiBase) throw new UpstreamError('ERR_UPSTREAM_CONFIG', 'GitHub has no api_base');
    this.#apiBase = apiBase.replace(/\/+$/, '');
  }

  /** @see https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#1-request-a-users-github-identity */
  async authorizationUrl(input: Parameters<ProxyUpstream['authorizationUrl']>[0]): Promise<URL> {
    // GitHub ignores response_type; sending it keeps the request RFC 6749 shaped.
    return buildAuthorizationUrl('GitHub', await this.#endpoints.get('authorize_url'), input, {
      clientId: this.#clientId,
      scope: GITHUB_SCOPES,
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
      auth: 'client_secret_post',
      code: input.code,
      codeVerifier: input.codeVerifier,
      redirectUri: input.redirectUri,
      // GitHub answers form-encoded unless asked for JSON.
      headers: { accept: 'application/json' },
    });
    return { identity: await this.#identity(tokens.access_token), tokens };
  }

  async #identity(accessToken: string): Promise<UpstreamIdentity> {
    const headers = {
      authorization: `Bearer ${accessToken}`,
      accept: API_ACCEPT,
      'user-agent': USER_AGENT,
      'x-github-api-version': '2022-11-28',
    };
    const user = await fetchUserJson(this.#client, `${this.#apiBase}/user`, { headers }, '/user');
    const id = user['id'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
      throw new UpstreamError('ERR_UPSTREAM_USER', 'GitHub /user has no numeric "id"');
    }
    const login = stringOf(user['login']);
    if (!login) throw new UpstreamError('ERR_UPSTREAM_USER', 'GitHub /user has no "login"');

    const email = await this.#verifiedEmail(headers);
    const claims: Record<string, unknown> = {};
    for (const key of PROFILE_CLAIMS)
      if (user[key] !== undefined && user[key] !== null) claims[key] = user[key];
    const name = stringOf(user['name']);
    return {
      provider: 'github',
      subject: String(id),
      login,
      ...(name ? { name } : {}),
      ...(email ? { email, emailVerified: true } : {}),
      claims,
    };
  }

  /** The primary verified address from /user/emails; none when the token may not read them (404/403). */
  async #verifiedEmail(headers: Record<string, string>): Promise<string | undefined> {
    const response = await upstreamRequest(
      this.#client,
      `${this.#apiBase}/user/emails`,
      { headers },
      '/user/emails',
    );
    if (response.status === 404 || response.status === 403) {
      await response.body?.cancel();
      return undefined;
    }
    checkUserStatus(this.#client, response, '/user/emails');
    const emails = await readJsonArray(response);
    if (!emails) throw new UpstreamError('ERR_UPSTREAM_USER', 'GitHub /user/emails is not a JSON array');
    return primaryVerifiedEmail(emails);
  }
}

/** The GitHub proxy upstream from settings (`upstream.github.*` overrides point it elsewhere). */
export const githubBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'GitHub', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'github', { preferDiscovery: false });
  return new GitHubUpstream(client, endpoints, clientCredentials('GitHub', settings.oauth));
};
