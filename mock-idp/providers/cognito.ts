/**
 * The Amazon Cognito user pool shape (reference/provider-shapes.md, "AWS Cognito user pools").
 *
 * Facts checked with the search tool (docs and pages corpora, AWS developer guide):
 * - Token endpoint: POST only; `Content-Type` "must always be" `application/x-www-form-urlencoded`;
 *   the current guide says it "supports client_secret_basic and client_secret_post"
 *   (docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html), so both are accepted;
 *   a public client sends only `client_id` in the body.
 * - Token errors are 400 with a bare `{"error":"..."}` (archived awsdocs token-endpoint.md); a
 *   redirect_uri that differs from the one sent to /oauth2/authorize is answered
 *   `unauthorized_client` (Stack Overflow 50264679), a replayed code `invalid_grant` (re:Post).
 * - A refresh returns only new ID and access tokens (token-endpoint.html).
 * - userInfo (capital I): errors only in `WWW-Authenticate`, written without an auth scheme:
 *   400 `error="invalid_request", error_description="Bad OAuth2 request at UserInfo Endpoint"` and
 *   401 `error="invalid_token", error_description="Access token is expired, disabled, or deleted, or
 *   the user has globally signed out."` (userinfo-endpoint.html); the body is empty here.
 *   `email_verified`/`phone_number_verified` are strings there (zitadel/oidc #139,
 *   coreos/go-oidc #249). The `openid` scope must be in the access token.
 * - Discovery lives on the cognito-idp host under the pool id; there is no RFC 8414 document.
 * - /oauth2/authorize takes `code_challenge_method=S256` only; a callback URL that is not
 *   registered sends the browser to `/error?error=redirect_mismatch` on the hosted domain.
 * - NOT confirmed: the answer for an unknown client_id at /oauth2/authorize (the mock uses the
 *   same /error redirect with `error=invalid_request`), and the status of an unknown pool id at
 *   the discovery path (404 here).
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { type RegisteredClient, redirectAllowed } from '../clients.ts';
import { type CodeRecord, nowSeconds } from '../grants.ts';
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
import { redirectWithParams } from './authorization-redirect.ts';

const POOL_SUFFIX = 'MockPool01';
const DEFAULT_REGION = 'us-east-1';
/** The user pool id in the default region. */
export const COGNITO_POOL_ID = `${DEFAULT_REGION}_${POOL_SUFFIX}`;
const TOKEN_TTL = 3600;
const MAX_ATTRIBUTE_LENGTH = 2048;
const OIDC_SCOPES = ['openid', 'email', 'phone', 'profile', 'aws.cognito.signin.user.admin'];
/** Custom scopes of the pool's one resource server, for client_credentials. */
const RESOURCE_SCOPES = ['mock-api/read', 'mock-api/write'];
const INVALID_TOKEN_DESCRIPTION =
  'Access token is expired, disabled, or deleted, or the user has globally signed out.';

const CONFIDENTIAL_CLIENT: RegisteredClient = {
  clientId: 'mockcognitoconfidential001',
  clientSecret: 'myf8zsnczha22h2fxxv6th2b1y3cnbmztbbwt6dcdrs9tc50rpb',
  redirectUris: ['https://app.mock.example/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'client_secret_basic',
  name: 'Mock confidential app client',
  extra: {},
};

const PUBLIC_CLIENT: RegisteredClient = {
  clientId: 'mockcognitopublicclient001',
  clientSecret: undefined,
  redirectUris: ['https://app.mock.example/callback'],
  allowLoopback: true,
  tokenEndpointAuthMethod: 'none',
  name: 'Mock public app client',
  extra: {},
};

const BUILT_IN_CLIENTS = [CONFIDENTIAL_CLIENT, PUBLIC_CLIENT];

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The region the request's hostname names (at the real hosts), else the default one. */
function regionOf(view: UrlView): string {
  if (view.mode === 'host') {
    const idp = view.hostnames?.['cognito:idp']?.match(/^cognito-idp\.([a-z0-9-]+)\.amazonaws\.com$/i)?.[1];
    if (idp) return idp.toLowerCase();
    const hosted = view.hostnames?.['cognito:hosted']?.match(
      /\.auth\.([a-z0-9-]+)\.amazoncognito\.com$/i,
    )?.[1];
    if (hosted) return hosted.toLowerCase();
  }
  return DEFAULT_REGION;
}

function poolIdOf(view: UrlView): string {
  return `${regionOf(view)}_${POOL_SUFFIX}`;
}

/** `https://cognito-idp.{region}.amazonaws.com/{poolId}` (standalone: the idp base + `/{poolId}`). */
function issuerOf(ctx: ProviderContext, view: UrlView): string {
  if (view.mode === 'path' || view.hostnames?.['cognito:idp'])
    return ctx.url(view, 'idp', `/${poolIdOf(view)}`);
  return `https://cognito-idp.${regionOf(view)}.amazonaws.com/${poolIdOf(view)}`;
}

/** An absolute URL on the hosted-UI domain, in the request's region. */
function hostedUrl(ctx: ProviderContext, view: UrlView, path: string): string {
  if (view.mode === 'path' || view.hostnames?.['cognito:hosted']) return ctx.url(view, 'hosted', path);
  return `https://mock-pool.auth.${regionOf(view)}.amazoncognito.com${path}`;
}

/** A stable UUID for personas without a Cognito `sub`. */
function derivedSub(id: string): string {
  const h = createHash('sha256').update(`cognito:${id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface CognitoUser {
  sub: string;
  username: string;
  email: string | undefined;
  emailVerified: boolean;
  userinfoEmailVerified: string;
  phone: string | undefined;
  phoneVerified: boolean;
  groups: string[];
  identities: Record<string, unknown>[] | undefined;
  custom: Record<string, string>;
}

/** How the pool stores a persona: standard attributes, groups and `custom:` attributes. */
function userOf(persona: Persona): CognitoUser {
  const b = block(persona, 'cognito');
  const email = (b['email'] === undefined ? persona.email : b['email']) as string | null;
  const emailVerified = (b['email_verified'] as boolean | undefined) ?? persona.email_verified;
  const groupsSource = b['groups'] ?? persona.claims['groups'];
  const groups = Array.isArray(groupsSource)
    ? groupsSource.filter((g): g is string => typeof g === 'string')
    : [];
  const custom: Record<string, string> = {};
  // Custom attributes hold strings and numbers only; lists are stored comma-joined, objects and
  // values over the attribute size limit are not representable.
  for (const [name, value] of Object.entries(persona.claims)) {
    if (name === 'groups') continue;
    let text: string | undefined;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      text = String(value);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) text = value.join(',');
    if (text !== undefined && text.length <= MAX_ATTRIBUTE_LENGTH) custom[`custom:${name}`] = text;
  }
  const identities = Array.isArray(b['identities'])
    ? (b['identities'] as Record<string, unknown>[]).map((i) => ({
        dateCreated: '1700000000000',
        ...i,
      }))
    : undefined;
  return {
    sub: typeof b['sub'] === 'string' ? b['sub'] : derivedSub(persona.id),
    username: typeof b['username'] === 'string' ? b['username'] : persona.id,
    email: email ?? undefined,
    emailVerified,
    userinfoEmailVerified:
      typeof b['userinfo_email_verified'] === 'string' ? b['userinfo_email_verified'] : String(emailVerified),
    phone: typeof b['phone_number'] === 'string' ? b['phone_number'] : undefined,
    phoneVerified: (b['phone_number_verified'] as boolean | undefined) ?? true,
    groups,
    identities,
    custom,
  };
}

/** ID-token user claims (everything the app client may read; scopes do not filter them). */
function idTokenUserClaims(user: CognitoUser): Record<string, unknown> {
  return {
    sub: user.sub,
    ...(user.groups.length > 0 ? { 'cognito:groups': user.groups } : {}),
    ...(user.email !== undefined ? { email_verified: user.emailVerified } : {}),
    ...(user.phone !== undefined ? { phone_number_verified: user.phoneVerified } : {}),
    'cognito:username': user.username,
    ...(user.identities ? { identities: user.identities } : {}),
    ...(user.phone !== undefined ? { phone_number: user.phone } : {}),
    ...(user.email !== undefined ? { email: user.email } : {}),
    ...user.custom,
  };
}

/**
 * The userInfo answer: `email`/`phone` scopes release those attributes, `profile` the rest.
 * The `*_verified` flags are strings, and `identities` is a JSON string.
 */
function userInfoOf(user: CognitoUser, scope: string[]): Record<string, unknown> {
  const profile = scope.includes('profile');
  return {
    sub: user.sub,
    ...(profile && user.identities ? { identities: JSON.stringify(user.identities) } : {}),
    ...(profile ? user.custom : {}),
    ...(scope.includes('email') && user.email !== undefined
      ? { email_verified: user.userinfoEmailVerified, email: user.email }
      : {}),
    ...(scope.includes('phone') && user.phone !== undefined
      ? { phone_number_verified: String(user.phoneVerified), phone_number: user.phone }
      : {}),
    username: user.username,
  };
}

/** Cognito's refresh token: an encrypted, opaque JWE-looking blob. */
function refreshTokenBlob(): string {
  const header = Buffer.from(JSON.stringify({ cty: 'JWT', enc: 'A256GCM', alg: 'RSA-OAEP' })).toString(
    'base64url',
  );
  const part = (n: number) => randomBytes(n).toString('base64url');
  return `${header}.${part(256)}.${part(12)}.${part(1200)}.${part(16)}`;
}

/** OIDC Core 3.3.2.11: left half of SHA-256 of the access token. */
function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
}

/** A bare Cognito token/revoke error: 400 `{"error":"..."}`, never a description. */
function bare(error: string, status = 400): Response {
  return json({ error }, status);
}

/** userInfo errors: only the challenge header (no auth scheme, as Cognito writes it), no body. */
function userInfoError(status: number, error: string, description: string): Response {
  const safe = description.replace(/["\\]/g, '');
  return new Response(null, {
    status,
    headers: { 'www-authenticate': `error="${error}", error_description="${safe}"` },
  });
}

interface TokenContext {
  persona: Persona;
  client: RegisteredClient;
  scope: string[];
  nonce: string | undefined;
  authTime: number;
  originJti: string;
  eventId: string;
  family: string;
  fromCode?: CodeRecord;
  withRefresh: boolean;
  view: UrlView;
}

export const cognito: ProviderDefinition = {
  id: 'cognito',
  title: 'Amazon Cognito',
  hosts: [
    {
      id: 'hosted',
      host: '*.auth.*.amazoncognito.com',
      defaultHost: 'mock-pool.auth.us-east-1.amazoncognito.com',
      prefix: 'cognito',
    },
    {
      id: 'idp',
      host: 'cognito-idp.*.amazonaws.com',
      defaultHost: 'cognito-idp.us-east-1.amazonaws.com',
      prefix: 'cognito-idp',
    },
  ],
  clients: BUILT_IN_CLIENTS,

  newCode: () => randomUUID(),

  identity(persona) {
    const user = userOf(persona);
    return { id_token: idTokenUserClaims(user), userinfo: userInfoOf(user, OIDC_SCOPES) };
  },

  describe(ctx, view) {
    const issuer = issuerOf(ctx, view);
    const hosted = (path: string) => hostedUrl(ctx, view, path);
    return {
      issuer,
      endpoints: {
        discovery: `${issuer}/.well-known/openid-configuration`,
        jwks: `${issuer}/.well-known/jwks.json`,
        authorize: hosted('/oauth2/authorize'),
        token: hosted('/oauth2/token'),
        userinfo: hosted('/oauth2/userInfo'),
        revoke: hosted('/oauth2/revoke'),
        logout: hosted('/logout'),
      },
    };
  },

  error(input: ProviderErrorInput) {
    const status = input.status ?? 400;
    switch (input.endpoint) {
      case 'userinfo':
        return userInfoError(
          status === 400 && input.error === 'invalid_token' ? 401 : status,
          input.error,
          input.description || (input.error === 'invalid_token' ? INVALID_TOKEN_DESCRIPTION : ''),
        );
      case 'authorize': {
        const p = input.request?.params ?? {};
        const client = BUILT_IN_CLIENTS.find((c) => c.clientId === p['client_id']);
        const target = p['redirect_uri'];
        if (client && target && redirectAllowed(client, target)) {
          return redirectWithParams(target, 'query', {
            error: input.error,
            ...(p['state'] !== undefined ? { state: p['state'] } : {}),
          });
        }
        return errorPage(status, 'An error was encountered with the requested page.', input.error);
      }
      case 'logout':
      case 'error-page':
        return errorPage(status, 'An error was encountered with the requested page.', input.error);
      default:
        // Token, revoke, discovery and JWKS: a bare error object.
        return bare(input.error, status === 405 || status === 413 || status >= 500 ? status : 400);
    }
  },

  mount(ctx) {
    const hosted = hostApp();
    const idp = hostApp();

    // --- cognito-idp host: discovery and keys per pool --------------------------------------
    const poolMatches = (req: EndpointRequest) => req.c.req.param('pool') === poolIdOf(req.view);
    const noPool = (req: EndpointRequest) =>
      json({ message: `User pool ${req.c.req.param('pool') ?? ''} does not exist.` }, 404);

    // OpenID Connect Discovery 1.0 section 4, as Cognito publishes it (no PKCE methods listed).
    ctx.endpoint(
      idp,
      { name: 'discovery', path: '/:pool/.well-known/openid-configuration', methods: ['GET'] },
      (req) => {
        if (!poolMatches(req)) return noPool(req);
        const issuer = issuerOf(ctx, req.view);
        const h = (path: string) => hostedUrl(ctx, req.view, path);
        return json({
          authorization_endpoint: h('/oauth2/authorize'),
          end_session_endpoint: h('/logout'),
          id_token_signing_alg_values_supported: ['RS256'],
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          response_types_supported: ['code', 'token'],
          revocation_endpoint: h('/oauth2/revoke'),
          scopes_supported: ['openid', 'email', 'phone', 'profile'],
          subject_types_supported: ['public'],
          token_endpoint: h('/oauth2/token'),
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          userinfo_endpoint: h('/oauth2/userInfo'),
        });
      },
    );

    ctx.endpoint(
      idp,
      { name: 'jwks', path: '/:pool/.well-known/jwks.json', methods: ['GET'] },
      async (req) => {
        if (!poolMatches(req)) return noPool(req);
        return json(await ctx.keys.jwks());
      },
    );

    // --- hosted-UI domain ---------------------------------------------------------------------
    const errorRedirect = (req: EndpointRequest, error: string, clientId: string | undefined) => {
      const url = new URL(hostedUrl(ctx, req.view, '/error'));
      url.searchParams.set('error', error);
      if (clientId) url.searchParams.set('client_id', clientId);
      return new Response(null, { status: 302, headers: { location: url.toString() } });
    };

    ctx.endpoint(hosted, { name: 'error-page', path: '/error', methods: ['GET'] }, (req) =>
      errorPage(
        400,
        'An error was encountered with the requested page.',
        req.params['error'] ?? 'unknown_error',
      ),
    );

    // RFC 6749 4.1.1 with RFC 7636 (S256 only).
    ctx.endpoint(hosted, { name: 'authorize', path: '/oauth2/authorize', methods: ['GET'] }, async (req) => {
      const p = req.params;
      const client = ctx.clients.get(p['client_id'] ?? '');
      if (!client) return errorRedirect(req, 'invalid_request', p['client_id']);
      const target = p['redirect_uri'];
      if (!target || !redirectAllowed(client, target))
        return errorRedirect(req, 'redirect_mismatch', client.clientId);
      const fail = (error: string) =>
        redirectWithParams(target, 'query', {
          error,
          ...(p['state'] !== undefined ? { state: p['state'] } : {}),
        });
      if (req.repeated.length > 0) return fail('invalid_request');
      if (p['response_type'] === 'token') return fail('unauthorized_client');
      if (p['response_type'] !== 'code') return fail('unsupported_response_type');
      const challenge = p['code_challenge'];
      const method = p['code_challenge_method'];
      if ((challenge === undefined) !== (method === undefined)) return fail('invalid_request');
      if (method !== undefined && method !== 'S256') return fail('invalid_request');
      const requested = p['scope'] === undefined ? OIDC_SCOPES : p['scope'].split(' ').filter(Boolean);
      if (requested.some((s) => !OIDC_SCOPES.includes(s))) return fail('invalid_scope');
      return ctx.authorize(req, {
        clientId: client.clientId,
        redirectUri: target,
        target,
        scope: [...new Set(requested)],
        state: p['state'],
        nonce: p['nonce'],
        codeChallenge: challenge,
        codeChallengeMethod: challenge === undefined ? undefined : 'S256',
        responseMode: 'query',
        extra: { identityProvider: p['identity_provider'] ?? p['idp_identifier'] },
        redirectParams: {},
      });
    });

    /** Basic (client_secret_basic), body secret (client_secret_post) or a public client's id. */
    const authenticateClient = (req: EndpointRequest): RegisteredClient | undefined => {
      const header = req.header('authorization');
      const basic = basicCredentials(header);
      if (header !== undefined && !basic) return undefined;
      const bodyId = req.params['client_id'];
      if (basic && bodyId !== undefined && bodyId !== basic.id) return undefined;
      const client = ctx.clients.get(basic?.id ?? bodyId ?? '');
      if (!client) return undefined;
      const secret = basic?.secret ?? req.params['client_secret'];
      if (client.clientSecret === undefined) return secret ? undefined : client;
      return secret !== undefined && sameSecret(secret, client.clientSecret) ? client : undefined;
    };

    const issue = async (t: TokenContext): Promise<Response> => {
      const { persona, client, scope } = t;
      const user = userOf(persona);
      const now = nowSeconds();
      const iss = issuerOf(ctx, t.view);
      const body: Record<string, unknown> = {};
      const accessToken = await ctx.signJwt('token', {
        sub: user.sub,
        ...(user.groups.length > 0 ? { 'cognito:groups': user.groups } : {}),
        iss,
        version: 2,
        client_id: client.clientId,
        origin_jti: t.originJti,
        event_id: t.eventId,
        token_use: 'access',
        scope: scope.join(' '),
        auth_time: t.authTime,
        exp: now + TOKEN_TTL,
        iat: now,
        jti: randomUUID(),
        username: user.username,
      });
      // Cognito issues an ID token only when `openid` was granted.
      const idToken = scope.includes('openid')
        ? await ctx.signJwt('token', {
            at_hash: atHash(accessToken),
            ...idTokenUserClaims(user),
            iss,
            origin_jti: t.originJti,
            aud: client.clientId,
            event_id: t.eventId,
            token_use: 'id',
            auth_time: t.authTime,
            ...(t.nonce !== undefined ? { nonce: t.nonce } : {}),
            exp: now + TOKEN_TTL,
            iat: now,
            jti: randomUUID(),
          })
        : undefined;
      if (idToken !== undefined) {
        ctx.issued('id_token', persona.id, client.clientId, idToken);
        body['id_token'] = idToken;
      }
      ctx.grants.issueToken({
        value: accessToken,
        provider: ctx.id,
        kind: 'access_token',
        persona: persona.id,
        clientId: client.clientId,
        scope,
        expiresAt: now + TOKEN_TTL,
        family: t.family,
        extra: {},
        ...(t.fromCode ? { fromCode: t.fromCode } : {}),
      });
      ctx.issued('access_token', persona.id, client.clientId, accessToken);
      body['access_token'] = accessToken;
      if (t.withRefresh) {
        const refreshToken = refreshTokenBlob();
        ctx.grants.issueToken({
          value: refreshToken,
          provider: ctx.id,
          kind: 'refresh_token',
          persona: persona.id,
          clientId: client.clientId,
          scope,
          expiresAt: now + 30 * 86_400,
          family: t.family,
          extra: { authTime: t.authTime, originJti: t.originJti, eventId: t.eventId },
          ...(t.fromCode ? { fromCode: t.fromCode } : {}),
        });
        ctx.issued('refresh_token', persona.id, client.clientId, refreshToken);
        body['refresh_token'] = refreshToken;
      }
      body['expires_in'] = TOKEN_TTL;
      body['token_type'] = 'Bearer';
      return json(body, 200, {
        'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
        pragma: 'no-cache',
      });
    };

    // RFC 6749 3.2 / 4.1.3 / 4.4 / 6.
    ctx.endpoint(hosted, { name: 'token', path: '/oauth2/token', methods: ['POST'] }, async (req) => {
      const type = (req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return bare('invalid_request');
      if (req.repeated.length > 0) return bare('invalid_request');
      const client = authenticateClient(req);
      if (!client) return bare('invalid_client');
      const p = req.params;
      switch (p['grant_type']) {
        case 'authorization_code': {
          const code = p['code'];
          if (!code || !p['redirect_uri']) return bare('invalid_request');
          const result = ctx.grants.redeemCode(ctx.id, code, {
            clientId: client.clientId,
            redirectUri: p['redirect_uri'],
            codeVerifier: p['code_verifier'],
          });
          if (!result.ok)
            return bare(result.reason === 'redirect_uri_mismatch' ? 'unauthorized_client' : 'invalid_grant');
          const persona = ctx.persona(result.record.persona);
          if (!persona) return bare('invalid_grant');
          return issue({
            persona,
            client,
            scope: result.record.txn.scope,
            nonce: result.record.txn.nonce,
            authTime: result.record.txn.createdAt,
            originJti: randomUUID(),
            eventId: randomUUID(),
            family: randomUUID(),
            fromCode: result.record,
            withRefresh: true,
            view: req.view,
          });
        }
        case 'refresh_token': {
          const value = p['refresh_token'];
          if (!value) return bare('invalid_request');
          const record = ctx.grants.findToken(ctx.id, value, 'refresh_token');
          if (!record || record.clientId !== client.clientId) return bare('invalid_grant');
          const persona = ctx.persona(record.persona);
          if (!persona) return bare('invalid_grant');
          return issue({
            persona,
            client,
            scope: record.scope,
            nonce: undefined,
            authTime: record.extra['authTime'] as number,
            originJti: record.extra['originJti'] as string,
            eventId: record.extra['eventId'] as string,
            family: record.family,
            withRefresh: false,
            view: req.view,
          });
        }
        case 'client_credentials': {
          if (client.clientSecret === undefined) return bare('unauthorized_client');
          const requested =
            p['scope'] === undefined ? RESOURCE_SCOPES : p['scope'].split(' ').filter(Boolean);
          if (requested.some((s) => !RESOURCE_SCOPES.includes(s))) return bare('invalid_scope');
          const now = nowSeconds();
          const token = await ctx.signJwt('token', {
            sub: client.clientId,
            token_use: 'access',
            scope: requested.join(' '),
            auth_time: now,
            iss: issuerOf(ctx, req.view),
            exp: now + TOKEN_TTL,
            iat: now,
            version: 2,
            jti: randomUUID(),
            client_id: client.clientId,
          });
          ctx.grants.issueToken({
            value: token,
            provider: ctx.id,
            kind: 'access_token',
            persona: '',
            clientId: client.clientId,
            scope: requested,
            expiresAt: now + TOKEN_TTL,
            family: randomUUID(),
            extra: {},
          });
          ctx.issued('access_token', '', client.clientId, token);
          return json({ access_token: token, expires_in: TOKEN_TTL, token_type: 'Bearer' });
        }
        case undefined:
          return bare('invalid_request');
        default:
          return bare('unsupported_grant_type');
      }
    });

    // OIDC Core 5.3; the token must be a live access token of this pool carrying `openid`.
    ctx.endpoint(
      hosted,
      { name: 'userinfo', path: '/oauth2/userInfo', methods: ['GET', 'POST'] },
      async (req) => {
        const match = req.header('authorization')?.match(/^bearer\s+(\S+)$/i);
        if (!match) return userInfoError(400, 'invalid_request', 'Bad OAuth2 request at UserInfo Endpoint');
        const token = match[1]!;
        const record = ctx.grants.findToken(ctx.id, token, 'access_token');
        const persona = record ? ctx.persona(record.persona) : undefined;
        if (!record || !persona || !record.scope.includes('openid')) {
          return userInfoError(401, 'invalid_token', INVALID_TOKEN_DESCRIPTION);
        }
        try {
          const jwks = createLocalJWKSet((await ctx.keys.jwks()) as { keys: JWK[] });
          await jwtVerify(token, jwks, { algorithms: ['RS256'], issuer: issuerOf(ctx, req.view) });
        } catch {
          return userInfoError(401, 'invalid_token', INVALID_TOKEN_DESCRIPTION);
        }
        return json(userInfoOf(userOf(persona), record.scope));
      },
    );

    // RFC 7009; Cognito revokes refresh tokens (and the access tokens issued from them).
    ctx.endpoint(hosted, { name: 'revoke', path: '/oauth2/revoke', methods: ['POST'] }, (req) => {
      const type = (req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return bare('invalid_request');
      const client = authenticateClient(req);
      if (!client) return bare('invalid_client', 401);
      const token = req.params['token'];
      if (!token) return bare('invalid_request');
      const record = ctx.grants.anyToken(token);
      if (record?.kind === 'access_token') return bare('unsupported_token_type');
      if (record && record.provider === ctx.id && record.clientId === client.clientId) {
        ctx.grants.revokeFamilyOf(token);
      }
      return new Response(null, { status: 200 });
    });

    // Sign-out: back to a permitted `logout_uri` of the app client.
    ctx.endpoint(hosted, { name: 'logout', path: '/logout', methods: ['GET'] }, (req) => {
      const client = ctx.clients.get(req.params['client_id'] ?? '');
      if (!client) return errorRedirect(req, 'invalid_request', req.params['client_id']);
      const target = req.params['logout_uri'] ?? req.params['redirect_uri'];
      if (!target || !redirectAllowed(client, target))
        return errorRedirect(req, 'redirect_mismatch', client.clientId);
      return redirectWithParams(target, 'query', {});
    });

    return { hosted, idp };
  },
};
