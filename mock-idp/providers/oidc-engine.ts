/**
 * One OAuth 2.0 / OpenID Connect authorization server, configured by a flavour description
 * (oidc-flavours.ts): which host, which paths, which issuer, which token formats, which audience
 * rule, which grants and quirks. Every discovery-based backend of the mock (Keycloak, Clerk,
 * WorkOS AuthKit, Descope, Supabase, Scalekit, PropelAuth, OCI IAM, Discord) is this engine plus
 * data and a few hooks.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749 OAuth 2.0 (authorize, token, errors 4.1.2.1 and 5.2)
 * @see https://www.rfc-editor.org/rfc/rfc7636 PKCE
 * @see https://www.rfc-editor.org/rfc/rfc7009 revocation
 * @see https://www.rfc-editor.org/rfc/rfc7662 introspection
 * @see https://www.rfc-editor.org/rfc/rfc7591 dynamic client registration
 * @see https://www.rfc-editor.org/rfc/rfc8414 authorization server metadata
 * @see https://www.rfc-editor.org/rfc/rfc8707 resource indicators
 * @see https://www.rfc-editor.org/rfc/rfc9207 `iss` in the authorization response
 * @see https://openid.net/specs/openid-connect-core-1_0.html ID token, userinfo
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html discovery
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT } from 'jose';
import { type RegisteredClient, redirectAllowed } from '../clients.ts';
import { type CodeRecord, nowSeconds, type RedeemFailure, type TokenRecord } from '../grants.ts';
import { errorPage, formPostPage } from '../login-page.ts';
import type { Persona } from '../personas.ts';
import {
  basicCredentials,
  bearerToken,
  type EndpointRequest,
  type HostApp,
  hostApp,
  json,
  type ProviderContext,
  type ProviderDefinition,
  type ProviderErrorInput,
  type UrlView,
} from '../provider.ts';
import { randomId, randomUuid } from '../random.ts';
import {
  releasedClaims,
  type StandardIdentity,
  standardIdentity,
  tokenCustomClaims,
} from './oidc-identity.ts';

export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';
export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';
export type PkceMethod = 'S256' | 'plain';
/** Endpoints the engine implements; flavours list the paths of the ones they have. */
export type EndpointName =
  | 'authorize'
  | 'token'
  | 'userinfo'
  | 'jwks'
  | 'revoke'
  | 'introspect'
  | 'register'
  | 'logout';
type Params = Record<string, string>;

/** A metadata document: OpenID discovery (`discovery`) or RFC 8414 metadata (`metadata`). */
export interface MetadataDocument {
  kind: 'discovery' | 'metadata';
  /** Path template; `{name}` segments are parameters (`{realm}`). */
  path: string;
  /** The issuer this document names, when it is not the flavour's issuer (a template path). */
  issuerPath?: string;
}

/** What a token's claims are built from. */
export interface TokenContext {
  issuer: string;
  clientId: string;
  scope: string[];
  aud: string | string[];
  /** Undefined for client_credentials tokens (no end user). */
  persona: Persona | undefined;
  /** The persona's identity at this flavour (every claim, before scope filtering). */
  identity: Record<string, unknown> | undefined;
  params: Params;
  sid: string | undefined;
  grant: GrantType;
  now: number;
}

/** Texts of the errors a flavour words its own way. */
export type MessageKey =
  | 'invalid_client'
  | 'invalid_code'
  | 'invalid_refresh'
  | 'refresh_reused'
  | 'pkce_failed'
  | 'redirect_mismatch';

const DEFAULT_MESSAGES: Record<MessageKey, string> = {
  invalid_client: 'client authentication failed',
  invalid_code: 'the authorization code is invalid, expired or already used',
  invalid_refresh: 'the refresh token is invalid or expired',
  refresh_reused: 'the refresh token was already used; the grant is revoked',
  pkce_failed: '"code_verifier" does not match the "code_challenge"',
  redirect_mismatch: '"redirect_uri" does not match the one sent to the authorization endpoint',
};

export interface FlavourSpec {
  id: string;
  title: string;
  /** Hostname, or pattern with `*` for a tenant label. */
  host: string;
  defaultHost: string;
  /** Values of the path parameters used when no request names them (Keycloak's realm). */
  defaults?: Params;
  /** The issuer: a path on the host (template), or a fixed URL whatever the host (OCI). */
  issuer: { path: string } | { fixed: string };
  documents: MetadataDocument[];
  /** Path templates of each endpoint; the first is the one advertised. */
  paths: Partial<Record<EndpointName, string[]>>;
  /** Journal and fault names of endpoints whose provider calls them otherwise. */
  names?: Partial<Record<EndpointName, string>>;
  client: { id: string; secret: string; name: string };
  accessToken: 'jwt' | 'opaque';
  refreshToken: 'jwt' | 'opaque';
  /** A scope the client must ask for to get a refresh token (`offline_access`). */
  refreshNeedsScope?: string;
  /** Whether refresh rotates the refresh token (the old one is revoked; reuse revokes the grant). */
  rotateRefresh: boolean;
  /** Whether an id_token is issued when the scope holds `openid`. */
  idToken: boolean;
  pkce: { methods: PkceMethod[]; required: boolean };
  grants: GrantType[];
  authMethods: AuthMethod[];
  /** RFC 9207: add `iss` to the authorization response. */
  issParameter: boolean;
  /** Whether userinfo and id_token release profile/email claims only for those scopes. */
  scopeGatedClaims: boolean;
  /** Whether userinfo refuses access tokens without the `openid` scope (403 insufficient_scope). */
  userinfoNeedsOpenid?: boolean;
  /** Whether the persona's custom `claims` go into the id_token and JWT access token. */
  customClaims?: boolean;
  scopes: string[];
  defaultScope: string[];
  /** Scopes the provider adds to every grant (Keycloak's default client scopes). */
  addedScopes?: string[];
  accessTtl: number;
  refreshTtl: number;
  /** The `aud` of access tokens. `resources` are the RFC 8707 `resource` values of the grant. */
  audience(input: { clientId: string; resources: string[]; params: Params }): string | string[];
  /** Formats the stable derived subject of a persona. */
  subject(bytes: Buffer): string;
  /** The persona at this flavour, in the provider's own shape (every field). */
  identity?(persona: Persona, standard: StandardIdentity): Record<string, unknown>;
  /**
   * The OIDC claims (userinfo, id_token; `sub` first of all) of a provider-shaped identity, when
   * the identity is not already in OIDC shape (Discord's user object).
   */
  oidcClaims?(identity: Record<string, unknown>): Record<string, unknown>;
  accessClaims?(t: TokenContext): Record<string, unknown>;
  idClaims?(t: TokenContext): Record<string, unknown>;
  tokenResponseExtra?(t: TokenContext, refreshIssued: boolean): Record<string, unknown>;
  /** An opaque token value in the provider's format. */
  opaque?(kind: 'access_token' | 'refresh_token'): string;
  newClientId?(): string;
  /** Extra checks of an authorization request: an RFC 6749 4.1.2.1 error, or undefined. */
  checkAuthorize?(req: EndpointRequest): { error: string; description: string } | undefined;
  /** Separate credentials that alone may call introspection (PropelAuth). */
  introspectionCredentials?: { id: string; secret: string };
  settings?: Record<string, string | number | boolean>;
  messages?: Partial<Record<MessageKey, string>>;
  metadataExtra?: Record<string, unknown>;
  /** Provider-specific endpoints (Discord's @me). */
  extraEndpoints?: Array<{
    name: string;
    paths: string[];
    methods: string[];
    handler(engine: FlavourEngine, req: EndpointRequest): Response | Promise<Response>;
  }>;
  /** Errors of provider-specific endpoints in the provider's own shape. */
  errorShape?(input: ProviderErrorInput): Response | undefined;
}

const PARAM = /\{(\w+)\}/g;
const fill = (template: string, params: Params): string =>
  template.replace(PARAM, (_, name: string) => encodeURIComponent(params[name] ?? ''));
const routeOf = (template: string): string => template.replace(PARAM, ':$1');

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const VERIFIER_OR_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;
/** Parameters RFC 8707 lets a client send more than once. */
const REPEATABLE = new Set(['resource']);

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** OIDC Core 3.1.3.6: left half of the SHA-256 of the access token, base64url. */
function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
}

function scopeList(value: string | undefined): string[] {
  return value ? value.split(' ').filter(Boolean) : [];
}

function withScopes(requested: string[], added: string[] | undefined): string[] {
  if (!added?.length) return requested;
  const out = [...requested];
  for (const s of added) if (!out.includes(s)) out.push(s);
  return out;
}

/** RFC 8707 2: an absolute URI without a fragment. */
function validResource(value: string): boolean {
  try {
    return !new URL(value).hash && !value.includes('#');
  } catch {
    return false;
  }
}

/** A redirect URI a client may register (RFC 7591 2, RFC 8252 7): absolute, no fragment, http only on loopback. */
function registrableRedirect(uri: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.hash || uri.includes('#')) return false;
  if (url.protocol === 'javascript:' || url.protocol === 'data:' || url.protocol === 'file:') return false;
  if (url.protocol === 'http:') return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  return true;
}

const engines = new WeakMap<object, FlavourEngine>();

/** A flavour's absolute URLs: the issuer and every endpoint, for one URL view. */
function urls(spec: FlavourSpec, ctx: ProviderContext, view: UrlView, params: Params) {
  const at = (template: string) => ctx.url(view, 'idp', fill(template, params));
  const issuer = 'fixed' in spec.issuer ? spec.issuer.fixed : at(spec.issuer.path);
  return { at, issuer };
}

/** The engine bound to one mock instance's context. */
export class FlavourEngine {
  readonly spec: FlavourSpec;
  readonly ctx: ProviderContext;
  readonly #messages: Record<MessageKey, string>;
  /** `jti` of revoked self-contained tokens (client_credentials JWTs are not stored); bounded. */
  readonly #revokedJti = new Set<string>();
  /** Keycloak signs its refresh tokens with a realm HMAC key that is never published. */
  readonly #refreshKey = new TextEncoder().encode(randomId(48));

  constructor(spec: FlavourSpec, ctx: ProviderContext) {
    this.spec = spec;
    this.ctx = ctx;
    this.#messages = { ...DEFAULT_MESSAGES, ...spec.messages };
  }

  name(endpoint: EndpointName): string {
    return this.spec.names?.[endpoint] ?? endpoint;
  }

  params(req: EndpointRequest): Params {
    return { ...this.spec.defaults, ...req.c.req.param() };
  }

  issuer(view: UrlView, params: Params): string {
    const { issuer } = this.spec;
    return 'fixed' in issuer ? issuer.fixed : this.ctx.url(view, 'idp', fill(issuer.path, params));
  }

  url(view: UrlView, template: string, params: Params): string {
    return urls(this.spec, this.ctx, view, params).at(template);
  }

  dcrEnabled(): boolean {
    return Boolean(this.spec.paths.register) && this.ctx.setting<boolean>('dcr') !== false;
  }

  jwtAccessTokens(): boolean {
    const setting = this.spec.settings?.['jwt_access_tokens'];
    return typeof setting === 'boolean'
      ? this.ctx.setting<boolean>('jwt_access_tokens')
      : this.spec.accessToken === 'jwt';
  }

  rotates(): boolean {
    const setting = this.spec.settings?.['refresh_rotation'];
    return typeof setting === 'boolean'
      ? this.ctx.setting<boolean>('refresh_rotation')
      : this.spec.rotateRefresh;
  }

  identityOf(persona: Persona): Record<string, unknown> {
    const standard = standardIdentity(persona, this.spec.id, this.spec.subject);
    return this.spec.identity ? this.spec.identity(persona, standard) : { ...standard };
  }

  /** The persona's OIDC claims at this flavour, before scope filtering. */
  claimsOf(persona: Persona): Record<string, unknown> {
    const identity = this.identityOf(persona);
    return this.spec.oidcClaims ? this.spec.oidcClaims(identity) : identity;
  }

  /** An RFC 6749 5.2 error response (or the flavour's own shape). */
  oauthError(
    endpoint: string,
    error: string,
    description: string,
    status = 400,
    headers: Record<string, string> = {},
  ): Response {
    const custom = this.spec.errorShape?.({ endpoint, error, description, status });
    if (custom) return custom;
    return json({ error, ...(description ? { error_description: description } : {}) }, status, {
      ...NO_STORE,
      ...headers,
    });
  }

  /** A live access token of this flavour presented as a bearer token, or undefined. */
  bearerRecord(req: EndpointRequest): TokenRecord | undefined {
    const value =
      bearerToken(req.header('authorization')) ??
      (req.method === 'POST' && req.bodyType === 'form' ? req.params['access_token'] : undefined);
    return value ? this.ctx.grants.findToken(this.ctx.id, value, 'access_token') : undefined;
  }

  // ---------------------------------------------------------------- routes

  build(): HostApp {
    const app = hostApp();
    const { spec, ctx } = this;
    app.use('*', async (c, next) => {
      engines.set(c, this);
      await next();
    });
    for (const doc of spec.documents) {
      ctx.endpoint(app, { name: doc.kind, path: routeOf(doc.path), methods: ['GET'] }, (req) =>
        json(this.metadata(req.view, this.params(req), doc), 200, { 'cache-control': 'public, max-age=300' }),
      );
    }
    const handlers: Record<
      EndpointName,
      { methods: string[]; run(req: EndpointRequest): Promise<Response> }
    > = {
      authorize: { methods: ['GET', 'POST'], run: (req) => this.#authorize(req) },
      token: { methods: ['POST'], run: (req) => this.#token(req) },
      userinfo: { methods: ['GET', 'POST'], run: async (req) => this.#userinfo(req) },
      jwks: {
        methods: ['GET'],
        run: async () => json(await ctx.keys.jwks(), 200, { 'cache-control': 'public, max-age=300' }),
      },
      revoke: { methods: ['POST'], run: (req) => this.#revoke(req) },
      introspect: { methods: ['POST'], run: (req) => this.#introspect(req) },
      register: { methods: ['POST'], run: async (req) => this.#register(req) },
      logout: { methods: ['GET', 'POST'], run: async (req) => this.#logout(req) },
    };
    for (const [endpoint, paths] of Object.entries(spec.paths) as Array<[EndpointName, string[]]>) {
      const handler = handlers[endpoint];
      for (const path of paths) {
        ctx.endpoint(
          app,
          { name: this.name(endpoint), path: routeOf(path), methods: handler.methods },
          handler.run,
        );
      }
    }
    for (const extra of spec.extraEndpoints ?? []) {
      for (const path of extra.paths) {
        ctx.endpoint(app, { name: extra.name, path: routeOf(path), methods: extra.methods }, (req) =>
          extra.handler(this, req),
        );
      }
    }
    return app;
  }

  /** The discovery document or RFC 8414 metadata, as one object. */
  metadata(view: UrlView, params: Params, doc?: MetadataDocument): Record<string, unknown> {
    const { spec } = this;
    const { at, issuer } = urls(spec, this.ctx, view, params);
    const endpoint = (name: EndpointName) => {
      const path = spec.paths[name]?.[0];
      return path ? at(path) : undefined;
    };
    const entries: Record<string, unknown> = {
      issuer: doc?.issuerPath ? at(doc.issuerPath) : issuer,
      authorization_endpoint: endpoint('authorize'),
      token_endpoint: endpoint('token'),
      userinfo_endpoint: endpoint('userinfo'),
      jwks_uri: endpoint('jwks'),
      registration_endpoint: this.dcrEnabled() ? endpoint('register') : undefined,
      revocation_endpoint: endpoint('revoke'),
      introspection_endpoint: endpoint('introspect'),
      end_session_endpoint: endpoint('logout'),
      scopes_supported: spec.scopes,
      response_types_supported: ['code'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      grant_types_supported: spec.grants,
      code_challenge_methods_supported: spec.pkce.methods,
      token_endpoint_auth_methods_supported: spec.authMethods,
      revocation_endpoint_auth_methods_supported: spec.paths.revoke ? spec.authMethods : undefined,
      introspection_endpoint_auth_methods_supported: spec.paths.introspect
        ? spec.authMethods.filter((m) => m !== 'none')
        : undefined,
      subject_types_supported: spec.idToken ? ['public'] : undefined,
      id_token_signing_alg_values_supported: spec.idToken ? ['RS256'] : undefined,
      claims_supported: spec.idToken
        ? ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'name', 'email', 'email_verified']
        : undefined,
      authorization_response_iss_parameter_supported: spec.issParameter || undefined,
      ...spec.metadataExtra,
    };
    return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
  }

  // ---------------------------------------------------------------- authorize

  /** Where an authorization request's answer may go, or the error page to show instead. */
  #target(req: EndpointRequest): { client: RegisteredClient; target: string } | Response {
    const clientId = req.params['client_id'];
    const client = clientId ? this.ctx.clients.get(clientId) : undefined;
    if (!client) {
      return errorPage(
        400,
        'Unknown client',
        `"client_id" ${clientId ? `"${clientId}" ` : ''}is not registered.`,
      );
    }
    const uri = req.params['redirect_uri'];
    if (uri !== undefined) {
      if (!redirectAllowed(client, uri)) {
        return errorPage(400, 'Invalid redirect_uri', `"redirect_uri" is not registered for this client.`);
      }
      return { client, target: uri };
    }
    if (client.redirectUris.length === 1) return { client, target: client.redirectUris[0]! };
    return errorPage(400, 'Missing redirect_uri', '"redirect_uri" is required for this client.');
  }

  /** RFC 6749 4.1.2.1: an error sent back to the client's redirect URI. */
  authorizeError(req: EndpointRequest, error: string, description: string): Response {
    const resolved = this.#target(req);
    if (resolved instanceof Response) return resolved;
    const params: Record<string, string> = { error };
    if (description) params['error_description'] = description;
    if (req.params['state'] !== undefined) params['state'] = req.params['state'];
    if (this.spec.issParameter) params['iss'] = this.issuer(req.view, this.params(req));
    const mode = req.params['response_mode'];
    if (mode === 'form_post') return formPostPage(resolved.target, params);
    const target = new URL(resolved.target);
    if (mode === 'fragment') target.hash = new URLSearchParams(params).toString();
    else for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    return new Response(null, {
      status: 302,
      headers: { location: target.toString(), 'cache-control': 'no-store' },
    });
  }

  async #authorize(req: EndpointRequest): Promise<Response> {
    const { spec } = this;
    const resolved = this.#target(req);
    if (resolved instanceof Response) return resolved;
    const p = req.params;
    const fail = (error: string, description: string) => this.authorizeError(req, error, description);
    const repeated = req.repeated.filter((name) => !REPEATABLE.has(name));
    if (repeated.length) return fail('invalid_request', `"${repeated[0]}" is repeated`);
    if (!p['response_type']) return fail('invalid_request', '"response_type" is required');
    if (p['response_type'] !== 'code') {
      return fail('unsupported_response_type', `"response_type" "${p['response_type']}" is not supported`);
    }
    const mode = p['response_mode'] ?? 'query';
    if (mode !== 'query' && mode !== 'fragment' && mode !== 'form_post') {
      return fail('invalid_request', `"response_mode" "${mode}" is not supported`);
    }
    const challenge = p['code_challenge'];
    const method = (p['code_challenge_method'] ?? (challenge ? 'plain' : undefined)) as
      | PkceMethod
      | undefined;
    if (challenge !== undefined) {
      if (!method || !spec.pkce.methods.includes(method)) {
        return fail('invalid_request', `"code_challenge_method" "${method}" is not supported`);
      }
      if (!VERIFIER_OR_CHALLENGE.test(challenge))
        return fail('invalid_request', '"code_challenge" is malformed');
    } else if (p['code_challenge_method'] !== undefined) {
      return fail('invalid_request', '"code_challenge" is required with "code_challenge_method"');
    } else if (spec.pkce.required || !resolved.client.clientSecret) {
      return fail('invalid_request', '"code_challenge" is required');
    }
    const resources = req.all['resource'] ?? [];
    const badResource = resources.find((r) => !validResource(r));
    if (badResource !== undefined)
      return fail('invalid_target', `"resource" "${badResource}" is not an absolute URI`);
    const check = spec.checkAuthorize?.(req);
    if (check) return fail(check.error, check.description);
    const params = this.params(req);
    return this.ctx.authorize(req, {
      clientId: resolved.client.clientId,
      redirectUri: p['redirect_uri'],
      target: resolved.target,
      scope: withScopes(p['scope'] ? scopeList(p['scope']) : spec.defaultScope, spec.addedScopes),
      state: p['state'],
      nonce: p['nonce'],
      codeChallenge: challenge,
      codeChallengeMethod: challenge ? method : undefined,
      responseMode: mode,
      extra: { resources, params },
      redirectParams: spec.issParameter ? { iss: this.issuer(req.view, params) } : {},
    });
  }

  // ---------------------------------------------------------------- client authentication

  /**
   * RFC 6749 2.3.1: client_secret_basic or client_secret_post (one method only), or a public
   * client naming itself (`none`). Answers 401 invalid_client on failure (5.2).
   */
  authenticate(req: EndpointRequest, endpoint: string): RegisteredClient | Response {
    const basic = basicCredentials(req.header('authorization'));
    const postId = req.params['client_id'];
    const postSecret = req.params['client_secret'];
    let id: string | undefined;
    let secret: string | undefined;
    let method: AuthMethod;
    if (basic) {
      if (postSecret !== undefined) {
        return this.oauthError(endpoint, 'invalid_request', 'use one client authentication method, not two');
      }
      if (postId !== undefined && postId !== basic.id) {
        return this.oauthError(endpoint, 'invalid_request', '"client_id" differs from the Basic credentials');
      }
      id = basic.id;
      secret = basic.secret;
      method = 'client_secret_basic';
    } else if (postSecret !== undefined) {
      id = postId;
      secret = postSecret;
      method = 'client_secret_post';
    } else {
      id = postId;
      method = 'none';
    }
    const invalid = (description: string) =>
      this.oauthError(endpoint, 'invalid_client', description, 401, {
        ...(basic ? { 'www-authenticate': 'Basic realm="mock"' } : {}),
      });
    if (!id) return invalid('client authentication is required');
    const client = this.ctx.clients.get(id);
    if (!client || !this.spec.authMethods.includes(method)) return invalid(this.#messages.invalid_client);
    if (method === 'none') {
      return client.clientSecret ? invalid(this.#messages.invalid_client) : client;
    }
    if (!client.clientSecret || !safeEqual(secret ?? '', client.clientSecret)) {
      return invalid(this.#messages.invalid_client);
    }
    return client;
  }

  // ---------------------------------------------------------------- token endpoint

  async #token(req: EndpointRequest): Promise<Response> {
    const { spec } = this;
    const name = this.name('token');
    if (req.bodyType !== 'form' && req.bodyType !== 'none') {
      return this.oauthError(name, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
    }
    const repeated = req.repeated.filter((n) => !REPEATABLE.has(n));
    if (repeated.length) return this.oauthError(name, 'invalid_request', `"${repeated[0]}" is repeated`);
    const grant = req.params['grant_type'];
    if (!grant) return this.oauthError(name, 'invalid_request', '"grant_type" is required');
    if (!spec.grants.includes(grant as GrantType)) {
      return this.oauthError(name, 'unsupported_grant_type', `"grant_type" "${grant}" is not supported`);
    }
    const client = this.authenticate(req, name);
    if (client instanceof Response) return client;
    const resources = req.all['resource'] ?? [];
    const badResource = resources.find((r) => !validResource(r));
    if (badResource !== undefined) {
      return this.oauthError(name, 'invalid_target', `"resource" "${badResource}" is not an absolute URI`);
    }
    switch (grant as GrantType) {
      case 'authorization_code':
        return this.#codeGrant(req, client, resources);
      case 'refresh_token':
        return this.#refreshGrant(req, client, resources);
      default:
        return this.#clientCredentials(req, client, resources);
    }
  }

  #redeemMessage(reason: RedeemFailure): string {
    if (reason === 'redirect_uri_mismatch') return this.#messages.redirect_mismatch;
    if (reason === 'verifier_missing' || reason === 'verifier_mismatch' || reason === 'verifier_unexpected') {
      return this.#messages.pkce_failed;
    }
    return this.#messages.invalid_code;
  }

  async #codeGrant(req: EndpointRequest, client: RegisteredClient, resources: string[]): Promise<Response> {
    const name = this.name('token');
    const code = req.params['code'];
    if (!code) return this.oauthError(name, 'invalid_request', '"code" is required');
    const result = this.ctx.grants.redeemCode(this.ctx.id, code, {
      clientId: client.clientId,
      redirectUri: req.params['redirect_uri'],
      codeVerifier: req.params['code_verifier'],
    });
    if (!result.ok) return this.oauthError(name, 'invalid_grant', this.#redeemMessage(result.reason));
    const { record } = result;
    const persona = this.ctx.persona(record.persona);
    if (!persona)
      return this.oauthError(name, 'invalid_grant', `persona "${record.persona}" no longer exists`);
    const authorized = (record.txn.extra['resources'] as string[] | undefined) ?? [];
    const outside = resources.find((r) => authorized.length > 0 && !authorized.includes(r));
    if (outside !== undefined) {
      return this.oauthError(name, 'invalid_target', `"resource" "${outside}" was not authorized`);
    }
    const body = await this.#userTokens(req, {
      client,
      persona,
      scope: record.txn.scope,
      resources: resources.length ? resources : authorized,
      params: (record.txn.extra['params'] as Params | undefined) ?? this.params(req),
      nonce: record.txn.nonce,
      family: randomId(20),
      sid: randomUuid(),
      authTime: record.txn.createdAt,
      fromCode: record,
      grant: 'authorization_code',
    });
    return json(body, 200, NO_STORE);
  }

  async #refreshGrant(
    req: EndpointRequest,
    client: RegisteredClient,
    resources: string[],
  ): Promise<Response> {
    const name = this.name('token');
    const { grants } = this.ctx;
    const value = req.params['refresh_token'];
    if (!value) return this.oauthError(name, 'invalid_request', '"refresh_token" is required');
    const record = grants.anyToken(value);
    if (!record || record.provider !== this.ctx.id || record.kind !== 'refresh_token') {
      return this.oauthError(name, 'invalid_grant', this.#messages.invalid_refresh);
    }
    if (record.clientId !== client.clientId) {
      return this.oauthError(name, 'invalid_grant', 'the refresh token was issued to another client');
    }
    if (record.revoked) {
      // Reuse of a rotated refresh token: revoke the whole grant (OAuth 2.0 Security BCP 4.14.2).
      grants.revokeFamilyOf(value);
      return this.oauthError(name, 'invalid_grant', this.#messages.refresh_reused);
    }
    if (record.expiresAt !== undefined && record.expiresAt <= nowSeconds()) {
      return this.oauthError(name, 'invalid_grant', this.#messages.invalid_refresh);
    }
    const persona = this.ctx.persona(record.persona);
    if (!persona)
      return this.oauthError(name, 'invalid_grant', `persona "${record.persona}" no longer exists`);
    const requested = scopeList(req.params['scope']);
    const extra = requested.find((s) => !record.scope.includes(s));
    if (extra !== undefined)
      return this.oauthError(name, 'invalid_scope', `scope "${extra}" was not granted`);
    const granted = (record.extra['resources'] as string[] | undefined) ?? [];
    const outside = resources.find((r) => granted.length > 0 && !granted.includes(r));
    if (outside !== undefined) {
      return this.oauthError(name, 'invalid_target', `"resource" "${outside}" was not authorized`);
    }
    const rotate = this.rotates();
    if (rotate) grants.revoke(value);
    const body = await this.#userTokens(req, {
      client,
      persona,
      scope: requested.length ? requested : record.scope,
      resources: resources.length ? resources : granted,
      params: (record.extra['params'] as Params | undefined) ?? this.params(req),
      nonce: undefined,
      family: record.family,
      sid: record.extra['sid'] as string | undefined,
      authTime: (record.extra['authTime'] as number | undefined) ?? nowSeconds(),
      grant: 'refresh_token',
      keepRefresh: rotate ? undefined : value,
    });
    return json(body, 200, NO_STORE);
  }

  /**
   * RFC 6749 4.4. Kept lean: it is the benchmark's hot path. A JWT access token is not stored
   * (it is self-contained; introspection verifies its signature), only journaled.
   */
  async #clientCredentials(
    req: EndpointRequest,
    client: RegisteredClient,
    resources: string[],
  ): Promise<Response> {
    const { spec, ctx } = this;
    if (!client.clientSecret) {
      return this.oauthError(
        this.name('token'),
        'unauthorized_client',
        'a public client cannot use client_credentials',
      );
    }
    const now = nowSeconds();
    const params = spec.defaults ? this.params(req) : {};
    const scope = scopeList(req.params['scope']);
    const aud = spec.audience({ clientId: client.clientId, resources, params });
    const subject = `service-account-${client.clientId}`;
    let token: string;
    if (this.jwtAccessTokens()) {
      const t: TokenContext = {
        issuer: this.issuer(req.view, params),
        clientId: client.clientId,
        scope,
        aud,
        persona: undefined,
        identity: undefined,
        params,
        sid: undefined,
        grant: 'client_credentials',
        now,
      };
      const payload: Record<string, unknown> = {
        iss: t.issuer,
        sub: subject,
        aud,
        exp: now + spec.accessTtl,
        iat: now,
        jti: randomUuid(),
        client_id: client.clientId,
        scope: scope.join(' '),
      };
      if (spec.accessClaims) Object.assign(payload, spec.accessClaims(t));
      token = await ctx.signJwt(this.name('token'), payload);
    } else {
      token = spec.opaque?.('access_token') ?? randomId(40);
      ctx.grants.issueToken({
        value: token,
        provider: ctx.id,
        kind: 'access_token',
        persona: subject,
        clientId: client.clientId,
        scope,
        expiresAt: now + spec.accessTtl,
        family: token,
        extra: { aud, resources, params, iat: now, subject },
      });
    }
    ctx.issued('access_token', subject, client.clientId, token);
    return json(
      { access_token: token, token_type: 'Bearer', expires_in: spec.accessTtl, scope: scope.join(' ') },
      200,
      NO_STORE,
    );
  }

  /** Issues the tokens of a user grant (code exchange or refresh) and returns the response body. */
  async #userTokens(
    req: EndpointRequest,
    o: {
      client: RegisteredClient;
      persona: Persona;
      scope: string[];
      resources: string[];
      params: Params;
      nonce: string | undefined;
      family: string;
      sid: string | undefined;
      authTime: number;
      fromCode?: CodeRecord;
      grant: GrantType;
      /** The refresh token to keep (no rotation): no new one is issued. */
      keepRefresh?: string | undefined;
    },
  ): Promise<Record<string, unknown>> {
    const { spec, ctx } = this;
    const endpoint = this.name('token');
    const now = nowSeconds();
    const identity = this.claimsOf(o.persona);
    const sub = String(identity['sub']);
    const t: TokenContext = {
      issuer: this.issuer(req.view, o.params),
      clientId: o.client.clientId,
      scope: o.scope,
      aud: spec.audience({ clientId: o.client.clientId, resources: o.resources, params: o.params }),
      persona: o.persona,
      identity,
      params: o.params,
      sid: o.sid,
      grant: o.grant,
      now,
    };
    const custom = spec.customClaims ? tokenCustomClaims(o.persona) : {};
    const tokenBase = {
      provider: ctx.id,
      persona: o.persona.id,
      clientId: o.client.clientId,
      scope: o.scope,
      family: o.family,
      ...(o.fromCode ? { fromCode: o.fromCode } : {}),
    };

    // Access token first: a `token` fault with `times: 1` makes the access token defective.
    let accessToken: string;
    if (this.jwtAccessTokens()) {
      accessToken = await ctx.signJwt(endpoint, {
        ...custom,
        iss: t.issuer,
        sub,
        aud: t.aud,
        exp: now + spec.accessTtl,
        iat: now,
        jti: randomUuid(),
        client_id: o.client.clientId,
        scope: o.scope.join(' '),
        ...spec.accessClaims?.(t),
      });
    } else {
      accessToken = spec.opaque?.('access_token') ?? randomId(40);
    }
    ctx.grants.issueToken({
      ...tokenBase,
      value: accessToken,
      kind: 'access_token',
      expiresAt: now + spec.accessTtl,
      extra: { aud: t.aud, resources: o.resources, params: o.params, sid: o.sid, iat: now, subject: sub },
    });
    ctx.issued('access_token', o.persona.id, o.client.clientId, accessToken);
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: spec.accessTtl,
    };

    if (spec.idToken && o.scope.includes('openid')) {
      const idToken = await ctx.signJwt(endpoint, {
        ...custom,
        ...releasedClaims(identity, o.scope, spec.scopeGatedClaims),
        iss: t.issuer,
        sub,
        aud: o.client.clientId,
        exp: now + spec.accessTtl,
        iat: now,
        auth_time: o.authTime,
        ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
        azp: o.client.clientId,
        at_hash: atHash(accessToken),
        ...spec.idClaims?.(t),
      });
      ctx.issued('id_token', o.persona.id, o.client.clientId, idToken);
      body['id_token'] = idToken;
    }

    const wantsRefresh =
      spec.grants.includes('refresh_token') &&
      (!spec.refreshNeedsScope || o.scope.includes(spec.refreshNeedsScope));
    let refreshIssued = false;
    if (wantsRefresh && o.keepRefresh === undefined) {
      const refresh =
        spec.refreshToken === 'jwt'
          ? await this.#refreshJwt(t, sub)
          : (spec.opaque?.('refresh_token') ?? randomId(48));
      ctx.grants.issueToken({
        ...tokenBase,
        value: refresh,
        kind: 'refresh_token',
        expiresAt: now + spec.refreshTtl,
        extra: { resources: o.resources, params: o.params, sid: o.sid, authTime: o.authTime, iat: now },
      });
      ctx.issued('refresh_token', o.persona.id, o.client.clientId, refresh);
      body['refresh_token'] = refresh;
      refreshIssued = true;
    }
    body['scope'] = o.scope.join(' ');
    Object.assign(body, spec.tokenResponseExtra?.(t, refreshIssued));
    return body;
  }

  /** Keycloak's refresh token: a JWT of `typ` Refresh, HMAC-signed with a key no client has. */
  #refreshJwt(t: TokenContext, sub: string): Promise<string> {
    return new SignJWT({
      iss: t.issuer,
      aud: t.issuer,
      sub,
      typ: 'Refresh',
      azp: t.clientId,
      ...(t.sid ? { sid: t.sid, session_state: t.sid } : {}),
      scope: t.scope.join(' '),
      jti: randomUuid(),
    })
      .setProtectedHeader({ alg: 'HS512', typ: 'JWT', kid: `${this.ctx.id}-hmac` })
      .setIssuedAt(t.now)
      .setExpirationTime(t.now + this.spec.refreshTtl)
      .sign(this.#refreshKey);
  }

  // ---------------------------------------------------------------- userinfo, revocation, introspection

  /** OIDC Core 5.3: the persona's claims released by the token's scope; RFC 6750 3 errors. */
  #userinfo(req: EndpointRequest): Response {
    const name = this.name('userinfo');
    const realm = this.issuer(req.view, this.params(req));
    const challenge = (error: string, description: string, status: number) =>
      this.oauthError(name, error, description, status, {
        'www-authenticate': `Bearer realm="${realm}", error="${error}", error_description="${description}"`,
      });
    const record = this.bearerRecord(req);
    if (!record) {
      if (!bearerToken(req.header('authorization')) && !req.params['access_token']) {
        return this.oauthError(name, 'invalid_request', 'a bearer token is required', 401, {
          'www-authenticate': `Bearer realm="${realm}"`,
        });
      }
      return challenge('invalid_token', 'the access token is invalid or expired', 401);
    }
    const persona = this.ctx.persona(record.persona);
    if (!persona) return challenge('invalid_token', 'the access token has no user', 401);
    if (this.spec.userinfoNeedsOpenid && !record.scope.includes('openid')) {
      return challenge('insufficient_scope', 'the access token lacks the openid scope', 403);
    }
    const claims = releasedClaims(this.claimsOf(persona), record.scope, this.spec.scopeGatedClaims);
    if (this.spec.customClaims) {
      // Userinfo carries every custom claim but `sub`, reserved names included, so that servers
      // passing claims through can be checked for letting them override their own.
      for (const [key, value] of Object.entries(persona.claims)) if (key !== 'sub') claims[key] ??= value;
    }
    return json(claims, 200, { 'cache-control': 'no-store' });
  }

  /** RFC 7009: 200 even for unknown tokens; a refresh token takes its grant with it. */
  async #revoke(req: EndpointRequest): Promise<Response> {
    const name = this.name('revoke');
    const client = this.authenticate(req, name);
    if (client instanceof Response) return client;
    const token = req.params['token'];
    if (!token) return this.oauthError(name, 'invalid_request', '"token" is required');
    const record = this.ctx.grants.anyToken(token);
    if (record && record.provider === this.ctx.id && record.clientId === client.clientId) {
      if (record.kind === 'refresh_token') this.ctx.grants.revokeFamilyOf(token);
      else this.ctx.grants.revoke(token);
    } else if (!record) {
      // A self-contained JWT this flavour never stored (client_credentials): remember its jti.
      const claims = await this.#verifySelf(token, this.issuer(req.view, this.params(req)));
      if (claims && claims['client_id'] === client.clientId && typeof claims['jti'] === 'string') {
        if (this.#revokedJti.size >= 10_000) this.#revokedJti.clear();
        this.#revokedJti.add(claims['jti']);
      }
    }
    return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } });
  }

  /** The caller of introspection: the flavour's introspection credentials, or a confidential client. */
  #introspector(req: EndpointRequest, name: string): string | Response {
    const fixed = this.spec.introspectionCredentials;
    if (!fixed) {
      const client = this.authenticate(req, name);
      if (client instanceof Response) return client;
      if (!client.clientSecret)
        return this.oauthError(name, 'invalid_client', 'a public client cannot introspect', 401);
      return client.clientId;
    }
    const basic = basicCredentials(req.header('authorization'));
    const id = basic?.id ?? req.params['client_id'];
    const secret = basic?.secret ?? req.params['client_secret'];
    if (!id || secret === undefined || id !== fixed.id || !safeEqual(secret, fixed.secret)) {
      return this.oauthError(name, 'invalid_client', 'the introspection credentials are not valid', 401, {
        ...(basic ? { 'www-authenticate': 'Basic realm="introspection"' } : {}),
      });
    }
    return fixed.id;
  }

  /** RFC 7662: `{active:false}` for anything unknown, expired or revoked. */
  async #introspect(req: EndpointRequest): Promise<Response> {
    const name = this.name('introspect');
    const caller = this.#introspector(req, name);
    if (caller instanceof Response) return caller;
    const token = req.params['token'];
    if (!token) return this.oauthError(name, 'invalid_request', '"token" is required');
    const stored = this.ctx.grants.anyToken(token);
    const record = stored?.provider === this.ctx.id ? stored : undefined;
    // Known but revoked or expired: inactive, whatever its signature says.
    if (record && !this.ctx.grants.findToken(this.ctx.id, token))
      return json({ active: false }, 200, NO_STORE);
    const params = record ? ((record.extra['params'] as Params | undefined) ?? {}) : this.params(req);
    const issuer = this.issuer(req.view, params);
    if (!record) {
      const claims = await this.#verifySelf(token, issuer);
      return json(
        claims ? { ...claims, active: true, token_type: 'Bearer' } : { active: false },
        200,
        NO_STORE,
      );
    }
    const isJwt = token.split('.').length === 3;
    const base: Record<string, unknown> = isJwt && record.kind === 'access_token' ? decodeJwt(token) : {};
    const answer: Record<string, unknown> = {
      ...base,
      active: true,
      scope: record.scope.join(' '),
      client_id: record.clientId,
      sub: (record.extra['subject'] as string | undefined) ?? base['sub'],
      exp: record.expiresAt,
      iat: record.extra['iat'],
      iss: issuer,
      token_type: record.kind === 'access_token' ? 'Bearer' : 'refresh_token',
    };
    if (record.kind === 'access_token') answer['aud'] = record.extra['aud'];
    const persona = this.ctx.persona(record.persona);
    if (persona) {
      const claims = this.claimsOf(persona);
      answer['username'] = claims['preferred_username'] ?? persona.id;
      answer['sub'] ??= claims['sub'];
    }
    return json(answer, 200, NO_STORE);
  }

  /** A JWT this flavour signed and did not store (client_credentials): its claims when valid. */
  async #verifySelf(token: string, issuer: string): Promise<Record<string, unknown> | undefined> {
    if (token.split('.').length !== 3) return undefined;
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(await this.ctx.keys.jwks()), {
        issuer,
        algorithms: ['RS256'],
      });
      return typeof payload.jti === 'string' && this.#revokedJti.has(payload.jti) ? undefined : payload;
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- registration, logout

  /** RFC 7591: open registration; validates the metadata and answers 201 with the new client. */
  #register(req: EndpointRequest): Response {
    const name = this.name('register');
    if (!this.dcrEnabled()) {
      return this.oauthError(name, 'access_denied', 'dynamic client registration is disabled', 403);
    }
    const bad = (error: string, description: string) => this.oauthError(name, error, description);
    if (req.bodyType !== 'json' || !req.json || typeof req.json !== 'object' || Array.isArray(req.json)) {
      return bad('invalid_client_metadata', 'the body must be a JSON object');
    }
    const meta = req.json as Record<string, unknown>;
    const list = (key: string, fallback: string[]): string[] | undefined => {
      const value = meta[key];
      if (value === undefined) return fallback;
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? (value as string[])
        : undefined;
    };
    const grantTypes = list('grant_types', ['authorization_code']);
    if (!grantTypes) return bad('invalid_client_metadata', '"grant_types" must be a list of strings');
    const unsupportedGrant = grantTypes.find((g) => !this.spec.grants.includes(g as GrantType));
    if (unsupportedGrant !== undefined) {
      return bad('invalid_client_metadata', `grant type "${unsupportedGrant}" is not supported`);
    }
    const responseTypes = list('response_types', ['code']);
    if (!responseTypes || responseTypes.some((r) => r !== 'code')) {
      return bad('invalid_client_metadata', '"response_types" must be ["code"]');
    }
    const redirectUris = list('redirect_uris', []);
    if (!redirectUris) return bad('invalid_redirect_uri', '"redirect_uris" must be a list of strings');
    if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
      return bad('invalid_redirect_uri', '"redirect_uris" is required for the authorization_code grant');
    }
    const badUri = redirectUris.find((u) => !registrableRedirect(u));
    if (badUri !== undefined) return bad('invalid_redirect_uri', `"redirect_uri" "${badUri}" is not allowed`);
    const method = meta['token_endpoint_auth_method'] ?? 'client_secret_basic';
    if (typeof method !== 'string' || !this.spec.authMethods.includes(method as AuthMethod)) {
      return bad(
        'invalid_client_metadata',
        `"token_endpoint_auth_method" "${String(method)}" is not supported`,
      );
    }
    if (method === 'none' && grantTypes.includes('client_credentials')) {
      return bad('invalid_client_metadata', 'a public client cannot use client_credentials');
    }
    for (const key of ['client_name', 'scope', 'client_uri', 'logo_uri']) {
      if (meta[key] !== undefined && typeof meta[key] !== 'string') {
        return bad('invalid_client_metadata', `"${key}" must be a string`);
      }
    }
    const clientId = this.spec.newClientId?.() ?? randomUuid();
    const secret = method === 'none' ? undefined : randomId(40);
    const clientName = (meta['client_name'] as string | undefined) ?? clientId;
    this.ctx.clients.add({
      clientId,
      clientSecret: secret,
      redirectUris,
      allowLoopback: false,
      tokenEndpointAuthMethod: method as AuthMethod,
      name: clientName,
      extra: { grantTypes, registered: true },
    });
    const issuedAt = nowSeconds();
    return json(
      {
        ...meta,
        client_id: clientId,
        ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
        client_id_issued_at: issuedAt,
        client_name: clientName,
        redirect_uris: redirectUris,
        grant_types: grantTypes,
        response_types: responseTypes,
        token_endpoint_auth_method: method,
      },
      201,
      NO_STORE,
    );
  }

  /** RP-initiated logout: back to a registered post_logout_redirect_uri, or a signed-out page. */
  #logout(req: EndpointRequest): Response {
    const uri = req.params['post_logout_redirect_uri'];
    const client = req.params['client_id'] ? this.ctx.clients.get(req.params['client_id']) : undefined;
    if (uri && client && redirectAllowed(client, uri)) {
      const target = new URL(uri);
      if (req.params['state'] !== undefined) target.searchParams.set('state', req.params['state']);
      return new Response(null, { status: 302, headers: { location: target.toString() } });
    }
    return new Response('<!doctype html><title>Signed out</title><p>You are signed out.</p>', {
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
    });
  }
}

/** Builds the provider definition of one flavour. */
export function defineFlavour(spec: FlavourSpec): ProviderDefinition {
  return {
    id: spec.id,
    title: spec.title,
    hosts: [{ id: 'idp', host: spec.host, defaultHost: spec.defaultHost, prefix: spec.id }],
    clients: [
      {
        clientId: spec.client.id,
        clientSecret: spec.client.secret,
        redirectUris: ['http://localhost:8000/auth/callback'],
        allowLoopback: true,
        tokenEndpointAuthMethod: spec.authMethods.includes('client_secret_basic')
          ? 'client_secret_basic'
          : 'client_secret_post',
        name: spec.client.name,
        extra: {},
      },
    ],
    ...(spec.settings ? { settings: spec.settings } : {}),
    mount(ctx) {
      return { idp: new FlavourEngine(spec, ctx).build() };
    },
    describe(ctx, view) {
      const params = spec.defaults ?? {};
      const { at, issuer } = urls(spec, ctx, view, params);
      const endpoints: Record<string, string> = {};
      for (const doc of spec.documents) endpoints[doc.kind] ??= at(doc.path);
      for (const [name, paths] of Object.entries(spec.paths) as Array<[EndpointName, string[]]>) {
        if (name === 'register' && ctx.setting<boolean>('dcr') === false) continue;
        endpoints[spec.names?.[name] ?? name] = at(paths[0]!);
      }
      for (const extra of spec.extraEndpoints ?? []) endpoints[extra.name] = at(extra.paths[0]!);
      return { issuer, endpoints };
    },
    identity(persona) {
      const standard = standardIdentity(persona, spec.id, spec.subject);
      return spec.identity ? spec.identity(persona, standard) : { ...standard };
    },
    error(input) {
      if (input.endpoint === 'authorize' && input.request) {
        const engine = engines.get(input.request.c);
        if (engine) return engine.authorizeError(input.request, input.error, input.description ?? '');
      }
      const custom = spec.errorShape?.(input);
      if (custom) return custom;
      return json(
        { error: input.error, ...(input.description ? { error_description: input.description } : {}) },
        input.status ?? 400,
        NO_STORE,
      );
    },
  };
}
