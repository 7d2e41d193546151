/**
 * Microsoft Entra ID, v2.0 endpoints: per-tenant discovery, JWKS, authorize, token and logout at
 * login.microsoftonline.com, and the OIDC userinfo endpoint at graph.microsoft.com.
 *
 * Facts checked with the search tool (provider-shapes.md marks the rest [R]):
 * - `resource` on the v2 authorize endpoint: "AADSTS901002: The 'resource' request parameter is
 *   not supported." (MicrosoftDocs/azure-docs#33853, microsoft/vscode#254009,
 *   modelcontextprotocol/modelcontextprotocol#1389).
 * - A missing parameter is AADSTS900144 "The request body must contain the following parameter:
 *   '<name>'." for scope, client_id, ... (MicrosoftDocs/entra-docs#370, n8n-io/n8n#33881);
 *   90014 is the older number of the same error.
 * - A redeemed code: AADSTS54005 "OAuth2 Authorization code was already redeemed..."
 *   (AzureAD/microsoft-identity-web#2328, #2612; older answers paired it with 70002). AADSTS70008
 *   is the expired (or revoked) code or refresh token.
 * - An unknown or mangled code or refresh token: invalid_grant AADSTS9002313 "Invalid request.
 *   Request is malformed or invalid.", with `error_uri` https://login.microsoftonline.com/error?code=N
 *   (MSAL.js #3088, azure-docs#63819).
 * - AADSTS501481: the code_verifier does not match the challenge (MSAL.js #2694; entra-docs PR
 *   #1538). A missing verifier and a verifier without a challenge get the same code here [I].
 * - SPA redirect URIs: AADSTS9002327 redemption without an Origin header; 9002326 a cross-origin
 *   redemption for a non-SPA client; 9002325 no PKCE; 700025 (invalid_client) a secret or an
 *   assertion from a public client (MSAL.js #2482, vippsas/vipps-ecom-api#246 for the body).
 * - AADSTS50020: the user's account is not in the tenant. Entra shows it on its sign-in page; the
 *   mock's sign-in page belongs to the shared core, so the refusal happens at the token endpoint
 *   (invalid_grant, 400) when the path names a specific tenant the persona is not in.
 * - `xms_edov`: optional boolean claim "email domain owner verified"; it appears only alongside
 *   the `email` claim (optional-claims reference; azure-docs PR #111603).
 * - Discovery for `common`/`organizations`: issuer https://login.microsoftonline.com/{tenantid}/v2.0
 *   with the literal template, endpoints under the path tenant, `tenant_region_scope: null`. JWKS
 *   entries: kty, use, kid, x5t, n, e, x5c, issuer (templated) and no `alg`; certificates
 *   self-signed, CN=accounts.accesscontrol.windows.net (panva/wellknown issuers/entra-common).
 * - `consumers`: the issuer is the concrete .../9188040d-6c67-4c5b-b112-36a304b66dad/v2.0, not
 *   the template (several configurations pair that discovery URL with that issuer).
 *
 * Not served: device code, client credentials, on-behalf-of and the v1 endpoints (beyond the v1
 * key set); discovery does not advertise `device_authorization_endpoint` or `kerberos_endpoint`.
 * `client_assertion` is always refused with AADSTS700027 (the mock registers no certificates).
 */
import {
  createHash,
  createPublicKey,
  KeyObject,
  randomBytes,
  randomUUID,
  sign,
  timingSafeEqual,
  type webcrypto,
} from 'node:crypto';
import type { JWK } from 'jose';
import { type RegisteredClient, redirectAllowed } from '../clients.ts';
import { defectiveClaims, type TokenDefect } from '../faults.ts';
import { type CodeRecord, nowSeconds, type RedeemFailure, type TokenRecord } from '../grants.ts';
import { errorPage } from '../login-page.ts';
import { block, field, type Persona } from '../personas.ts';
import {
  basicCredentials,
  bearerToken,
  type EndpointRequest,
  type HostApp,
  type HostContext,
  hostApp,
  json,
  type ProviderContext,
  type ProviderDefinition,
  type ProviderErrorInput,
  type UrlView,
} from '../provider.ts';
import { randomId } from '../random.ts';
import { type ResponseMode, redirectWithParams } from './authorization-redirect.ts';

const PROVIDER = 'entra';
/** The personas' home tenant (domain contoso.onmicrosoft.com). */
export const ENTRA_HOME_TENANT = '7b3c5d1e-2f4a-4b6c-8d9e-0a1b2c3d4e5f';
const HOME_DOMAIN = 'contoso.onmicrosoft.com';
/** The tenant of personal Microsoft accounts. */
const CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
/** Microsoft Graph's application id, the audience of Graph access tokens. */
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH = 'https://graph.microsoft.com';
/** Error pages are documentation links; they always point at the real service. */
const ERROR_URI = 'https://login.microsoftonline.com/error';
const CERT_SUBJECT = 'accounts.accesscontrol.windows.net';
const ACCESS_TOKEN_TTL = 3599;
const ID_TOKEN_TTL = 3600;
const REFRESH_TOKEN_TTL = 90 * 86_400;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const PROMPTS = new Set(['login', 'none', 'consent', 'select_account', 'create']);
/** Custom persona claims never copied into tokens (they would shadow protocol claims). */
const RESERVED_CLAIMS = new Set(
  (
    'iss aud sub exp nbf iat jti nonce scope scp roles groups tid oid azp azpacr appid ' +
    'appidacr ver idp amr acr sid uti rh aio email name preferred_username upn unique_name c_hash at_hash xms_edov'
  ).split(' '),
);

/** The default confidential web app. Entra secrets look like `abc8Q~` plus 34 characters. */
export const ENTRA_WEB_APP: RegisteredClient = {
  clientId: '2f6c8a1e-3b4d-4c5e-9f7a-8b9c0d1e2f3a',
  clientSecret: 'abc8Q~Mk3.Tr7_Vw9-Xy2~Za4bC6dE8fG0hJ1kL5',
  redirectUris: ['https://app.contoso.example/auth/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'client_secret_post',
  name: 'Contoso MCP Server',
  extra: { redirectType: 'web' },
};

/** A public client whose redirect URIs are of the `spa` type: PKCE, an Origin header, no secret. */
export const ENTRA_SPA_APP: RegisteredClient = {
  clientId: '5d7e9f1a-2b3c-4d4e-8f5a-6b7c8d9e0f1a',
  clientSecret: undefined,
  redirectUris: ['http://localhost:6274/oauth/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'none',
  name: 'Contoso MCP Inspector (SPA)',
  extra: { redirectType: 'spa' },
};

// --- AADSTS errors ---------------------------------------------------------------------------

/** One Entra error: the OAuth `error`, the AADSTS number and its text. */
interface AadError {
  status: number;
  error: string;
  code: number;
  message: string;
}

const aad = (error: string, code: number, message: string, status = 400): AadError => ({
  status,
  error,
  code,
  message,
});

const E = {
  missing: (name: string) =>
    aad('invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  tenantNotFound: (tenant: string) =>
    aad(
      'invalid_tenant',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    ),
  unknownClient: (clientId: string, tenant: string) =>
    aad(
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. You may have sent your authentication request to the wrong tenant.`,
    ),
  redirectMismatch: (uri: string, clientId: string) =>
    aad(
      'invalid_request',
      50011,
      `The redirect URI '${uri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.`,
    ),
  resource: () => aad('invalid_request', 901002, "The 'resource' request parameter is not supported."),
  responseMode: (mode: string) =>
    aad('invalid_request', 90100, `response_mode '${mode}' is not valid; use query, fragment or form_post.`),
  responseType: (type: string) =>
    aad('unsupported_response_type', 700051, `response_type '${type}' is not enabled for the application.`),
  idTokenDisabled: () =>
    aad('unsupported_response_type', 700054, "response_type 'id_token' is not enabled for the application."),
  queryWithToken: () =>
    aad(
      'invalid_request',
      70007,
      "'query' is not a supported value of 'response_mode' when requesting a token.",
    ),
  invalidScope: (scope: string) =>
    aad(
      'invalid_scope',
      70011,
      `The provided value for the input parameter 'scope' is not valid. The scope '${scope}' is not valid.`,
    ),
  unknownResource: (resource: string, tenant: string) =>
    aad(
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant}.`,
    ),
  manyResources: (scope: string) =>
    aad(
      'invalid_scope',
      28000,
      `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`,
    ),
  challengeMethod: (method: string) =>
    aad('invalid_request', 50149, `Invalid Code_Challenge_method parameter '${method}'.`),
  challengeSize: () => aad('invalid_request', 501491, 'Invalid size of Code_Challenge parameter.'),
  prompt: (value: string) => aad('invalid_request', 90100, `prompt value '${value}' is not valid.`),
  loginRequired: () =>
    aad('login_required', 50058, 'A silent sign-in request was sent but no user is signed in.'),
  notInTenant: (upn: string, home: string, tenant: string, clientId: string) =>
    aad(
      'invalid_grant',
      50020,
      `User account '${upn}' from identity provider 'https://sts.windows.net/${home}/' does not exist in tenant '${tenant}' and cannot access the application '${clientId}' in that tenant. The account needs to be added as an external user in the tenant first.`,
    ),
  otherTenantCode: () =>
    aad(
      'invalid_grant',
      700005,
      'Provided Authorization Code is intended to use against other tenant, thus rejected.',
    ),
  unknownUser: (id: string) =>
    aad('invalid_grant', 50034, `The user account ${id} does not exist in the directory.`),
  malformedGrant: () => aad('invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.'),
  expiredGrant: () =>
    aad(
      'invalid_grant',
      70008,
      'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
    ),
  redeemedCode: () =>
    aad(
      'invalid_grant',
      54005,
      'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
    ),
  otherClientGrant: (what: string) =>
    aad('invalid_grant', 70000, `The provided value for the '${what}' parameter is not valid.`),
  tokenRedirectMismatch: (uri: string) =>
    aad(
      'invalid_grant',
      50011,
      `The redirect URI '${uri}' does not match the redirect URI provided when requesting the authorization code.`,
    ),
  verifier: () =>
    aad(
      'invalid_grant',
      501481,
      'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
    ),
  grantType: (type: string) =>
    aad('unsupported_grant_type', 70003, `The app requested an unsupported grant type '${type}'.`),
  badSecret: (clientId: string) =>
    aad(
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      401,
    ),
  noSecret: () =>
    aad(
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      401,
    ),
  assertion: () => aad('invalid_client', 700027, 'Client assertion failed signature validation.', 401),
  publicWithSecret: () =>
    aad(
      'invalid_client',
      700025,
      "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
      401,
    ),
  spaWithoutOrigin: () =>
    aad(
      'invalid_request',
      9002327,
      "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
    ),
  crossOriginWeb: () =>
    aad(
      'invalid_request',
      9002326,
      "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type.",
    ),
  spaWithoutPkce: () =>
    aad(
      'invalid_request',
      9002325,
      'Proof Key for Code Exchange is required for cross-origin authorization code redemption.',
    ),
  methodNotAllowed: (allowed: string, method: string) =>
    aad(
      'invalid_request',
      900561,
      `The endpoint only accepts ${allowed} requests. Received a ${method} request.`,
      405,
    ),
  serverError: () =>
    aad(
      'server_error',
      50000,
      'There was an error issuing a token or an issue with our sign-in service.',
      500,
    ),
};

/** The AADSTS number and text used when a fault names only the OAuth error. */
const FAULT_DEFAULTS: Record<string, [number, string]> = {
  invalid_grant: [70008, E.expiredGrant().message],
  interaction_required: [
    50076,
    'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource.',
  ],
  login_required: [50058, E.loginRequired().message],
  consent_required: [
    65001,
    'The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.',
  ],
  access_denied: [65004, 'User declined to consent to access the app.'],
  invalid_client: [7000215, 'Invalid client secret provided.'],
  unauthorized_client: [700016, 'Application was not found in the directory.'],
  invalid_scope: [70011, "The provided value for the input parameter 'scope' is not valid."],
  invalid_resource: [500011, 'The resource principal was not found in the tenant.'],
  unsupported_grant_type: [70003, 'The app requested an unsupported grant type.'],
  temporarily_unavailable: [50001, 'The service is temporarily unavailable.'],
  server_error: [50000, E.serverError().message],
  invalid_request: [90100, 'The request is not valid.'],
};

const ALLOWED_METHODS: Record<string, string> = {
  token: 'POST, OPTIONS',
  authorize: 'GET, POST',
  logout: 'GET, POST',
  userinfo: 'GET, POST',
  login: 'POST',
};

/** Entra's timestamp format in error bodies: `2024-05-01 12:00:00Z`. */
function aadTimestamp(at = new Date()): string {
  return at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** The correlation id Entra echoes: the client's `client-request-id`, or a fresh one. */
function correlationOf(req: EndpointRequest | undefined): string {
  const sent = req?.header('client-request-id');
  return sent && GUID.test(sent) ? sent : randomUUID();
}

/** `AADSTS<n>: text` plus the trace lines Entra appends (CRLF-separated). */
function describeError(e: AadError, correlationId: string, traceId: string, at: Date): string {
  return `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${aadTimestamp(at)}`;
}

/** The JSON error body of the token (and discovery) endpoints. */
function aadResponse(e: AadError, req?: EndpointRequest): Response {
  const at = new Date();
  const traceId = randomUUID();
  const correlationId = correlationOf(req);
  return json(
    {
      error: e.error,
      error_description: describeError(e, correlationId, traceId, at),
      error_codes: [e.code],
      timestamp: aadTimestamp(at),
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${ERROR_URI}?code=${e.code}`,
    },
    e.status,
    { 'cache-control': 'no-store', pragma: 'no-cache', 'access-control-allow-origin': '*' },
  );
}

/** Errors Entra shows on its own page instead of redirecting (unknown client, bad redirect URI). */
function signInErrorPage(e: AadError, req?: EndpointRequest): Response {
  const detail = describeError(e, correlationOf(req), randomUUID(), new Date()).replace(/\r\n/g, ' ');
  return errorPage(e.status === 405 ? 405 : 400, "Sorry, but we're having trouble signing you in.", detail);
}

/** The parameters of an error sent to the redirect URI. */
function errorParams(e: AadError, req: EndpointRequest, state: string | undefined): Record<string, string> {
  return {
    error: e.error,
    error_description: describeError(e, correlationOf(req), randomUUID(), new Date()),
    ...(state !== undefined ? { state } : {}),
  };
}

/** Microsoft Graph's error shape (`{"error":{"code","message","innerError"}}`). */
function graphError(status: number, code: string, message: string): Response {
  const headers: Record<string, string> = {};
  if (status === 401) {
    headers['www-authenticate'] =
      `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`;
  }
  const requestId = randomUUID();
  return json(
    {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d+Z$/, ''),
          'request-id': requestId,
          'client-request-id': requestId,
        },
      },
    },
    status,
    headers,
  );
}

/** Turns a fault (or a malformed-input error from the shared layer) into an Entra error. */
function errorFromInput(input: ProviderErrorInput): AadError {
  if (input.status === 405) {
    const method = input.description?.match(/method (\S+)/)?.[1] ?? 'GET';
    const allowed = ALLOWED_METHODS[input.endpoint] ?? 'GET';
    return E.methodNotAllowed(allowed, method);
  }
  const given = input.description?.match(/^AADSTS(\d+):\s*([\s\S]*)$/);
  const [defaultCode, defaultText] = FAULT_DEFAULTS[input.error] ?? [50000, input.error];
  const code = given ? Number(given[1]) : defaultCode;
  const message = given ? given[2]! : input.description || defaultText;
  let status = input.status ?? 400;
  if (input.error === 'invalid_client' && status === 400) status = 401;
  return aad(input.error, code, message, status);
}

// --- tenants ---------------------------------------------------------------------------------

/** A tenant named in the path: a multi-tenant alias or one directory. */
interface Tenant {
  /** The path segment as sent (lower-cased). */
  segment: string;
  kind: 'common' | 'organizations' | 'consumers' | 'tenant';
  /** The directory id; undefined for `common` and `organizations`. */
  id: string | undefined;
}

/** The directories the mock knows: the home tenant, the consumer tenant and every persona's `tid`. */
function directory(ctx: ProviderContext): { ids: Set<string>; domains: Map<string, string> } {
  const ids = new Set([ENTRA_HOME_TENANT, CONSUMER_TENANT]);
  const domains = new Map([[HOME_DOMAIN, ENTRA_HOME_TENANT]]);
  for (const persona of ctx.personas().personas) {
    const user = entraUser(persona);
    ids.add(user.tid);
    const domain = user.upn.split('@')[1]?.toLowerCase();
    if (domain?.endsWith('.onmicrosoft.com') && !domains.has(domain)) domains.set(domain, user.tid);
  }
  return { ids, domains };
}

/** @see https://learn.microsoft.com/entra/identity-platform/v2-protocols#endpoints (tenant values) */
function resolveTenant(ctx: ProviderContext, raw: string | undefined): Tenant | undefined {
  const segment = (raw ?? '').toLowerCase();
  if (segment === 'common' || segment === 'organizations') return { segment, kind: segment, id: undefined };
  if (segment === 'consumers') return { segment, kind: 'consumers', id: CONSUMER_TENANT };
  const known = directory(ctx);
  if (GUID.test(segment))
    return known.ids.has(segment) ? { segment, kind: 'tenant', id: segment } : undefined;
  const id = known.domains.get(segment);
  return id ? { segment, kind: 'tenant', id } : undefined;
}

/** The tenant as it appears in endpoint paths: the alias, or the directory id for a domain. */
function pathTenant(tenant: Tenant): string {
  return tenant.kind === 'tenant' ? tenant.id! : tenant.segment;
}

function tenantParam(req: EndpointRequest): string | undefined {
  return req.c.req.param('tenant');
}

/** Whether a user may sign in through this tenant path. */
function tenantAccepts(tenant: Tenant, user: EntraUser): boolean {
  if (tenant.kind === 'common') return true;
  if (tenant.kind === 'organizations') return user.tid !== CONSUMER_TENANT;
  return user.tid === tenant.id;
}

// --- personas as Entra users -----------------------------------------------------------------

interface EntraUser {
  persona: Persona;
  oid: string;
  tid: string;
  /** preferred_username: a UPN or an address, mutable, never a verified email. */
  upn: string;
  email: string | null;
  /** The `xms_edov` value. */
  emailDomainVerified: boolean;
  name: string;
  givenName: string;
  familyName: string;
  idp: string | undefined;
  roles: string[] | undefined;
  groups: string[] | undefined;
  tokenVersion: 1 | 2 | undefined;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

/** A stable GUID-shaped id derived from a seed (for personas without an `oid`). */
function derivedGuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function entraUser(persona: Persona): EntraUser {
  const b = block(persona, PROVIDER);
  const email = field<string | null>(persona, PROVIDER, 'email', persona.email);
  const name = field<string>(persona, PROVIDER, 'name', persona.name);
  const words = name.split(/\s+/);
  const version = b['token_version'];
  return {
    persona,
    oid: String(b['oid'] ?? derivedGuid(`entra-oid:${persona.id}`)).toLowerCase(),
    tid: String(b['tid'] ?? ENTRA_HOME_TENANT).toLowerCase(),
    upn: field<string>(persona, PROVIDER, 'preferred_username', email ?? `${persona.id}@${HOME_DOMAIN}`),
    email,
    emailDomainVerified: field<boolean>(persona, PROVIDER, 'xms_edov', persona.email_verified),
    name,
    givenName: field<string>(persona, PROVIDER, 'given_name', words[0] ?? name),
    familyName: field<string>(persona, PROVIDER, 'family_name', words.slice(1).join(' ')),
    idp: typeof b['idp'] === 'string' ? b['idp'] : undefined,
    roles: stringList(b['roles'] ?? persona.claims['roles']),
    groups: stringList(b['groups'] ?? persona.claims['groups']),
    tokenVersion: version === 1 || version === 2 ? version : undefined,
  };
}

/**
 * `sub` is pairwise: the same user gets a different value in each application (the `oid` is the
 * same everywhere). A stable hash of oid and application id, 43 base64url characters like Entra's.
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 */
function pairwiseSub(oid: string, appId: string): string {
  return createHash('sha256').update(`${oid}|${appId.toLowerCase()}`).digest('base64url');
}

// --- scopes ----------------------------------------------------------------------------------

/** The scopes of one resource: Graph, or one of the registered apps (`api://{client_id}/x`). */
interface ResourceScopes {
  kind: 'graph' | 'app';
  /** Graph's application id, or the app's client id. */
  appId: string;
  /** Resource-qualified scope strings as the response's `scope` shows them. */
  scopes: string[];
  /** Short names, as `scp` carries them. */
  names: string[];
}

interface ScopeRequest {
  oidc: Set<string>;
  resources: ResourceScopes[];
}

type ScopeResult = { ok: true; value: ScopeRequest } | { ok: false; error: AadError };

/**
 * Scopes are resource-qualified (`https://graph.microsoft.com/User.Read`, `api://{app}/x`); a bare
 * `User.Read` means Graph. Several resources may be consented at /authorize, one per token.
 * @see https://learn.microsoft.com/entra/identity-platform/scopes-oidc
 */
function parseScopes(ctx: ProviderContext, raw: string, tenant: string): ScopeResult {
  const oidc = new Set<string>();
  const resources: ResourceScopes[] = [];
  const add = (kind: ResourceScopes['kind'], appId: string, scope: string, name: string) => {
    let entry = resources.find((r) => r.appId === appId);
    if (!entry) {
      entry = { kind, appId, scopes: [], names: [] };
      resources.push(entry);
    }
    if (!entry.scopes.includes(scope)) {
      entry.scopes.push(scope);
      entry.names.push(name);
    }
  };
  for (const item of raw.split(/\s+/).filter(Boolean)) {
    if (OIDC_SCOPES.has(item.toLowerCase())) {
      oidc.add(item.toLowerCase());
      continue;
    }
    const graph = item.match(/^https:\/\/graph\.microsoft\.com\/([^/]+)$/i);
    if (graph) {
      add('graph', GRAPH_APP_ID, `${GRAPH}/${graph[1]}`, graph[1]!);
      continue;
    }
    const app = item.match(
      /^(?:api:\/\/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/([^/]+)$/i,
    );
    if (app) {
      const appId = app[1]!.toLowerCase();
      if (!ctx.clients.get(appId) && !ctx.clients.list().some((c) => c.clientId.toLowerCase() === appId)) {
        return { ok: false, error: E.unknownResource(`api://${appId}`, tenant) };
      }
      add('app', appId, `api://${appId}/${app[2]}`, app[2]!);
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) {
      return { ok: false, error: E.unknownResource(item.replace(/\/[^/]*$/, ''), tenant) };
    }
    if (/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)+$/.test(item)) {
      add('graph', GRAPH_APP_ID, `${GRAPH}/${item}`, item);
      continue;
    }
    return { ok: false, error: E.invalidScope(item) };
  }
  return { ok: true, value: { oidc, resources } };
}

/** Graph with the app's default permission, when no resource scope was asked for. */
const DEFAULT_RESOURCE: ResourceScopes = {
  kind: 'graph',
  appId: GRAPH_APP_ID,
  scopes: [`${GRAPH}/User.Read`],
  names: ['User.Read'],
};

function scopeNames(resource: ResourceScopes): string[] {
  return resource.names.map((n) => {
    if (n !== '.default') return n;
    return resource.kind === 'graph' ? 'User.Read' : 'access_as_user';
  });
}

// --- signing certificates (x5c) --------------------------------------------------------------

/** DER encoding of the few ASN.1 types a certificate needs (X.690). */
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const length =
    body.length < 0x80
      ? Buffer.from([body.length])
      : (() => {
          const bytes: number[] = [];
          for (let n = body.length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
          return Buffer.from([0x80 | bytes.length, ...bytes]);
        })();
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const derSeq = (...parts: Buffer[]) => der(0x30, ...parts);

function derOid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const group = [part & 0x7f];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128)) group.unshift(0x80 | (n & 0x7f));
    bytes.push(...group);
  }
  return der(0x06, Buffer.from(bytes));
}

function derUnsigned(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return der(0x02, (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function derUtcTime(date: Date): Buffer {
  return der(0x17, Buffer.from(`${date.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`, 'ascii'));
}

interface SigningCertificate {
  /** Base64 DER, as `x5c` carries it. */
  x5c: string;
  /** Base64url SHA-1 thumbprint. */
  x5t: string;
}

/**
 * A certificate for `jwk` in Entra's style (CN=accounts.accesscontrol.windows.net, RSA-SHA256,
 * subject key identifier). Self-signed with `signer` when that is the key's own private key.
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1
 */
function makeCertificate(jwk: JWK, signer: KeyObject): SigningCertificate {
  const publicKey = createPublicKey({ key: { kty: 'RSA', n: jwk.n!, e: jwk.e! }, format: 'jwk' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = derSeq(der(0x31, derSeq(derOid('2.5.4.3'), der(0x13, Buffer.from(CERT_SUBJECT, 'ascii')))));
  const algorithm = derSeq(derOid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const now = Date.now();
  const keyId = createHash('sha1').update(spki).digest();
  const tbs = derSeq(
    der(0xa0, derUnsigned(Buffer.from([2]))),
    derUnsigned(randomBytes(8)),
    algorithm,
    name,
    derSeq(derUtcTime(new Date(now - 86_400_000)), derUtcTime(new Date(now + 5 * 365 * 86_400_000))),
    name,
    spki,
    der(0xa3, derSeq(derSeq(derOid('2.5.29.14'), der(0x04, der(0x04, keyId))))),
  );
  const certificate = derSeq(tbs, algorithm, der(0x03, Buffer.from([0]), sign('sha256', tbs, signer)));
  return {
    x5c: certificate.toString('base64'),
    x5t: createHash('sha1').update(certificate).digest('base64url'),
  };
}

/** Certificates by kid. Made while a key is current, so retired keys keep their self-signed one. */
const certificates = new Map<string, SigningCertificate>();

async function certificateFor(ctx: ProviderContext, jwk: JWK): Promise<SigningCertificate> {
  const kid = jwk.kid ?? '';
  const known = certificates.get(kid);
  if (known) return known;
  // A key never seen while current (rotated twice within one request) is certified by the current key.
  const current = await ctx.keys.current();
  const made = makeCertificate(jwk, KeyObject.from(current.privateKey as unknown as webcrypto.CryptoKey));
  certificates.set(kid, made);
  if (certificates.size > 512) certificates.delete(certificates.keys().next().value!);
  return made;
}

async function currentCertificate(ctx: ProviderContext): Promise<SigningCertificate> {
  return certificateFor(ctx, (await ctx.keys.current()).publicJwk);
}

/** The published key set, in Entra's shape (no `alg`; `x5t`, `x5c`, and the templated issuer). */
async function keySet(ctx: ProviderContext, view: UrlView, v2: boolean): Promise<{ keys: JWK[] }> {
  await currentCertificate(ctx);
  const { keys } = await ctx.keys.jwks();
  return {
    keys: await Promise.all(
      keys.map(async (key) => {
        const cert = await certificateFor(ctx, key);
        return {
          kty: key.kty,
          use: 'sig',
          kid: key.kid,
          x5t: cert.x5t,
          n: key.n,
          e: key.e,
          x5c: [cert.x5c],
          ...(v2 ? { issuer: ctx.url(view, 'login', '/{tenantid}/v2.0') } : {}),
        };
      }),
    ),
  };
}

// --- JWTs ------------------------------------------------------------------------------------

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Signs one JWT of a token response. The response takes a token-defect fault once and applies
 * it to every JWT it carries (the claims as the shared signer changes them, `defectiveClaims`).
 */
async function signWithDefect(
  ctx: ProviderContext,
  defect: TokenDefect | undefined,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const claims = defectiveClaims(payload, defect, nowSeconds());
  if (defect === 'alg-none') return `${b64json({ typ: 'JWT', alg: 'none' })}.${b64json(claims)}.`;
  const cert = await currentCertificate(ctx);
  return ctx.keys.sign(claims, {
    key: defect === 'bad-signature' ? 'untrusted' : 'current',
    typ: 'JWT',
    header: { x5t: cert.x5t, ...header },
  });
}

/**
 * Graph access tokens are not for the app to validate: the header carries a `nonce`, and the
 * signature covers the SHA-256 of that nonce, so standard JWT validation fails.
 */
async function signGraphToken(
  ctx: ProviderContext,
  defect: TokenDefect | undefined,
  payload: Record<string, unknown>,
): Promise<string> {
  const nonce = randomBytes(32).toString('base64url');
  const signed = await signWithDefect(ctx, defect, payload, {
    nonce: createHash('sha256').update(nonce).digest('base64url'),
  });
  if (defect === 'alg-none') return signed;
  const [header, body, signature] = signed.split('.');
  const decoded = JSON.parse(Buffer.from(header!, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${b64json({ ...decoded, nonce })}.${body}.${signature}`;
}

/** Opaque per-token values Entra puts in every token (`aio`, `rh`, `uti`). */
function opaqueClaims(): { aio: string; rh: string; uti: string } {
  return {
    aio: randomId(96, B64URL),
    rh: `1.A${randomId(60, B64URL)}.`,
    uti: randomId(22, B64URL),
  };
}

/** Persona claims copied into tokens when `custom_claims` is on (a claims-mapping policy). */
function customClaims(ctx: ProviderContext, persona: Persona): Record<string, unknown> {
  if (!ctx.setting<boolean>('custom_claims')) return {};
  return Object.fromEntries(Object.entries(persona.claims).filter(([k]) => !RESERVED_CLAIMS.has(k)));
}

/**
 * Group overage: above 200 groups a JWT names a Graph source instead of listing them.
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference#groups-overage-claim
 */
function groupClaims(user: EntraUser): Record<string, unknown> {
  if (!user.groups) return {};
  if (user.groups.length <= 200) return { groups: user.groups };
  return {
    _claim_names: { groups: 'src1' },
    _claim_sources: { src1: { endpoint: `${GRAPH}/v1.0/users/${user.oid}/getMemberObjects` } },
  };
}

interface IdTokenInput {
  loginBase: string;
  clientId: string;
  oidc: Set<string>;
  nonce: string | undefined;
  sid: string | undefined;
  extra?: Record<string, unknown>;
}

/**
 * v2.0 ID token claims. `name` and `preferred_username` need the `profile` scope, `email` the
 * `email` scope and a persona with an address (Entra emails are unverified: `xms_edov` says
 * whether the domain owner verified it).
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 */
function idTokenClaims(
  ctx: ProviderContext | undefined,
  user: EntraUser,
  input: IdTokenInput,
): Record<string, unknown> {
  const now = nowSeconds();
  const profile = input.oidc.has('profile');
  const email = input.oidc.has('email') && user.email !== null;
  return {
    ...(ctx ? customClaims(ctx, user.persona) : {}),
    aud: input.clientId,
    iss: `${input.loginBase}/${user.tid}/v2.0`,
    iat: now,
    nbf: now,
    exp: now + ID_TOKEN_TTL,
    ...opaqueClaims(),
    ...(email ? { email: user.email, xms_edov: user.emailDomainVerified } : {}),
    ...(user.idp ? { idp: user.idp } : {}),
    ...(profile ? { name: user.name } : {}),
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    oid: user.oid,
    ...(profile ? { preferred_username: user.upn } : {}),
    ...(user.roles ? { roles: user.roles } : {}),
    ...groupClaims(user),
    ...(input.sid ? { sid: input.sid } : {}),
    sub: pairwiseSub(user.oid, input.clientId),
    tid: user.tid,
    ver: '2.0',
    ...input.extra,
  };
}

/** The left half of a SHA-256, base64url (OIDC Core 3.3.2.11 `c_hash`, 3.1.3.6 `at_hash`). */
function halfHash(value: string): string {
  return createHash('sha256').update(value).digest().subarray(0, 16).toString('base64url');
}

// --- token issuance --------------------------------------------------------------------------

interface IssueInput {
  view: UrlView;
  user: EntraUser;
  client: RegisteredClient;
  /** The scopes of this request (the token's resource comes from here). */
  request: ScopeRequest;
  /** Every OIDC scope granted so far (decides `id_token` and `refresh_token`). */
  granted: Set<string>;
  /** Every scope string granted, kept on the refresh token. */
  grantedScopes: string[];
  nonce: string | undefined;
  sid: string;
  family: string;
  azpacr: '0' | '1';
  clientInfo: boolean;
  fromCode?: CodeRecord;
}

async function issueTokens(ctx: ProviderContext, input: IssueInput): Promise<Response> {
  const { user, client } = input;
  const defect = ctx.takeDefect('token');
  const now = nowSeconds();
  const loginBase = ctx.url(input.view, 'login');
  const resource = input.request.resources[0] ?? DEFAULT_RESOURCE;
  const names = scopeNames(resource);
  const version = user.tokenVersion ?? (ctx.setting<number>('requested_access_token_version') === 1 ? 1 : 2);
  const userClaims = { name: user.name, oid: user.oid, tid: user.tid };
  let accessToken: string;
  let scope: string[];
  let tokenScopes: string[];
  if (resource.kind === 'graph') {
    const oidcNames = ['openid', 'profile', 'email'].filter((s) => input.granted.has(s));
    scope = [...oidcNames, ...resource.scopes];
    tokenScopes = [...oidcNames, ...names];
    accessToken = await signGraphToken(ctx, defect, {
      aud: GRAPH_APP_ID,
      iss: `https://sts.windows.net/${user.tid}/`,
      iat: now,
      nbf: now,
      exp: now + ACCESS_TOKEN_TTL,
      acct: 0,
      acr: '1',
      ...opaqueClaims(),
      amr: ['pwd'],
      app_displayname: client.name,
      appid: client.clientId,
      appidacr: input.azpacr,
      family_name: user.familyName,
      given_name: user.givenName,
      idtyp: 'user',
      ...userClaims,
      scp: tokenScopes.join(' '),
      sid: input.sid,
      sub: pairwiseSub(user.oid, GRAPH_APP_ID),
      unique_name: user.upn,
      upn: user.upn,
      ver: '1.0',
    });
  } else {
    scope = resource.scopes;
    tokenScopes = names;
    const common = {
      iat: now,
      nbf: now,
      exp: now + ACCESS_TOKEN_TTL,
      ...opaqueClaims(),
      ...customClaims(ctx, user.persona),
      ...userClaims,
      scp: names.join(' '),
      sid: input.sid,
      sub: pairwiseSub(user.oid, resource.appId),
      ...(user.roles ? { roles: user.roles } : {}),
    };
    accessToken =
      version === 1
        ? await signWithDefect(ctx, defect, {
            aud: `api://${resource.appId}`,
            iss: `https://sts.windows.net/${user.tid}/`,
            ...common,
            acr: '1',
            amr: ['pwd'],
            appid: client.clientId,
            appidacr: input.azpacr,
            family_name: user.familyName,
            given_name: user.givenName,
            unique_name: user.upn,
            upn: user.upn,
            ver: '1.0',
          })
        : await signWithDefect(ctx, defect, {
            aud: resource.appId,
            iss: `${loginBase}/${user.tid}/v2.0`,
            ...common,
            azp: client.clientId,
            azpacr: input.azpacr,
            preferred_username: user.upn,
            ver: '2.0',
          });
  }
  ctx.grants.issueToken({
    value: accessToken,
    provider: PROVIDER,
    kind: 'access_token',
    persona: user.persona.id,
    clientId: client.clientId,
    scope: tokenScopes,
    expiresAt: now + ACCESS_TOKEN_TTL,
    family: input.family,
    extra: { resource: resource.appId, tid: user.tid },
    ...(input.fromCode ? { fromCode: input.fromCode } : {}),
  });
  ctx.issued('access_token', user.persona.id, client.clientId, accessToken);
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    scope: scope.join(' '),
    expires_in: ACCESS_TOKEN_TTL,
    ext_expires_in: ACCESS_TOKEN_TTL,
    access_token: accessToken,
  };
  if (input.granted.has('offline_access')) {
    const refreshToken = `1.AR${randomId(320, B64URL)}`;
    ctx.grants.issueToken({
      value: refreshToken,
      provider: PROVIDER,
      kind: 'refresh_token',
      persona: user.persona.id,
      clientId: client.clientId,
      scope: input.grantedScopes,
      expiresAt: now + REFRESH_TOKEN_TTL,
      family: input.family,
      extra: { tid: user.tid, sid: input.sid, granted: [...input.granted], clientInfo: input.clientInfo },
      ...(input.fromCode ? { fromCode: input.fromCode } : {}),
    });
    ctx.issued('refresh_token', user.persona.id, client.clientId, refreshToken);
    body['refresh_token'] = refreshToken;
  }
  if (input.granted.has('openid')) {
    const idToken = await signWithDefect(
      ctx,
      defect,
      idTokenClaims(ctx, user, {
        loginBase,
        clientId: client.clientId,
        oidc: input.granted,
        nonce: input.nonce,
        sid: input.sid,
      }),
    );
    ctx.issued('id_token', user.persona.id, client.clientId, idToken);
    body['id_token'] = idToken;
  }
  if (input.clientInfo) body['client_info'] = b64json({ uid: user.oid, utid: user.tid });
  return json(body, 200, {
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'access-control-allow-origin': '*',
  });
}

// --- the token endpoint ----------------------------------------------------------------------

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isSpa(client: RegisteredClient): boolean {
  return client.extra['redirectType'] === 'spa';
}

type ClientCheck = { ok: true; client: RegisteredClient; azpacr: '0' | '1' } | { ok: false; error: AadError };

/**
 * Client authentication: `client_secret` in the body or HTTP Basic; public clients (SPA and
 * secret-less registrations) must present neither, and SPA redemptions must be cross-origin.
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
 */
function authenticateClient(
  ctx: ProviderContext,
  req: EndpointRequest,
  form: URLSearchParams,
  tenant: Tenant,
): ClientCheck {
  const basic = basicCredentials(req.header('authorization'));
  const clientId = basic?.id ?? form.get('client_id') ?? '';
  if (!clientId) return { ok: false, error: E.missing('client_id') };
  const client = ctx.clients.get(clientId);
  if (!client) return { ok: false, error: E.unknownClient(clientId, tenant.segment) };
  const secret = basic?.secret ?? form.get('client_secret') ?? undefined;
  const assertion = form.get('client_assertion') ?? undefined;
  const origin = req.header('origin');
  if (isSpa(client) || !client.clientSecret) {
    if (secret !== undefined || assertion !== undefined) return { ok: false, error: E.publicWithSecret() };
    if (isSpa(client) && !origin) return { ok: false, error: E.spaWithoutOrigin() };
    return { ok: true, client, azpacr: '0' };
  }
  if (origin) return { ok: false, error: E.crossOriginWeb() };
  if (assertion !== undefined) return { ok: false, error: E.assertion() };
  if (secret === undefined) return { ok: false, error: E.noSecret() };
  if (!sameSecret(secret, client.clientSecret)) return { ok: false, error: E.badSecret(client.clientId) };
  return { ok: true, client, azpacr: '1' };
}

function redeemError(reason: RedeemFailure, redirectUri: string): AadError {
  switch (reason) {
    case 'unknown_code':
      return E.malformedGrant();
    case 'expired_code':
      return E.expiredGrant();
    case 'used_code':
      return E.redeemedCode();
    case 'client_mismatch':
      return E.otherClientGrant('code');
    case 'redirect_uri_mismatch':
      return E.tokenRedirectMismatch(redirectUri);
    default:
      return E.verifier();
  }
}

/** The tenant a grant is checked against: a specific one named at either end, else the alias. */
function effectiveTenant(issuedAt: Tenant, redeemedAt: Tenant): Tenant | 'conflict' {
  if (issuedAt.id && redeemedAt.id && issuedAt.id !== redeemedAt.id) return 'conflict';
  if (redeemedAt.id) return redeemedAt;
  if (issuedAt.id) return issuedAt;
  return issuedAt.kind === 'organizations' ? issuedAt : redeemedAt;
}

/** The form parameters of a token request (query parameters do not count). */
function formOf(req: EndpointRequest): URLSearchParams | undefined {
  return req.bodyType === 'form' ? new URLSearchParams(req.body) : undefined;
}

async function tokenEndpoint(ctx: ProviderContext, req: EndpointRequest): Promise<Response> {
  if (req.method === 'OPTIONS') {
    return new Response(null, {
      status: 204,
      headers: {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers':
          'content-type, authorization, client-request-id, return-client-request-id',
        'access-control-max-age': '86400',
      },
    });
  }
  const fail = (e: AadError) => aadResponse(e, req);
  const tenant = resolveTenant(ctx, tenantParam(req));
  if (!tenant) return fail(E.tenantNotFound(tenantParam(req) ?? ''));
  const form = formOf(req);
  const grantType = form?.get('grant_type');
  if (!form || !grantType) return fail(E.missing('grant_type'));
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token')
    return fail(E.grantType(grantType));
  const auth = authenticateClient(ctx, req, form, tenant);
  if (!auth.ok) return fail(auth.error);
  const { client, azpacr } = auth;
  return grantType === 'authorization_code'
    ? redeemCode(ctx, req, form, tenant, client, azpacr)
    : redeemRefreshToken(ctx, req, form, tenant, client, azpacr);
}

/** Parses the token request's optional `scope`: one resource at most. */
function tokenScope(ctx: ProviderContext, form: URLSearchParams, tenant: Tenant): ScopeResult | undefined {
  const raw = form.get('scope')?.trim();
  if (!raw) return undefined;
  const parsed = parseScopes(ctx, raw, tenant.segment);
  if (parsed.ok && parsed.value.resources.length > 1) return { ok: false, error: E.manyResources(raw) };
  return parsed;
}

async function redeemCode(
  ctx: ProviderContext,
  req: EndpointRequest,
  form: URLSearchParams,
  tenant: Tenant,
  client: RegisteredClient,
  azpacr: '0' | '1',
): Promise<Response> {
  const fail = (e: AadError) => aadResponse(e, req);
  const code = form.get('code');
  if (!code) return fail(E.missing('code'));
  const redirectUri = form.get('redirect_uri');
  if (!redirectUri) return fail(E.missing('redirect_uri'));
  const requested = tokenScope(ctx, form, tenant);
  if (requested && !requested.ok) return fail(requested.error);
  const result = ctx.grants.redeemCode(PROVIDER, code, {
    clientId: client.clientId,
    redirectUri,
    codeVerifier: form.get('code_verifier') ?? undefined,
  });
  if (!result.ok) return fail(redeemError(result.reason, redirectUri));
  const record = result.record;
  if (isSpa(client) && !record.txn.codeChallenge) return fail(E.spaWithoutPkce());
  const persona = ctx.persona(record.persona);
  if (!persona) return fail(E.unknownUser(record.persona));
  const user = entraUser(persona);
  const issuedAt = resolveTenant(ctx, String(record.txn.extra['tenant'] ?? 'common')) ?? tenant;
  const effective = effectiveTenant(issuedAt, tenant);
  if (effective === 'conflict') return fail(E.otherTenantCode());
  if (!tenantAccepts(effective, user))
    return fail(E.notInTenant(user.upn, user.tid, effective.segment, client.clientId));
  const authorized = parseScopes(ctx, record.txn.scope.join(' '), tenant.segment);
  const original = authorized.ok ? authorized.value : { oidc: new Set<string>(), resources: [] };
  const request = requested?.ok ? requested.value : original;
  const granted = new Set([...original.oidc, ...request.oidc]);
  return issueTokens(ctx, {
    view: req.view,
    user,
    client,
    request,
    granted,
    grantedScopes: [
      ...new Set([...record.txn.scope, ...(form.get('scope')?.split(/\s+/).filter(Boolean) ?? [])]),
    ],
    nonce: record.txn.nonce,
    sid: randomUUID(),
    family: randomId(16),
    azpacr,
    clientInfo: record.txn.extra['clientInfo'] === true,
    fromCode: record,
  });
}

/**
 * Refresh: Entra answers with a new refresh token every time; the one used is not revoked
 * ("You're expected to discard the old refresh token").
 * @see https://learn.microsoft.com/entra/identity-platform/refresh-tokens
 */
async function redeemRefreshToken(
  ctx: ProviderContext,
  req: EndpointRequest,
  form: URLSearchParams,
  tenant: Tenant,
  client: RegisteredClient,
  azpacr: '0' | '1',
): Promise<Response> {
  const fail = (e: AadError) => aadResponse(e, req);
  const value = form.get('refresh_token');
  if (!value) return fail(E.missing('refresh_token'));
  const requested = tokenScope(ctx, form, tenant);
  if (requested && !requested.ok) return fail(requested.error);
  const record: TokenRecord | undefined = ctx.grants.anyToken(value);
  if (!record || record.provider !== PROVIDER || record.kind !== 'refresh_token')
    return fail(E.malformedGrant());
  if (!ctx.grants.findToken(PROVIDER, value, 'refresh_token')) return fail(E.expiredGrant());
  if (record.clientId !== client.clientId) return fail(E.otherClientGrant('refresh_token'));
  const persona = ctx.persona(record.persona);
  if (!persona) return fail(E.unknownUser(record.persona));
  const user = entraUser(persona);
  if (!tenantAccepts(tenant, user))
    return fail(E.notInTenant(user.upn, user.tid, tenant.segment, client.clientId));
  const stored = parseScopes(ctx, record.scope.join(' '), tenant.segment);
  const original = stored.ok ? stored.value : { oidc: new Set<string>(), resources: [] };
  const granted = new Set(stringList(record.extra['granted']) ?? []);
  return issueTokens(ctx, {
    view: req.view,
    user,
    client,
    request: requested?.ok ? requested.value : original,
    granted,
    grantedScopes: record.scope,
    nonce: undefined,
    sid: typeof record.extra['sid'] === 'string' ? record.extra['sid'] : randomUUID(),
    family: record.family,
    azpacr,
    clientInfo: record.extra['clientInfo'] === true,
  });
}

// --- the authorize endpoint ------------------------------------------------------------------

const isMode = (value: string | undefined): value is ResponseMode =>
  value === 'query' || value === 'fragment' || value === 'form_post';

/** Where an authorize error may be sent: only to a registered redirect URI of a known client. */
function trustedRedirect(
  ctx: ProviderContext,
  req: EndpointRequest,
): { uri: string; mode: ResponseMode } | undefined {
  const client = ctx.clients.get(req.params['client_id'] ?? '');
  const uri = req.params['redirect_uri'];
  if (!client || !uri || !redirectAllowed(client, uri)) return undefined;
  const mode = req.params['response_mode'];
  const hybrid = (req.params['response_type'] ?? '').split(/\s+/).includes('id_token');
  return { uri, mode: isMode(mode) ? mode : hybrid ? 'fragment' : 'query' };
}

/** Pending hybrid (`code id_token`) answers: the ID token is filled in once the persona is known. */
interface HybridPending {
  clientId: string;
  tenant: Tenant;
  nonce: string;
  oidc: Set<string>;
  loginBase: string;
}

const hybridPending = new WeakMap<ProviderContext, Map<string, HybridPending>>();
const HYBRID_MARKER = /hybrid-pending-[A-Za-z0-9]{24}/;

/**
 * Completes a hybrid answer (the shared core issued the code and redirected with a placeholder):
 * puts the signed ID token, with `c_hash`, in place of the placeholder.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#HybridIDToken
 */
async function finishHybrid(ctx: ProviderContext, response: Response): Promise<Response> {
  const pending = hybridPending.get(ctx);
  if (!pending?.size) return response;
  const location = response.headers.get('location');
  let html: string | undefined;
  if (!location && response.status === 200 && (response.headers.get('content-type') ?? '').includes('html')) {
    html = await response.text();
  }
  const marker = (location ?? html)?.match(HYBRID_MARKER)?.[0];
  const info = marker ? pending.get(marker) : undefined;
  if (marker) pending.delete(marker);
  let code: string | null | undefined;
  if (location) {
    const url = new URL(location);
    code = new URLSearchParams(url.hash.slice(1)).get('code') ?? url.searchParams.get('code');
  } else {
    code = html?.match(/name="code" value="([^"]+)"/)?.[1];
  }
  const issued = code
    ? ctx.journal
        .entries({ provider: PROVIDER, type: 'issued' })
        .find((e) => e.type === 'issued' && e.kind === 'code' && e.value === code)
    : undefined;
  const persona = issued?.type === 'issued' ? ctx.persona(issued.persona) : undefined;
  let idToken = '';
  if (marker && info && code && persona) {
    const user = entraUser(persona);
    if (tenantAccepts(info.tenant, user)) {
      idToken = await signWithDefect(
        ctx,
        ctx.takeDefect('authorize'),
        idTokenClaims(ctx, user, {
          loginBase: info.loginBase,
          clientId: info.clientId,
          oidc: info.oidc,
          nonce: info.nonce,
          sid: undefined,
          extra: { c_hash: halfHash(code) },
        }),
      );
      ctx.issued('id_token', persona.id, info.clientId, idToken);
    }
  }
  const headers = new Headers(response.headers);
  if (location) {
    if (marker) {
      // No ID token for a user the tenant refuses: the parameter is left out.
      const url = new URL(location);
      const params = new URLSearchParams(url.hash.slice(1));
      if (idToken) params.set('id_token', idToken);
      else params.delete('id_token');
      url.hash = params.toString();
      headers.set('location', url.toString());
    }
    return new Response(null, { status: response.status, headers });
  }
  if (html === undefined) return response;
  const input = `<input type="hidden" name="id_token" value="${marker}">`;
  const body = marker ? html.replace(input, idToken ? input.replace(marker, idToken) : '') : html;
  return new Response(body, { status: response.status, headers });
}

async function isLoginPage(response: Response): Promise<boolean> {
  if (response.status !== 200 || response.headers.get('location')) return false;
  return (await response.clone().text()).includes('data-persona=');
}

/**
 * GET|POST /{tenant}/oauth2/v2.0/authorize. Unknown tenant or client and unregistered redirect
 * URIs get an error page; every later error goes to the redirect URI in the response mode.
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code
 */
async function authorizeEndpoint(ctx: ProviderContext, req: EndpointRequest): Promise<Response> {
  const p = req.params;
  const tenant = resolveTenant(ctx, tenantParam(req));
  if (!tenant) return signInErrorPage(E.tenantNotFound(tenantParam(req) ?? ''), req);
  const clientId = p['client_id'];
  if (!clientId) return signInErrorPage(E.missing('client_id'), req);
  const client = ctx.clients.get(clientId);
  if (!client) return signInErrorPage(E.unknownClient(clientId, tenant.segment), req);
  const redirectUri = p['redirect_uri'];
  if (!redirectUri) return signInErrorPage(E.missing('redirect_uri'), req);
  if (!redirectAllowed(client, redirectUri))
    return signInErrorPage(E.redirectMismatch(redirectUri, clientId), req);

  const rawType = p['response_type'] ?? '';
  const types = [...new Set(rawType.split(/\s+/).filter(Boolean))].sort();
  const hybrid = types.join(' ') === 'code id_token';
  const modeParam = p['response_mode'];
  const mode: ResponseMode = isMode(modeParam) ? modeParam : hybrid ? 'fragment' : 'query';
  const state = p['state'];
  const fail = (e: AadError) => redirectWithParams(redirectUri, mode, errorParams(e, req, state));

  if (modeParam !== undefined && !isMode(modeParam)) return fail(E.responseMode(modeParam));
  if (p['resource'] !== undefined) return fail(E.resource());
  if (!rawType.trim()) return fail(E.missing('response_type'));
  if (hybrid && !ctx.setting<boolean>('id_token_issuance')) return fail(E.idTokenDisabled());
  if (!hybrid && types.join(' ') !== 'code') {
    return fail(types.join(' ') === 'id_token' ? E.idTokenDisabled() : E.responseType(rawType));
  }
  if (hybrid && mode === 'query') return fail(E.queryWithToken());
  const rawScope = (p['scope'] ?? '').trim();
  if (!rawScope) return fail(E.missing('scope'));
  const scopes = parseScopes(ctx, rawScope, tenant.segment);
  if (!scopes.ok) return fail(scopes.error);
  if (hybrid && !scopes.value.oidc.has('openid')) return fail(E.invalidScope(rawScope));
  if (hybrid && !p['nonce']) return fail(E.missing('nonce'));

  const challenge = p['code_challenge'];
  const method = p['code_challenge_method'] ?? (challenge ? 'plain' : undefined);
  if (challenge !== undefined) {
    if (method !== 'S256' && method !== 'plain') return fail(E.challengeMethod(method ?? ''));
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(challenge)) return fail(E.challengeSize());
  }
  const prompts = (p['prompt'] ?? '').split(/\s+/).filter(Boolean);
  const badPrompt = prompts.find((v) => !PROMPTS.has(v));
  if (badPrompt !== undefined || (p['prompt'] !== undefined && prompts.length === 0)) {
    return fail(E.prompt(badPrompt ?? ''));
  }

  const redirectParams: Record<string, string> = {};
  let marker: string | undefined;
  if (hybrid) {
    marker = `hybrid-pending-${randomId(24)}`;
    const pending = hybridPending.get(ctx) ?? new Map<string, HybridPending>();
    hybridPending.set(ctx, pending);
    pending.set(marker, {
      clientId: client.clientId,
      tenant,
      nonce: p['nonce']!,
      oidc: scopes.value.oidc,
      loginBase: ctx.url(req.view, 'login'),
    });
    if (pending.size > 1000) pending.delete(pending.keys().next().value!);
    redirectParams['id_token'] = marker;
  }
  redirectParams['session_state'] = randomUUID();
  const response = await ctx.authorize(req, {
    clientId: client.clientId,
    redirectUri,
    target: redirectUri,
    scope: [...new Set(rawScope.split(/\s+/).filter(Boolean))],
    state,
    nonce: p['nonce'],
    codeChallenge: challenge,
    codeChallengeMethod: challenge ? (method as 'S256' | 'plain') : undefined,
    responseMode: mode,
    extra: {
      tenant: tenant.segment,
      prompt: prompts,
      loginHint: p['login_hint'],
      domainHint: p['domain_hint'],
      clientInfo: p['client_info'] === '1',
    },
    redirectParams,
  });
  // prompt=none: a login queued through /_mock/next-login stands for an existing session.
  if (prompts.includes('none') && (await isLoginPage(response))) {
    if (marker) hybridPending.get(ctx)?.delete(marker);
    return fail(E.loginRequired());
  }
  return hybrid ? finishHybrid(ctx, response) : response;
}

// --- discovery, logout, userinfo -------------------------------------------------------------

/**
 * GET /{tenant}/v2.0/.well-known/openid-configuration.
 * @see https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
 */
function discoveryDocument(ctx: ProviderContext, view: UrlView, tenant: Tenant): Record<string, unknown> {
  const base = ctx.url(view, 'login');
  const at = `${base}/${pathTenant(tenant)}`;
  const multi = tenant.kind === 'common' || tenant.kind === 'organizations';
  return {
    token_endpoint: `${at}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${at}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: multi ? `${base}/{tenantid}/v2.0` : `${base}/${tenant.id}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: ctx.url(view, 'graph', '/oidc/userinfo'),
    authorization_endpoint: `${at}/oauth2/v2.0/authorize`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${at}/oauth2/v2.0/logout`,
    claims_supported: (
      'sub iss cloud_instance_name cloud_instance_host_name cloud_graph_host_name msgraph_host aud exp iat ' +
      'auth_time acr nonce preferred_username name tid ver at_hash c_hash email'
    ).split(' '),
    tenant_region_scope: multi ? null : 'NA',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

/** GET|POST /{tenant}/oauth2/v2.0/logout: back to a registered post-logout URI, else a page. */
function logoutEndpoint(ctx: ProviderContext, req: EndpointRequest): Response {
  if (!resolveTenant(ctx, tenantParam(req))) {
    return signInErrorPage(E.tenantNotFound(tenantParam(req) ?? ''), req);
  }
  const target = req.params['post_logout_redirect_uri'];
  const clientId = req.params['client_id'];
  const candidates = clientId
    ? [ctx.clients.get(clientId)].filter((c) => c !== undefined)
    : ctx.clients.list();
  if (target && candidates.some((c) => redirectAllowed(c, target))) {
    const url = new URL(target);
    if (req.params['state'] !== undefined) url.searchParams.set('state', req.params['state']);
    return new Response(null, {
      status: 302,
      headers: { location: url.toString(), 'cache-control': 'no-store' },
    });
  }
  return new Response(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head><body><h1>You signed out of your account</h1><p>It\'s a good idea to close all browser windows.</p></body></html>',
    { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } },
  );
}

/**
 * GET|POST https://graph.microsoft.com/oidc/userinfo with a Graph access token.
 * @see https://learn.microsoft.com/entra/identity-platform/userinfo
 */
function userinfoEndpoint(ctx: ProviderContext, req: EndpointRequest): Response {
  const value = bearerToken(req.header('authorization'));
  if (!value) return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.');
  const known = ctx.grants.anyToken(value);
  if (!known || known.provider !== PROVIDER || known.kind !== 'access_token') {
    return graphError(401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed.');
  }
  const record = ctx.grants.findToken(PROVIDER, value, 'access_token');
  if (!record)
    return graphError(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
  if (record.extra['resource'] !== GRAPH_APP_ID) {
    return graphError(
      401,
      'InvalidAuthenticationToken',
      'Access token validation failure. Invalid audience.',
    );
  }
  const persona = ctx.persona(record.persona);
  if (!persona)
    return graphError(404, 'Request_ResourceNotFound', `User '${record.persona}' does not exist.`);
  const user = entraUser(persona);
  return json({
    sub: pairwiseSub(user.oid, record.clientId),
    name: user.name,
    family_name: user.familyName,
    given_name: user.givenName,
    picture: ctx.url(req.view, 'graph', '/v1.0/me/photo/$value'),
    ...(record.scope.includes('email') && user.email !== null ? { email: user.email } : {}),
  });
}

// --- the definition --------------------------------------------------------------------------

/** The provider context of each request, for `error()` (which is given the request only). */
const requestContexts = new WeakMap<Request, ProviderContext>();

function trackContext(ctx: ProviderContext, app: HostApp, certify: boolean): void {
  app.use('*', async (c: HostContext, next) => {
    requestContexts.set(c.req.raw, ctx);
    // Certify the current key before a rotate-key fault can retire it (x5c stays self-signed).
    if (certify) await currentCertificate(ctx);
    await next();
  });
}

function entraError(input: ProviderErrorInput): Response {
  const req = input.request;
  const ctx = req ? requestContexts.get(req.c.req.raw) : undefined;
  const e = errorFromInput(input);
  switch (input.endpoint) {
    case 'authorize': {
      const target = ctx && req ? trustedRedirect(ctx, req) : undefined;
      if (target && req)
        return redirectWithParams(target.uri, target.mode, errorParams(e, req, req.params['state']));
      return signInErrorPage(e, req);
    }
    case 'login':
    case 'logout':
      return signInErrorPage(e, req);
    case 'userinfo':
      return graphError(input.status ?? 400, input.error, input.description || input.error);
    default:
      return aadResponse(e, req);
  }
}

export const entra: ProviderDefinition = {
  id: PROVIDER,
  title: 'Microsoft Entra ID',
  hosts: [
    {
      id: 'login',
      host: 'login.microsoftonline.com',
      defaultHost: 'login.microsoftonline.com',
      prefix: 'entra',
    },
    { id: 'graph', host: 'graph.microsoft.com', defaultHost: 'graph.microsoft.com', prefix: 'entra-graph' },
  ],
  clients: [ENTRA_WEB_APP, ENTRA_SPA_APP],
  settings: {
    /** Copy the personas' custom claims into tokens (as a claims-mapping policy would). */
    custom_claims: false,
    /** The app registration's "ID tokens" switch: allows `response_type=code id_token`. */
    id_token_issuance: true,
    /** `requestedAccessTokenVersion` of the app registrations (a persona's `token_version` wins). */
    requested_access_token_version: 2,
  },
  mount(ctx) {
    const login = hostApp();
    const graph = hostApp();
    trackContext(ctx, login, true);
    trackContext(ctx, graph, false);
    // The shared login form completes hybrid requests too: fill in their ID token on the way out.
    login.use('/__mock/login', async (c, next) => {
      await next();
      const finished = await finishHybrid(ctx, c.res);
      // Hono's `res` setter merges the old response's headers into the new one; clear it first
      // so the rewritten Location survives.
      c.res = undefined as unknown as Response;
      c.res = finished;
    });
    ctx.endpoint(
      login,
      { name: 'discovery', path: '/:tenant/v2.0/.well-known/openid-configuration', methods: ['GET'] },
      (req) => {
        const tenant = resolveTenant(ctx, tenantParam(req));
        if (!tenant) return aadResponse(E.tenantNotFound(tenantParam(req) ?? ''), req);
        return json(discoveryDocument(ctx, req.view, tenant), 200, { 'access-control-allow-origin': '*' });
      },
    );
    const jwks = (v2: boolean) => async (req: EndpointRequest) => {
      if (!resolveTenant(ctx, tenantParam(req)))
        return aadResponse(E.tenantNotFound(tenantParam(req) ?? ''), req);
      return json(await keySet(ctx, req.view, v2), 200, { 'access-control-allow-origin': '*' });
    };
    ctx.endpoint(login, { name: 'jwks', path: '/:tenant/discovery/v2.0/keys', methods: ['GET'] }, jwks(true));
    ctx.endpoint(login, { name: 'jwks', path: '/:tenant/discovery/keys', methods: ['GET'] }, jwks(false));
    ctx.endpoint(
      login,
      { name: 'authorize', path: '/:tenant/oauth2/v2.0/authorize', methods: ['GET', 'POST'] },
      (req) => authorizeEndpoint(ctx, req),
    );
    ctx.endpoint(
      login,
      { name: 'token', path: '/:tenant/oauth2/v2.0/token', methods: ['POST', 'OPTIONS'] },
      (req) => tokenEndpoint(ctx, req),
    );
    ctx.endpoint(
      login,
      { name: 'logout', path: '/:tenant/oauth2/v2.0/logout', methods: ['GET', 'POST'] },
      (req) => logoutEndpoint(ctx, req),
    );
    ctx.endpoint(graph, { name: 'userinfo', path: '/oidc/userinfo', methods: ['GET', 'POST'] }, (req) =>
      userinfoEndpoint(ctx, req),
    );
    return { login, graph };
  },
  describe(ctx, view) {
    const at = (tenant: string, path: string) => ctx.url(view, 'login', `/${tenant}${path}`);
    return {
      issuer: at(ENTRA_HOME_TENANT, '/v2.0'),
      endpoints: {
        discovery: at(ENTRA_HOME_TENANT, '/v2.0/.well-known/openid-configuration'),
        authorize: at(ENTRA_HOME_TENANT, '/oauth2/v2.0/authorize'),
        token: at(ENTRA_HOME_TENANT, '/oauth2/v2.0/token'),
        jwks: at(ENTRA_HOME_TENANT, '/discovery/v2.0/keys'),
        logout: at(ENTRA_HOME_TENANT, '/oauth2/v2.0/logout'),
        userinfo: ctx.url(view, 'graph', '/oidc/userinfo'),
        discovery_common: at('common', '/v2.0/.well-known/openid-configuration'),
      },
    };
  },
  identity(persona) {
    const user = entraUser(persona);
    const claims = idTokenClaims(undefined, user, {
      loginBase: 'https://login.microsoftonline.com',
      clientId: ENTRA_WEB_APP.clientId,
      oidc: new Set(['openid', 'profile', 'email']),
      nonce: undefined,
      sid: undefined,
    });
    for (const perToken of ['iat', 'nbf', 'exp', 'aio', 'rh', 'uti']) delete claims[perToken];
    return claims;
  },
  error: entraError,
  newCode: () => `1.AR${randomId(280, B64URL)}`,
};
