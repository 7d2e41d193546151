/**
 * The storage contract of the reference server. Everything is async so that a networked engine
 * (PostgreSQL, Redis) can implement it; the embedded implementations are SQLite (`sqlite.ts`) and
 * memory (`memory.ts`), both held to the same contract tests (`contract.test.ts`).
 *
 * Conventions:
 * - Times are epoch seconds. Each store has a clock (`now`), injectable for tests.
 * - Secrets are never stored in the clear: codes, refresh tokens and client secrets as SHA-256
 *   (`tokens/hash.ts`), upstream tokens sealed with AES-256-GCM (`tokens/seal.ts`; the `Sealed`
 *   type makes a plain string a type error).
 * - `get*` of an expiring record returns `undefined` once it has expired, except codes and refresh
 *   tokens, whose expiry `consumeCode` and `rotateRefreshToken` report as a reason.
 * - The single-use operations (`consumeCode`, `takeTransaction`, `rotateRefreshToken`) are atomic:
 *   under any number of concurrent calls exactly one succeeds.
 * - Constraint violations throw `StoreError` (`ERR_STORE_CONFLICT`, `ERR_STORE_NOT_FOUND`).
 */
import type { Sealed } from '../tokens/seal.ts';

export interface UserRecord {
  id: string;
  email?: string;
  /** A GitHub handle (or another login the operator seeds). */
  login?: string;
  name?: string;
  groups: string[];
  createdAt: number;
}

export interface NewUser {
  /** Generated (`u_...`) when absent. */
  id?: string;
  email?: string;
  login?: string;
  name?: string;
  groups?: string[];
}

/** An upstream account tied to a user by its immutable id (GitHub numeric id, OIDC `sub`, Entra `tid:oid`). */
export interface IdentityLink {
  provider: string;
  subject: string;
  userId: string;
  /** The email and login seen at the last sign-in (informational; never used for lookup). */
  email?: string;
  login?: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface NewIdentityLink {
  provider: string;
  subject: string;
  userId: string;
  email?: string;
  login?: string;
}

export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

/** A dynamically registered client (RFC 7591). */
export interface ClientRecord {
  clientId: string;
  /** SHA-256 of the secret; absent for public clients. */
  clientSecretHash?: string;
  clientName?: string;
  redirectUris: string[];
  grantTypes: string[];
  responseTypes: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  scope?: string;
  /** Other registered metadata (client_uri, logo_uri, software_id...), returned as registered. */
  metadata: Record<string, unknown>;
  createdAt: number;
  /** Absent: never expires. */
  expiresAt?: number;
}

/** A pending authorization, from /authorize through consent and the upstream leg to the callback. */
export interface TransactionRecord {
  id: string;
  clientId: string;
  redirectUri: string;
  /** Whether the client sent redirect_uri at /authorize (then /token must repeat it; RFC 6749 4.1.3). */
  redirectUriProvided: boolean;
  state?: string;
  codeChallenge: string;
  codeChallengeMethod: 'S256';
  scope: string[];
  resource?: string;
  /** The state we sent upstream (unguessable, our own; security edge 19). */
  upstreamState?: string;
  /** Our PKCE verifier toward the upstream. */
  upstreamVerifier?: string;
  upstreamNonce?: string;
  /** Hash of the browser-binding cookie set with consent (security edge 2). */
  browserBinding?: string;
  consentedAt?: number;
  extra: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

export type TransactionPatch = Partial<
  Pick<
    TransactionRecord,
    'upstreamState' | 'upstreamVerifier' | 'upstreamNonce' | 'browserBinding' | 'consentedAt' | 'extra'
  >
>;

/** A client approved by a user (or by a browser-scoped principal the HTTP layer chooses). */
export interface ConsentRecord {
  userId: string;
  clientId: string;
  scope: string[];
  grantedAt: number;
  expiresAt?: number;
}

/** One authorization grant: every refresh token, and the access tokens (`sid` claim), descend from it. */
export interface GrantFamily {
  id: string;
  clientId: string;
  userId: string;
  scope: string[];
  resource?: string;
  createdAt: number;
  revokedAt?: number;
  revokedReason?: string;
}

export interface CodeRecord {
  /** SHA-256 of the code. */
  codeHash: string;
  familyId: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  redirectUriProvided: boolean;
  scope: string[];
  resource?: string;
  codeChallenge: string;
  codeChallengeMethod: 'S256';
  /** Claims to carry into the access token (passthrough, already filtered). */
  claims: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  consumedAt?: number;
}

export type NewCode = Omit<CodeRecord, 'consumedAt'>;

/**
 * A check run inside the atomic consume: return a reason to refuse without consuming
 * (wrong client, wrong redirect_uri, bad PKCE verifier, wrong resource), or undefined to proceed.
 */
export type CodeCheck = (code: CodeRecord) => string | undefined;

export type ConsumeCodeResult =
  | { ok: true; code: CodeRecord }
  | { ok: false; reason: 'unknown' }
  /** Already redeemed: the caller revokes `code.familyId` (RFC 6749 4.1.2). */
  | { ok: false; reason: 'used'; code: CodeRecord }
  | { ok: false; reason: 'expired'; code: CodeRecord }
  /** The check refused it; the code is still redeemable. */
  | { ok: false; reason: 'rejected'; rejection: string; code: CodeRecord };

export interface RefreshTokenRecord {
  /** SHA-256 of the token. */
  tokenHash: string;
  familyId: string;
  clientId: string;
  userId: string;
  scope: string[];
  resource?: string;
  createdAt: number;
  expiresAt: number;
  rotatedAt?: number;
  /** Hash of the token that replaced this one. */
  replacedBy?: string;
  revokedAt?: number;
}

export type NewRefreshToken = Omit<RefreshTokenRecord, 'rotatedAt' | 'replacedBy' | 'revokedAt'>;

export interface RotateOptions {
  /** The authenticated client at /token; another client's token is refused without effect. */
  clientId: string;
  /** Replays within this many seconds of the rotation fail as `superseded` without revoking the family. */
  graceSeconds?: number;
}

export type RotateResult =
  | { ok: true; previous: RefreshTokenRecord; current: RefreshTokenRecord; family: GrantFamily }
  | { ok: false; reason: 'unknown' }
  | {
      ok: false;
      reason: 'expired' | 'revoked' | 'client_mismatch' | 'superseded';
      record: RefreshTokenRecord;
    }
  /** A rotated token was replayed: the whole family is now revoked (RFC 9700 4.14.2). */
  | { ok: false; reason: 'reused'; record: RefreshTokenRecord };

export interface SigningKeyRecord {
  kid: string;
  alg: 'ES256';
  publicJwk: Record<string, unknown>;
  /** The private JWK as JSON, sealed when the server has a secret. */
  privateKey: string;
  createdAt: number;
  /** Retired keys no longer sign but stay published until deleted. */
  retiredAt?: number;
}

export interface UpstreamTokenRecord {
  id: string;
  familyId?: string;
  userId: string;
  provider: string;
  /** The upstream token response, sealed (context: the record id). */
  sealed: Sealed;
  createdAt: number;
  expiresAt?: number;
}

export interface ExpiredCounts {
  clients: number;
  transactions: number;
  consents: number;
  codes: number;
  refreshTokens: number;
  upstreamTokens: number;
}

export interface Store {
  readonly kind: 'memory' | 'sqlite' | (string & {});
  /** The store's clock, epoch seconds. */
  now(): number;

  // Users and identity links
  createUser(user: NewUser): Promise<UserRecord>;
  getUser(id: string): Promise<UserRecord | undefined>;
  /** Case-insensitive, nothing else folded (RFC 5321 2.4 leaves case to the host; we ignore it, security edge 33). */
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  findUserByLogin(login: string): Promise<UserRecord | undefined>;
  /** In creation order. */
  listUsers(): Promise<UserRecord[]>;
  /** Creates the link, or refreshes it when it already points at the same user. */
  linkIdentity(link: NewIdentityLink): Promise<IdentityLink>;
  findLink(provider: string, subject: string): Promise<IdentityLink | undefined>;
  listLinks(userId: string): Promise<IdentityLink[]>;

  // Clients
  putClient(client: ClientRecord): Promise<void>;
  getClient(clientId: string): Promise<ClientRecord | undefined>;
  deleteClient(clientId: string): Promise<boolean>;
  countClients(): Promise<number>;

  // Authorization transactions
  putTransaction(txn: TransactionRecord): Promise<void>;
  getTransaction(id: string): Promise<TransactionRecord | undefined>;
  getTransactionByUpstreamState(state: string): Promise<TransactionRecord | undefined>;
  updateTransaction(id: string, patch: TransactionPatch): Promise<TransactionRecord | undefined>;
  /** Removes and returns the transaction; exactly one concurrent caller gets it. */
  takeTransaction(id: string): Promise<TransactionRecord | undefined>;

  // Consents
  putConsent(consent: ConsentRecord): Promise<void>;
  getConsent(userId: string, clientId: string): Promise<ConsentRecord | undefined>;
  deleteConsent(userId: string, clientId: string): Promise<boolean>;

  // Grant families
  createFamily(family: Omit<GrantFamily, 'revokedAt' | 'revokedReason'>): Promise<void>;
  getFamily(id: string): Promise<GrantFamily | undefined>;
  /** Revokes the family, its refresh tokens and its upstream tokens; false when already revoked or unknown. */
  revokeFamily(id: string, reason: string): Promise<boolean>;

  // Authorization codes
  putCode(code: NewCode): Promise<void>;
  /** Atomic single use (RFC 6749 4.1.2): exactly one concurrent caller gets `ok: true`. */
  consumeCode(codeHash: string, check?: CodeCheck): Promise<ConsumeCodeResult>;

  // Refresh tokens
  putRefreshToken(token: NewRefreshToken): Promise<void>;
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /** Atomic rotation (RFC 9700 4.14.2): exactly one concurrent caller gets `ok: true`. */
  rotateRefreshToken(
    oldHash: string,
    next: { tokenHash: string; expiresAt: number; scope?: string[] },
    options: RotateOptions,
  ): Promise<RotateResult>;

  // Signing keys
  putSigningKey(key: SigningKeyRecord): Promise<void>;
  /** Oldest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  retireSigningKey(kid: string, at?: number): Promise<boolean>;
  deleteSigningKey(kid: string): Promise<boolean>;

  // Upstream tokens
  putUpstreamTokens(record: UpstreamTokenRecord): Promise<void>;
  getUpstreamTokens(id: string): Promise<UpstreamTokenRecord | undefined>;
  getUpstreamTokensForFamily(familyId: string): Promise<UpstreamTokenRecord | undefined>;
  deleteUpstreamTokens(id: string): Promise<boolean>;

  /** Removes expired records (and consumed codes past their expiry). */
  deleteExpired(): Promise<ExpiredCounts>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Clock override, epoch seconds. */
  now?: () => number;
}

export const systemClock = (): number => Math.floor(Date.now() / 1000);

/** A fresh user id. */
export function newUserId(): string {
  return `u_${crypto.randomUUID().replaceAll('-', '')}`;
}

/** The lookup key of an email or login: lower case, nothing else folded (security edge 33). */
export function foldCase(value: string): string {
  return value.toLowerCase();
}

/**
 * The refresh token that replaces `old` on rotation: same family, client, user and resource; the
 * scope asked for (a narrowing, checked by the caller), else the old one.
 */
export function successorRefreshToken(
  old: RefreshTokenRecord,
  next: Parameters<Store['rotateRefreshToken']>[1],
  now: number,
): RefreshTokenRecord {
  return {
    tokenHash: next.tokenHash,
    familyId: old.familyId,
    clientId: old.clientId,
    userId: old.userId,
    scope: [...(next.scope ?? old.scope)],
    ...(old.resource !== undefined ? { resource: old.resource } : {}),
    createdAt: now,
    expiresAt: next.expiresAt,
  };
}
