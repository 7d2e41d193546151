import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ClientRegistry, RegisteredClient } from './clients.ts';
import type { FaultAction, FaultRegistry, TokenDefect } from './faults.ts';
import type { AuthorizationTxn, GrantStore } from './grants.ts';
import type { Journal } from './journal.ts';
import type { KeySet } from './keys.ts';
import type { Persona, PersonaSet } from './personas.ts';

/** One hostname a provider answers on, and where it is mounted when served standalone. */
export interface HostSpec {
  /** Short id used in URLs built by the provider (`web`, `api`, `idp`...). */
  id: string;
  /** The real hostname, or a pattern with `*` for tenant labels (`*.auth0.com`). */
  host: string;
  /** A concrete hostname for links to this host when no request names one. */
  defaultHost: string;
  /** Standalone mount: `http://127.0.0.1:PORT/<prefix>`. */
  prefix: string;
}

/**
 * How absolute URLs are built. `path`: standalone, every host under a prefix of one origin.
 * `host`: at the real hostnames (msw, the HTTPS proxy); `hostnames` keeps the concrete hostname a
 * request used for a wildcard host (the tenant), so links stay on the same tenant.
 */
export type UrlView = { mode: 'path'; origin: string } | { mode: 'host'; hostnames?: Record<string, string> };

export interface HostEnv {
  Bindings: {
    view: UrlView;
    hostId: string /** The URL as the client sent it (with the standalone prefix). */;
    originalUrl?: string;
  };
}

export type HostApp = Hono<HostEnv>;
export type HostContext = Context<HostEnv>;

/** An error to answer in a provider's own shape. */
export interface ProviderErrorInput {
  endpoint: string;
  error: string;
  description?: string;
  /** The status the generic layer suggests (405 wrong method, 413 body too large...); providers may override. */
  status?: number;
  /** The parsed request, when there is one (authorize errors may redirect). */
  request?: EndpointRequest;
  /** The provider's context (its clients, grants, settings), when the shared layer renders the error. */
  ctx?: ProviderContext;
}

/** Everything a provider declares. One file per provider shape under providers/. */
export interface ProviderDefinition {
  id: string;
  title: string;
  hosts: HostSpec[];
  /** Registered clients; the first is the default one shown in /_mock/providers. */
  clients: RegisteredClient[];
  /** Registers the routes of each host (keys are host ids). */
  mount(ctx: ProviderContext): Record<string, HostApp>;
  /** Issuer (when it has one) and every endpoint, as absolute URLs in `view`. */
  describe(ctx: ProviderContext, view: UrlView): { issuer?: string; endpoints: Record<string, string> };
  /** The persona as this provider shows it (user object, id_token claims...). */
  identity(persona: Persona): Record<string, unknown>;
  /** Renders an error in this provider's shape for the named endpoint. */
  error(input: ProviderErrorInput): Response | Promise<Response>;
  /** A fresh authorization code in the provider's format. */
  newCode?(): string;
  /**
   * Switches of this provider and their defaults (Auth0's DCR, refresh rotation...), changed at
   * run time through `POST /_mock/settings`.
   */
  settings?: Record<string, string | number | boolean>;
}

/** A parsed request handed to an endpoint handler. */
export interface EndpointRequest {
  c: HostContext;
  method: string;
  url: URL;
  view: UrlView;
  /** First value of each query or body parameter. */
  params: Record<string, string>;
  /** Every value of each parameter. */
  all: Record<string, string[]>;
  /** Parameters sent more than once (RFC 6749 3.1 forbids it). */
  repeated: string[];
  bodyType: 'none' | 'form' | 'json' | 'other';
  /** The raw body text. */
  body: string;
  /** The JSON body, when it was JSON. */
  json: unknown;
  header(name: string): string | undefined;
}

export type EndpointHandler = (req: EndpointRequest) => Response | Promise<Response>;

export interface EndpointSpec {
  /** Endpoint name used by the journal, faults and /_mock/providers. */
  name: string;
  path: string;
  methods: string[];
  /** Largest body accepted, in bytes (64 KiB by default). */
  maxBody?: number;
}

/** What the shared machinery offers a provider. */
export interface ProviderContext {
  readonly id: string;
  readonly definition: ProviderDefinition;
  readonly personas: () => PersonaSet;
  readonly journal: Journal;
  readonly keys: KeySet;
  readonly grants: GrantStore;
  readonly clients: ClientRegistry;
  readonly faults: FaultRegistry;
  persona(id: string): Persona | undefined;
  /** The current value of one of the provider's settings. */
  setting<T extends string | number | boolean>(name: string): T;
  /** Absolute URL of `path` on one of this provider's hosts. */
  url(view: UrlView, hostId: string, path?: string): string;
  /** Adds a journaled, fault-aware endpoint to a host app. */
  endpoint(app: HostApp, spec: EndpointSpec, handler: EndpointHandler): void;
  /**
   * Continues an authorization request: completes it at once when a login is queued through
   * /_mock/next-login, otherwise answers with the login page.
   */
  authorize(
    req: EndpointRequest,
    txn: Omit<AuthorizationTxn, 'id' | 'createdAt' | 'provider'>,
  ): Promise<Response>;
  /** Journals an issued code or token. */
  issued(
    kind: 'code' | 'access_token' | 'refresh_token' | 'id_token',
    persona: string,
    client: string,
    value: string,
  ): void;
  /**
   * Signs a JWT with the provider's key, applying any `token` fault set on `endpoint` (expired,
   * wrong iss or aud, bad signature, alg none).
   */
  signJwt(
    endpoint: string,
    payload: Record<string, unknown>,
    options?: { typ?: string; header?: Record<string, unknown> },
  ): Promise<string>;
  /** A token defect set on the endpoint, consumed by the caller (for providers signing themselves). */
  takeDefect(endpoint: string): TokenDefect | undefined;
}

export type { FaultAction };

/** Builds a new, empty host app. */
export function hostApp(): HostApp {
  return new Hono<HostEnv>();
}

/** An `application/json` response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** Decodes HTTP Basic client credentials (RFC 6749 2.3.1: form-urlencoded inside base64). */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  let decoded: string;
  try {
    decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    return undefined;
  }
}

/** The bearer token of an Authorization header (RFC 6750 2.1), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^bearer ([A-Za-z0-9\-._~+/]+=*)$/i);
  return match?.[1];
}
