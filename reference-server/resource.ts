import { type Principal, TokenRejected, type TokenVerifier } from './principal.ts';

export interface ResourceServerOptions {
  /** The canonical URL of the MCP endpoint (RFC 8707 resource indicator, RFC 9728 `resource`). */
  resource: string;
  /** Where the protected resource metadata is served. */
  metadataUrl: string;
  authorizationServers: string[];
  scopesSupported: string[];
  /** Scopes every token must carry; a token without them gets 403 insufficient_scope. */
  requiredScopes: string[];
}

/**
 * The protected resource metadata document (RFC 9728 section 2).
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export function protectedResourceMetadata(options: ResourceServerOptions): Record<string, unknown> {
  return {
    resource: options.resource,
    authorization_servers: options.authorizationServers,
    scopes_supported: options.scopesSupported,
    bearer_methods_supported: ['header'],
    resource_name: 'MCP auth reference server',
  };
}

/** The path-aware well-known URL of a resource's metadata (RFC 9728 3.1). */
export function metadataUrlFor(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

function quoted(value: string): string {
  // RFC 6750 3: auth-param values are quoted strings; keep them to printable ASCII without quotes.
  return `"${value.replace(/[^\x20-\x7e]|["\\]/g, ' ')}"`;
}

/**
 * A 401 or 403 with the bearer challenge (RFC 6750 3, RFC 9728 5.1). A request without
 * credentials gets no error code; a bad token gets `invalid_token`; a malformed header gets
 * `invalid_request` (400); missing scopes get `insufficient_scope` (403) with the scope needed.
 */
export function challenge(options: ResourceServerOptions, rejected?: TokenRejected): Response {
  const params: string[] = [];
  if (rejected) {
    params.push(`error=${quoted(rejected.code)}`, `error_description=${quoted(rejected.message)}`);
    if (rejected.scope) params.push(`scope=${quoted(rejected.scope)}`);
  } else if (options.requiredScopes.length) {
    params.push(`scope=${quoted(options.requiredScopes.join(' '))}`);
  }
  params.push(`resource_metadata=${quoted(options.metadataUrl)}`);
  const status =
    rejected?.code === 'insufficient_scope' ? 403 : rejected?.code === 'invalid_request' ? 400 : 401;
  const body = rejected
    ? { error: rejected.code, error_description: rejected.message }
    : { error: 'invalid_token', error_description: 'authentication required' };
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type': 'application/json',
      'www-authenticate': `Bearer ${params.join(', ')}`,
      'cache-control': 'no-store',
    },
  });
}

/** Extracts the bearer token (RFC 6750 2.1); undefined when there is no Authorization header. */
export function bearerFrom(request: Request): string | undefined {
  const header = request.headers.get('authorization');
  if (header === null) return undefined;
  const match = header.match(/^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i);
  if (!match) throw new TokenRejected('invalid_request', 'the Authorization header is not a Bearer token');
  return match[1]!;
}

/**
 * Authenticates a request to the MCP endpoint: the principal, or the challenge to answer with.
 */
export async function authenticate(
  request: Request,
  options: ResourceServerOptions,
  verifier: TokenVerifier,
): Promise<Principal | Response> {
  let token: string | undefined;
  try {
    token = bearerFrom(request);
  } catch (error) {
    return challenge(options, error as TokenRejected);
  }
  if (token === undefined) return challenge(options);
  let principal: Principal;
  try {
    principal = await verifier.verify(token);
  } catch (error) {
    if (error instanceof TokenRejected) return challenge(options, error);
    return challenge(options, new TokenRejected('invalid_token', 'the access token could not be verified'));
  }
  const missing = options.requiredScopes.filter((s) => !principal.scopes.includes(s));
  if (missing.length) {
    return challenge(
      options,
      new TokenRejected(
        'insufficient_scope',
        `the token lacks scope ${missing.join(' ')}`,
        options.requiredScopes.join(' '),
      ),
    );
  }
  return principal;
}
