/**
 * Our own access tokens: ES256 JWTs in the RFC 9068 profile, signed with keys kept in the store.
 *
 * Header: `{ alg: "ES256", kid, typ: "at+jwt" }` (RFC 9068 2.1).
 * Claims: `iss` (our issuer), `aud` (the MCP resource URL; RFC 8707), `sub` (our user id),
 * `client_id` (the MCP client), `scope` (space-separated), `iat`, `nbf`, `exp` (short), `jti`,
 * `token_use: "access"` (so a refresh token or an upstream token can never pass; security edge 23),
 * `sid` (the grant family, so replay revocation reaches access tokens; RFC 6749 4.1.2), plus any
 * extra claims (passthrough, nested) that do not collide with the reserved names (edge 31).
 *
 * Keys: one active ES256 key signs; rotation keeps retired keys published and verifiable until
 * pruned. Keys persist in the store (private JWK sealed when a sealer is given), so tokens issued
 * before a restart, or by another instance sharing the store, still verify.
 * @see https://www.rfc-editor.org/rfc/rfc9068
 */
import { randomUUID } from 'node:crypto';
import {
  type CryptoKey,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { TokenError } from '../errors.ts';
import type { SigningKeyRecord, Store } from '../store/types.ts';
import type { Sealer } from './seal.ts';

export const ACCESS_TOKEN_ALG = 'ES256';
export const ACCESS_TOKEN_TYP = 'at+jwt';
export const TOKEN_USE_ACCESS = 'access';

/** Claims an upstream value may never set or overwrite in our tokens. */
export const RESERVED_CLAIMS: readonly string[] = [
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'scope',
  'client_id',
  'token_use',
  'sid',
  'azp',
  'cnf',
  'act',
  'may_act',
  'auth_time',
  'acr',
  'amr',
];

// ---------------------------------------------------------------------------------------------
// Keys

interface LoadedKey {
  kid: string;
  publicKey: CryptoKey;
  publicJwk: JWK;
  privateKey?: CryptoKey;
  createdAt: number;
  retiredAt?: number;
}

export interface SigningKeysOptions {
  store: Store;
  /** Seals private keys at rest; without it they are stored as plain JWK JSON. */
  sealer?: Sealer;
}

/** The server's signing keys, persisted through the store. Create with `SigningKeys.load`. */
export class SigningKeys {
  readonly #store: Store;
  readonly #sealer: Sealer | undefined;
  #keys = new Map<string, LoadedKey>();
  #activeKid: string | undefined;

  private constructor(options: SigningKeysOptions) {
    this.#store = options.store;
    this.#sealer = options.sealer;
  }

  /** Loads the stored keys, creating the first one when there is no active key. */
  static async load(options: SigningKeysOptions): Promise<SigningKeys> {
    const keys = new SigningKeys(options);
    await keys.reload();
    if (keys.#activeKid === undefined) await keys.#create();
    return keys;
  }

  /** Re-reads the store (keys another instance created or retired). */
  async reload(): Promise<void> {
    const records = await this.#store.listSigningKeys();
    const next = new Map<string, LoadedKey>();
    for (const record of records)
      next.set(record.kid, this.#keys.get(record.kid) ?? (await this.#import(record)));
    for (const record of records) {
      const k = next.get(record.kid)!;
      if (record.retiredAt !== undefined) k.retiredAt = record.retiredAt;
      else delete k.retiredAt;
    }
    this.#keys = next;
    const active = records.filter((r) => r.retiredAt === undefined).at(-1);
    this.#activeKid = active?.kid;
  }

  async #import(record: SigningKeyRecord): Promise<LoadedKey> {
    if (record.alg !== ACCESS_TOKEN_ALG)
      throw new TokenError('ERR_KEY_INVALID', `signing key "${record.kid}" is not ES256`);
    let privateText = record.privateKey;
    if (!privateText.startsWith('{')) {
      if (!this.#sealer) {
        throw new TokenError(
          'ERR_KEY_INVALID',
          `signing key "${record.kid}" is sealed and no secret is configured`,
        );
      }
      privateText = this.#sealer.open(privateText, `signing-key:${record.kid}`);
    }
    const publicJwk = { ...(record.publicJwk as JWK) };
    return {
      kid: record.kid,
      publicKey: (await importJWK(publicJwk, ACCESS_TOKEN_ALG)) as CryptoKey,
      publicJwk,
      privateKey: (await importJWK(JSON.parse(privateText) as JWK, ACCESS_TOKEN_ALG)) as CryptoKey,
      createdAt: record.createdAt,
      ...(record.retiredAt !== undefined ? { retiredAt: record.retiredAt } : {}),
    };
  }

  async #create(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALG, { extractable: true });
    const kid = `es256-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: ACCESS_TOKEN_ALG, use: 'sig' };
    const privateJson = JSON.stringify(await exportJWK(privateKey));
    const stored = this.#sealer ? this.#sealer.seal(privateJson, `signing-key:${kid}`) : privateJson;
    const createdAt = this.#store.now();
    await this.#store.putSigningKey({
      kid,
      alg: ACCESS_TOKEN_ALG,
      publicJwk: publicJwk as Record<string, unknown>,
      privateKey: stored,
      createdAt,
    });
    this.#keys.set(kid, { kid, publicKey, publicJwk, privateKey, createdAt });
    this.#activeKid = kid;
    return kid;
  }

  /** The key that signs new tokens. */
  active(): { kid: string; privateKey: CryptoKey } {
    const k = this.#activeKid === undefined ? undefined : this.#keys.get(this.#activeKid);
    if (!k?.privateKey) throw new TokenError('ERR_KEY_INVALID', 'no active signing key');
    return { kid: k.kid, privateKey: k.privateKey };
  }

  /** Starts signing with a new key; the old one stays published and verifiable until pruned. */
  async rotate(): Promise<string> {
    const old = this.#activeKid;
    const kid = await this.#create();
    if (old !== undefined) {
      const at = this.#store.now();
      await this.#store.retireSigningKey(old, at);
      const k = this.#keys.get(old);
      if (k) k.retiredAt = at;
    }
    return kid;
  }

  /** Deletes keys retired at least `retainSeconds` ago (use more than the access-token lifetime). */
  async prune(retainSeconds: number): Promise<string[]> {
    const now = this.#store.now();
    const removed: string[] = [];
    for (const k of this.#keys.values()) {
      if (k.retiredAt !== undefined && now - k.retiredAt >= retainSeconds) {
        await this.#store.deleteSigningKey(k.kid);
        removed.push(k.kid);
      }
    }
    for (const kid of removed) this.#keys.delete(kid);
    return removed;
  }

  /** The public key for `kid`, reloading from the store once on a miss. */
  async publicKey(kid: string): Promise<CryptoKey | undefined> {
    if (!this.#keys.has(kid)) await this.reload();
    return this.#keys.get(kid)?.publicKey;
  }

  /** The JWKS document (RFC 7517 5): the active key first, then retired keys still published. */
  jwks(): { keys: JWK[] } {
    const all = [...this.#keys.values()].sort((a, b) => {
      if (a.kid === this.#activeKid) return -1;
      if (b.kid === this.#activeKid) return 1;
      return b.createdAt - a.createdAt;
    });
    return { keys: all.map((k) => ({ ...k.publicJwk })) };
  }
}

// ---------------------------------------------------------------------------------------------
// Access tokens

export interface AccessTokenOptions {
  keys: SigningKeys;
  /** Our issuer (RFC 8414): the server's base URL. */
  issuer: string;
  /** The MCP resource URL: `aud` of every token (RFC 8707). */
  audience: string;
  /** Lifetime in seconds (default 3600). */
  ttl?: number;
  /** Clock skew tolerated on exp/nbf/iat, seconds (default 5). */
  leeway?: number;
  /** Clock, epoch seconds. */
  now?: () => number;
}

export interface IssueAccessTokenInput {
  /** Our user id. */
  sub: string;
  clientId: string;
  scope: readonly string[];
  /** The grant family (`sid`), checked against the store by the resource server. */
  familyId?: string;
  /** Extra claims (passthrough, already filtered); reserved names are refused. */
  claims?: Record<string, unknown>;
  ttl?: number;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  kid: string;
  issuedAt: number;
  expiresAt: number;
  /** Seconds, for the token response's `expires_in`. */
  expiresIn: number;
}

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  client_id: string;
  /** Space-separated, as issued. */
  scope: string;
  iat: number;
  nbf?: number;
  exp: number;
  jti: string;
  token_use: typeof TOKEN_USE_ACCESS;
  sid?: string;
  [claim: string]: unknown;
}

export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  scopes: string[];
  kid: string;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

function mapJoseError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired)
    return new TokenError('ERR_JWT_EXPIRED', '"exp" claim timestamp check failed');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return new TokenError('ERR_JWT_ISS', 'unexpected "iss" claim value');
      case 'aud':
        return new TokenError('ERR_JWT_AUD', 'unexpected "aud" claim value');
      case 'nbf':
        return new TokenError('ERR_JWT_NOT_YET_VALID', '"nbf" claim timestamp check failed');
      case 'iat':
        return new TokenError('ERR_JWT_NOT_YET_VALID', '"iat" claim is in the future');
      case 'typ':
        return new TokenError('ERR_JWT_TYP', 'unexpected "typ" header value');
      default:
        return new TokenError('ERR_JWT_CLAIM', `"${error.claim}" claim check failed (${error.reason})`);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenError('ERR_JWT_ALG', '"alg" is not allowed');
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError('ERR_JWT_SIGNATURE', 'signature verification failed');
  }
  return new TokenError('ERR_JWT_MALFORMED', 'token is not a well-formed JWT');
}

/** Issues and verifies our access tokens. */
export class AccessTokens {
  readonly issuer: string;
  readonly audience: string;
  readonly ttl: number;
  readonly leeway: number;
  readonly #keys: SigningKeys;
  readonly #now: () => number;

  constructor(options: AccessTokenOptions) {
    this.#keys = options.keys;
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.ttl = options.ttl ?? 3600;
    this.leeway = options.leeway ?? 5;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Signs an access token (RFC 9068 2.2). */
  async issue(input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
    for (const name of Object.keys(input.claims ?? {})) {
      if (RESERVED_CLAIMS.includes(name)) {
        throw new TokenError('ERR_JWT_RESERVED_CLAIM', `claim "${name}" is reserved`);
      }
    }
    const bad = input.scope.find((s) => !SCOPE_TOKEN.test(s));
    if (bad !== undefined)
      throw new TokenError('ERR_JWT_CLAIM', `scope ${JSON.stringify(bad)} is not a scope token`);
    const { kid, privateKey } = this.#keys.active();
    const iat = this.#now();
    const ttl = input.ttl ?? this.ttl;
    const jti = randomUUID();
    const token = await new SignJWT({
      ...input.claims,
      client_id: input.clientId,
      scope: input.scope.join(' '),
      token_use: TOKEN_USE_ACCESS,
      ...(input.familyId !== undefined ? { sid: input.familyId } : {}),
    })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(input.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttl)
      .setJti(jti)
      .sign(privateKey);
    return { token, jti, kid, issuedAt: iat, expiresAt: iat + ttl, expiresIn: ttl };
  }

  /**
   * Verifies one of our access tokens: header `alg` ES256 only and `typ` at+jwt, a known `kid`,
   * the signature, `iss`, `aud` (the resource URL unless `audience` is given), `exp`/`nbf`/`iat`
   * within the leeway, the required claims and `token_use: "access"`.
   * @throws TokenError with a code for each failure.
   * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
   */
  async verify(token: string, options: { audience?: string } = {}): Promise<VerifiedAccessToken> {
    if (typeof token !== 'string' || token.split('.').length !== 3) {
      throw new TokenError('ERR_JWT_MALFORMED', 'token is not a well-formed JWT');
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError('ERR_JWT_MALFORMED', 'token header is not valid');
    }
    if (header.alg !== ACCESS_TOKEN_ALG)
      throw new TokenError('ERR_JWT_ALG', `"alg" ${JSON.stringify(header.alg)} is not allowed`);
    if (header.typ !== ACCESS_TOKEN_TYP && header.typ !== `application/${ACCESS_TOKEN_TYP}`) {
      throw new TokenError('ERR_JWT_TYP', `"typ" ${JSON.stringify(header.typ)} is not at+jwt`);
    }
    if (typeof header.kid !== 'string' || header.kid === '')
      throw new TokenError('ERR_JWT_KID', 'token has no "kid"');
    const key = await this.#keys.publicKey(header.kid);
    if (!key)
      throw new TokenError('ERR_JWT_KID', `"kid" ${JSON.stringify(header.kid)} is not one of our keys`);
    let payload: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, key, {
        algorithms: [ACCESS_TOKEN_ALG],
        issuer: this.issuer,
        audience: options.audience ?? this.audience,
        clockTolerance: this.leeway,
        currentDate: new Date(this.#now() * 1000),
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
      });
      payload = result.payload as Record<string, unknown>;
    } catch (error) {
      throw mapJoseError(error);
    }
    if (typeof payload['iat'] === 'number' && payload['iat'] > this.#now() + this.leeway) {
      throw new TokenError('ERR_JWT_NOT_YET_VALID', '"iat" claim is in the future');
    }
    if (payload['token_use'] !== TOKEN_USE_ACCESS) {
      throw new TokenError(
        'ERR_JWT_TOKEN_USE',
        `"token_use" ${JSON.stringify(payload['token_use'])} is not "access"`,
      );
    }
    for (const name of ['sub', 'client_id', 'jti'] as const) {
      if (typeof payload[name] !== 'string' || payload[name] === '') {
        throw new TokenError('ERR_JWT_CLAIM', `"${name}" claim must be a non-empty string`);
      }
    }
    const scope = payload['scope'] ?? '';
    if (typeof scope !== 'string') throw new TokenError('ERR_JWT_CLAIM', '"scope" claim must be a string');
    return {
      claims: { ...payload, scope } as AccessTokenClaims,
      scopes: scope === '' ? [] : scope.split(' '),
      kid: header.kid,
    };
  }
}
