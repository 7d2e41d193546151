/**
 * Verification of JWT access tokens an identity provider issued (the remote backends and the
 * generic `jwt` backend): the signature with a key of the issuer's JWKS, an algorithm
 * allow-list (never `none`, never an HMAC algorithm: with a JWKS of public keys, HS256 would
 * mean "signed with the public key", the algorithm-confusion attack), `iss`, `aud`, `exp` and
 * `nbf` with the configured leeway, and `sub`. Every failure is a `TokenRejected` with
 * `invalid_token` and a short reason that names the claim, never the token.
 *
 * Keys: jose's `createRemoteJWKSet` fetching through the injected fetch (`customFetch`). An
 * unknown `kid` makes it fetch the JWKS again once (a rotated key works on first use); further
 * unknown kids within REFETCH_COOLDOWN_MS are refused without a fetch, so a stream of forged
 * tokens cannot make the server hammer the IdP.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4 (validating JWT access tokens)
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1 (algorithm verification)
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1 (registered claims)
 */
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import type { AuthBackend } from '../config.ts';
import { TokenRejected } from '../principal.ts';
import { type RemoteBackend, UpstreamError, type UpstreamIdentity } from './types.ts';
import { shown, UPSTREAM_TIMEOUT_MS, type UpstreamClient, upstreamRequest } from './upstream-http.ts';

/** After a refetch forced by an unknown `kid`, the next one waits this long. */
export const REFETCH_COOLDOWN_MS = 30_000;
/** Tokens longer than this are refused unread (a JWT access token is a few kilobytes). */
export const MAX_TOKEN_CHARS = 16_384;
/** The asymmetric algorithms accepted unless a backend narrows them. */
export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'PS256'];

/** RFC 7515 compact serialization: three base64url parts. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** An `invalid_token` rejection (RFC 6750 3.1). */
export function rejected(message: string): TokenRejected {
  return new TokenRejected('invalid_token', message);
}

/** The signing keys of one issuer, fetched through the injected fetch. */
export class BearerKeys {
  readonly #client: UpstreamClient;
  readonly #remote: ReturnType<typeof createRemoteJWKSet>;
  readonly #cooldownMs: number;
  #lastForced = Number.NEGATIVE_INFINITY;

  constructor(client: UpstreamClient, jwksUri: string, options: { cooldownMs?: number } = {}) {
    this.#client = client;
    this.#cooldownMs = options.cooldownMs ?? REFETCH_COOLDOWN_MS;
    let url: URL;
    try {
      url = new URL(jwksUri);
    } catch {
      throw new UpstreamError(
        'ERR_UPSTREAM_CONFIG',
        `${client.provider} jwks_uri ${shown(jwksUri)} is not a URL`,
      );
    }
    this.#remote = createRemoteJWKSet(url, {
      timeoutDuration: UPSTREAM_TIMEOUT_MS,
      // jose never refetches on a miss by itself; getKey below decides (see the module comment).
      cooldownDuration: Number.POSITIVE_INFINITY,
      [customFetch]: async (href, init) => {
        const response = await upstreamRequest(
          client,
          href,
          { method: 'GET', headers: init.headers },
          'JWKS',
        );
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new UpstreamError(
            'ERR_UPSTREAM_UNREACHABLE',
            `${client.provider} JWKS answered HTTP ${response.status}`,
          );
        }
        return response;
      },
    });
  }

  get provider(): string {
    return this.#client.provider;
  }

  /** jose's key lookup, with one refetch on an unknown `kid` per cooldown window. */
  getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await this.#remote(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      const now = Date.now();
      if (now - this.#lastForced < this.#cooldownMs) throw error;
      this.#lastForced = now;
      await this.#remote.reload();
      return this.#remote(header, token);
    }
  };
}

export interface BearerJwtExpectations {
  keys: BearerKeys;
  /** Accepted `iss` values, compared exactly. */
  issuers: string[];
  /** Accepted audiences: `aud` must contain one of them. */
  audiences: string[];
  /** Accepted `alg` values (asymmetric only). */
  algorithms?: string[];
  /** Clock skew tolerated on `exp` and `nbf`, seconds. */
  leeway: number;
}

/** The reason a jose failure gives, naming the claim (never the token). */
function reasonOf(error: unknown, provider: string): string {
  if (error instanceof UpstreamError) return `the signing keys are unavailable (${error.message})`;
  if (error instanceof errors.JWTExpired) return '"exp": the access token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `"${error.claim}" is missing`;
    switch (error.claim) {
      case 'iss':
        return `"iss" is not ${provider}'s issuer`;
      case 'aud':
        return '"aud" does not name this resource server';
      case 'nbf':
        return '"nbf": the access token is not yet valid';
      default:
        return `"${error.claim}" is invalid`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return '"alg" is not accepted';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature is invalid';
  if (error instanceof errors.JWKSNoMatchingKey) return `"kid" names no signing key of ${provider}`;
  if (error instanceof errors.JWKSMultipleMatchingKeys) return '"kid" matches several signing keys';
  if (error instanceof errors.JWKSTimeout) return 'the signing keys are unavailable (timed out)';
  if (error instanceof errors.JWKSInvalid) return `${provider}'s JWKS is invalid`;
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) {
    return 'the access token is malformed';
  }
  return 'the access token could not be verified';
}

/**
 * Verifies a JWT access token; the payload when every check passes.
 * @throws TokenRejected `invalid_token`
 */
export async function verifyBearerJwt(token: string, expect: BearerJwtExpectations): Promise<JWTPayload> {
  const provider = expect.keys.provider;
  if (token.length > MAX_TOKEN_CHARS) throw rejected('the access token is too long');
  if (!COMPACT_JWS.test(token)) throw rejected('the access token is not a JWT');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw rejected('the access token header is malformed');
  }
  const algorithms = expect.algorithms ?? DEFAULT_ALGORITHMS;
  // RFC 8725 3.1: only the algorithms we expect; `none` and HS* never reach a key lookup.
  if (typeof alg !== 'string' || !algorithms.includes(alg)) {
    throw rejected(`"alg" ${shown(alg)} is not accepted`);
  }
  try {
    const { payload } = await jwtVerify(token, expect.keys.getKey, {
      algorithms,
      issuer: expect.issuers,
      audience: expect.audiences,
      clockTolerance: expect.leeway,
      requiredClaims: ['iss', 'sub', 'aud', 'exp'],
    });
    if (typeof payload.sub !== 'string' || payload.sub === '') throw rejected('"sub" is missing');
    return payload;
  } catch (error) {
    if (error instanceof TokenRejected) throw error;
    throw rejected(reasonOf(error, provider));
  }
}

/** The scopes a token grants: `scope` (RFC 9068 2.2.3, space-separated) or `scp` (a list or a string). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims['scope'] ?? claims['scp'];
  if (typeof raw === 'string') return raw.split(' ').filter((s) => s !== '');
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

/** The OAuth client a token was issued to: `client_id` (RFC 9068 2.2), else `azp`. */
export function clientIdOf(claims: Record<string, unknown>): string | undefined {
  for (const key of ['client_id', 'azp']) {
    const value = claims[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** `exp` as a number of seconds, when it is one. */
export function expiryOf(claims: Record<string, unknown>): number | undefined {
  const exp = claims['exp'];
  return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
}

export interface JwtRemoteSpec {
  id: AuthBackend;
  /** The authorization server advertised in our protected resource metadata. */
  authorizationServer: string;
  scopesSupported: string[];
  /** How each bearer token is verified (`verifyBearerJwt`). */
  expect: BearerJwtExpectations;
  /** The identity of a verified token's claims. */
  identity(token: string, claims: JWTPayload): Promise<UpstreamIdentity> | UpstreamIdentity;
}

/**
 * A remote backend whose IdP issues JWT access tokens (Supabase, Scalekit, Descope, generic
 * `jwt`): each bearer token verified with `verifyBearerJwt`, then its identity, scopes, client
 * and expiry read from the verified claims.
 */
export function jwtRemoteBackend(spec: JwtRemoteSpec): RemoteBackend {
  return {
    kind: 'remote',
    id: spec.id,
    authorizationServers: [spec.authorizationServer],
    scopesSupported: spec.scopesSupported,
    async verify(token) {
      const claims = await verifyBearerJwt(token, spec.expect);
      return {
        identity: await spec.identity(token, claims),
        scopes: scopesOf(claims),
        clientId: clientIdOf(claims),
        expiresAt: expiryOf(claims),
      };
    },
  };
}
