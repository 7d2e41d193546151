/**
 * GitHub's OAuth web flow (OAuth App, plus a GitHub App with expiring user tokens) and the REST
 * endpoints servers call to identify the user.
 *
 * Facts checked with the search tool (provider-shapes.md marks the rest [R]):
 * - Token response by `Accept`: form-encoded by default; JSON; XML as an `<OAuth>` element holding
 *   `<token_type>`, `<scope>`, `<access_token>` (github/developer.github.com commit e3df1f1).
 * - Token errors (`error`, `error_description`, `error_uri`) and their descriptions: docs
 *   "Troubleshooting OAuth app access token request errors". Live answers carry absolute
 *   `error_uri`s under https://docs.github.com/apps/managing-oauth-apps/ (seen in issue reports).
 * - A mismatching redirect_uri at /authorize redirects to the registered callback with
 *   error=redirect_uri_mismatch, error_description, error_uri and state (docs "Troubleshooting
 *   authorization request errors"). A redirect_uri may be a subdirectory of the callback
 *   ("Authorizing OAuth apps": same host and port, path under the callback's path).
 * - PKCE: "Only the S256 code challenge method is accepted"; not required (changelog 2025-07-14).
 *   How a refused method is answered is not documented: we redirect `invalid_request`
 *   (RFC 7636 4.4.1) [I].
 * - GitHub App user tokens: `ghu_`, `expires_in` 28800, `ghr_` refresh, docs example
 *   `refresh_token_expires_in` 15811200; a refresh kills the old refresh and access tokens
 *   (docs "Refreshing user access tokens"). The `bad_refresh_token` description is [I].
 * - Token format: prefix, then 30 random base62 characters and a 6-character base62 CRC32
 *   checksum (GitHub blog "Behind GitHub's new authentication token formats"; the checksum input
 *   is [I]).
 * - REST errors: `{"message","documentation_url","status"}` (the string `status` appears in
 *   answers since 2024). No credentials: 401 "Requires authentication"; a bad token: 401
 *   "Bad credentials" with documentation_url https://docs.github.com/rest.
 * - `/user/emails` without `user`/`user:email`: **404** "Not Found" with
 *   `X-Accepted-OAuth-Scopes: user, user:email` (pyupio/pyup#229, octokit/core.js#338); the
 *   endpoint's reference page also lists 403, so the setting `emails_without_scope_status`
 *   switches to 403.
 * - No User-Agent: 403 (docs "Getting started with the REST API": requests without one are
 *   rejected); the plain-text body is the one reported in gitlab-org/gitlab!43852.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { type RegisteredClient, redirectAllowed } from '../clients.ts';
import { type CodeRecord, nowSeconds, type RedeemFailure } from '../grants.ts';
import { errorPage } from '../login-page.ts';
import { block, type Persona } from '../personas.ts';
import {
  basicCredentials,
  type EndpointRequest,
  hostApp,
  json,
  type ProviderContext,
  type ProviderDefinition,
  type ProviderErrorInput,
  type UrlView,
} from '../provider.ts';
import { randomId } from '../random.ts';

const PROVIDER = 'github';
const DOCS = 'https://docs.github.com';
const ACCESS_TOKEN_TTL = 28_800;
const REFRESH_TOKEN_TTL = 15_811_200;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The default OAuth App. GitHub OAuth Apps have exactly one callback URL. */
export const GITHUB_OAUTH_APP: RegisteredClient = {
  clientId: 'Ov23liMockOAuthApp01',
  clientSecret: '3f1c9a7e5b2d4086a1e9c3b7d5f20468ace13579',
  redirectUris: ['http://127.0.0.1/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'client_secret_post',
  name: 'Mock OAuth App',
  extra: {},
};

/** A GitHub App with user-token expiration on: `ghu_` tokens that expire and rotate through `ghr_`. */
export const GITHUB_APP: RegisteredClient = {
  clientId: 'Iv23liMockGitHubApp1',
  clientSecret: '9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d',
  redirectUris: ['http://127.0.0.1/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'client_secret_post',
  name: 'Mock GitHub App',
  extra: { expiringTokens: true },
};

// ---------------------------------------------------------------------------------------------
// Personas in GitHub's shape
// ---------------------------------------------------------------------------------------------

export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility: 'public' | 'private' | null;
}

/** A persona's GitHub account: the `github:` block, with what it omits derived from the persona. */
interface GitHubAccount {
  id: number;
  login: string;
  name: string | null;
  /** The public email (`/user.email`). */
  email: string | null;
  emails: GitHubEmail[];
  /** A token-endpoint error every exchange for this persona ends in (`unverified_user_email`). */
  tokenError: string | undefined;
}

function stableId(personaId: string): number {
  return 2_000_000 + (createHash('sha256').update(personaId).digest().readUInt32BE(0) % 1_000_000);
}

function account(persona: Persona): GitHubAccount {
  const b = block(persona, PROVIDER);
  const id = typeof b['id'] === 'number' ? b['id'] : stableId(persona.id);
  const login = typeof b['login'] === 'string' ? b['login'] : persona.id;
  const name = 'name' in b ? ((b['name'] as string | null) ?? null) : persona.name;
  const email =
    'email' in b ? ((b['email'] as string | null) ?? null) : persona.email_verified ? persona.email : null;
  const noreply: GitHubEmail = {
    email: `${id}+${login}@users.noreply.github.com`,
    primary: persona.email === null,
    verified: true,
    visibility: null,
  };
  let emails: GitHubEmail[];
  if (Array.isArray(b['emails'])) {
    emails = (b['emails'] as Array<Record<string, unknown>>).map((e) => ({
      email: String(e['email']),
      primary: e['primary'] === true,
      verified: e['verified'] === true,
      visibility: e['visibility'] === 'public' || e['visibility'] === 'private' ? e['visibility'] : null,
    }));
  } else if (persona.email !== null) {
    const primary: GitHubEmail = {
      email: persona.email,
      primary: true,
      verified: persona.email_verified,
      visibility: email === persona.email ? 'public' : 'private',
    };
    emails = [primary, noreply];
  } else {
    emails = [noreply];
  }
  return {
    id,
    login,
    name,
    email,
    emails,
    tokenError: typeof b['token_error'] === 'string' ? b['token_error'] : undefined,
  };
}

/** `GET /user` for the account, with links on the given API and web origins. */
function userObject(acc: GitHubAccount, apiBase: string, webBase: string): Record<string, unknown> {
  const u = `${apiBase}/users/${acc.login}`;
  return {
    login: acc.login,
    id: acc.id,
    // Legacy global node id: base64 of "04:User<id>".
    node_id: Buffer.from(`04:User${acc.id}`).toString('base64'),
    avatar_url: `https://avatars.githubusercontent.com/u/${acc.id}?v=4`,
    gravatar_id: '',
    url: u,
    html_url: `${webBase}/${acc.login}`,
    followers_url: `${u}/followers`,
    following_url: `${u}/following{/other_user}`,
    gists_url: `${u}/gists{/gist_id}`,
    starred_url: `${u}/starred{/owner}{/repo}`,
    subscriptions_url: `${u}/subscriptions`,
    organizations_url: `${u}/orgs`,
    repos_url: `${u}/repos`,
    events_url: `${u}/events{/privacy}`,
    received_events_url: `${u}/received_events`,
    type: 'User',
    user_view_type: 'private',
    site_admin: false,
    name: acc.name,
    company: null,
    blog: '',
    location: null,
    email: acc.email,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 0,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: '2020-01-01T00:00:00Z',
    updated_at: '2020-01-01T00:00:00Z',
  };
}

// ---------------------------------------------------------------------------------------------
// Token endpoint answers: 200 in the format the Accept header asks for
// ---------------------------------------------------------------------------------------------

type TokenFormat = 'form' | 'json' | 'xml';

/** GitHub answers the token endpoint in the format `Accept` names; form-encoded by default. */
function negotiate(accept: string | undefined): TokenFormat {
  const ranges = (accept ?? '')
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter((r) => r.type && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { type } of ranges) {
    if (type === 'application/json' || type.endsWith('+json')) return 'json';
    if (type === 'application/xml' || type === 'text/xml') return 'xml';
    if (type === 'application/x-www-form-urlencoded' || type === '*/*') return 'form';
  }
  return 'form';
}

type Fields = Array<[string, string | number]>;

function tokenAnswer(fields: Fields, format: TokenFormat, status = 200): Response {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  let body: string;
  if (format === 'json') {
    headers['content-type'] = 'application/json; charset=utf-8';
    body = JSON.stringify(Object.fromEntries(fields));
  } else if (format === 'xml') {
    headers['content-type'] = 'application/xml; charset=utf-8';
    body = `<OAuth>${fields.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('')}</OAuth>`;
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
    body = new URLSearchParams(fields.map(([k, v]) => [k, String(v)])).toString();
  }
  return new Response(body, { status, headers });
}

function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const TOKEN_DOCS = `${DOCS}/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/`;

/** The token endpoint's documented errors. @see https://docs.github.com/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors */
const TOKEN_ERRORS: Record<string, { description: string; uri: string }> = {
  incorrect_client_credentials: {
    description: 'The client_id and/or client_secret passed are incorrect.',
    uri: `${TOKEN_DOCS}#incorrect-client-credentials`,
  },
  redirect_uri_mismatch: {
    description: 'The redirect_uri MUST match the registered callback URL for this application.',
    uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2`,
  },
  bad_verification_code: {
    description: 'The code passed is incorrect or expired.',
    uri: `${TOKEN_DOCS}#bad-verification-code`,
  },
  unverified_user_email: {
    description: 'The user must have a verified primary email.',
    uri: `${TOKEN_DOCS}#unverified-user-email`,
  },
  bad_refresh_token: {
    description: 'The refresh token passed is incorrect or expired.',
    uri: `${DOCS}/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens`,
  },
  unsupported_grant_type: {
    description: 'The grant type is not supported.',
    uri: `${DOCS}/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps`,
  },
};

function tokenError(error: string, format: TokenFormat, description?: string, status = 200): Response {
  const known = TOKEN_ERRORS[error];
  const fields: Fields = [['error', error]];
  const text = description || known?.description;
  if (text) fields.push(['error_description', text]);
  if (known) fields.push(['error_uri', known.uri]);
  return tokenAnswer(fields, format, status);
}

/** Why a code could not be redeemed, as GitHub names it. */
function redeemError(reason: RedeemFailure): string {
  return reason === 'redirect_uri_mismatch' ? 'redirect_uri_mismatch' : 'bad_verification_code';
}

// ---------------------------------------------------------------------------------------------
// REST API answers
// ---------------------------------------------------------------------------------------------

const API_DOCS: Record<string, string> = {
  user: `${DOCS}/rest/users/users#get-the-authenticated-user`,
  emails: `${DOCS}/rest/users/emails#list-email-addresses-for-the-authenticated-user`,
  repos: `${DOCS}/rest/repos/repos#list-repositories-for-the-authenticated-user`,
};

const API_MESSAGES: Record<string, string> = {
  bad_credentials: 'Bad credentials',
  requires_authentication: 'Requires authentication',
  not_found: 'Not Found',
  forbidden: 'Forbidden',
  server_error: 'Server Error',
};

function apiError(status: number, message: string, documentationUrl: string): Response {
  return json({ message, documentation_url: documentationUrl, status: String(status) }, status, {
    'x-github-media-type': 'github.v3; format=json',
  });
}

/** The token of `Authorization: Bearer x` or `Authorization: token x`. */
function apiToken(header: string | undefined): string | undefined {
  return header?.match(/^(?:bearer|token)\s+(\S+)\s*$/i)?.[1];
}

// ---------------------------------------------------------------------------------------------
// Helpers for the web flow
// ---------------------------------------------------------------------------------------------

/** A token in GitHub's format: prefix, 30 random base62 characters, a 6-character base62 CRC32. */
function newToken(prefix: 'gho_' | 'ghu_'): string {
  const entropy = randomId(30);
  let n = crc32(entropy);
  let checksum = '';
  for (let i = 0; i < 6; i++) {
    checksum = BASE62[n % 62]! + checksum;
    n = Math.floor(n / 62);
  }
  return `${prefix}${entropy}${checksum}`;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseScopes(raw: string | undefined): string[] {
  return [...new Set((raw ?? '').split(/[\s,]+/).filter(Boolean))];
}

/**
 * GitHub's callback rule: a registered callback, a subdirectory of it (same scheme, host and
 * port), or, for clients that allow it, a loopback http URI on any port.
 * @see https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#redirect-urls
 */
function callbackAllowed(client: RegisteredClient, uri: string): boolean {
  if (redirectAllowed(client, uri)) return true;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.username || url.password || url.hash || uri.includes('#')) return false;
  return client.redirectUris.some((registered) => {
    if (!URL.canParse(registered)) return false;
    const r = new URL(registered);
    if (r.protocol !== url.protocol || r.host !== url.host) return false;
    const dir = r.pathname.endsWith('/') ? r.pathname : `${r.pathname}/`;
    return url.pathname === r.pathname || url.pathname.startsWith(dir);
  });
}

function redirectWith(target: string, params: Record<string, string | undefined>): Response {
  const url = new URL(target);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return new Response(null, {
    status: 302,
    headers: { location: url.toString(), 'cache-control': 'no-store' },
  });
}

function notFoundPage(detail: string): Response {
  return errorPage(404, 'Page not found', detail);
}

// ---------------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------------

function mount(ctx: ProviderContext) {
  const web = hostApp();
  const api = hostApp();

  // --- GET /login/oauth/authorize -------------------------------------------------------------
  // @see https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#1-request-a-users-github-identity
  ctx.endpoint(web, { name: 'authorize', path: '/login/oauth/authorize', methods: ['GET'] }, (req) => {
    const p = req.params;
    const clientId = p['client_id'];
    if (!clientId) return notFoundPage('"client_id" is required.');
    const client = ctx.clients.get(clientId);
    if (!client) return notFoundPage(`No application is registered with client_id "${clientId}".`);
    const state = p['state'];
    const registered = client.redirectUris[0];
    const asked = p['redirect_uri'] || undefined;
    if (asked !== undefined && !callbackAllowed(client, asked)) {
      if (!registered) {
        return errorPage(
          400,
          'Redirect URI mismatch',
          `"redirect_uri" ${asked} is not registered for this client.`,
        );
      }
      return redirectWith(registered, {
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        error_uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch`,
        state,
      });
    }
    const target = asked ?? registered;
    if (!target)
      return errorPage(400, 'Redirect URI missing', 'This application has no callback URL registered.');

    // PKCE is optional; when used, only S256 with a 43-character challenge (RFC 7636 4.2, 4.4.1).
    const challenge = p['code_challenge'];
    const method = p['code_challenge_method'];
    if (challenge !== undefined || method !== undefined) {
      const refuse = (description: string) =>
        redirectWith(target, { error: 'invalid_request', error_description: description, state });
      if (method !== 'S256')
        return refuse(`"code_challenge_method" ${method ?? '(none)'} is not supported; use S256`);
      if (!challenge || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
        return refuse('"code_challenge" must be 43 base64url characters');
      }
    }
    const extra: Record<string, unknown> = { redirect_uri: asked };
    for (const name of ['login', 'allow_signup', 'prompt']) if (p[name] !== undefined) extra[name] = p[name];
    return ctx.authorize(req, {
      clientId,
      // GitHub treats redirect_uri as optional at the token endpoint, so the provider checks it
      // itself (see exchangeCode) instead of the shared exact-match check.
      redirectUri: undefined,
      target,
      scope: parseScopes(p['scope']),
      state,
      nonce: undefined,
      codeChallenge: challenge,
      codeChallengeMethod: challenge ? 'S256' : undefined,
      responseMode: 'query',
      extra,
      redirectParams: {},
    });
  });

  // --- POST /login/oauth/access_token ---------------------------------------------------------
  // @see https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#2-users-are-redirected-back-to-your-site-by-github
  ctx.endpoint(web, { name: 'token', path: '/login/oauth/access_token', methods: ['POST'] }, (req) => {
    const format = negotiate(req.header('accept'));
    const p = req.params;
    // client_secret_post; HTTP Basic is also accepted, as GitHub does.
    const basic = basicCredentials(req.header('authorization'));
    const id = p['client_id'] ?? basic?.id;
    const secret = p['client_secret'] ?? basic?.secret;
    const client = id ? ctx.clients.get(id) : undefined;
    if (!client || (client.clientSecret !== undefined && !sameSecret(client.clientSecret, secret ?? ''))) {
      return tokenError('incorrect_client_credentials', format);
    }
    const grant = p['grant_type'];
    if (grant === undefined || grant === '' || grant === 'authorization_code') {
      return exchangeCode(ctx, req, client, format);
    }
    if (grant === 'refresh_token') return refresh(ctx, req, client, format);
    return tokenError('unsupported_grant_type', format, `"grant_type" ${grant} is not supported`);
  });

  // --- REST API -------------------------------------------------------------------------------
  const apiEndpoint = (
    name: 'user' | 'emails' | 'repos',
    path: string,
    accepted: string,
    answer: (req: EndpointRequest, persona: Persona, scope: string[], app: boolean) => Response,
  ) =>
    ctx.endpoint(api, { name, path, methods: ['GET', 'HEAD'] }, (req) => {
      // @see https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent
      if (ctx.setting<boolean>('require_user_agent') && !req.header('user-agent')?.trim()) {
        return new Response(
          'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n',
          { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' } },
        );
      }
      const header = req.header('authorization');
      if (!header) return apiError(401, 'Requires authentication', API_DOCS[name]!);
      const value = apiToken(header);
      const token = value ? ctx.grants.findToken(PROVIDER, value, 'access_token') : undefined;
      const persona = token ? ctx.persona(token.persona) : undefined;
      if (!token || !persona) return apiError(401, 'Bad credentials', `${DOCS}/rest`);
      const response = answer(req, persona, token.scope, token.extra['app'] === true);
      // Header names as GitHub sends them; scopes sorted and ", "-joined.
      response.headers.set('X-OAuth-Scopes', [...token.scope].sort().join(', '));
      response.headers.set('X-Accepted-OAuth-Scopes', accepted);
      response.headers.set('X-GitHub-Media-Type', 'github.v3; format=json');
      return response;
    });

  apiEndpoint('user', '/user', '', (req, persona) =>
    json(userObject(account(persona), ctx.url(req.view, 'api'), ctx.url(req.view, 'web'))),
  );

  // GitHub App tokens carry no scopes; the app's "Email addresses" permission decides instead.
  apiEndpoint('emails', '/user/emails', 'user, user:email', (_req, persona, scope, app) => {
    if (!app && !scope.includes('user') && !scope.includes('user:email')) {
      const status = ctx.setting<number>('emails_without_scope_status');
      return apiError(
        status,
        status === 403 ? 'Resource not accessible by integration' : 'Not Found',
        API_DOCS['emails']!,
      );
    }
    return json(account(persona).emails);
  });

  apiEndpoint('repos', '/user/repos', '', () => json([]));

  return { web, api };
}

/** Authorization code grant. */
function exchangeCode(
  ctx: ProviderContext,
  req: EndpointRequest,
  client: RegisteredClient,
  format: TokenFormat,
): Response {
  const p = req.params;
  const code = p['code'];
  if (!code) return tokenError('bad_verification_code', format);
  const result = ctx.grants.redeemCode(PROVIDER, code, {
    clientId: client.clientId,
    redirectUri: undefined,
    codeVerifier: p['code_verifier'] || undefined,
  });
  // A verifier sent for a code issued without a challenge is refused too (RFC 7636 leaves it
  // open; OAuth 2.1 refuses) [I: GitHub's behaviour is not documented].
  if (!result.ok) return tokenError(redeemError(result.reason), format);
  const record = result.record;
  // redirect_uri is optional here; when sent it must be the one used at /authorize, or an
  // allowed callback when /authorize had none [I].
  const sent = p['redirect_uri'];
  const original = record.txn.extra['redirect_uri'] as string | undefined;
  if (sent && (original !== undefined ? sent !== original : !callbackAllowed(client, sent))) {
    return tokenError('redirect_uri_mismatch', format);
  }
  const persona = ctx.persona(record.persona);
  if (!persona) return tokenError('bad_verification_code', format);
  const acc = account(persona);
  if (acc.tokenError) return tokenError(acc.tokenError, format);
  return issue(ctx, client, persona.id, record.txn.scope, randomId(16), format, record);
}

/** GitHub App refresh: the old refresh token and the access token issued with it die. */
function refresh(
  ctx: ProviderContext,
  req: EndpointRequest,
  client: RegisteredClient,
  format: TokenFormat,
): Response {
  const value = req.params['refresh_token'] ?? '';
  const old = value ? ctx.grants.findToken(PROVIDER, value, 'refresh_token') : undefined;
  if (!old || old.clientId !== client.clientId || client.extra['expiringTokens'] !== true) {
    return tokenError('bad_refresh_token', format);
  }
  ctx.grants.revoke(old.value);
  if (typeof old.extra['access_token'] === 'string') ctx.grants.revoke(old.extra['access_token']);
  return issue(ctx, client, old.persona, old.scope, old.family, format);
}

function issue(
  ctx: ProviderContext,
  client: RegisteredClient,
  persona: string,
  requested: string[],
  family: string,
  format: TokenFormat,
  fromCode?: CodeRecord,
): Response {
  const app = client.extra['expiringTokens'] === true;
  // GitHub Apps ignore scopes: their tokens carry none.
  const scope = app ? [] : requested;
  const now = nowSeconds();
  const base = { provider: PROVIDER, persona, clientId: client.clientId, scope, family };
  const access = ctx.grants.issueToken({
    ...base,
    value: newToken(app ? 'ghu_' : 'gho_'),
    kind: 'access_token',
    expiresAt: app ? now + ACCESS_TOKEN_TTL : undefined,
    extra: { app },
    ...(fromCode ? { fromCode } : {}),
  });
  ctx.issued('access_token', persona, client.clientId, access.value);
  if (!app) {
    // Documented orders: form and JSON `access_token, scope, token_type`; XML the reverse.
    const fields: Fields = [
      ['access_token', access.value],
      ['scope', scope.join(',')],
      ['token_type', 'bearer'],
    ];
    return tokenAnswer(format === 'xml' ? fields.reverse() : fields, format);
  }
  const refreshToken = ctx.grants.issueToken({
    ...base,
    value: `ghr_${randomId(76)}`,
    kind: 'refresh_token',
    expiresAt: now + REFRESH_TOKEN_TTL,
    extra: { access_token: access.value },
    ...(fromCode ? { fromCode } : {}),
  });
  ctx.issued('refresh_token', persona, client.clientId, refreshToken.value);
  return tokenAnswer(
    [
      ['access_token', access.value],
      ['expires_in', ACCESS_TOKEN_TTL],
      ['refresh_token', refreshToken.value],
      ['refresh_token_expires_in', REFRESH_TOKEN_TTL],
      ['scope', ''],
      ['token_type', 'bearer'],
    ],
    format,
  );
}

/** Errors in GitHub's shape for each endpoint. */
function renderError(input: ProviderErrorInput): Response {
  const status = input.status ?? 400;
  switch (input.endpoint) {
    case 'token': {
      // GitHub answers token errors with HTTP 200; only transport-level failures keep their status.
      const keep = status === 405 || status === 413 || status >= 500;
      return tokenError(
        input.error,
        negotiate(input.request?.header('accept')),
        input.description,
        keep ? status : 200,
      );
    }
    case 'user':
    case 'emails':
    case 'repos': {
      const message = input.description || API_MESSAGES[input.error] || input.error;
      const docs = input.error === 'bad_credentials' ? `${DOCS}/rest` : API_DOCS[input.endpoint]!;
      return apiError(status, message, docs);
    }
    default:
      return errorPage(status, input.error, input.description || `The request failed (${input.error}).`);
  }
}

export const github: ProviderDefinition = {
  id: PROVIDER,
  title: 'GitHub',
  hosts: [
    { id: 'web', host: 'github.com', defaultHost: 'github.com', prefix: 'github' },
    { id: 'api', host: 'api.github.com', defaultHost: 'api.github.com', prefix: 'github-api' },
  ],
  clients: [GITHUB_OAUTH_APP, GITHUB_APP],
  mount,
  describe(ctx, view: UrlView) {
    return {
      endpoints: {
        authorize: ctx.url(view, 'web', '/login/oauth/authorize'),
        token: ctx.url(view, 'web', '/login/oauth/access_token'),
        user: ctx.url(view, 'api', '/user'),
        emails: ctx.url(view, 'api', '/user/emails'),
        repos: ctx.url(view, 'api', '/user/repos'),
      },
    };
  },
  identity(persona) {
    const acc = account(persona);
    return {
      user: userObject(acc, 'https://api.github.com', 'https://github.com'),
      emails: acc.emails,
      ...(acc.tokenError ? { token_error: acc.tokenError } : {}),
    };
  },
  error: renderError,
  /** 20 hexadecimal characters, as GitHub's codes. */
  newCode: () => randomBytes(10).toString('hex'),
  settings: {
    /** GitHub's REST API refuses requests without a User-Agent (403). */
    require_user_agent: true,
    /** Status of /user/emails without the user or user:email scope (GitHub answers 404). */
    emails_without_scope_status: 404,
  },
};
