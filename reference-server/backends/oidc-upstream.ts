/**
 * The OpenID Connect side of the upstream leg, shared by the adapters: endpoint resolution
 * (explicit settings, then the discovery document, then built-in defaults), the authorization
 * URL with our own state, PKCE challenge, callback and nonce, and id_token verification with
 * jose (signature against the provider's JWKS, RS256 only, `iss`, `aud`, `azp`, `exp`, `iat`,
 * `nonce`, `at_hash`).
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import type { AuthBackend, Settings, UpstreamKey } from '../config.ts';
import { upstreamEndpoints } from '../config.ts';
import { type UpstreamAuthorizationInput, UpstreamError, type UpstreamIdentity } from './types.ts';
import {
  fetchUserJson,
  readJsonObject,
  shown,
  UPSTREAM_TIMEOUT_MS,
  type UpstreamClient,
  upstreamRequest,
  verifiedFlag,
} from './upstream-http.ts';

/** How long a fetched discovery document is used before it is fetched again. */
const DISCOVERY_MAX_AGE_MS = 3_600_000;
/** An id_token issued longer ago than this (plus leeway) is refused (OIDC Core 3.1.3.7 item 10). */
const ID_TOKEN_MAX_AGE_S = 600;
/** The only id_token algorithm accepted: every provider here signs with RS256. */
const ID_TOKEN_ALGORITHMS = ['RS256'];

/** Endpoint keys and the discovery member each maps to. */
const DISCOVERY_MEMBERS = {
  issuer: 'issuer',
  authorize_url: 'authorization_endpoint',
  token_url: 'token_endpoint',
  userinfo_url: 'userinfo_endpoint',
  jwks_uri: 'jwks_uri',
  revoke_url: 'revocation_endpoint',
} as const satisfies Partial<Record<UpstreamKey, string>>;

export type DiscoverableKey = keyof typeof DISCOVERY_MEMBERS;

/** Whether a URL from a discovery document may be used: https, or http on a loopback host. */
function secureUrl(value: string): boolean {
  try {
    const u = new URL(value);
    if (u.username || u.password) return false;
    if (u.protocol === 'https:') return true;
    return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  } catch {
    return false;
  }
}

/**
 * The upstream endpoints of one backend. For each key: an explicit `upstream.<backend>.<key>`
 * setting wins; then the discovery document, when the backend prefers it or its `discovery_url`
 * was set explicitly (pointing only the discovery URL at another IdP moves every endpoint); then
 * the built-in default derived from the `oauth:` block.
 */
export class UpstreamEndpoints {
  readonly #client: UpstreamClient;
  readonly #backend: AuthBackend;
  readonly #configured: Partial<Record<UpstreamKey, string | undefined>>;
  readonly #explicit: Partial<Record<UpstreamKey, string>>;
  readonly #useDiscovery: boolean;
  #discovery: { doc: Record<string, unknown>; at: number } | undefined;
  #pending: Promise<Record<string, unknown>> | undefined;
  #jwks: { uri: string; keys: JWTVerifyGetKey } | undefined;

  constructor(
    client: UpstreamClient,
    settings: Settings,
    backend: AuthBackend,
    options: { preferDiscovery: boolean },
  ) {
    this.#client = client;
    this.#backend = backend;
    this.#configured = upstreamEndpoints(settings, backend);
    this.#explicit = settings.upstream[backend] ?? {};
    this.#useDiscovery =
      this.#configured.discovery_url !== undefined &&
      (options.preferDiscovery || this.#explicit.discovery_url !== undefined);
  }

  /** Whether `key` was set explicitly in the settings. */
  isExplicit(key: UpstreamKey): boolean {
    return this.#explicit[key] !== undefined;
  }

  /** A configured value without discovery (`audience`, `api_base`, `token_info_url`...). */
  configured(key: UpstreamKey): string | undefined {
    return this.#configured[key];
  }

  /** The endpoint for `key`; `ERR_UPSTREAM_CONFIG` when neither settings nor discovery name one. */
  async get(key: DiscoverableKey): Promise<string> {
    const explicit = this.#explicit[key];
    if (explicit !== undefined) return explicit;
    if (this.#useDiscovery) {
      const doc = await this.discovery();
      const value = doc[DISCOVERY_MEMBERS[key]];
      if (typeof value === 'string' && value !== '') {
        if (key !== 'issuer' && !secureUrl(value)) {
          throw new UpstreamError(
            'ERR_UPSTREAM_CONFIG',
            `${this.#client.provider} discovery "${DISCOVERY_MEMBERS[key]}" ${shown(value)} is not an https URL`,
          );
        }
        return value;
      }
    }
    const fallback = this.#configured[key];
    if (fallback !== undefined) return fallback;
    throw new UpstreamError(
      'ERR_UPSTREAM_CONFIG',
      `${this.#client.provider} has no ${key} (set upstream.${this.#backend}.${key})`,
    );
  }

  /**
   * The key set at the current `jwks_uri` (see `remoteJwks`), made anew only when that URI
   * changes (a refetched discovery document may move it).
   */
  async jwks(): Promise<JWTVerifyGetKey> {
    const uri = await this.get('jwks_uri');
    if (this.#jwks?.uri !== uri) this.#jwks = { uri, keys: remoteJwks(this.#client, uri) };
    return this.#jwks.keys;
  }

  /**
   * The discovery document, fetched once and kept for an hour; a failed fetch is not cached.
   * Its `issuer` is not compared with the URL: Entra's documents name a tenant GUID (or the
   * `{tenantid}` template) where the URL names a domain or `common`.
   */
  async discovery(): Promise<Record<string, unknown>> {
    if (this.#discovery && Date.now() - this.#discovery.at < DISCOVERY_MAX_AGE_MS) return this.#discovery.doc;
    this.#pending ??= this.#fetchDiscovery().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetchDiscovery(): Promise<Record<string, unknown>> {
    const url = this.#configured.discovery_url;
    const p = this.#client.provider;
    if (!url) throw new UpstreamError('ERR_UPSTREAM_CONFIG', `${p} has no discovery_url`);
    const response = await upstreamRequest(
      this.#client,
      url,
      { headers: { accept: 'application/json' } },
      'discovery document',
    );
    if (response.status !== 200) {
      throw new UpstreamError(
        response.status >= 500 ? 'ERR_UPSTREAM_UNREACHABLE' : 'ERR_UPSTREAM_CONFIG',
        `${p} discovery document answered HTTP ${response.status}`,
      );
    }
    const doc = await readJsonObject(response);
    if (!doc || typeof doc['issuer'] !== 'string' || doc['issuer'] === '') {
      throw new UpstreamError('ERR_UPSTREAM_CONFIG', `${p} discovery document has no "issuer"`);
    }
    this.#discovery = { doc, at: Date.now() };
    return doc;
  }
}

/** 43 base64url characters: the S256 challenge of RFC 7636 4.2. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The upstream authorization URL: the endpoint's own query kept, then `response_type=code`, our
 * client id, our fixed callback, the scopes, our state, our S256 challenge and (for OIDC) our
 * nonce, then provider extras. Never a `resource` parameter: none of these upstreams take our
 * resource, and Entra v2 refuses it.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.3
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 */
export function buildAuthorizationUrl(
  provider: string,
  endpoint: string,
  input: UpstreamAuthorizationInput,
  params: { clientId: string; scope: string[]; oidc: boolean; extra?: Record<string, string> },
): URL {
  if (!input.state)
    throw new UpstreamError('ERR_UPSTREAM_CONFIG', `${provider} authorization needs our "state"`);
  if (!S256_CHALLENGE.test(input.codeChallenge)) {
    throw new UpstreamError('ERR_UPSTREAM_CONFIG', `"codeChallenge" is not an S256 challenge`);
  }
  if (params.oidc && !input.nonce) {
    throw new UpstreamError('ERR_UPSTREAM_CONFIG', `${provider} authorization needs our "nonce"`);
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UpstreamError(
      'ERR_UPSTREAM_CONFIG',
      `${provider} authorize_url ${shown(endpoint)} is not a URL`,
    );
  }
  const set = (name: string, value: string) => url.searchParams.set(name, value);
  url.searchParams.delete('resource');
  set('response_type', 'code');
  set('client_id', params.clientId);
  set('redirect_uri', input.redirectUri);
  set('scope', params.scope.join(' '));
  set('state', input.state);
  set('code_challenge', input.codeChallenge);
  set('code_challenge_method', 'S256');
  if (params.oidc) set('nonce', input.nonce);
  for (const [name, value] of Object.entries(params.extra ?? {})) {
    if (name !== 'resource') set(name, value);
  }
  return url;
}

/**
 * A JWKS fetched through the injected fetch. `cooldownDuration: 0`: an unknown `kid` refetches
 * at once, so a rotated key works on its first use; id_tokens only ever arrive from the
 * upstream's own token endpoint, so this cannot be driven by a third party.
 */
export function remoteJwks(client: UpstreamClient, jwksUri: string): JWTVerifyGetKey {
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw new UpstreamError(
      'ERR_UPSTREAM_CONFIG',
      `${client.provider} jwks_uri ${shown(jwksUri)} is not a URL`,
    );
  }
  return createRemoteJWKSet(url, {
    timeoutDuration: UPSTREAM_TIMEOUT_MS,
    cooldownDuration: 0,
    [customFetch]: async (href, init) => {
      const response = await upstreamRequest(client, href, { headers: init.headers, method: 'GET' }, 'JWKS');
      if (response.status >= 500) {
        throw new UpstreamError(
          'ERR_UPSTREAM_UNREACHABLE',
          `${client.provider} JWKS answered HTTP ${response.status}`,
        );
      }
      return response;
    },
  });
}

export interface IdTokenExpectations {
  provider: string;
  jwks: JWTVerifyGetKey;
  /**
   * The accepted `iss` values for this (signature-verified) payload: usually one; Google's two
   * documented forms; Entra's tenant issuer.
   */
  issuers: (payload: JWTPayload) => string[];
  /** Our upstream client id: `aud` must contain it, and `azp`, when present, must equal it. */
  clientId: string;
  /** The nonce we sent in the authorization request. */
  nonce: string;
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
  leeway: number;
  /** The access token issued with the id_token, to check `at_hash` when present. */
  accessToken?: string;
}

function idTokenError(provider: string, detail: string): UpstreamError {
  return new UpstreamError('ERR_UPSTREAM_ID_TOKEN', `${provider} id_token ${detail}`);
}

/** What went wrong, from a jose error; never the token itself. */
function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return error.claim === 'iat' ? '"iat" is too old' : 'has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return '"aud" is not our client';
    if (error.claim === 'iat') return '"iat" is in the future';
    if (error.claim === 'nbf') return 'is not yet valid';
    return `"${error.claim}" is invalid (${error.reason})`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'uses an algorithm other than RS256';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature is invalid';
  if (error instanceof errors.JWKSNoMatchingKey) return 'is signed by a key not in the JWKS';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'names a key the JWKS holds twice';
  if (error instanceof errors.JWKSTimeout) return 'keys could not be fetched (timed out)';
  if (error instanceof errors.JWKSInvalid) return 'keys are not a valid JWKS';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'is malformed';
  if (error instanceof errors.JOSEError) return `could not be verified (${error.code})`;
  return 'could not be verified';
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * OIDC Core 3.1.3.6: the left half of the SHA-256 of the access token (RS256), base64url.
 */
function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url');
}

/**
 * Verifies an upstream id_token before any claim in it is used (security edge 34): the RS256
 * signature with a key of the provider's JWKS, `iss` exactly one of the accepted values, `aud`
 * containing our client id (and `azp` equal to it when present or when `aud` names several),
 * `exp`, `nbf` and `iat` within the leeway, `iat` not older than ten minutes, `nonce` equal to
 * ours, `sub` present, and `at_hash` when present.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */
export async function verifyIdToken(idToken: string, expect: IdTokenExpectations): Promise<JWTPayload> {
  const p = expect.provider;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, expect.jwks, {
      algorithms: ID_TOKEN_ALGORITHMS,
      audience: expect.clientId,
      clockTolerance: expect.leeway,
      maxTokenAge: ID_TOKEN_MAX_AGE_S + expect.leeway,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }));
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    throw idTokenError(p, describeJoseError(error));
  }
  const iss = payload.iss ?? '';
  if (!expect.issuers(payload).includes(iss)) throw idTokenError(p, `"iss" ${shown(iss)} is not the issuer`);
  if (typeof payload.sub !== 'string' || payload.sub === '') throw idTokenError(p, 'has no "sub"');
  const azp = payload['azp'];
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (azp !== undefined || audiences.length > 1) {
    if (azp !== expect.clientId) throw idTokenError(p, '"azp" is not our client');
  }
  const nonce = payload['nonce'];
  if (typeof nonce !== 'string' || !sameString(nonce, expect.nonce)) {
    throw idTokenError(p, '"nonce" is not the one we sent');
  }
  const hash = payload['at_hash'];
  if (hash !== undefined && expect.accessToken !== undefined) {
    if (typeof hash !== 'string' || !sameString(hash, atHash(expect.accessToken))) {
      throw idTokenError(p, '"at_hash" does not match the access token');
    }
  }
  return payload;
}

/** Claims of the JWT and OIDC protocol, dropped from the claims an identity carries. */
const PROTOCOL_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'nonce',
  'at_hash',
  'c_hash',
  'azp',
  'auth_time',
]);

/** The user claims of a verified id_token: every claim but the registered and protocol ones. */
export function userClaims(payload: JWTPayload): Record<string, unknown> {
  return Object.fromEntries(Object.entries(payload).filter(([k]) => !PROTOCOL_CLAIMS.has(k)));
}

/**
 * OIDC Core 5.3: the userinfo claims for an access token, over TLS from the provider itself.
 * `sub` is required (5.3.2).
 */
export async function fetchUserinfo(
  client: UpstreamClient,
  url: string,
  accessToken: string,
): Promise<Record<string, unknown> & { sub: string }> {
  const claims = await fetchUserJson(
    client,
    url,
    { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } },
    'userinfo',
  );
  const sub = claims['sub'];
  if (typeof sub !== 'string' || sub === '') {
    throw new UpstreamError('ERR_UPSTREAM_USER', `${client.provider} userinfo has no "sub"`);
  }
  return claims as Record<string, unknown> & { sub: string };
}

/** The identity in a userinfo answer: `sub`, the email with its `email_verified`, the name. */
export function userinfoIdentity(
  provider: AuthBackend,
  info: Record<string, unknown> & { sub: string },
): UpstreamIdentity {
  const email = typeof info['email'] === 'string' && info['email'] !== '' ? info['email'] : undefined;
  const verified = verifiedFlag(info['email_verified']);
  const name = typeof info['name'] === 'string' && info['name'] !== '' ? info['name'] : undefined;
  return {
    provider,
    subject: info.sub,
    ...(email ? { email } : {}),
    ...(email && verified !== undefined ? { emailVerified: verified } : {}),
    ...(name ? { name } : {}),
    claims: userClaims(info),
  };
}
