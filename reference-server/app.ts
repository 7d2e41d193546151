import { handleMcp } from './mcp.ts';
import { authorize } from './oauth/authorize.ts';
import { callback } from './oauth/callback.ts';
import { consent } from './oauth/consent.ts';
import { login } from './oauth/login.ts';
import { authorizationServerMetadata, metadataPath, supportedScopes } from './oauth/metadata.ts';
import { register } from './oauth/register.ts';
import { jsonResponse, oauthError } from './oauth/responses.ts';
import { revoke } from './oauth/revoke.ts';
import { token } from './oauth/token.ts';
import type { TokenVerifier } from './principal.ts';
import {
  authenticate,
  metadataUrlFor,
  protectedResourceMetadata,
  type ResourceServerOptions,
} from './resource.ts';
import type { Runtime } from './runtime.ts';
import { devPrincipal, ownTokenVerifier, remoteTokenVerifier } from './verify.ts';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers':
    'authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-expose-headers': 'www-authenticate, mcp-session-id',
};

function withCors(response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(CORS)) headers.set(k, v);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/**
 * The replaceable parts of the server. Production uses the defaults; the conformance project's
 * detection tests assemble deliberately broken servers by handing in a broken part (never by
 * switches in the production paths).
 */
export interface AppParts {
  authorize: typeof authorize;
  consent: typeof consent;
  callback: typeof callback;
  login: typeof login;
  token: typeof token;
  register: typeof register;
  revoke: typeof revoke;
  /** Builds the token verifier of the MCP endpoint. */
  verifier: (rt: Runtime) => TokenVerifier | undefined;
  protectedResourceMetadata: typeof protectedResourceMetadata;
  authorizationServerMetadata: typeof authorizationServerMetadata;
  authenticate: typeof authenticate;
}

export const DEFAULT_PARTS: AppParts = {
  authorize,
  consent,
  callback,
  login,
  token,
  register,
  revoke,
  verifier: (rt) =>
    rt.kind === 'dev'
      ? undefined
      : rt.backend?.kind === 'remote'
        ? remoteTokenVerifier(rt, rt.backend)
        : ownTokenVerifier(rt),
  protectedResourceMetadata,
  authorizationServerMetadata,
  authenticate,
};

export interface ReferenceApp {
  fetch(request: Request): Promise<Response>;
  runtime: Runtime;
}

/** The reference server as one fetch handler: the MCP endpoint, its metadata, and our authorization server. */
export function createApp(rt: Runtime, replaced: Partial<AppParts> = {}): ReferenceApp {
  const parts: AppParts = { ...DEFAULT_PARTS, ...replaced };
  const mcpPath = new URL(rt.urls.resource).pathname;
  const ownAs = rt.kind === 'proxy' || rt.kind === 'in-memory';
  const authorizationServers =
    rt.backend?.kind === 'remote'
      ? rt.backend.authorizationServers
      : rt.kind === 'jwt'
        ? [rt.settings.jwt.authorization_server ?? rt.settings.jwt.issuer ?? rt.urls.issuer]
        : [rt.urls.issuer];
  const resourceOptions: ResourceServerOptions = {
    resource: rt.urls.resource,
    metadataUrl: metadataUrlFor(rt.urls.resource),
    authorizationServers,
    scopesSupported: rt.backend?.kind === 'remote' ? rt.backend.scopesSupported : supportedScopes(rt),
    requiredScopes: rt.settings.jwt.required_scopes,
  };
  const verifier = parts.verifier(rt);
  const prmPath = new URL(resourceOptions.metadataUrl).pathname;
  const asMetadataPath = metadataPath(rt.urls.issuer);

  /** Metadata documents are read-only: GET and HEAD (RFC 8414 3, RFC 9728 3; RFC 9110 15.5.6). */
  const readOnly = (request: Request, document: () => Response): Response =>
    request.method === 'GET' || request.method === 'HEAD'
      ? document()
      : oauthError('invalid_request', 'use GET for this document', 405, { allow: 'GET, HEAD' });

  async function route(request: Request, path: string): Promise<Response> {
    if (path === mcpPath) {
      if (!verifier) return withCors(await handleMcp(request, await devPrincipal(rt)));
      const principal = await parts.authenticate(request, resourceOptions, verifier);
      if (principal instanceof Response) return withCors(principal);
      return withCors(await handleMcp(request, principal));
    }
    if (verifier && (path === prmPath || path === '/.well-known/oauth-protected-resource')) {
      return withCors(
        readOnly(request, () => jsonResponse(parts.protectedResourceMetadata(resourceOptions))),
      );
    }
    if (ownAs) {
      switch (path) {
        case asMetadataPath:
          return withCors(readOnly(request, () => jsonResponse(parts.authorizationServerMetadata(rt))));
        case '/.well-known/jwks.json':
          return withCors(readOnly(request, () => jsonResponse(rt.keys.jwks())));
        case '/authorize':
          return parts.authorize(rt, request);
        case '/consent':
          return parts.consent(rt, request);
        case '/oauth/callback':
          return parts.callback(rt, request);
        case '/login':
          return parts.login(rt, request);
        case '/token':
          return withCors(await parts.token(rt, request));
        case '/register':
          return withCors(await parts.register(rt, request));
        case '/revoke':
          return withCors(await parts.revoke(rt, request));
      }
    }
    if (path === '/') {
      return jsonResponse({
        service: 'mcp-auth-reference-server',
        auth: rt.settings.auth,
        mcp: rt.urls.resource,
      });
    }
    return jsonResponse(
      { error: 'not_found', error_description: `no endpoint at ${path.slice(0, 100)}` },
      404,
    );
  }

  return {
    runtime: rt,
    async fetch(request) {
      const url = new URL(request.url);
      if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS });
      try {
        return await route(request, url.pathname);
      } catch (error) {
        if (request.signal.aborted) {
          // The client went away before its body arrived: nobody to answer, and nothing of ours failed.
          rt.log.log('info', 'request.aborted', { path: url.pathname });
          return oauthError('invalid_request', 'the request was not received completely', 400);
        }
        rt.log.log('error', 'request.failed', { path: url.pathname, message: (error as Error).message });
        return oauthError('server_error', 'the server failed to answer this request', 500);
      }
    },
  };
}
