import { RunnerError } from './errors.ts';
import type { Capability } from './suite.ts';

/** What the probe found out about the server, and so which cases apply. */
export interface Profile {
  target: string;
  /** The canonical resource (PRM `resource`), else the target. */
  resource: string;
  challenge: { status: number; wwwAuthenticate: string | undefined; resourceMetadataUrl: string | undefined };
  protectedResource: Record<string, unknown> | undefined;
  authorizationServer: Record<string, unknown> | undefined;
  issuer: string | undefined;
  jwksUri: string | undefined;
  capabilities: Capability[];
  /** Why each missing capability is missing (the skip reason). */
  missing: Partial<Record<Capability, string>>;
  notes: string[];
}

export interface ProbeOptions {
  fetch: typeof fetch;
  headers: Record<string, string>;
  timeoutMs: number;
  /** The mock IdP, when it stands in front of the server's upstream. */
  idpUrl?: string | undefined;
  upstream?: string | undefined;
  /** Issuers of the mock IdP's providers (to tell a server that trusts the IdP's tokens). */
  idpIssuers?: string[];
  /** The upstream provider is an OpenID Connect provider (it has an issuer and signs id_tokens). */
  upstreamOidc?: boolean;
  identityProbe: boolean;
  userStore: boolean;
  /** Capabilities declared by configuration (required scopes, claims passthrough...). */
  declared: Capability[];
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'mcp-auth-conformance', version: '0.1.0' },
  },
});

/** The `resource_metadata` parameter of a Bearer challenge (RFC 9728 5.1). */
export function resourceMetadataParam(header: string | undefined): string | undefined {
  return header?.match(/resource_metadata\s*=\s*"([^"]*)"/i)?.[1];
}

async function get(
  options: ProbeOptions,
  url: string,
): Promise<{ status: number; json: unknown } | undefined> {
  try {
    const res = await options.fetch(url, {
      headers: { accept: 'application/json', ...options.headers },
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'manual',
    });
    const text = await res.text();
    try {
      return { status: res.status, json: JSON.parse(text) };
    } catch {
      return { status: res.status, json: undefined };
    }
  } catch {
    return undefined;
  }
}

/** RFC 8414 3.1 path-aware metadata URLs, then OpenID discovery, for an issuer. */
function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}${path}/.well-known/oauth-authorization-server`,
  ];
}

/**
 * Probes the server: an unauthenticated MCP request -> 401 and its challenge -> protected
 * resource metadata (RFC 9728) -> authorization server metadata (RFC 8414) -> capabilities.
 * @throws RunnerError when the server cannot be reached or does not speak MCP.
 */
export async function probe(target: string, options: ProbeOptions): Promise<Profile> {
  let res: Response;
  try {
    res = await options.fetch(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
        ...options.headers,
      },
      body: INITIALIZE,
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `did not answer within ${options.timeoutMs} ms`
        : e.cause?.code === 'ECONNREFUSED'
          ? 'refused the connection'
          : `could not be reached (${e.cause?.code ?? e.message})`;
    throw new RunnerError('ERR_SERVER_UNREACHABLE', `${target} ${why}`);
  }
  const body = await res.text().catch(() => '');
  const wwwAuthenticate = res.headers.get('www-authenticate') ?? undefined;
  const notes: string[] = [];
  const capabilities = new Set<Capability>(options.declared);
  const missing: Partial<Record<Capability, string>> = {};
  const profile: Profile = {
    target,
    resource: target,
    challenge: {
      status: res.status,
      wwwAuthenticate,
      resourceMetadataUrl: resourceMetadataParam(wwwAuthenticate),
    },
    protectedResource: undefined,
    authorizationServer: undefined,
    issuer: undefined,
    jwksUri: undefined,
    capabilities: [],
    missing,
    notes,
  };
  if (res.status === 200) {
    if (!/"jsonrpc"\s*:\s*"2\.0"/.test(body)) {
      throw new RunnerError(
        'ERR_NOT_MCP',
        `${target} answered 200 to an MCP initialize without a JSON-RPC result`,
      );
    }
    notes.push('the server answers MCP without authentication');
    missing.oauth = 'the server requires no authorization (it answered initialize without a token)';
  } else if (res.status !== 401) {
    const kind = res.headers.get('content-type') ?? 'no content type';
    throw new RunnerError(
      'ERR_NOT_MCP',
      `${target} answered an MCP initialize with HTTP ${res.status} (${kind}); an MCP server with authorization answers 401`,
    );
  } else {
    capabilities.add('oauth');
    const prmUrl =
      profile.challenge.resourceMetadataUrl ??
      (() => {
        const u = new URL(target);
        notes.push('the 401 carries no resource_metadata; trying the well-known URL');
        return `${u.origin}/.well-known/oauth-protected-resource${u.pathname === '/' ? '' : u.pathname}`;
      })();
    const prm = await get(options, prmUrl);
    if (prm?.status === 200 && prm.json && typeof prm.json === 'object') {
      profile.protectedResource = prm.json as Record<string, unknown>;
      const resource = profile.protectedResource['resource'];
      if (typeof resource === 'string') profile.resource = resource;
      const servers = profile.protectedResource['authorization_servers'];
      const issuer = Array.isArray(servers) && typeof servers[0] === 'string' ? servers[0] : undefined;
      profile.issuer = issuer;
      if (issuer) {
        for (const url of metadataUrls(issuer)) {
          const as = await get(options, url);
          if (
            as?.status === 200 &&
            as.json &&
            typeof as.json === 'object' &&
            'authorization_endpoint' in as.json
          ) {
            profile.authorizationServer = as.json as Record<string, unknown>;
            break;
          }
        }
      }
    } else {
      notes.push(`no protected resource metadata at ${prmUrl}`);
    }
  }
  const as = profile.authorizationServer;
  if (as) {
    capabilities.add('authorization-server');
    capabilities.add('own-authorization-server');
    capabilities.add('consent');
    if (typeof as['jwks_uri'] === 'string') profile.jwksUri = as['jwks_uri'];
    if (typeof as['registration_endpoint'] === 'string') capabilities.add('dcr');
    else missing.dcr = 'the authorization server metadata has no registration_endpoint';
    const grants = as['grant_types_supported'];
    if (Array.isArray(grants) && grants.includes('refresh_token')) capabilities.add('refresh');
    else missing.refresh = 'grant_types_supported does not list refresh_token';
    if (typeof as['revocation_endpoint'] === 'string') capabilities.add('revocation');
    else missing.revocation = 'the metadata has no revocation_endpoint';
    const idpIssuer = options.idpIssuers?.includes(String(as['issuer']));
    if (idpIssuer) {
      capabilities.add('idp-trusted');
      capabilities.delete('consent');
      missing.consent = 'the IdP is the authorization server; the server has no consent page of its own';
      capabilities.delete('own-authorization-server');
      missing['own-authorization-server'] =
        "the authorization server is the mock IdP itself: its codes and tokens are the mock's, not the server's";
    } else {
      missing['idp-trusted'] = options.idpIssuers
        ? `the authorization server (${String(as['issuer'])}) is the server's own, not the mock IdP`
        : 'no mock IdP is known (--idp or --start-idp)';
      if (profile.jwksUri) capabilities.add('jwt-access-tokens');
    }
  } else if (capabilities.has('oauth')) {
    missing['authorization-server'] = 'no authorization server metadata could be found';
  }
  if (
    options.idpUrl &&
    options.upstream &&
    capabilities.has('authorization-server') &&
    !capabilities.has('idp-trusted')
  ) {
    capabilities.add('upstream');
    if (options.upstreamOidc) capabilities.add('oidc-upstream');
    else missing['oidc-upstream'] = `the upstream (${options.upstream}) issues no id_token`;
  } else {
    missing.upstream = options.idpUrl
      ? 'the server is not a proxy in front of the mock IdP (or --upstream was not given)'
      : 'no mock IdP is in front of the server';
  }
  if (!capabilities.has('oidc-upstream')) missing['oidc-upstream'] ??= 'no upstream OpenID Connect provider';
  if (options.identityProbe) capabilities.add('identity-probe');
  else missing['identity-probe'] = 'no identity probe is configured (--identity-tool)';
  if (options.userStore) capabilities.add('user-store');
  else missing['user-store'] = 'the server store is not declared to hold the personas users (--user-store)';
  for (const c of ['required-scopes', 'claims-passthrough'] as const) {
    if (!capabilities.has(c)) missing[c] = `not declared (--capability ${c})`;
  }
  for (const c of [
    'oauth',
    'authorization-server',
    'own-authorization-server',
    'dcr',
    'refresh',
    'revocation',
    'consent',
    'jwt-access-tokens',
    'idp-trusted',
  ] as const) {
    if (!capabilities.has(c) && !missing[c]) missing[c] = `the probe found no ${c}`;
  }
  profile.capabilities = [...capabilities];
  return profile;
}
