/**
 * The Google shape of the mock identity provider: OAuth 2.0 for web server apps plus OpenID
 * Connect, on the four hostnames Google serves them from.
 *
 * @see https://developers.google.com/identity/protocols/oauth2/web-server
 * @see https://developers.google.com/identity/openid-connect/openid-connect
 *
 * Facts marked [I] in reference/provider-shapes.md, as checked with the search tool:
 * - Discovery document fields and values: a copy of accounts.google.com's document quoted in
 *   INTERMediator's GoogleAdapter.php. The real one also advertises the device and jwt-bearer
 *   grants and implicit/hybrid response types; this mock serves only the code flow, so it
 *   advertises only that (response_types_supported [code], grant_types_supported
 *   [authorization_code, refresh_token]) rather than promise endpoints it lacks.
 * - Token `scope` comes back in URL form (`email` -> .../auth/userinfo.email) and `openid` is
 *   added when `email` or `profile` is asked for, with an id_token (thinx-device-api #322: scope
 *   "email" answered with "https://www.googleapis.com/auth/userinfo.email openid" and an
 *   id_token; FastMCP google.py normalizes the short names for the same reason). The redirect
 *   back echoes the requested and the expanded scope names, with `authuser` and `prompt`
 *   (nuxt-auth-utils #440, yhttp/markdownserver example).
 * - Codes look like `4/0A...` (with a slash the client must decode).
 * - Token errors: a used code is 400 {"error":"invalid_grant","error_description":"Bad Request"}
 *   (nuxt-auth-utils #440, googleapis/signet #184); a wrong secret is 401
 *   {"error":"invalid_client","error_description":"Unauthorized"} (SocialiteProviders #564);
 *   an unknown client is 401 "The OAuth client was not found."; a refused refresh token is
 *   invalid_grant "Token has been expired or revoked."; PKCE failures are invalid_grant
 *   "Missing code verifier." / "Invalid code verifier." (pocketbase #2475); a refresh token of
 *   another client is unauthorized_client "Unauthorized" (ruby-oauth/oauth2 #554). Other texts
 *   ("Could not determine client ID from request.", "client_secret is missing.", "Missing
 *   parameter: redirect_uri", "Malformed auth code.", "Invalid grant_type: x") follow the
 *   aabccd021/mockful-service Google mock, which mirrors them [I, not first-hand].
 * - Client authentication: client_secret_post and client_secret_basic are both accepted (the
 *   discovery document lists both).
 * - Authorization errors are pages, never redirects: a missing scope is "Error 400:
 *   invalid_request, Missing required parameter: scope" (passport-google-oauth2 #76 and many
 *   others); an unknown client is **401** invalid_client "The OAuth client was not found."
 *   (compserv/hknweb #306), not 400 as the brief said.
 * - tokeninfo: oauth2.googleapis.com/tokeninfo answers `exp`, `expires_in` and
 *   `email_verified` as strings (Google's id_token tokeninfo example; a Go test noting "exp and
 *   email_verified as strings, which is what production sends"); it takes the token as
 *   `access_token`/`id_token` or as a Bearer header (google-auth-library getTokenInfo POSTs with
 *   a Bearer header). The legacy www.googleapis.com/oauth2/v1/tokeninfo answers issued_to,
 *   audience, user_id, scope, expires_in (number), email, verified_email (boolean), access_type
 *   (the oauth2 v2 discovery models); a bad token there is 400 {"error":"invalid_token",
 *   "error_description":"Invalid Value"} (googlearchive/gplus-verifytoken-java #4). Older
 *   answers from the v2/v3 tokeninfo carried only error_description [I]; the mock sends both.
 * - Revoke: 200 for a live token; otherwise 400 {"error":"invalid_token","error_description":
 *   "Token expired or revoked"} [I: seen in a third-party Google mock]. Revoking either token of a
 *   grant revokes the other (Google's revoke documentation).
 * - Userinfo with a bad token: openidconnect /v1/userinfo (and www /oauth2/v3/userinfo) answer
 *   401 {"error":"invalid_request","error_description":"Invalid Credentials"}
 *   (laravelsocialiteapi #1); www /oauth2/v2/userinfo answers the Google API error object
 *   {"error":{"code":401,"message":"Request had invalid authentication credentials...",
 *   "errors":[...authError...],"status":"UNAUTHENTICATED"}} (googleapis/google-api-php-client
 *   #1528, GeneralTask/task-manager #997).
 *
 * Not modelled: implicit and hybrid flows, the device flow, incremental authorization
 * (`include_granted_scopes` is recorded only), `prompt=none` without a queued login, and the PEM
 * certificates at www.googleapis.com/oauth2/v1/certs that google-auth-library fetches in Node.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { type RegisteredClient, redirectAllowed } from '../clients.ts';
import { nowSeconds, type RedeemFailure, type TokenRecord } from '../grants.ts';
import { errorPage } from '../login-page.ts';
import { block, type Persona } from '../personas.ts';
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
import { randomId } from '../random.ts';

const PROVIDER = 'google';

/** The default client, as Google's console would issue it. */
export const GOOGLE_CLIENT_ID = '123456789012-mockgoogleclient.apps.googleusercontent.com';
export const GOOGLE_CLIENT_SECRET = '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';

export const SCOPE_EMAIL = 'https://www.googleapis.com/auth/userinfo.email';
export const SCOPE_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile';
const SHORT_SCOPES: Record<string, string> = { email: SCOPE_EMAIL, profile: SCOPE_PROFILE };

/** Lifetimes Google uses: access tokens 3599 s, id_tokens one hour (codes keep the shared 10 minutes). */
const ACCESS_TOKEN_TTL = 3599;
const ID_TOKEN_TTL = 3600;
const CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const TOKEN_HEADERS = {
  'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
  pragma: 'no-cache',
};

/** Default error_description per error code when a fault names none. */
const DEFAULT_DESCRIPTIONS: Record<string, string> = {
  invalid_grant: 'Bad Request',
  invalid_client: 'Unauthorized',
  unauthorized_client: 'Unauthorized',
  invalid_request: 'Bad Request',
  invalid_token: 'Invalid Value',
  redirect_uri_mismatch: 'Bad Request',
  access_denied: 'The user denied the request.',
};

/** The request's provider context, for `error()` (which the shared layer calls without one). */
const contexts = new WeakMap<Request, ProviderContext>();

// ---------------------------------------------------------------------------------------------
// Personas as Google shows them

/** One persona as a Google account. */
export interface GoogleAccount {
  sub: string;
  email: string | null;
  emailVerified: boolean;
  hd: string | undefined;
  name: string;
  givenName: string;
  familyName: string;
  picture: string;
  locale: string;
  /** The persona's id_tokens use the scheme-less issuer (`accounts.google.com`). */
  bareIssuer: boolean;
}

/** A stable 21-digit subject for personas whose google block names none. */
function derivedSub(id: string): string {
  const digits = BigInt(`0x${createHash('sha256').update(`google:${id}`).digest('hex').slice(0, 16)}`);
  return `1${digits.toString().padStart(20, '0').slice(0, 20)}`;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function googleAccount(persona: Persona): GoogleAccount {
  const b = block(persona, PROVIDER);
  const name = text(b['name']) ?? persona.name;
  const [first = name, ...rest] = name.split(' ');
  const email = 'email' in b ? (text(b['email']) ?? null) : persona.email;
  const iss = text(b['iss']);
  return {
    sub: text(b['sub']) ?? (typeof b['sub'] === 'number' ? String(b['sub']) : derivedSub(persona.id)),
    email,
    emailVerified: typeof b['email_verified'] === 'boolean' ? b['email_verified'] : persona.email_verified,
    hd: text(b['hd']),
    name,
    givenName: text(b['given_name']) ?? first,
    familyName: text(b['family_name']) ?? rest.join(' '),
    picture: text(b['picture']) ?? `https://lh3.googleusercontent.com/a/mock-${persona.id}=s96-c`,
    locale: text(b['locale']) ?? 'en',
    bareIssuer: iss !== undefined && !iss.includes('://'),
  };
}

/** Claims about the user that the granted scopes release (id_token and OIDC userinfo). */
function userClaims(account: GoogleAccount, scopes: string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  if (account.hd) claims['hd'] = account.hd;
  if (scopes.includes(SCOPE_EMAIL) && account.email !== null) {
    claims['email'] = account.email;
    claims['email_verified'] = account.emailVerified;
  }
  if (scopes.includes(SCOPE_PROFILE)) {
    claims['name'] = account.name;
    claims['picture'] = account.picture;
    claims['given_name'] = account.givenName;
    claims['family_name'] = account.familyName;
    claims['locale'] = account.locale;
  }
  return claims;
}

/** The v2 userinfo object (www.googleapis.com/oauth2/v2/userinfo). */
function userinfoV2(account: GoogleAccount, scopes: string[]): Record<string, unknown> {
  const body: Record<string, unknown> = { id: account.sub };
  if (scopes.includes(SCOPE_EMAIL) && account.email !== null) {
    body['email'] = account.email;
    body['verified_email'] = account.emailVerified;
  }
  if (scopes.includes(SCOPE_PROFILE)) {
    Object.assign(body, {
      name: account.name,
      given_name: account.givenName,
      family_name: account.familyName,
      picture: account.picture,
      locale: account.locale,
    });
  }
  if (account.hd) body['hd'] = account.hd;
  return body;
}

// ---------------------------------------------------------------------------------------------
// Scopes

function splitScope(raw: string): string[] {
  return [...new Set(raw.split(/\s+/).filter(Boolean))];
}

/** Scope values Google would recognise: the OIDC short names and Google API scope URLs. */
function knownScope(scope: string): boolean {
  return (
    scope === 'openid' ||
    scope in SHORT_SCOPES ||
    scope.startsWith('https://www.googleapis.com/auth/') ||
    scope === 'https://mail.google.com/'
  );
}

/** The granted scopes as Google reports them: URL forms, plus `openid` when email/profile ask it. */
export function grantedScopes(requested: string[]): string[] {
  const out: string[] = [];
  for (const scope of requested) {
    if (scope === 'openid') continue;
    const full = SHORT_SCOPES[scope] ?? scope;
    if (!out.includes(full)) out.push(full);
  }
  if (requested.includes('openid') || out.includes(SCOPE_EMAIL) || out.includes(SCOPE_PROFILE)) {
    out.push('openid');
  }
  return out;
}

/** The `scope` parameter of the redirect back: what was asked, then the expanded names. */
function redirectScope(requested: string[]): string {
  const out = [...requested];
  for (const scope of grantedScopes(requested)) if (!out.includes(scope)) out.push(scope);
  return out.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Errors in Google's shapes

function errorPageFor(status: number, error: string, description: string): Response {
  return errorPage(status, `Error ${status}: ${error}`, description);
}

function tokenError(status: number, error: string, description: string): Response {
  return json({ error, error_description: description }, status, TOKEN_HEADERS);
}

function challenge(ctx: ProviderContext, view: UrlView): string {
  return `Bearer realm="${ctx.url(view, 'accounts')}/", error="invalid_token"`;
}

/** The Google API error object (www.googleapis.com APIs). */
function apiError(status: number, message: string, reason: string, detail: string): Record<string, unknown> {
  return {
    error: {
      code: status,
      message,
      errors: [
        { message: detail, domain: 'global', reason, location: 'Authorization', locationType: 'header' },
      ],
      status: status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'PERMISSION_DENIED' : 'INVALID_ARGUMENT',
    },
  };
}

const CREDENTIALS_HINT =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. ' +
  'See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function userinfoV2Error(ctx: ProviderContext, view: UrlView, missing: boolean): Response {
  const body = missing
    ? apiError(
        401,
        `Request is missing required authentication credential. ${CREDENTIALS_HINT}`,
        'required',
        'Login Required.',
      )
    : apiError(
        401,
        `Request had invalid authentication credentials. ${CREDENTIALS_HINT}`,
        'authError',
        'Invalid Credentials',
      );
  return json(body, 401, { 'www-authenticate': challenge(ctx, view) });
}

function userinfoError(ctx: ProviderContext, view: UrlView): Response {
  return json({ error: 'invalid_request', error_description: 'Invalid Credentials' }, 401, {
    'www-authenticate': challenge(ctx, view),
  });
}

/** Renders an error for the named endpoint (used by the shared layer for faults and bad input). */
function renderError(input: ProviderErrorInput): Response {
  const description = input.description || DEFAULT_DESCRIPTIONS[input.error] || 'Bad Request';
  const req = input.request;
  const ctx = req ? contexts.get(req.c.req.raw) : undefined;
  switch (input.endpoint) {
    case 'authorize': {
      // With a known client and an allowed redirect_uri the error goes back to the client
      // (RFC 6749 4.1.2.1); otherwise the user sees Google's error page.
      const client = ctx?.clients.get(req?.params['client_id'] ?? '');
      const target = req?.params['redirect_uri'];
      if (client && target && redirectAllowed(client, target) && input.status !== 405) {
        const url = new URL(target);
        url.searchParams.set('error', input.error);
        if (input.description) url.searchParams.set('error_description', input.description);
        const state = req?.params['state'];
        if (state !== undefined) url.searchParams.set('state', state);
        return new Response(null, { status: 302, headers: { location: url.toString() } });
      }
      return errorPageFor(input.status ?? 400, input.error, description);
    }
    case 'token': {
      // Google always answers client authentication failures with 401.
      const status = input.error === 'invalid_client' ? 401 : (input.status ?? 400);
      return tokenError(status, input.error, description);
    }
    case 'userinfo':
    case 'userinfo_v3': {
      const status = input.status ?? 400;
      const headers: Record<string, string> =
        status === 401 && ctx && req ? { 'www-authenticate': challenge(ctx, req.view) } : {};
      return json({ error: input.error, error_description: description }, status, headers);
    }
    case 'userinfo_v2': {
      const status = input.status ?? 400;
      return json(apiError(status, description, input.error, description), status);
    }
    default:
      return json({ error: input.error, error_description: description }, input.status ?? 400);
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** OIDC Core 3.1.3.6: the left half of SHA-256 of the access token, base64url. */
function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url');
}

/** The issuer, or its scheme-less form for personas that ask for it (both are valid at Google). */
function issuerFor(ctx: ProviderContext, view: UrlView, account: GoogleAccount): string {
  const issuer = ctx.url(view, 'accounts');
  return account.bareIssuer ? issuer.replace(/^https?:\/\//, '') : issuer;
}

async function signIdToken(
  ctx: ProviderContext,
  view: UrlView,
  persona: Persona,
  clientId: string,
  scopes: string[],
  accessToken: string,
  nonce: string | undefined,
): Promise<string> {
  const account = googleAccount(persona);
  const now = nowSeconds();
  const claims = userClaims(account, scopes);
  const { hd, email, email_verified, ...profile } = claims;
  // Claim order as Google emits it: iss, azp, aud, sub, hd, email, email_verified, at_hash, nonce...
  const payload: Record<string, unknown> = {
    iss: issuerFor(ctx, view, account),
    azp: clientId,
    aud: clientId,
    sub: account.sub,
    ...(hd !== undefined ? { hd } : {}),
    ...(email !== undefined ? { email, email_verified } : {}),
    at_hash: atHash(accessToken),
    ...(nonce !== undefined ? { nonce } : {}),
    ...profile,
    iat: now,
    exp: now + ID_TOKEN_TTL,
  };
  const idToken = await ctx.signJwt('token', payload, { typ: 'JWT' });
  ctx.issued('id_token', persona.id, clientId, idToken);
  return idToken;
}

function issueAccessToken(
  ctx: ProviderContext,
  input: Pick<TokenRecord, 'persona' | 'clientId' | 'scope' | 'family' | 'extra'>,
  fromCode?: Parameters<ProviderContext['grants']['issueToken']>[0]['fromCode'],
): TokenRecord {
  const record = ctx.grants.issueToken({
    ...input,
    value: `ya29.a0${randomId(150, CODE_ALPHABET)}`,
    provider: PROVIDER,
    kind: 'access_token',
    expiresAt: nowSeconds() + ACCESS_TOKEN_TTL,
    ...(fromCode ? { fromCode } : {}),
  });
  ctx.issued('access_token', input.persona, input.clientId, record.value);
  return record;
}

/** Whether the persona already holds a live refresh token for this client (an earlier consent). */
function hasLiveRefreshToken(ctx: ProviderContext, clientId: string, persona: string): boolean {
  return ctx.journal
    .entries({ provider: PROVIDER, type: 'issued' })
    .some(
      (e) =>
        e.type === 'issued' &&
        e.kind === 'refresh_token' &&
        e.client === clientId &&
        e.persona === persona &&
        ctx.grants.findToken(PROVIDER, e.value, 'refresh_token') !== undefined,
    );
}

/** Authenticates the client at the token endpoint (client_secret_post or client_secret_basic). */
function authenticateClient(
  ctx: ProviderContext,
  req: EndpointRequest,
): { client: RegisteredClient } | { error: Response } {
  const header = req.header('authorization');
  const basic = basicCredentials(header);
  if (header && /^basic\s/i.test(header) && !basic) {
    return { error: tokenError(400, 'invalid_request', 'Bad Request') };
  }
  const clientId = basic?.id || req.params['client_id'];
  if (!clientId) {
    return { error: tokenError(400, 'invalid_request', 'Could not determine client ID from request.') };
  }
  if (basic && req.params['client_id'] && req.params['client_id'] !== basic.id) {
    return { error: tokenError(401, 'invalid_client', 'Unauthorized') };
  }
  const client = ctx.clients.get(clientId);
  if (!client) return { error: tokenError(401, 'invalid_client', 'The OAuth client was not found.') };
  if (client.clientSecret !== undefined) {
    const secret = basic ? basic.secret : req.params['client_secret'];
    if (!secret) return { error: tokenError(400, 'invalid_request', 'client_secret is missing.') };
    if (!sameSecret(secret, client.clientSecret)) {
      return { error: tokenError(401, 'invalid_client', 'Unauthorized') };
    }
  }
  return { client };
}

const REDEEM_ERRORS: Record<RedeemFailure, [string, string]> = {
  unknown_code: ['invalid_grant', 'Malformed auth code.'],
  expired_code: ['invalid_grant', 'Bad Request'],
  used_code: ['invalid_grant', 'Bad Request'],
  client_mismatch: ['invalid_grant', 'Bad Request'],
  redirect_uri_mismatch: ['redirect_uri_mismatch', 'Bad Request'],
  verifier_missing: ['invalid_grant', 'Missing code verifier.'],
  verifier_mismatch: ['invalid_grant', 'Invalid code verifier.'],
  verifier_unexpected: ['invalid_grant', 'Bad Request'],
};

/** RFC 6749 4.1.3 as Google answers it. */
async function exchangeCode(ctx: ProviderContext, req: EndpointRequest, client: RegisteredClient) {
  const code = req.params['code'];
  if (!code) return tokenError(400, 'invalid_request', 'Missing required parameter: code');
  const redirectUri = req.params['redirect_uri'];
  if (redirectUri === undefined) return tokenError(400, 'invalid_request', 'Missing parameter: redirect_uri');
  const result = ctx.grants.redeemCode(PROVIDER, code, {
    clientId: client.clientId,
    redirectUri,
    codeVerifier: req.params['code_verifier'],
  });
  if (!result.ok) {
    const [error, description] = REDEEM_ERRORS[result.reason];
    return tokenError(400, error, description);
  }
  const { record } = result;
  const persona = ctx.persona(record.persona);
  if (!persona) return tokenError(400, 'invalid_grant', 'Bad Request');
  const scopes = record.txn.scope;
  const accessType = record.txn.extra['accessType'] === 'offline' ? 'offline' : 'online';
  const family = randomId(16);
  const extra = { accessType };
  // Google issues a refresh token only for access_type=offline, and only at the first consent of
  // this user to this client, unless prompt=consent asks for consent again (web-server guide).
  const consentAgain = String(record.txn.extra['prompt'] ?? '')
    .split(' ')
    .includes('consent');
  const withRefresh =
    accessType === 'offline' && (consentAgain || !hasLiveRefreshToken(ctx, client.clientId, persona.id));
  const access = issueAccessToken(
    ctx,
    { persona: persona.id, clientId: client.clientId, scope: scopes, family, extra },
    record,
  );
  const body: Record<string, unknown> = {
    access_token: access.value,
    expires_in: ACCESS_TOKEN_TTL,
    scope: scopes.join(' '),
    token_type: 'Bearer',
  };
  if (withRefresh) {
    const refresh = ctx.grants.issueToken({
      value: `1//0${randomId(100, CODE_ALPHABET)}`,
      provider: PROVIDER,
      kind: 'refresh_token',
      persona: persona.id,
      clientId: client.clientId,
      scope: scopes,
      expiresAt: undefined,
      family,
      extra,
      fromCode: record,
    });
    ctx.issued('refresh_token', persona.id, client.clientId, refresh.value);
    body['refresh_token'] = refresh.value;
  }
  if (scopes.includes('openid')) {
    body['id_token'] = await signIdToken(
      ctx,
      req.view,
      persona,
      client.clientId,
      scopes,
      access.value,
      record.txn.nonce,
    );
  }
  return json(body, 200, TOKEN_HEADERS);
}

/** RFC 6749 6: a new access token (and id_token), never a new refresh token. */
async function refresh(ctx: ProviderContext, req: EndpointRequest, client: RegisteredClient) {
  const value = req.params['refresh_token'];
  if (!value) return tokenError(400, 'invalid_request', 'Missing required parameter: refresh_token');
  const record = ctx.grants.findToken(PROVIDER, value, 'refresh_token');
  if (!record) {
    const known = ctx.grants.anyToken(value)?.provider === PROVIDER;
    return tokenError(400, 'invalid_grant', known ? 'Token has been expired or revoked.' : 'Bad Request');
  }
  if (record.clientId !== client.clientId) return tokenError(401, 'unauthorized_client', 'Unauthorized');
  const persona = ctx.persona(record.persona);
  if (!persona) return tokenError(400, 'invalid_grant', 'Token has been expired or revoked.');
  const access = issueAccessToken(ctx, {
    persona: persona.id,
    clientId: client.clientId,
    scope: record.scope,
    family: record.family,
    extra: record.extra,
  });
  const body: Record<string, unknown> = {
    access_token: access.value,
    expires_in: ACCESS_TOKEN_TTL,
    scope: record.scope.join(' '),
    token_type: 'Bearer',
  };
  if (record.scope.includes('openid')) {
    body['id_token'] = await signIdToken(
      ctx,
      req.view,
      persona,
      client.clientId,
      record.scope,
      access.value,
      undefined,
    );
  }
  return json(body, 200, TOKEN_HEADERS);
}

// ---------------------------------------------------------------------------------------------
// Endpoints

function discovery(ctx: ProviderContext, view: UrlView): Record<string, unknown> {
  return {
    issuer: ctx.url(view, 'accounts'),
    authorization_endpoint: ctx.url(view, 'accounts', '/o/oauth2/v2/auth'),
    token_endpoint: ctx.url(view, 'oauth2', '/token'),
    userinfo_endpoint: ctx.url(view, 'openidconnect', '/v1/userinfo'),
    revocation_endpoint: ctx.url(view, 'oauth2', '/revoke'),
    jwks_uri: ctx.url(view, 'www', '/oauth2/v3/certs'),
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'email', 'profile'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    claims_supported: [
      'aud',
      'email',
      'email_verified',
      'exp',
      'family_name',
      'given_name',
      'iat',
      'iss',
      'name',
      'picture',
      'sub',
    ],
    code_challenge_methods_supported: ['plain', 'S256'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
  };
}

/** RFC 6749 4.1.1 / OIDC Core 3.1.2.1, validated in the order Google's error pages suggest. */
function authorize(ctx: ProviderContext, req: EndpointRequest): Response | Promise<Response> {
  const p = req.params;
  const clientId = p['client_id'];
  if (!clientId) return errorPageFor(400, 'invalid_request', 'Missing required parameter: client_id');
  const client = ctx.clients.get(clientId);
  if (!client) return errorPageFor(401, 'invalid_client', 'The OAuth client was not found.');
  const redirectUri = p['redirect_uri'];
  if (!redirectUri) return errorPageFor(400, 'invalid_request', 'Missing required parameter: redirect_uri');
  if (!redirectAllowed(client, redirectUri)) {
    return errorPageFor(
      400,
      'redirect_uri_mismatch',
      `The redirect URI in the request, ${redirectUri}, does not match the ones authorized for the OAuth client.`,
    );
  }
  if (req.repeated.length > 0) {
    return errorPageFor(400, 'invalid_request', `Parameter is repeated: ${req.repeated.join(', ')}`);
  }
  const responseType = p['response_type'];
  if (!responseType)
    return errorPageFor(400, 'invalid_request', 'Required parameter is missing: response_type');
  if (responseType !== 'code') {
    return errorPageFor(
      400,
      'unsupported_response_type',
      `Invalid response_type: ${responseType} (this mock serves "code")`,
    );
  }
  const requested = splitScope(p['scope'] ?? '');
  if (requested.length === 0)
    return errorPageFor(400, 'invalid_request', 'Missing required parameter: scope');
  const invalid = requested.filter((s) => !knownScope(s));
  if (invalid.length > 0) {
    const valid = requested.filter(knownScope);
    return errorPageFor(
      400,
      'invalid_scope',
      `Some requested scopes were invalid. {valid=[${valid.join(', ')}], invalid=[${invalid.join(', ')}]}`,
    );
  }
  const codeChallenge = p['code_challenge'];
  let codeChallengeMethod: 'S256' | 'plain' | undefined;
  if (codeChallenge !== undefined) {
    // RFC 7636 4.3: the method defaults to plain.
    const method = p['code_challenge_method'] ?? 'plain';
    if (method !== 'S256' && method !== 'plain') {
      return errorPageFor(400, 'invalid_request', `Invalid code_challenge_method: ${method}`);
    }
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(codeChallenge)) {
      return errorPageFor(400, 'invalid_request', 'Invalid code_challenge: it must be 43 to 128 characters');
    }
    codeChallengeMethod = method;
  }
  const accessType = p['access_type'] ?? 'online';
  if (accessType !== 'online' && accessType !== 'offline') {
    return errorPageFor(400, 'invalid_request', `Invalid access_type: ${accessType}`);
  }
  // Recorded for the token endpoint and the journal; only access_type and prompt change tokens.
  const extra: Record<string, unknown> = { accessType };
  const recorded = {
    prompt: 'prompt',
    includeGrantedScopes: 'include_granted_scopes',
    loginHint: 'login_hint',
    hd: 'hd',
  };
  for (const [key, param] of Object.entries(recorded)) if (p[param] !== undefined) extra[key] = p[param];
  return ctx.authorize(req, {
    clientId: client.clientId,
    redirectUri,
    target: redirectUri,
    scope: grantedScopes(requested),
    state: p['state'],
    nonce: p['nonce'],
    codeChallenge,
    codeChallengeMethod,
    responseMode: 'query',
    extra,
    redirectParams: { scope: redirectScope(requested), authuser: '0', prompt: 'consent' },
  });
}

/** The token a request presents: Bearer header first, then `access_token`. */
function presentedToken(req: EndpointRequest): string | undefined {
  return bearerToken(req.header('authorization')) ?? req.params['access_token'];
}

function liveAccessToken(ctx: ProviderContext, value: string | undefined): TokenRecord | undefined {
  return value ? ctx.grants.findToken(PROVIDER, value, 'access_token') : undefined;
}

const secondsLeft = (record: TokenRecord): number =>
  Math.max(0, (record.expiresAt ?? nowSeconds()) - nowSeconds());

/**
 * The live access token a tokeninfo request names (`access_token`, then the Bearer header) and its
 * account; or the error both tokeninfo versions answer without one.
 */
function tokeninfoAccessToken(
  ctx: ProviderContext,
  req: EndpointRequest,
): { record: TokenRecord; account: GoogleAccount } | Response {
  const value = req.params['access_token'] ?? bearerToken(req.header('authorization'));
  if (!value) {
    return json(
      {
        error: 'invalid_request',
        error_description: 'Either access_token, id_token, or token_handle required',
      },
      400,
    );
  }
  const record = liveAccessToken(ctx, value);
  const persona = record && ctx.persona(record.persona);
  if (!record || !persona) return json({ error: 'invalid_token', error_description: 'Invalid Value' }, 400);
  return { record, account: googleAccount(persona) };
}

/** tokeninfo for an id_token: the verified claims with every value as a string, plus the header. */
async function idTokenInfo(ctx: ProviderContext, idToken: string): Promise<Response> {
  try {
    const { payload } = await jwtVerify(idToken, createLocalJWKSet(await ctx.keys.jwks()));
    const header = decodeProtectedHeader(idToken);
    const body: Record<string, string> = {};
    for (const [k, v] of Object.entries(payload)) body[k] = typeof v === 'string' ? v : JSON.stringify(v);
    for (const k of ['alg', 'kid', 'typ'] as const) if (typeof header[k] === 'string') body[k] = header[k];
    return json(body);
  } catch {
    return json({ error: 'invalid_token', error_description: 'Invalid Value' }, 400);
  }
}

/** oauth2.googleapis.com/tokeninfo (and www /oauth2/v3/tokeninfo): string-valued fields. */
async function tokeninfo(ctx: ProviderContext, req: EndpointRequest): Promise<Response> {
  const idToken = req.params['id_token'];
  if (idToken) return idTokenInfo(ctx, idToken);
  const found = tokeninfoAccessToken(ctx, req);
  if (found instanceof Response) return found;
  const { record, account } = found;
  const body: Record<string, string> = {
    azp: record.clientId,
    aud: record.clientId,
    sub: account.sub,
    scope: record.scope.join(' '),
    exp: String(record.expiresAt),
    expires_in: String(secondsLeft(record)),
  };
  if (record.scope.includes(SCOPE_EMAIL) && account.email !== null) {
    body['email'] = account.email;
    body['email_verified'] = String(account.emailVerified);
  }
  body['access_type'] = String(record.extra['accessType'] ?? 'online');
  return json(body);
}

/** www.googleapis.com/oauth2/v1/tokeninfo: the legacy field names, typed values. */
function tokeninfoV1(ctx: ProviderContext, req: EndpointRequest): Response {
  const found = tokeninfoAccessToken(ctx, req);
  if (found instanceof Response) return found;
  const { record, account } = found;
  const body: Record<string, unknown> = {
    issued_to: record.clientId,
    audience: record.clientId,
    user_id: account.sub,
    scope: record.scope.join(' '),
    expires_in: secondsLeft(record),
  };
  if (record.scope.includes(SCOPE_EMAIL) && account.email !== null) {
    body['email'] = account.email;
    body['verified_email'] = account.emailVerified;
  }
  body['access_type'] = record.extra['accessType'] ?? 'online';
  return json(body);
}

/** OIDC Core 5.3: openidconnect.googleapis.com/v1/userinfo (and www /oauth2/v3/userinfo). */
function userinfo(ctx: ProviderContext, req: EndpointRequest): Response {
  const record = liveAccessToken(ctx, presentedToken(req));
  const persona = record && ctx.persona(record.persona);
  if (!record || !persona) return userinfoError(ctx, req.view);
  const account = googleAccount(persona);
  const claims = userClaims(account, record.scope);
  const { hd, email, email_verified, locale, ...profile } = claims;
  return json({
    sub: account.sub,
    ...profile,
    ...(email !== undefined ? { email, email_verified } : {}),
    ...(hd !== undefined ? { hd } : {}),
    ...(locale !== undefined ? { locale } : {}),
  });
}

function userinfoV2Endpoint(ctx: ProviderContext, req: EndpointRequest): Response {
  const presented = presentedToken(req);
  const record = liveAccessToken(ctx, presented);
  const persona = record && ctx.persona(record.persona);
  if (!record || !persona) return userinfoV2Error(ctx, req.view, presented === undefined);
  return json(userinfoV2(googleAccount(persona), record.scope));
}

/** RFC 7009 as Google answers it: 200 for a live token, 400 invalid_token otherwise. */
function revoke(ctx: ProviderContext, req: EndpointRequest): Response {
  const value = req.params['token'];
  if (!value)
    return json({ error: 'invalid_request', error_description: 'Missing required parameter: token' }, 400);
  if (!ctx.grants.findToken(PROVIDER, value)) {
    return json({ error: 'invalid_token', error_description: 'Token expired or revoked' }, 400);
  }
  ctx.grants.revokeFamilyOf(value);
  return json({});
}

function mount(ctx: ProviderContext): Record<string, HostApp> {
  const accounts = hostApp();
  const oauth2 = hostApp();
  const openidconnect = hostApp();
  const www = hostApp();
  for (const app of [accounts, oauth2, openidconnect, www]) {
    app.use('*', async (c, next) => {
      contexts.set(c.req.raw, ctx);
      await next();
    });
  }

  ctx.endpoint(
    accounts,
    { name: 'discovery', path: '/.well-known/openid-configuration', methods: ['GET'] },
    (req) => json(discovery(ctx, req.view), 200, { 'cache-control': 'public, max-age=3600' }),
  );
  for (const path of ['/o/oauth2/v2/auth', '/o/oauth2/auth']) {
    ctx.endpoint(accounts, { name: 'authorize', path, methods: ['GET', 'POST'] }, (req) =>
      authorize(ctx, req),
    );
  }

  ctx.endpoint(oauth2, { name: 'token', path: '/token', methods: ['POST'] }, async (req) => {
    const grantType = req.params['grant_type'] ?? '';
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      return tokenError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
    }
    const auth = authenticateClient(ctx, req);
    if ('error' in auth) return auth.error;
    return grantType === 'authorization_code'
      ? exchangeCode(ctx, req, auth.client)
      : refresh(ctx, req, auth.client);
  });
  ctx.endpoint(oauth2, { name: 'revoke', path: '/revoke', methods: ['POST'] }, (req) => revoke(ctx, req));
  ctx.endpoint(oauth2, { name: 'tokeninfo', path: '/tokeninfo', methods: ['GET', 'POST'] }, (req) =>
    tokeninfo(ctx, req),
  );

  ctx.endpoint(openidconnect, { name: 'userinfo', path: '/v1/userinfo', methods: ['GET', 'POST'] }, (req) =>
    userinfo(ctx, req),
  );

  ctx.endpoint(www, { name: 'jwks', path: '/oauth2/v3/certs', methods: ['GET'] }, async () =>
    json(await ctx.keys.jwks(), 200, {
      'cache-control': `public, max-age=${ctx.setting<number>('jwks_max_age')}, must-revalidate, no-transform`,
    }),
  );
  ctx.endpoint(www, { name: 'tokeninfo_v1', path: '/oauth2/v1/tokeninfo', methods: ['GET', 'POST'] }, (req) =>
    tokeninfoV1(ctx, req),
  );
  ctx.endpoint(www, { name: 'tokeninfo_v3', path: '/oauth2/v3/tokeninfo', methods: ['GET', 'POST'] }, (req) =>
    tokeninfo(ctx, req),
  );
  ctx.endpoint(www, { name: 'userinfo_v2', path: '/oauth2/v2/userinfo', methods: ['GET', 'POST'] }, (req) =>
    userinfoV2Endpoint(ctx, req),
  );
  ctx.endpoint(www, { name: 'userinfo_v3', path: '/oauth2/v3/userinfo', methods: ['GET', 'POST'] }, (req) =>
    userinfo(ctx, req),
  );

  return { accounts, oauth2, openidconnect, www };
}

export const google: ProviderDefinition = {
  id: PROVIDER,
  title: 'Google',
  hosts: [
    { id: 'accounts', host: 'accounts.google.com', defaultHost: 'accounts.google.com', prefix: 'google' },
    {
      id: 'oauth2',
      host: 'oauth2.googleapis.com',
      defaultHost: 'oauth2.googleapis.com',
      prefix: 'google-oauth2',
    },
    {
      id: 'openidconnect',
      host: 'openidconnect.googleapis.com',
      defaultHost: 'openidconnect.googleapis.com',
      prefix: 'google-openidconnect',
    },
    { id: 'www', host: 'www.googleapis.com', defaultHost: 'www.googleapis.com', prefix: 'google-www' },
  ],
  clients: [
    {
      clientId: GOOGLE_CLIENT_ID,
      clientSecret: GOOGLE_CLIENT_SECRET,
      redirectUris: [],
      allowLoopback: true,
      tokenEndpointAuthMethod: 'client_secret_post',
      name: 'Mock Google OAuth client',
      extra: {},
    },
  ],
  settings: {
    /**
     * max-age of the JWKS response. Google sends hours; the mock defaults to 0 so that a
     * verifier honouring Cache-Control sees a `rotate-key` fault at once.
     */
    jwks_max_age: 0,
  },
  mount,
  describe(ctx, view) {
    return {
      issuer: ctx.url(view, 'accounts'),
      endpoints: {
        discovery: ctx.url(view, 'accounts', '/.well-known/openid-configuration'),
        authorize: ctx.url(view, 'accounts', '/o/oauth2/v2/auth'),
        token: ctx.url(view, 'oauth2', '/token'),
        revoke: ctx.url(view, 'oauth2', '/revoke'),
        tokeninfo: ctx.url(view, 'oauth2', '/tokeninfo'),
        userinfo: ctx.url(view, 'openidconnect', '/v1/userinfo'),
        jwks: ctx.url(view, 'www', '/oauth2/v3/certs'),
        tokeninfo_v1: ctx.url(view, 'www', '/oauth2/v1/tokeninfo'),
        tokeninfo_v3: ctx.url(view, 'www', '/oauth2/v3/tokeninfo'),
        userinfo_v2: ctx.url(view, 'www', '/oauth2/v2/userinfo'),
        userinfo_v3: ctx.url(view, 'www', '/oauth2/v3/userinfo'),
      },
    };
  },
  identity(persona) {
    const account = googleAccount(persona);
    const all = grantedScopes(['openid', 'email', 'profile']);
    return {
      sub: account.sub,
      issuer_form: account.bareIssuer ? 'bare' : 'https',
      id_token: { sub: account.sub, ...userClaims(account, all) },
      userinfo_v2: userinfoV2(account, all),
    };
  },
  error: renderError,
  newCode: () => `4/0A${randomId(70, CODE_ALPHABET)}`,
};
