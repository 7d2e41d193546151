/**
 * The Auth0 tenant shape (reference/provider-shapes.md, "Auth0").
 *
 * Facts checked with the search tool (docs, issues, pages corpora):
 * - `iss` is `https://{domain}/` with the trailing slash; the discovery document lists
 *   `/authorize`, `/oauth/token`, `/userinfo`, `/.well-known/jwks.json`, `/oauth/revoke`,
 *   `/oidc/register` and `/oidc/logout` (a tenant discovery document quoted in mendersoftware docs).
 * - No `audience` (or only `/userinfo`) gives a short opaque access token; an API audience gives a
 *   JWT whose `aud` is an array `[api, https://{domain}/userinfo]` when `openid` is asked for
 *   (auth0 docs "Get Access Tokens", community thread 9169).
 * - An unknown audience is refused with `access_denied` "Service not found: {audience}": sent to the
 *   redirect URI from /authorize (auth0/lock #842, aws-samples/ask-around-me #2) and as a 403 from
 *   /oauth/token (hashicorp/terraform-provider-auth0 #24).
 * - A bad, used or expired code: 403 `{"error":"invalid_grant","error_description":"Invalid
 *   authorization code"}`; the same answer covers a redirect_uri or client mismatch (Auth0 community
 *   thread 73029). A PKCE mismatch: 403 invalid_grant "Failed to verify code verifier".
 * - A wrong client id or secret: 401 `{"error":"access_denied","error_description":"Unauthorized"}`
 *   (auth0/auth0-spa-js #454, auth0/node-auth0 #682, auth0/laravel-auth0 #42).
 * - An unknown, revoked or reused refresh token: 403 invalid_grant "Unknown or invalid refresh
 *   token."; with rotation, reusing an old refresh token invalidates its whole family (Auth0
 *   community articles 120406 and 189795).
 * - /userinfo with a bad token: 401 with the plain-text body "Unauthorized" and the reason in
 *   `WWW-Authenticate: Bearer realm="Users", error="invalid_token", ...` (auth0/Auth0.Android #629,
 *   auth0/react-native-auth0 #241).
 * - DCR: `POST /oidc/register`, open (no initial token), off by default
 *   (`enable_dynamic_client_registration`); a success is `201 Created` with client_name,
 *   client_id, client_secret, redirect_uris and client_secret_expires_at; token_endpoint_auth_method
 *   is `none` or `client_secret_post` (the default) (auth0 docs "Dynamic Client Registration").
 * - NOT confirmed: the exact answer of /oidc/register while DCR is off. No primary source was
 *   found; one third-party note quotes an MCP client error "400 … dynamic client registration is
 *   disabled". The mock answers 403 access_denied with that description.
 * - NOT confirmed: the status of invalid_request and unsupported_grant_type answers at
 *   /oauth/token (400 and 403 here), and the shape of Auth0's opaque tokens (newer tenants
 *   issue JWE-formatted ones; the mock issues 32 random characters).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { isLoopbackHttp, type RegisteredClient, redirectAllowed } from '../clients.ts';
import { type CodeRecord, nowSeconds } from '../grants.ts';
import { errorPage } from '../login-page.ts';
import { block, type Persona } from '../personas.ts';
import {
  basicCredentials,
  bearerToken,
  type EndpointRequest,
  hostApp,
  json,
  type ProviderContext,
  type ProviderDefinition,
  type ProviderErrorInput,
  type UrlView,
} from '../provider.ts';
import { randomId } from '../random.ts';
import { type ResponseMode, redirectWithParams } from './authorization-redirect.ts';

/** The one API (resource server) the mock tenant knows. */
export const AUTH0_API_AUDIENCE = 'https://api.mock.example';
/** Namespace of custom claims added to tokens (Auth0 recommends namespaced claim names). */
export const AUTH0_CLAIM_NAMESPACE = 'https://mock-idp.example/';

/** Permissions the API defines, and which the persona's roles grant (Auth0 RBAC). */
const API_PERMISSIONS = ['read:all', 'write:all', 'delete:all', 'read:audit'];
const ROLE_PERMISSIONS: Record<string, string[]> = {
  admin: ['read:all', 'write:all', 'delete:all'],
  editor: ['read:all', 'write:all'],
  viewer: ['read:all'],
  auditor: ['read:all', 'read:audit'],
};
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'address', 'phone'];
const ACCESS_TOKEN_TTL = 86_400;
const ID_TOKEN_TTL = 36_000;

const DEFAULT_CLIENT: RegisteredClient = {
  clientId: '7W9wyLYUkNpZsgY3rTqXXWHlCOAjGW9j',
  clientSecret: 'cI6qjaSV8zsAz66iyVOwxoYdlEGMfzX37SR0CfDOcXasfP719T1jkfav3rbsYvts',
  redirectUris: ['https://app.mock.example/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'client_secret_post',
  name: 'Mock Regular Web App',
  extra: {},
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The tenant's issuer: `https://{domain}/`, trailing slash included. */
function issuerOf(ctx: ProviderContext, view: UrlView): string {
  return ctx.url(view, 'tenant', '/');
}

function userinfoAudience(ctx: ProviderContext, view: UrlView): string {
  return ctx.url(view, 'tenant', '/userinfo');
}

/** Everything Auth0 knows about a persona (its normalized user profile plus Action claims). */
function profileOf(persona: Persona): Record<string, unknown> {
  const b = block(persona, 'auth0');
  const email = (b['email'] === undefined ? persona.email : b['email']) as string | null;
  const sub = typeof b['sub'] === 'string' ? b['sub'] : `auth0|${persona.id}`;
  const githubLogin = block(persona, 'github')['login'];
  const nickname =
    (b['nickname'] as string | undefined) ??
    (sub.startsWith('github|') && typeof githubLogin === 'string' ? githubLogin : undefined) ??
    (email ? email.split('@')[0] : persona.id);
  const initials = persona.name
    .split(/\s+/)
    .map((w) => w[0] ?? '')
    .join('')
    .slice(0, 2)
    .toLowerCase();
  const fallback = `https://cdn.auth0.com/avatars/${initials || 'na'}.png`;
  const picture =
    (b['picture'] as string | undefined) ??
    (email
      ? `https://s.gravatar.com/avatar/${createHash('md5').update(email.trim().toLowerCase()).digest('hex')}?s=480&r=pg&d=${encodeURIComponent(fallback)}`
      : fallback);
  const custom: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(persona.claims))
    custom[`${AUTH0_CLAIM_NAMESPACE}${name}`] = value;
  return {
    sub,
    nickname,
    name: (b['name'] as string | undefined) ?? persona.name,
    picture,
    updated_at: (b['updated_at'] as string | undefined) ?? '2025-01-15T09:30:00.000Z',
    ...(email
      ? { email, email_verified: (b['email_verified'] as boolean | undefined) ?? persona.email_verified }
      : {}),
    ...custom,
  };
}

/** OIDC Core 5.4: `profile` and `email` decide which standard claims are released; custom claims always are. */
function claimsForScope(persona: Persona, scope: string[]): Record<string, unknown> {
  const all = profileOf(persona);
  const out: Record<string, unknown> = {};
  const profile = ['nickname', 'name', 'picture', 'updated_at'];
  const email = ['email', 'email_verified'];
  for (const [name, value] of Object.entries(all)) {
    if (profile.includes(name) && !scope.includes('profile')) continue;
    if (email.includes(name) && !scope.includes('email')) continue;
    out[name] = value;
  }
  return out;
}

function permissionsOf(persona: Persona): string[] {
  const explicit = strings(block(persona, 'auth0')['permissions']);
  if (explicit.length > 0) return explicit;
  const roles = strings(persona.claims['roles']);
  return [...new Set(roles.flatMap((r) => ROLE_PERMISSIONS[r] ?? ['read:all']))];
}

/** Auth0's JSON error body for the token, revoke and register endpoints. */
function errorJson(status: number, error: string, description: string): Response {
  return json({ error, error_description: description }, status, {
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
}

const unauthorizedClient = () => errorJson(401, 'access_denied', 'Unauthorized');

/** The status Auth0 uses for an error code at /oauth/token when the caller did not pick one. */
function statusFor(error: string, description: string | undefined): number {
  switch (error) {
    case 'invalid_grant':
    case 'unauthorized_client':
    case 'unsupported_grant_type':
      return 403;
    case 'access_denied':
      return description === 'Unauthorized' ? 401 : 403;
    case 'invalid_client':
      return 401;
    case 'server_error':
      return 500;
    default:
      return 400;
  }
}

/** /userinfo refusals: a plain-text body and the reason in the challenge (RFC 6750 3). */
function userinfoUnauthorized(error: string, description: string, status = 401): Response {
  const safe = description.replace(/["\\]/g, '');
  return new Response('Unauthorized', {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'www-authenticate': `Bearer realm="Users", error="${error}", error_description="${safe}"`,
    },
  });
}

function responseModeOf(value: string | undefined): ResponseMode | undefined {
  if (value === undefined) return 'query';
  return value === 'query' || value === 'fragment' || value === 'form_post' ? value : undefined;
}

interface IssueInput {
  persona: Persona;
  client: RegisteredClient;
  scope: string[];
  audience: string | undefined;
  nonce: string | undefined;
  family: string;
  fromCode?: CodeRecord;
  withRefresh: boolean;
  view: UrlView;
}

/** Verifies a JWT this tenant signed, its expiry included (key rotation keeps old keys published). */
async function verifiesAsOurs(ctx: ProviderContext, token: string): Promise<boolean> {
  try {
    const jwks = createLocalJWKSet((await ctx.keys.jwks()) as { keys: JWK[] });
    await jwtVerify(token, jwks, { algorithms: ['RS256'] });
    return true;
  } catch {
    return false;
  }
}

export const auth0: ProviderDefinition = {
  id: 'auth0',
  title: 'Auth0',
  hosts: [{ id: 'tenant', host: '*.auth0.com', defaultHost: 'mock-tenant.us.auth0.com', prefix: 'auth0' }],
  clients: [DEFAULT_CLIENT],
  settings: { dcr: false, rotate_refresh_tokens: false },

  newCode: () => randomId(45),

  identity(persona) {
    return profileOf(persona);
  },

  describe(ctx, view) {
    const u = (path: string) => ctx.url(view, 'tenant', path);
    return {
      issuer: issuerOf(ctx, view),
      endpoints: {
        discovery: u('/.well-known/openid-configuration'),
        jwks: u('/.well-known/jwks.json'),
        authorize: u('/authorize'),
        token: u('/oauth/token'),
        userinfo: u('/userinfo'),
        revoke: u('/oauth/revoke'),
        register: u('/oidc/register'),
        logout: u('/oidc/logout'),
      },
    };
  },

  error(input: ProviderErrorInput) {
    const description = input.description ?? '';
    if (input.endpoint === 'userinfo') {
      return userinfoUnauthorized(
        input.error,
        description,
        input.status === 400 ? 401 : (input.status ?? 401),
      );
    }
    if (input.endpoint === 'authorize') {
      const req = input.request;
      // A fault or malformed request at /authorize goes back to a verified redirect URI; without
      // one Auth0 shows its error page. (error() has no provider context, so only the built-in
      // client is recognized here; dynamically registered clients get the error page.)
      if (req) {
        const params = req.params;
        const client = params['client_id'] === DEFAULT_CLIENT.clientId ? DEFAULT_CLIENT : undefined;
        const target = client ? (params['redirect_uri'] ?? client.redirectUris[0]) : undefined;
        const mode = responseModeOf(params['response_mode']);
        if (client && target && mode && redirectAllowed(client, target)) {
          return redirectWithParams(target, mode, {
            error: input.error,
            error_description: description,
            ...(params['state'] !== undefined ? { state: params['state'] } : {}),
          });
        }
      }
      return errorPage(input.status ?? 400, 'Oops!, something went wrong', `${input.error}: ${description}`);
    }
    const status =
      input.status === undefined || input.status === 400 ? statusFor(input.error, description) : input.status;
    return errorJson(status, input.error, description);
  },

  mount(ctx) {
    const app = hostApp();

    /** RFC 6749 2.3.1: credentials by Basic or in the body; a public client sends only its id. */
    const authenticateClient = (req: EndpointRequest): RegisteredClient | Response => {
      const header = req.header('authorization');
      const basic = basicCredentials(header);
      if (header && /^basic /i.test(header) && !basic) return unauthorizedClient();
      const bodyId = req.params['client_id'];
      if (basic && bodyId !== undefined && bodyId !== basic.id) return unauthorizedClient();
      const id = basic?.id ?? bodyId;
      if (!id) return errorJson(400, 'invalid_request', 'Missing required parameter: client_id');
      const client = ctx.clients.get(id);
      if (!client) return unauthorizedClient();
      const secret = basic?.secret ?? req.params['client_secret'];
      if (client.clientSecret !== undefined) {
        if (secret === undefined || !sameSecret(secret, client.clientSecret)) return unauthorizedClient();
      }
      return client;
    };

    const issue = async (input: IssueInput): Promise<Response> => {
      const { persona, client, scope, audience, view } = input;
      const now = nowSeconds();
      const issuer = issuerOf(ctx, view);
      const iss = block(persona, 'auth0')['iss_without_slash'] === true ? issuer.replace(/\/$/, '') : issuer;
      const profile = profileOf(persona);
      const sub = profile['sub'] as string;
      const scopeString = scope.join(' ');
      let accessToken: string;
      if (audience === AUTH0_API_AUDIENCE) {
        // An API audience gets an RS256 JWT; with `openid` it is also good at /userinfo.
        accessToken = await ctx.signJwt(
          'token',
          {
            iss,
            sub,
            aud: scope.includes('openid')
              ? [AUTH0_API_AUDIENCE, userinfoAudience(ctx, view)]
              : AUTH0_API_AUDIENCE,
            iat: now,
            exp: now + ACCESS_TOKEN_TTL,
            scope: scopeString,
            azp: client.clientId,
            permissions: permissionsOf(persona),
          },
          { typ: 'JWT' },
        );
      } else {
        accessToken = randomId(32);
      }
      ctx.grants.issueToken({
        value: accessToken,
        provider: ctx.id,
        kind: 'access_token',
        persona: persona.id,
        clientId: client.clientId,
        scope,
        expiresAt: now + ACCESS_TOKEN_TTL,
        family: input.family,
        extra: { audience },
        ...(input.fromCode ? { fromCode: input.fromCode } : {}),
      });
      ctx.issued('access_token', persona.id, client.clientId, accessToken);
      const body: Record<string, unknown> = { access_token: accessToken };
      if (scope.includes('openid')) {
        const idToken = await ctx.signJwt(
          'token',
          {
            ...claimsForScope(persona, scope),
            iss,
            aud: client.clientId,
            iat: now,
            exp: now + ID_TOKEN_TTL,
            sub,
            sid: randomId(32),
            ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
          },
          { typ: 'JWT' },
        );
        ctx.issued('id_token', persona.id, client.clientId, idToken);
        body['id_token'] = idToken;
      }
      if (input.withRefresh && scope.includes('offline_access')) {
        const refreshToken = `v1.M${randomId(86)}`;
        ctx.grants.issueToken({
          value: refreshToken,
          provider: ctx.id,
          kind: 'refresh_token',
          persona: persona.id,
          clientId: client.clientId,
          scope,
          expiresAt: undefined,
          family: input.family,
          extra: { audience, rotated: false },
          ...(input.fromCode ? { fromCode: input.fromCode } : {}),
        });
        ctx.issued('refresh_token', persona.id, client.clientId, refreshToken);
        body['refresh_token'] = refreshToken;
      }
      body['scope'] = scopeString;
      body['expires_in'] = ACCESS_TOKEN_TTL;
      body['token_type'] = 'Bearer';
      return json(body, 200, { 'cache-control': 'no-store', pragma: 'no-cache' });
    };

    /** Scopes Auth0 grants: the OIDC ones, plus the API's permissions when the API is the audience. */
    const grantedScope = (requested: string[], audience: string | undefined): string[] =>
      requested.filter(
        (s, i) =>
          requested.indexOf(s) === i &&
          (OIDC_SCOPES.includes(s) || (audience === AUTH0_API_AUDIENCE && API_PERMISSIONS.includes(s))),
      );

    // OpenID Connect Discovery 1.0, section 4.
    ctx.endpoint(
      app,
      { name: 'discovery', path: '/.well-known/openid-configuration', methods: ['GET'] },
      (req) => {
        const u = (path: string) => ctx.url(req.view, 'tenant', path);
        return json({
          issuer: issuerOf(ctx, req.view),
          authorization_endpoint: u('/authorize'),
          token_endpoint: u('/oauth/token'),
          userinfo_endpoint: u('/userinfo'),
          jwks_uri: u('/.well-known/jwks.json'),
          registration_endpoint: u('/oidc/register'),
          revocation_endpoint: u('/oauth/revoke'),
          end_session_endpoint: u('/oidc/logout'),
          scopes_supported: [
            'openid',
            'profile',
            'offline_access',
            'name',
            'given_name',
            'family_name',
            'nickname',
            'email',
            'email_verified',
            'picture',
            'created_at',
            'identities',
            'phone',
            'address',
          ],
          response_types_supported: ['code'],
          code_challenge_methods_supported: ['S256', 'plain'],
          response_modes_supported: ['query', 'fragment', 'form_post'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['HS256', 'RS256', 'PS256'],
          token_endpoint_auth_methods_supported: [
            'client_secret_basic',
            'client_secret_post',
            'private_key_jwt',
          ],
          claims_supported: [
            'aud',
            'auth_time',
            'created_at',
            'email',
            'email_verified',
            'exp',
            'family_name',
            'given_name',
            'iat',
            'identities',
            'iss',
            'name',
            'nickname',
            'phone_number',
            'picture',
            'sub',
          ],
          request_uri_parameter_supported: false,
          request_parameter_supported: false,
        });
      },
    );

    ctx.endpoint(app, { name: 'jwks', path: '/.well-known/jwks.json', methods: ['GET'] }, async () =>
      json(await ctx.keys.jwks()),
    );

    // RFC 6749 4.1.1 with RFC 7636 4.3; Auth0 adds `audience`.
    ctx.endpoint(app, { name: 'authorize', path: '/authorize', methods: ['GET'] }, async (req) => {
      const p = req.params;
      const client = ctx.clients.get(p['client_id'] ?? '');
      if (!client) {
        return errorPage(
          400,
          'Oops!, something went wrong',
          `invalid_request: Unknown client: ${p['client_id'] ?? ''}`,
        );
      }
      const target = p['redirect_uri'] ?? client.redirectUris[0];
      if (!target || !redirectAllowed(client, target)) {
        return errorPage(
          400,
          'Callback URL mismatch.',
          `The provided redirect_uri is not in the list of allowed callback URLs: "${target ?? ''}"`,
        );
      }
      const mode = responseModeOf(p['response_mode']);
      const fail = (error: string, description: string) =>
        redirectWithParams(target, mode ?? 'query', {
          error,
          error_description: description,
          ...(p['state'] !== undefined ? { state: p['state'] } : {}),
        });
      if (req.repeated.length > 0)
        return fail('invalid_request', `Parameter "${req.repeated[0]}" was sent twice`);
      if (!mode) return fail('invalid_request', `Unsupported response_mode: ${p['response_mode']}`);
      if (p['response_type'] === undefined)
        return fail('invalid_request', 'Missing required parameter: response_type');
      if (p['response_type'] !== 'code') {
        return fail('unsupported_response_type', `Unsupported response type: ${p['response_type']}`);
      }
      const audience = p['audience'];
      if (
        audience !== undefined &&
        audience !== AUTH0_API_AUDIENCE &&
        audience !== userinfoAudience(ctx, req.view)
      ) {
        return fail('access_denied', `Service not found: ${audience}`);
      }
      const challenge = p['code_challenge'];
      const method = p['code_challenge_method'];
      if (method !== undefined && method !== 'S256' && method !== 'plain') {
        return fail('invalid_request', `Unsupported code_challenge_method: ${method}`);
      }
      if (method !== undefined && challenge === undefined) {
        return fail('invalid_request', 'Missing required parameter: code_challenge');
      }
      const requested = (p['scope'] ?? '').split(' ').filter(Boolean);
      return ctx.authorize(req, {
        clientId: client.clientId,
        redirectUri: p['redirect_uri'],
        target,
        scope: grantedScope(requested, audience === AUTH0_API_AUDIENCE ? audience : undefined),
        state: p['state'],
        nonce: p['nonce'],
        codeChallenge: challenge,
        codeChallengeMethod: challenge === undefined ? undefined : ((method ?? 'plain') as 'S256' | 'plain'),
        responseMode: mode,
        extra: { audience: audience === AUTH0_API_AUDIENCE ? audience : undefined },
        redirectParams: {},
      });
    });

    // RFC 6749 3.2 / 4.1.3 / 6; Auth0 takes a form or a JSON body.
    ctx.endpoint(app, { name: 'token', path: '/oauth/token', methods: ['POST'] }, async (req) => {
      if (req.bodyType === 'other') return errorJson(400, 'invalid_request', 'Unsupported content type');
      const authenticated = authenticateClient(req);
      if (authenticated instanceof Response) return authenticated;
      const client = authenticated;
      const p = req.params;
      const grantType = p['grant_type'];
      if (!grantType) return errorJson(400, 'invalid_request', 'Missing required parameter: grant_type');

      if (grantType === 'authorization_code') {
        const code = p['code'];
        if (!code) return errorJson(400, 'invalid_request', 'Missing required parameter: code');
        const result = ctx.grants.redeemCode(ctx.id, code, {
          clientId: client.clientId,
          redirectUri: p['redirect_uri'],
          codeVerifier: p['code_verifier'],
        });
        if (!result.ok) {
          return result.reason.startsWith('verifier_')
            ? errorJson(403, 'invalid_grant', 'Failed to verify code verifier')
            : errorJson(403, 'invalid_grant', 'Invalid authorization code');
        }
        const persona = ctx.persona(result.record.persona);
        if (!persona) return errorJson(403, 'invalid_grant', 'Invalid authorization code');
        return issue({
          persona,
          client,
          scope: result.record.txn.scope,
          audience: result.record.txn.extra['audience'] as string | undefined,
          nonce: result.record.txn.nonce,
          family: randomId(16),
          fromCode: result.record,
          withRefresh: true,
          view: req.view,
        });
      }

      if (grantType === 'refresh_token') {
        const value = p['refresh_token'];
        if (!value) return errorJson(400, 'invalid_request', 'Missing required parameter: refresh_token');
        const record = ctx.grants.findToken(ctx.id, value, 'refresh_token');
        if (!record || record.clientId !== client.clientId) {
          // Automatic reuse detection: presenting a rotated-out token kills the whole family.
          const old = ctx.grants.anyToken(value);
          if (old && old.provider === ctx.id && old.extra['rotated'] === true)
            ctx.grants.revokeFamilyOf(value);
          return errorJson(403, 'invalid_grant', 'Unknown or invalid refresh token.');
        }
        const persona = ctx.persona(record.persona);
        if (!persona) return errorJson(403, 'invalid_grant', 'Unknown or invalid refresh token.');
        const rotate = ctx.setting<boolean>('rotate_refresh_tokens');
        if (rotate) {
          record.extra['rotated'] = true;
          ctx.grants.revoke(value);
        }
        return issue({
          persona,
          client,
          scope: record.scope,
          audience: record.extra['audience'] as string | undefined,
          nonce: undefined,
          family: record.family,
          withRefresh: rotate,
          view: req.view,
        });
      }

      if (grantType === 'client_credentials') {
        if (client.clientSecret === undefined) {
          return errorJson(
            403,
            'unauthorized_client',
            "Grant type 'client_credentials' not allowed for the client.",
          );
        }
        const audience = p['audience'];
        if (!audience) {
          return errorJson(
            403,
            'access_denied',
            'No audience parameter was provided, and no default audience has been configured',
          );
        }
        if (audience !== AUTH0_API_AUDIENCE)
          return errorJson(403, 'access_denied', `Service not found: ${audience}`);
        const requested = (p['scope'] ?? '').split(' ').filter((s) => API_PERMISSIONS.includes(s));
        const scope = requested.length > 0 ? requested : API_PERMISSIONS;
        const now = nowSeconds();
        const token = await ctx.signJwt(
          'token',
          {
            iss: issuerOf(ctx, req.view),
            sub: `${client.clientId}@clients`,
            aud: AUTH0_API_AUDIENCE,
            iat: now,
            exp: now + ACCESS_TOKEN_TTL,
            scope: scope.join(' '),
            gty: 'client-credentials',
            azp: client.clientId,
            permissions: scope,
          },
          { typ: 'JWT' },
        );
        ctx.grants.issueToken({
          value: token,
          provider: ctx.id,
          kind: 'access_token',
          persona: '',
          clientId: client.clientId,
          scope,
          expiresAt: now + ACCESS_TOKEN_TTL,
          family: randomId(16),
          extra: { audience },
        });
        ctx.issued('access_token', '', client.clientId, token);
        return json(
          { access_token: token, scope: scope.join(' '), expires_in: ACCESS_TOKEN_TTL, token_type: 'Bearer' },
          200,
          { 'cache-control': 'no-store', pragma: 'no-cache' },
        );
      }

      return errorJson(403, 'unsupported_grant_type', `Unsupported grant type: ${grantType}`);
    });

    // OIDC Core 5.3; Auth0 takes the token from the header, or from the body of a POST.
    ctx.endpoint(app, { name: 'userinfo', path: '/userinfo', methods: ['GET', 'POST'] }, async (req) => {
      const token =
        bearerToken(req.header('authorization')) ??
        (req.method === 'POST' ? req.params['access_token'] : undefined);
      if (!token) return userinfoUnauthorized('invalid_request', 'Missing access token');
      const record = ctx.grants.findToken(ctx.id, token, 'access_token');
      if (!record?.scope.includes('openid')) {
        return userinfoUnauthorized(
          'invalid_token',
          'The token is invalid, expired or not valid for /userinfo',
        );
      }
      if (token.includes('.') && !(await verifiesAsOurs(ctx, token))) {
        return userinfoUnauthorized('invalid_token', 'The token is expired or its signature is invalid');
      }
      const persona = ctx.persona(record.persona);
      if (!persona) return userinfoUnauthorized('invalid_token', 'The user no longer exists');
      return json(claimsForScope(persona, record.scope));
    });

    // RFC 7009; Auth0 revokes refresh tokens (and what was issued from them).
    ctx.endpoint(app, { name: 'revoke', path: '/oauth/revoke', methods: ['POST'] }, (req) => {
      const authenticated = authenticateClient(req);
      if (authenticated instanceof Response) return authenticated;
      const token = req.params['token'];
      if (!token) return errorJson(400, 'invalid_request', 'Missing required parameter: token');
      const record = ctx.grants.anyToken(token);
      if (record && record.provider === ctx.id && record.clientId === authenticated.clientId) {
        ctx.grants.revokeFamilyOf(token);
      }
      return new Response(null, { status: 200 });
    });

    // RFC 7591 (open registration, no initial access token), only when the tenant enables it.
    ctx.endpoint(app, { name: 'register', path: '/oidc/register', methods: ['POST'] }, (req) => {
      if (!ctx.setting<boolean>('dcr')) {
        return errorJson(403, 'access_denied', 'Dynamic client registration is disabled for this tenant');
      }
      if (req.bodyType !== 'json' || !req.json || typeof req.json !== 'object' || Array.isArray(req.json)) {
        return errorJson(400, 'invalid_client_metadata', 'The request body must be a JSON object');
      }
      const meta = req.json as Record<string, unknown>;
      const uris = meta['redirect_uris'];
      if (!Array.isArray(uris) || uris.length === 0 || uris.some((u) => typeof u !== 'string')) {
        return errorJson(400, 'invalid_redirect_uri', '"redirect_uris" must be a non-empty list of URLs');
      }
      for (const uri of uris as string[]) {
        let url: URL;
        try {
          url = new URL(uri);
        } catch {
          return errorJson(400, 'invalid_redirect_uri', `"${uri}" is not an absolute URL`);
        }
        if (url.hash || (url.protocol === 'http:' && !isLoopbackHttp(uri))) {
          return errorJson(400, 'invalid_redirect_uri', `"${uri}" is not an allowed callback URL`);
        }
      }
      const method = meta['token_endpoint_auth_method'] ?? 'client_secret_post';
      if (method !== 'none' && method !== 'client_secret_post' && method !== 'client_secret_basic') {
        return errorJson(
          400,
          'invalid_client_metadata',
          `Unsupported token_endpoint_auth_method: ${String(method)}`,
        );
      }
      const name = typeof meta['client_name'] === 'string' ? meta['client_name'] : 'Dynamic Application';
      const client = ctx.clients.add({
        clientId: randomId(32),
        clientSecret: method === 'none' ? undefined : randomId(64),
        redirectUris: uris as string[],
        allowLoopback: false,
        tokenEndpointAuthMethod: method,
        name,
        extra: { dynamic: true },
      });
      return json(
        {
          client_name: client.name,
          client_id: client.clientId,
          ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
          redirect_uris: client.redirectUris,
          client_secret_expires_at: 0,
          token_endpoint_auth_method: client.tokenEndpointAuthMethod,
        },
        201,
        { 'cache-control': 'no-store' },
      );
    });

    // OIDC RP-Initiated Logout 1.0.
    ctx.endpoint(app, { name: 'logout', path: '/oidc/logout', methods: ['GET', 'POST'] }, (req) => {
      const target = req.params['post_logout_redirect_uri'];
      if (target === undefined) {
        return new Response('<!doctype html><p>You are signed out.</p>', {
          status: 200,
          headers: { 'content-type': 'text/html; charset=utf-8' },
        });
      }
      const client = ctx.clients.get(req.params['client_id'] ?? '');
      if (!client || !redirectAllowed(client, target)) {
        return errorPage(
          400,
          'Oops!, something went wrong',
          `invalid_request: "${target}" is not an allowed logout URL`,
        );
      }
      const state = req.params['state'];
      return redirectWithParams(target, 'query', state !== undefined ? { state } : {});
    });

    return { tenant: app };
  },
};
