/**
 * The in-memory store: for tests and the `in-memory` backend. Every operation completes without
 * awaiting, so the single-use operations are atomic on Node's one thread. Records are copied on
 * the way in and out, as a database would, so callers never share state with the store.
 */
import { StoreError } from '../errors.ts';
import {
  type ClientRecord,
  type CodeCheck,
  type CodeRecord,
  type ConsentRecord,
  type ConsumeCodeResult,
  type ExpiredCounts,
  foldCase,
  type GrantFamily,
  type IdentityLink,
  type NewCode,
  type NewIdentityLink,
  type NewRefreshToken,
  type NewUser,
  newUserId,
  type RefreshTokenRecord,
  type RotateOptions,
  type RotateResult,
  type SigningKeyRecord,
  type Store,
  type StoreOptions,
  successorRefreshToken,
  systemClock,
  type TransactionPatch,
  type TransactionRecord,
  type UpstreamTokenRecord,
  type UserRecord,
} from './types.ts';

const copy = <T>(value: T): T => structuredClone(value);

const live = (expiresAt: number | undefined, now: number): boolean =>
  expiresAt === undefined || expiresAt > now;

export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly now: () => number;
  #closed = false;
  #users = new Map<string, UserRecord>();
  #links = new Map<string, IdentityLink>();
  #clients = new Map<string, ClientRecord>();
  #txns = new Map<string, TransactionRecord>();
  #consents = new Map<string, ConsentRecord>();
  #families = new Map<string, GrantFamily>();
  #codes = new Map<string, CodeRecord>();
  #refresh = new Map<string, RefreshTokenRecord>();
  #keys = new Map<string, SigningKeyRecord>();
  #upstream = new Map<string, UpstreamTokenRecord>();

  constructor(options: StoreOptions = {}) {
    this.now = options.now ?? systemClock;
  }

  #open(): void {
    if (this.#closed) throw new StoreError('ERR_STORE_CLOSED', 'store is closed');
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    this.#open();
    const id = user.id ?? newUserId();
    if (this.#users.has(id)) throw new StoreError('ERR_STORE_CONFLICT', `user "${id}" already exists`);
    for (const u of this.#users.values()) {
      if (user.email !== undefined && u.email !== undefined && foldCase(u.email) === foldCase(user.email)) {
        throw new StoreError('ERR_STORE_CONFLICT', `email "${user.email}" belongs to user "${u.id}"`);
      }
      if (user.login !== undefined && u.login !== undefined && foldCase(u.login) === foldCase(user.login)) {
        throw new StoreError('ERR_STORE_CONFLICT', `login "${user.login}" belongs to user "${u.id}"`);
      }
    }
    const record: UserRecord = {
      id,
      ...(user.email !== undefined ? { email: user.email } : {}),
      ...(user.login !== undefined ? { login: user.login } : {}),
      ...(user.name !== undefined ? { name: user.name } : {}),
      groups: [...(user.groups ?? [])],
      createdAt: this.now(),
    };
    this.#users.set(id, record);
    return copy(record);
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    this.#open();
    const u = this.#users.get(id);
    return u && copy(u);
  }

  async findUserByEmail(email: string): Promise<UserRecord | undefined> {
    this.#open();
    const key = foldCase(email);
    for (const u of this.#users.values())
      if (u.email !== undefined && foldCase(u.email) === key) return copy(u);
    return undefined;
  }

  async findUserByLogin(login: string): Promise<UserRecord | undefined> {
    this.#open();
    const key = foldCase(login);
    for (const u of this.#users.values())
      if (u.login !== undefined && foldCase(u.login) === key) return copy(u);
    return undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    this.#open();
    return [...this.#users.values()].map(copy);
  }

  async linkIdentity(link: NewIdentityLink): Promise<IdentityLink> {
    this.#open();
    if (!this.#users.has(link.userId))
      throw new StoreError('ERR_STORE_NOT_FOUND', `user "${link.userId}" does not exist`);
    const key = JSON.stringify([link.provider, link.subject]);
    const existing = this.#links.get(key);
    if (existing && existing.userId !== link.userId) {
      throw new StoreError(
        'ERR_STORE_CONFLICT',
        `identity ${link.provider}:${link.subject} is linked to user "${existing.userId}"`,
      );
    }
    const now = this.now();
    const record: IdentityLink = {
      provider: link.provider,
      subject: link.subject,
      userId: link.userId,
      ...(link.email !== undefined ? { email: link.email } : {}),
      ...(link.login !== undefined ? { login: link.login } : {}),
      createdAt: existing?.createdAt ?? now,
      lastSeenAt: now,
    };
    this.#links.set(key, record);
    return copy(record);
  }

  async findLink(provider: string, subject: string): Promise<IdentityLink | undefined> {
    this.#open();
    const l = this.#links.get(JSON.stringify([provider, subject]));
    return l && copy(l);
  }

  async listLinks(userId: string): Promise<IdentityLink[]> {
    this.#open();
    return [...this.#links.values()].filter((l) => l.userId === userId).map(copy);
  }

  async putClient(client: ClientRecord): Promise<void> {
    this.#open();
    if (this.#clients.has(client.clientId)) {
      throw new StoreError('ERR_STORE_CONFLICT', `client "${client.clientId}" already exists`);
    }
    this.#clients.set(client.clientId, copy(client));
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    this.#open();
    const c = this.#clients.get(clientId);
    return c && live(c.expiresAt, this.now()) ? copy(c) : undefined;
  }

  async deleteClient(clientId: string): Promise<boolean> {
    this.#open();
    return this.#clients.delete(clientId);
  }

  async countClients(): Promise<number> {
    this.#open();
    const now = this.now();
    return [...this.#clients.values()].filter((c) => live(c.expiresAt, now)).length;
  }

  async putTransaction(txn: TransactionRecord): Promise<void> {
    this.#open();
    if (this.#txns.has(txn.id))
      throw new StoreError('ERR_STORE_CONFLICT', `transaction "${txn.id}" already exists`);
    this.#txns.set(txn.id, copy(txn));
  }

  async getTransaction(id: string): Promise<TransactionRecord | undefined> {
    this.#open();
    const t = this.#txns.get(id);
    return t && live(t.expiresAt, this.now()) ? copy(t) : undefined;
  }

  async getTransactionByUpstreamState(state: string): Promise<TransactionRecord | undefined> {
    this.#open();
    const now = this.now();
    for (const t of this.#txns.values()) {
      if (t.upstreamState !== undefined && t.upstreamState === state && live(t.expiresAt, now))
        return copy(t);
    }
    return undefined;
  }

  async updateTransaction(id: string, patch: TransactionPatch): Promise<TransactionRecord | undefined> {
    this.#open();
    const t = this.#txns.get(id);
    if (!t || !live(t.expiresAt, this.now())) return undefined;
    const next = { ...t, ...copy(patch) };
    this.#txns.set(id, next);
    return copy(next);
  }

  async takeTransaction(id: string): Promise<TransactionRecord | undefined> {
    this.#open();
    const t = this.#txns.get(id);
    if (!t) return undefined;
    this.#txns.delete(id);
    return live(t.expiresAt, this.now()) ? t : undefined;
  }

  async putConsent(consent: ConsentRecord): Promise<void> {
    this.#open();
    this.#consents.set(JSON.stringify([consent.userId, consent.clientId]), copy(consent));
  }

  async getConsent(userId: string, clientId: string): Promise<ConsentRecord | undefined> {
    this.#open();
    const c = this.#consents.get(JSON.stringify([userId, clientId]));
    return c && live(c.expiresAt, this.now()) ? copy(c) : undefined;
  }

  async deleteConsent(userId: string, clientId: string): Promise<boolean> {
    this.#open();
    return this.#consents.delete(JSON.stringify([userId, clientId]));
  }

  async createFamily(family: Omit<GrantFamily, 'revokedAt' | 'revokedReason'>): Promise<void> {
    this.#open();
    if (this.#families.has(family.id))
      throw new StoreError('ERR_STORE_CONFLICT', `family "${family.id}" already exists`);
    this.#families.set(family.id, copy(family));
  }

  async getFamily(id: string): Promise<GrantFamily | undefined> {
    this.#open();
    const f = this.#families.get(id);
    return f && copy(f);
  }

  #revokeFamily(id: string, reason: string): boolean {
    const f = this.#families.get(id);
    if (!f || f.revokedAt !== undefined) return false;
    const now = this.now();
    f.revokedAt = now;
    f.revokedReason = reason;
    for (const t of this.#refresh.values())
      if (t.familyId === id && t.revokedAt === undefined) t.revokedAt = now;
    for (const [key, u] of this.#upstream) if (u.familyId === id) this.#upstream.delete(key);
    return true;
  }

  async revokeFamily(id: string, reason: string): Promise<boolean> {
    this.#open();
    return this.#revokeFamily(id, reason);
  }

  async putCode(code: NewCode): Promise<void> {
    this.#open();
    if (this.#codes.has(code.codeHash)) throw new StoreError('ERR_STORE_CONFLICT', 'code already exists');
    if (!this.#families.has(code.familyId)) {
      throw new StoreError('ERR_STORE_NOT_FOUND', `family "${code.familyId}" does not exist`);
    }
    this.#codes.set(code.codeHash, copy(code));
  }

  async consumeCode(codeHash: string, check?: CodeCheck): Promise<ConsumeCodeResult> {
    this.#open();
    const code = this.#codes.get(codeHash);
    if (!code) return { ok: false, reason: 'unknown' };
    if (code.consumedAt !== undefined) return { ok: false, reason: 'used', code: copy(code) };
    if (!live(code.expiresAt, this.now())) return { ok: false, reason: 'expired', code: copy(code) };
    const rejection = check?.(copy(code));
    if (rejection !== undefined) return { ok: false, reason: 'rejected', rejection, code: copy(code) };
    code.consumedAt = this.now();
    return { ok: true, code: copy(code) };
  }

  async putRefreshToken(token: NewRefreshToken): Promise<void> {
    this.#open();
    if (this.#refresh.has(token.tokenHash))
      throw new StoreError('ERR_STORE_CONFLICT', 'refresh token already exists');
    if (!this.#families.has(token.familyId)) {
      throw new StoreError('ERR_STORE_NOT_FOUND', `family "${token.familyId}" does not exist`);
    }
    this.#refresh.set(token.tokenHash, copy(token));
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    this.#open();
    const t = this.#refresh.get(tokenHash);
    return t && copy(t);
  }

  async rotateRefreshToken(
    oldHash: string,
    next: { tokenHash: string; expiresAt: number; scope?: string[] },
    options: RotateOptions,
  ): Promise<RotateResult> {
    this.#open();
    const old = this.#refresh.get(oldHash);
    if (!old) return { ok: false, reason: 'unknown' };
    const family = this.#families.get(old.familyId);
    const now = this.now();
    if (old.clientId !== options.clientId) return { ok: false, reason: 'client_mismatch', record: copy(old) };
    if (!family || family.revokedAt !== undefined || old.revokedAt !== undefined) {
      return { ok: false, reason: 'revoked', record: copy(old) };
    }
    if (old.rotatedAt !== undefined) {
      if (options.graceSeconds && now - old.rotatedAt <= options.graceSeconds) {
        return { ok: false, reason: 'superseded', record: copy(old) };
      }
      this.#revokeFamily(old.familyId, 'refresh_token_reuse');
      return { ok: false, reason: 'reused', record: copy(this.#refresh.get(oldHash)!) };
    }
    if (!live(old.expiresAt, now)) return { ok: false, reason: 'expired', record: copy(old) };
    if (this.#refresh.has(next.tokenHash))
      throw new StoreError('ERR_STORE_CONFLICT', 'refresh token already exists');
    const current = successorRefreshToken(old, next, now);
    old.rotatedAt = now;
    old.replacedBy = next.tokenHash;
    this.#refresh.set(next.tokenHash, current);
    return { ok: true, previous: copy(old), current: copy(current), family: copy(family) };
  }

  async putSigningKey(key: SigningKeyRecord): Promise<void> {
    this.#open();
    if (this.#keys.has(key.kid))
      throw new StoreError('ERR_STORE_CONFLICT', `signing key "${key.kid}" already exists`);
    this.#keys.set(key.kid, copy(key));
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    this.#open();
    return [...this.#keys.values()].sort((a, b) => a.createdAt - b.createdAt).map(copy);
  }

  async retireSigningKey(kid: string, at?: number): Promise<boolean> {
    this.#open();
    const k = this.#keys.get(kid);
    if (!k || k.retiredAt !== undefined) return false;
    k.retiredAt = at ?? this.now();
    return true;
  }

  async deleteSigningKey(kid: string): Promise<boolean> {
    this.#open();
    return this.#keys.delete(kid);
  }

  async putUpstreamTokens(record: UpstreamTokenRecord): Promise<void> {
    this.#open();
    this.#upstream.set(record.id, copy(record));
  }

  async getUpstreamTokens(id: string): Promise<UpstreamTokenRecord | undefined> {
    this.#open();
    const u = this.#upstream.get(id);
    return u && live(u.expiresAt, this.now()) ? copy(u) : undefined;
  }

  async getUpstreamTokensForFamily(familyId: string): Promise<UpstreamTokenRecord | undefined> {
    this.#open();
    const now = this.now();
    let found: UpstreamTokenRecord | undefined;
    for (const u of this.#upstream.values()) {
      if (u.familyId === familyId && live(u.expiresAt, now) && (!found || u.createdAt >= found.createdAt))
        found = u;
    }
    return found && copy(found);
  }

  async deleteUpstreamTokens(id: string): Promise<boolean> {
    this.#open();
    return this.#upstream.delete(id);
  }

  async deleteExpired(): Promise<ExpiredCounts> {
    this.#open();
    const now = this.now();
    const sweep = <T>(map: Map<string, T>, expired: (v: T) => boolean): number => {
      let n = 0;
      for (const [k, v] of map) {
        if (expired(v)) {
          map.delete(k);
          n++;
        }
      }
      return n;
    };
    return {
      clients: sweep(this.#clients, (c) => !live(c.expiresAt, now)),
      transactions: sweep(this.#txns, (t) => !live(t.expiresAt, now)),
      consents: sweep(this.#consents, (c) => !live(c.expiresAt, now)),
      codes: sweep(this.#codes, (c) => !live(c.expiresAt, now)),
      refreshTokens: sweep(this.#refresh, (t) => !live(t.expiresAt, now)),
      upstreamTokens: sweep(this.#upstream, (u) => !live(u.expiresAt, now)),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

export function createMemoryStore(options: StoreOptions = {}): MemoryStore {
  return new MemoryStore(options);
}
