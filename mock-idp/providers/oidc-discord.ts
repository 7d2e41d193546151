/**
 * Discord as a flavour of the OIDC engine: opaque tokens, RFC 8414 metadata at discord.com, the
 * `iss` authorization-response parameter (RFC 9207), and the API endpoints servers use to check
 * a token: `GET /api/oauth2/@me` (token info) and `GET /api/users/@me` (the user).
 *
 * Facts (checked with the search tool):
 * - Token endpoint errors are RFC 6749 5.2 JSON, e.g. 400
 *   `{"error":"invalid_grant","error_description":"Invalid \"code\" in request."}`; API errors are
 *   `{"message":"401: Unauthorized","code":0}` (client libraries and tests in public code).
 * - `/oauth2/@me` answers `{application, scopes, expires (ISO 8601), user}`; `user` only with the
 *   `identify` scope and without `email` (discord-api-types, twilight-model; FastMCP reads
 *   `application.id`, `expires`, `scopes`, `user`).
 * - `/users/@me` carries `email` and `verified` only with the `email` scope (Discord scope docs,
 *   omniauth-discord).
 * - [I] the `openid` scope yields an id_token signed with the keys at `/api/oauth2/keys` (the
 *   metadata advertises that jwks_uri); a missing `scope` is refused with `invalid_scope`.
 */
import type { TokenRecord } from '../grants.ts';
import type { Persona } from '../personas.ts';
import { type EndpointRequest, json, type ProviderErrorInput } from '../provider.ts';
import { randomId } from '../random.ts';
import type { FlavourEngine, FlavourSpec } from './oidc-engine.ts';
import { digitsFrom, personaField, stableBytes } from './oidc-identity.ts';

const API_ENDPOINTS = new Set(['oauth2_me', 'users_me']);

/** Discord's API error shape (not the OAuth one). */
function apiError(status: number, message: string, code = 0): Response {
  return json({ message, code }, status);
}

/** The user object of `/users/@me` (every field; email and verified are cut by scope). */
function discordUser(persona: Persona): Record<string, unknown> {
  const field = <T>(key: string, fallback: () => T) => personaField(persona, 'discord', key, fallback);
  const username = field('username', () => persona.id);
  const email = field<string | null>('email', () => persona.email);
  return {
    id: String(field('id', () => digitsFrom(stableBytes('discord', persona.id), 18))),
    username,
    avatar: null,
    discriminator: '0',
    public_flags: 0,
    flags: 0,
    banner: null,
    accent_color: null,
    global_name: field('global_name', () => persona.name),
    avatar_decoration_data: null,
    banner_color: null,
    mfa_enabled: false,
    locale: 'en-US',
    premium_type: 0,
    email,
    verified: email !== null && field('verified', () => persona.email_verified) === true,
  };
}

/** The public part of the user, as `/oauth2/@me` shows it (no email, no verified). */
function publicUser(user: Record<string, unknown>): Record<string, unknown> {
  const { email: _email, verified: _verified, mfa_enabled: _mfa, locale: _locale, ...rest } = user;
  return rest;
}

function tokenOf(
  engine: FlavourEngine,
  req: EndpointRequest,
): { record: TokenRecord; persona: Persona } | undefined {
  const record = engine.bearerRecord(req);
  const persona = record ? engine.ctx.persona(record.persona) : undefined;
  return record && persona ? { record, persona } : undefined;
}

/** `GET /api/oauth2/@me`: the current authorization. */
function currentAuthorization(engine: FlavourEngine, req: EndpointRequest): Response {
  const record = engine.bearerRecord(req);
  if (!record) return apiError(401, '401: Unauthorized');
  const client = engine.ctx.clients.get(record.clientId);
  const persona = engine.ctx.persona(record.persona);
  const expires = new Date((record.expiresAt ?? 0) * 1000).toISOString();
  return json({
    application: {
      id: record.clientId,
      name: client?.name ?? record.clientId,
      icon: null,
      description: '',
      hook: true,
      bot_public: false,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: 0,
    },
    scopes: record.scope,
    expires,
    ...(persona && record.scope.includes('identify') ? { user: publicUser(discordUser(persona)) } : {}),
  });
}

/** `GET /api/users/@me`: needs `identify`; email and verified only with `email`. */
function currentUser(engine: FlavourEngine, req: EndpointRequest): Response {
  const found = tokenOf(engine, req);
  if (!found?.record.scope.includes('identify')) return apiError(401, '401: Unauthorized');
  const user = discordUser(found.persona);
  if (!found.record.scope.includes('email')) {
    delete user['email'];
    delete user['verified'];
  }
  return json(user);
}

const API_PREFIXES = ['/api', '/api/:version{v[0-9]+}'];

export const discordFlavour: FlavourSpec = {
  id: 'discord',
  title: 'Discord',
  host: 'discord.com',
  defaultHost: 'discord.com',
  issuer: { path: '' },
  documents: [{ kind: 'metadata', path: '/.well-known/oauth-authorization-server' }],
  paths: {
    authorize: ['/oauth2/authorize', ...API_PREFIXES.map((p) => `${p}/oauth2/authorize`)],
    token: API_PREFIXES.map((p) => `${p}/oauth2/token`),
    revoke: API_PREFIXES.map((p) => `${p}/oauth2/token/revoke`),
    jwks: ['/api/oauth2/keys'],
  },
  client: {
    id: '1300000000000000001',
    secret: 'discord-mock-secret-0123456789ab',
    name: 'MCP reference server',
  },
  accessToken: 'opaque',
  refreshToken: 'opaque',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256'], required: false },
  grants: ['authorization_code', 'refresh_token', 'client_credentials'],
  authMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  issParameter: true,
  scopeGatedClaims: true,
  scopes: ['identify', 'email', 'guilds', 'openid', 'connections'],
  defaultScope: [],
  accessTtl: 604800,
  refreshTtl: 30 * 86400,
  audience: ({ clientId }) => clientId,
  subject: (bytes) => digitsFrom(bytes, 18),
  identity: (persona) => discordUser(persona),
  oidcClaims: (user) => ({
    sub: user['id'],
    preferred_username: user['username'],
    name: user['global_name'],
    email: user['email'],
    email_verified: user['verified'],
  }),
  opaque: () => randomId(30),
  checkAuthorize: (req) =>
    req.params['scope'] ? undefined : { error: 'invalid_scope', description: 'a "scope" is required' },
  messages: {
    invalid_code: 'Invalid "code" in request.',
    invalid_client: '',
    invalid_refresh: 'Invalid "refresh_token" in request.',
  },
  extraEndpoints: [
    {
      name: 'oauth2_me',
      paths: API_PREFIXES.map((p) => `${p}/oauth2/@me`),
      methods: ['GET'],
      handler: currentAuthorization,
    },
    {
      name: 'users_me',
      paths: API_PREFIXES.map((p) => `${p}/users/@me`),
      methods: ['GET'],
      handler: currentUser,
    },
  ],
  errorShape: (input: ProviderErrorInput) =>
    API_ENDPOINTS.has(input.endpoint)
      ? apiError(input.status ?? 400, input.description || `${input.status ?? 400}: ${input.error}`)
      : undefined,
};
