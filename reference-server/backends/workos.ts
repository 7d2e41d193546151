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
 * @see https://workos.com/docs/authkit/mcp
 */
import {
  buildAuthorizationUrl,
  fetchUserinfo,
  UpstreamEndpoints,
  userinfoIdentity,
} from './oidc-upstream.ts';
import type { BackendFactory, ProxyUpstream, UpstreamIdentity, UpstreamTokens } from './types.ts';
import { clientCredentials, exchangeCode, type UpstreamClient } from './upstream-http.ts';

export const WORKOS_SCOPES = ['openid', 'email', 'profile'];

class WorkOSUpstream implements ProxyUpstream {
  readonly kind = 'proxy' as const;
  readonly id = 'workos' as const;
  readonly #client: UpstreamClient;
  readonly #endpoints: UpstreamEndpoints;
  readonly #clientId: string;
  readonly #clientSecret: string;

  constructor(
    client: UpstreamClient,
    endpoints: UpstreamEndpoints,
    credentials: { clientId: string; clientSecret: string },
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#clientId = credentials.clientId;
    this.#clientSecret = credentials.clientSecret;
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
    const userinfo = await fetchUserinfo(
      this.#client,
      await this.#endpoints.get('userinfo_url'),
      tokens.access_token,
    );
    return { identity: userinfoIdentity('workos', userinfo), tokens };
  }
}

/** The WorkOS proxy upstream; endpoints follow `oauth.authkit_domain`. */
export const workosBackend: BackendFactory = (settings, deps) => {
  const client: UpstreamClient = { provider: 'WorkOS', fetch: deps.fetch };
  const endpoints = new UpstreamEndpoints(client, settings, 'workos', { preferDiscovery: false });
  return new WorkOSUpstream(client, endpoints, clientCredentials('WorkOS', settings.oauth));
};
