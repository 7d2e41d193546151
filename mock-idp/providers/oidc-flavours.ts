/**
 * The flavours of the OIDC engine that stand in for the discovery-based backends. Each is data
 * plus a few hooks; Discord lives in oidc-discord.ts.
 *
 * Facts checked with the search tool (public docs and code; [I] where still inferred):
 * - Keycloak: realm issuer `{base}/realms/{realm}`, `/protocol/openid-connect/{auth,token,userinfo,
 *   certs,logout,token/introspect,revoke}`, RFC 8414 metadata at
 *   `/.well-known/oauth-authorization-server/realms/{realm}` (26.4), DCR at
 *   `/clients-registrations/openid-connect`; access tokens carry `azp`, `realm_access.roles`,
 *   `resource_access`, `preferred_username`, audience `account` by default; refresh tokens are JWTs
 *   of `typ` Refresh signed with a realm HMAC key; `iss` is sent in the authorization response.
 *   Error texts ("Code not valid", "Invalid client or Invalid client credentials", "Maximum allowed
 *   refresh token reuse exceeded") as Keycloak words them [I: from memory of its sources].
 * - Clerk: `/oauth/{authorize,token,userinfo,token_info,register}`, `/oauth/token/revoke`,
 *   `/.well-known/jwks.json`, issuer = the Frontend API origin; FastMCP posts `token`, `client_id`,
 *   `client_secret` to `/oauth/token_info` and reads `active`, `scope`, `aud` (or `client_id`),
 *   `exp`. Access tokens are opaque unless the instance turns JWT access tokens on (setting
 *   `jwt_access_tokens`); refresh tokens need `offline_access`. [I] the `oat_` token prefix.
 * - WorkOS AuthKit: `/oauth2/{authorize,token,userinfo,jwks,register}` at `https://{sub}.authkit.app`;
 *   the remote AuthKit backend checks JWT access tokens against the JWKS with `aud` bound to the
 *   MCP resource (FastMCP PR #3204). [I] `/oauth2/revoke`.
 * - Descope: issuer `{base}/v1/apps/{projectId}`, `/oauth2/v1/apps/{authorize,token,userinfo,revoke}`,
 *   JWKS `{base}/{projectId}/.well-known/jwks.json`, DCR at
 *   `/v1/mgmt/inboundapp/app/{projectId}/register`, `aud` = project id (FastMCP). The seed's
 *   config_url form `{base}/{projectId}/.well-known/openid-configuration` is served too.
 * - Supabase: issuer `{project}/auth/v1`; `/auth/v1/oauth/{authorize,token,userinfo}`,
 *   DCR `/auth/v1/oauth/clients/register`, JWKS `/auth/v1/.well-known/jwks.json`, RFC 8414
 *   metadata at `/.well-known/oauth-authorization-server/auth/v1` (Supabase docs) and at
 *   `/auth/v1/.well-known/oauth-authorization-server` (FastMCP fetches that one); `aud` =
 *   `authenticated`; no client_credentials grant. [I] `/auth/v1/oauth/revoke`.
 * - Scalekit: issuer = environment URL; JWKS `/keys` (RS256); `/oauth/{authorize,token}`,
 *   `/userinfo`; AS metadata for an MCP resource at
 *   `/.well-known/oauth-authorization-server/resources/{resource_id}` naming the issuer
 *   `{env}/resources/{resource_id}`; `aud` = resource id. [I] `/oauth/{register,revoke}`.
 * - PropelAuth: AS `{auth_url}/oauth/2.1`, metadata at
 *   `/.well-known/oauth-authorization-server/oauth/2.1`; `/oauth/2.1/authorize` requires `state`,
 *   `code_challenge` (S256) and `resource`; tokens checked by RFC 7662 introspection at
 *   `/oauth/2.1/introspect` with separate introspection credentials (Basic). [I] userinfo,
 *   revoke and register paths under `/oauth/2.1`.
 * - OCI IAM: discovery at the domain host, `iss` fixed to `https://identity.oraclecloud.com/`,
 *   JWKS `/admin/v1/SigningCert/jwk`, `/oauth2/v1/{authorize,token,userinfo,introspect,revoke}`.
 *   [I] `sub` is the user name (`sub_mappingattr: userName`), `user_id` the GUID, `tok_type`
 *   AT/IT, and the access token audience `urn:opc:idm:__myscopes__` without a resource.
 */

import { randomId, randomUuid } from '../random.ts';
import { discordFlavour } from './oidc-discord.ts';
import type { FlavourSpec, TokenContext } from './oidc-engine.ts';
import { charsFrom, personaField, stableBytes, uuidFrom } from './oidc-identity.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ALL_GRANTS: FlavourSpec['grants'] = ['authorization_code', 'refresh_token', 'client_credentials'];
const ALL_METHODS: FlavourSpec['authMethods'] = ['client_secret_basic', 'client_secret_post', 'none'];

/** The resource URL(s) of the grant, or `fallback` without one (RFC 8707 audience binding). */
const resourceOr =
  (fallback: (clientId: string) => string) =>
  ({ clientId, resources }: { clientId: string; resources: string[] }): string | string[] => {
    if (resources.length === 0) return fallback(clientId);
    return resources.length === 1 ? resources[0]! : resources;
  };

// ------------------------------------------------------------------ Keycloak (generic OIDC)

const KC = '/realms/{realm}';
const KC_OIDC = `${KC}/protocol/openid-connect`;

function keycloakRoles(t: TokenContext): string[] {
  const own =
    t.persona && Array.isArray(t.persona.claims['roles']) ? (t.persona.claims['roles'] as string[]) : [];
  return [...own, 'offline_access', 'uma_authorization', `default-roles-${t.params['realm'] ?? 'mock'}`];
}

const keycloak: FlavourSpec = {
  id: 'oidc',
  title: 'Keycloak (generic OIDC)',
  host: 'keycloak.mock.test',
  defaultHost: 'keycloak.mock.test',
  defaults: { realm: 'mock' },
  issuer: { path: KC },
  documents: [
    { kind: 'discovery', path: `${KC}/.well-known/openid-configuration` },
    { kind: 'metadata', path: '/.well-known/oauth-authorization-server/realms/{realm}' },
    { kind: 'metadata', path: `${KC}/.well-known/oauth-authorization-server` },
  ],
  paths: {
    authorize: [`${KC_OIDC}/auth`],
    token: [`${KC_OIDC}/token`],
    userinfo: [`${KC_OIDC}/userinfo`],
    jwks: [`${KC_OIDC}/certs`],
    logout: [`${KC_OIDC}/logout`],
    introspect: [`${KC_OIDC}/token/introspect`],
    revoke: [`${KC_OIDC}/revoke`],
    register: [`${KC}/clients-registrations/openid-connect`],
  },
  client: { id: 'mcp-mock-client', secret: 'keycloak-mock-secret', name: 'MCP reference server' },
  accessToken: 'jwt',
  refreshToken: 'jwt',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256', 'plain'], required: false },
  grants: ALL_GRANTS,
  authMethods: ALL_METHODS,
  issParameter: true,
  scopeGatedClaims: false,
  userinfoNeedsOpenid: true,
  customClaims: true,
  scopes: ['openid', 'profile', 'email', 'roles', 'web-origins', 'acr', 'basic', 'offline_access'],
  defaultScope: ['openid'],
  addedScopes: ['profile', 'email'],
  accessTtl: 300,
  refreshTtl: 1800,
  audience: resourceOr(() => 'account'),
  subject: uuidFrom,
  identity: (_persona, s) => ({
    sub: s.sub,
    email_verified: s.email_verified,
    name: s.name,
    preferred_username: s.preferred_username,
    given_name: s.given_name,
    family_name: s.family_name,
    email: s.email,
  }),
  accessClaims: (t) => {
    const serviceAccount = `service-account-${t.clientId}`;
    const user = t.identity
      ? {
          email_verified: t.identity['email_verified'],
          name: t.identity['name'],
          preferred_username: t.identity['preferred_username'],
          given_name: t.identity['given_name'],
          family_name: t.identity['family_name'],
          ...(t.identity['email'] ? { email: t.identity['email'] } : {}),
        }
      : {
          sub: uuidFrom(stableBytes('oidc', serviceAccount)),
          preferred_username: serviceAccount,
          clientId: t.clientId,
        };
    return {
      typ: 'Bearer',
      azp: t.clientId,
      ...(t.sid ? { sid: t.sid, session_state: t.sid } : {}),
      acr: '1',
      'allowed-origins': [],
      realm_access: { roles: keycloakRoles(t) },
      resource_access: { account: { roles: ['manage-account', 'manage-account-links', 'view-profile'] } },
      ...user,
    };
  },
  idClaims: (t) => ({ typ: 'ID', acr: '1', ...(t.sid ? { sid: t.sid, session_state: t.sid } : {}) }),
  tokenResponseExtra: (t, refresh) => ({
    ...(refresh ? { refresh_expires_in: 1800 } : {}),
    'not-before-policy': 0,
    ...(t.sid ? { session_state: t.sid } : {}),
  }),
  settings: { dcr: true, refresh_rotation: true },
  messages: {
    invalid_client: 'Invalid client or Invalid client credentials',
    invalid_code: 'Code not valid',
    invalid_refresh: 'Invalid refresh token',
    refresh_reused: 'Maximum allowed refresh token reuse exceeded',
    pkce_failed: 'PKCE verification failed: Code mismatch',
    redirect_mismatch: 'Incorrect redirect_uri',
  },
};

// ------------------------------------------------------------------ Clerk

const clerk: FlavourSpec = {
  id: 'clerk',
  title: 'Clerk',
  host: '*.clerk.accounts.dev',
  defaultHost: 'mock.clerk.accounts.dev',
  issuer: { path: '' },
  documents: [
    { kind: 'metadata', path: '/.well-known/oauth-authorization-server' },
    { kind: 'discovery', path: '/.well-known/openid-configuration' },
  ],
  paths: {
    authorize: ['/oauth/authorize'],
    token: ['/oauth/token'],
    userinfo: ['/oauth/userinfo'],
    jwks: ['/.well-known/jwks.json'],
    revoke: ['/oauth/token/revoke'],
    introspect: ['/oauth/token_info'],
    register: ['/oauth/register'],
  },
  names: { introspect: 'token_info' },
  client: {
    id: 'ClerkMockClient1',
    secret: 'clerk-mock-secret-0123456789abcdef',
    name: 'MCP reference server',
  },
  accessToken: 'opaque',
  refreshToken: 'opaque',
  refreshNeedsScope: 'offline_access',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256'], required: false },
  grants: ['authorization_code', 'refresh_token'],
  authMethods: ALL_METHODS,
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'public_metadata', 'private_metadata', 'offline_access'],
  defaultScope: ['openid', 'profile', 'email'],
  accessTtl: 86400,
  refreshTtl: 30 * 86400,
  audience: ({ clientId }) => clientId,
  subject: (bytes) => `user_${charsFrom(bytes, 27)}`,
  identity: (_persona, s) => ({ ...s, user_id: s.sub, picture: 'https://img.clerk.com/mock-avatar' }),
  opaque: (kind) => `${kind === 'access_token' ? 'oat' : 'ort'}_${randomId(32)}`,
  newClientId: () => randomId(16),
  settings: { dcr: true, jwt_access_tokens: false },
};

// ------------------------------------------------------------------ WorkOS AuthKit

const workos: FlavourSpec = {
  id: 'workos',
  title: 'WorkOS AuthKit',
  host: '*.authkit.app',
  defaultHost: 'mock.authkit.app',
  issuer: { path: '' },
  documents: [
    { kind: 'metadata', path: '/.well-known/oauth-authorization-server' },
    { kind: 'discovery', path: '/.well-known/openid-configuration' },
  ],
  paths: {
    authorize: ['/oauth2/authorize'],
    token: ['/oauth2/token'],
    userinfo: ['/oauth2/userinfo'],
    jwks: ['/oauth2/jwks'],
    revoke: ['/oauth2/revoke'],
    register: ['/oauth2/register'],
  },
  client: {
    id: 'client_01JMOCKAUTHKIT00000000000',
    secret: 'sk_test_workos_mock_secret',
    name: 'MCP reference server',
  },
  accessToken: 'jwt',
  refreshToken: 'opaque',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256'], required: false },
  grants: ALL_GRANTS,
  authMethods: ALL_METHODS,
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  defaultScope: ['openid', 'profile', 'email'],
  accessTtl: 300,
  refreshTtl: 30 * 86400,
  audience: resourceOr((clientId) => clientId),
  subject: (bytes) => `user_01${charsFrom(bytes, 24, CROCKFORD)}`,
  accessClaims: (t) => (t.sid ? { sid: `session_01${charsFrom(Buffer.from(t.sid), 24, CROCKFORD)}` } : {}),
  newClientId: () => `client_01${charsFrom(Buffer.from(randomId(32)), 24, CROCKFORD)}`,
  settings: { dcr: true },
};

// ------------------------------------------------------------------ Descope

export const DESCOPE_PROJECT = 'P2MockProject01';
const DESCOPE_APP = `/v1/apps/${DESCOPE_PROJECT}`;

const descope: FlavourSpec = {
  id: 'descope',
  title: 'Descope',
  host: 'api.descope.com',
  defaultHost: 'api.descope.com',
  issuer: { path: DESCOPE_APP },
  documents: [
    { kind: 'discovery', path: `${DESCOPE_APP}/.well-known/openid-configuration` },
    { kind: 'discovery', path: `/${DESCOPE_PROJECT}/.well-known/openid-configuration` },
    { kind: 'metadata', path: `${DESCOPE_APP}/.well-known/oauth-authorization-server` },
    { kind: 'metadata', path: `/.well-known/oauth-authorization-server${DESCOPE_APP}` },
  ],
  paths: {
    authorize: ['/oauth2/v1/apps/authorize'],
    token: ['/oauth2/v1/apps/token'],
    userinfo: ['/oauth2/v1/apps/userinfo'],
    revoke: ['/oauth2/v1/apps/revoke'],
    jwks: [`/${DESCOPE_PROJECT}/.well-known/jwks.json`],
    register: [`/v1/mgmt/inboundapp/app/${DESCOPE_PROJECT}/register`],
  },
  client: {
    id: 'UDJNb2NrUHJvamVjdDAxOm1jcA',
    secret: 'descope-mock-secret-0123456789',
    name: 'MCP reference server',
  },
  accessToken: 'jwt',
  refreshToken: 'opaque',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256'], required: false },
  grants: ALL_GRANTS,
  authMethods: ALL_METHODS,
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  defaultScope: ['openid'],
  accessTtl: 600,
  refreshTtl: 28 * 86400,
  audience: () => DESCOPE_PROJECT,
  subject: (bytes) => `U2${charsFrom(bytes, 25)}`,
  newClientId: () => Buffer.from(`${DESCOPE_PROJECT}:${randomId(12)}`).toString('base64url'),
  settings: { dcr: true },
};

// ------------------------------------------------------------------ Supabase

const SB = '/auth/v1';

const supabase: FlavourSpec = {
  id: 'supabase',
  title: 'Supabase Auth',
  host: '*.supabase.co',
  defaultHost: 'mockproject.supabase.co',
  issuer: { path: SB },
  documents: [
    { kind: 'metadata', path: `/.well-known/oauth-authorization-server${SB}` },
    { kind: 'metadata', path: `${SB}/.well-known/oauth-authorization-server` },
    { kind: 'discovery', path: `${SB}/.well-known/openid-configuration` },
  ],
  paths: {
    authorize: [`${SB}/oauth/authorize`],
    token: [`${SB}/oauth/token`],
    userinfo: [`${SB}/oauth/userinfo`],
    jwks: [`${SB}/.well-known/jwks.json`],
    revoke: [`${SB}/oauth/revoke`],
    register: [`${SB}/oauth/clients/register`],
  },
  client: {
    id: '9a1c1f2e-5b7d-4c3e-8f00-00000000cafe',
    secret: 'supabase-mock-secret-0123456789',
    name: 'MCP reference server',
  },
  accessToken: 'jwt',
  refreshToken: 'opaque',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256', 'plain'], required: false },
  grants: ['authorization_code', 'refresh_token'],
  authMethods: ALL_METHODS,
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'phone'],
  defaultScope: ['openid', 'email', 'profile'],
  accessTtl: 3600,
  refreshTtl: 30 * 86400,
  audience: () => 'authenticated',
  subject: uuidFrom,
  accessClaims: (t) => ({
    role: 'authenticated',
    aal: 'aal1',
    amr: [{ method: 'oauth', timestamp: t.now }],
    session_id: t.sid,
    is_anonymous: false,
    email: t.identity?.['email'] ?? '',
    phone: '',
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: t.identity
      ? {
          email: t.identity['email'],
          email_verified: t.identity['email_verified'],
          full_name: t.identity['name'],
        }
      : {},
  }),
  newClientId: randomUuid,
  settings: { dcr: true },
};

// ------------------------------------------------------------------ Scalekit

export const SCALEKIT_RESOURCE = 'res_mock01';

const scalekit: FlavourSpec = {
  id: 'scalekit',
  title: 'Scalekit',
  host: '*.scalekit.com',
  defaultHost: 'mock.scalekit.com',
  defaults: { resource: SCALEKIT_RESOURCE },
  issuer: { path: '' },
  documents: [
    { kind: 'discovery', path: '/.well-known/openid-configuration' },
    {
      kind: 'metadata',
      path: '/.well-known/oauth-authorization-server/resources/{resource}',
      issuerPath: '/resources/{resource}',
    },
    {
      kind: 'metadata',
      path: '/resources/{resource}/.well-known/oauth-authorization-server',
      issuerPath: '/resources/{resource}',
    },
    { kind: 'metadata', path: '/.well-known/oauth-authorization-server' },
  ],
  paths: {
    authorize: ['/oauth/authorize'],
    token: ['/oauth/token'],
    userinfo: ['/userinfo'],
    jwks: ['/keys'],
    revoke: ['/oauth/revoke'],
    register: ['/oauth/register'],
  },
  client: {
    id: 'skc_90000000000000001',
    secret: 'scalekit-mock-secret-0123456789',
    name: 'MCP reference server',
  },
  accessToken: 'jwt',
  refreshToken: 'opaque',
  refreshNeedsScope: 'offline_access',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256'], required: false },
  grants: ALL_GRANTS,
  authMethods: ALL_METHODS,
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  defaultScope: ['openid', 'profile', 'email'],
  accessTtl: 300,
  refreshTtl: 30 * 86400,
  audience: () => SCALEKIT_RESOURCE,
  subject: (bytes) => `usr_${charsFrom(bytes, 18, '0123456789')}`,
  accessClaims: (t) => ({
    ...(t.sid ? { sid: `ses_${charsFrom(Buffer.from(t.sid), 18, '0123456789')}` } : {}),
  }),
  newClientId: () => `skc_${charsFrom(Buffer.from(randomId(32)), 18, '0123456789')}`,
  settings: { dcr: true },
};

// ------------------------------------------------------------------ PropelAuth

const PA = '/oauth/2.1';

/** PropelAuth's authorize requires `state`, an S256 challenge and `resource` (its MCP API reference). */
function propelAuthorize(p: Record<string, string>): { error: string; description: string } | undefined {
  if (!p['state']) return { error: 'invalid_request', description: '"state" is required' };
  if (!p['code_challenge']) return { error: 'invalid_request', description: '"code_challenge" is required' };
  if (p['code_challenge_method'] !== 'S256') {
    return { error: 'invalid_request', description: '"code_challenge_method" must be S256' };
  }
  if (!p['resource']) return { error: 'invalid_request', description: '"resource" is required' };
  return undefined;
}

export const PROPELAUTH_INTROSPECTION = {
  id: 'propelauth-introspection-mock',
  secret: 'propel-introspect-secret-0123',
};

const propelauth: FlavourSpec = {
  id: 'propelauth',
  title: 'PropelAuth',
  host: '*.propelauthtest.com',
  defaultHost: 'mock.propelauthtest.com',
  issuer: { path: PA },
  documents: [
    { kind: 'metadata', path: `/.well-known/oauth-authorization-server${PA}` },
    { kind: 'metadata', path: `${PA}/.well-known/oauth-authorization-server` },
  ],
  paths: {
    authorize: [`${PA}/authorize`],
    token: [`${PA}/token`],
    userinfo: [`${PA}/userinfo`],
    introspect: [`${PA}/introspect`],
    revoke: [`${PA}/revoke`],
    register: [`${PA}/register`],
  },
  client: {
    id: 'propelauth-mock-client-01',
    secret: 'propelauth-mock-secret-0123456789',
    name: 'MCP reference server',
  },
  accessToken: 'opaque',
  refreshToken: 'opaque',
  rotateRefresh: true,
  idToken: false,
  pkce: { methods: ['S256'], required: true },
  grants: ['authorization_code', 'refresh_token'],
  authMethods: ALL_METHODS,
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'read:user_data'],
  defaultScope: ['openid', 'profile', 'email'],
  accessTtl: 3600,
  refreshTtl: 30 * 86400,
  audience: resourceOr((clientId) => clientId),
  subject: uuidFrom,
  opaque: () => randomId(64, '0123456789abcdef'),
  checkAuthorize: (req) => propelAuthorize(req.params),
  introspectionCredentials: PROPELAUTH_INTROSPECTION,
  newClientId: () => randomId(32, '0123456789abcdef'),
  settings: { dcr: true },
};

// ------------------------------------------------------------------ OCI IAM

export const OCI_ISSUER = 'https://identity.oraclecloud.com/';

const oci: FlavourSpec = {
  id: 'oci',
  title: 'OCI IAM identity domain',
  host: '*.identity.oraclecloud.com',
  defaultHost: 'idcs-mock01.identity.oraclecloud.com',
  issuer: { fixed: OCI_ISSUER },
  documents: [
    { kind: 'discovery', path: '/.well-known/openid-configuration' },
    { kind: 'metadata', path: '/.well-known/oauth-authorization-server' },
  ],
  paths: {
    authorize: ['/oauth2/v1/authorize'],
    token: ['/oauth2/v1/token'],
    userinfo: ['/oauth2/v1/userinfo'],
    jwks: ['/admin/v1/SigningCert/jwk'],
    introspect: ['/oauth2/v1/introspect'],
    revoke: ['/oauth2/v1/revoke'],
    logout: ['/oauth2/v1/userlogout'],
  },
  client: {
    id: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
    secret: 'idcscs-mock-secret-0123456789',
    name: 'MCP reference server',
  },
  accessToken: 'jwt',
  refreshToken: 'opaque',
  refreshNeedsScope: 'offline_access',
  rotateRefresh: true,
  idToken: true,
  pkce: { methods: ['S256'], required: false },
  grants: ALL_GRANTS,
  authMethods: ['client_secret_basic', 'client_secret_post'],
  issParameter: false,
  scopeGatedClaims: true,
  scopes: ['openid', 'profile', 'email', 'offline_access', 'urn:opc:idm:__myscopes__'],
  defaultScope: ['openid'],
  accessTtl: 3600,
  refreshTtl: 7 * 86400,
  audience: resourceOr(() => 'urn:opc:idm:__myscopes__'),
  subject: (bytes) => bytes.subarray(0, 16).toString('hex'),
  identity: (persona, s) => {
    const userName = personaField(persona, 'oci', 'user_name', () => persona.email ?? persona.id);
    return {
      ...s,
      sub: String(personaField(persona, 'oci', 'sub', () => userName)),
      user_id: s.sub,
      sub_mappingattr: 'userName',
      user_displayname: s.name,
      user_tz: 'UTC',
      user_locale: 'en',
    };
  },
  accessClaims: (t) => ({
    tok_type: 'AT',
    sub_type: t.identity ? 'user' : 'client',
    ...(t.identity
      ? { user_id: t.identity['user_id'], user_displayname: t.identity['user_displayname'] }
      : {}),
  }),
  idClaims: (t) => ({ tok_type: 'IT', user_id: t.identity?.['user_id'] }),
};

/** Every flavour of the family, Keycloak (`oidc`) first. */
export const flavours: FlavourSpec[] = [
  keycloak,
  discordFlavour,
  clerk,
  workos,
  descope,
  supabase,
  scalekit,
  propelauth,
  oci,
];
