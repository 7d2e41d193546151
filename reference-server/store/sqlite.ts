/**
 * The SQLite store: one file under `server.data_dir`, through `node:sqlite` (built into Node 22;
 * no native build, no flag since 22.13; it prints an ExperimentalWarning once).
 *
 * - WAL journal (readers never block the writer), `synchronous=NORMAL`, foreign keys on, a busy
 *   timeout so several processes can share the file.
 * - Schema versions in `schema_migrations`; each migration runs once, in a transaction.
 * - Single-use operations run inside `BEGIN IMMEDIATE` (the write lock is taken before the read), and
 *   the consume itself is a conditional UPDATE, so they stay exactly-once across connections.
 * @see https://nodejs.org/docs/latest-v22.x/api/sqlite.html
 * @see https://www.sqlite.org/wal.html
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { StoreError } from '../errors.ts';
import type { Sealed } from '../tokens/seal.ts';
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

export const SQLITE_FILE_NAME = 'reference-server.sqlite';

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Append only: never edit a released migration. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE users (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        email TEXT,
        email_key TEXT UNIQUE,
        login TEXT,
        login_key TEXT UNIQUE,
        name TEXT,
        groups TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE identity_links (
        provider TEXT NOT NULL,
        subject TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        email TEXT,
        login TEXT,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        PRIMARY KEY (provider, subject)
      );
      CREATE INDEX identity_links_user ON identity_links(user_id);
      CREATE TABLE clients (
        client_id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        expires_at INTEGER
      );
      CREATE TABLE transactions (
        id TEXT PRIMARY KEY,
        upstream_state TEXT UNIQUE,
        data TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE consents (
        user_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        data TEXT NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (user_id, client_id)
      );
      CREATE TABLE families (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        revoked_at INTEGER,
        revoked_reason TEXT
      );
      CREATE TABLE codes (
        code_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES families(id),
        data TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        consumed_at INTEGER
      );
      CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL REFERENCES families(id),
        data TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        rotated_at INTEGER,
        replaced_by TEXT,
        revoked_at INTEGER
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
      CREATE TABLE signing_keys (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kid TEXT NOT NULL UNIQUE,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER
      );
      CREATE TABLE upstream_tokens (
        id TEXT PRIMARY KEY,
        family_id TEXT,
        user_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        sealed TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER
      );
      CREATE INDEX upstream_tokens_family ON upstream_tokens(family_id);
    `,
  },
];

export interface SqliteStoreOptions extends StoreOptions {
  /** The database file; or give `dataDir` to use `<dataDir>/reference-server.sqlite`. */
  path?: string;
  dataDir?: string;
  /** Busy timeout in milliseconds (default 5000). */
  busyTimeout?: number;
}

type Row = Record<string, unknown>;

const json = (value: unknown): string => JSON.stringify(value);
const parsed = <T>(text: unknown): T => JSON.parse(text as string) as T;
const optional = <K extends string>(key: K, value: unknown): Partial<Record<K, unknown>> =>
  value === null || value === undefined ? {} : ({ [key]: value } as Record<K, unknown>);

/** Rows changed by a statement (a number unless readBigInts is on, which this store never sets). */
const count = (result: { changes: number | bigint }): number => Number(result.changes);

function sqliteCode(error: unknown): number | undefined {
  const e = error as { errcode?: unknown };
  return typeof e?.errcode === 'number' ? e.errcode : undefined;
}

/** SQLITE_CONSTRAINT and its extended codes (UNIQUE 2067, PRIMARYKEY 1555, FOREIGNKEY 787). */
function isConstraint(error: unknown): boolean {
  const code = sqliteCode(error);
  return code !== undefined && (code & 0xff) === 19;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly now: () => number;
  readonly path: string;
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions) {
    const path =
      options.path ?? (options.dataDir !== undefined ? join(options.dataDir, SQLITE_FILE_NAME) : undefined);
    if (path === undefined) throw new TypeError('SqliteStore needs "path" or "dataDir"');
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.now = options.now ?? systemClock;
    this.#db = new DatabaseSync(path, {
      timeout: options.busyTimeout ?? 5000,
      enableForeignKeyConstraints: true,
    });
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.#migrate();
  }

  /** The schema version in the file. */
  schemaVersion(): number {
    const row = this.#q('SELECT MAX(version) AS v FROM schema_migrations').get() as Row;
    return (row['v'] as number | null) ?? 0;
  }

  #migrate(): void {
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const current = this.schemaVersion();
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (current > latest) {
      this.#db.close();
      throw new StoreError(
        'ERR_STORE_SCHEMA',
        `database schema ${current} is newer than this server's (${latest})`,
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.#tx(() => {
        this.#db.exec(m.sql);
        this.#q('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          m.version,
          m.name,
          this.now(),
        );
      });
    }
  }

  #q(sql: string): StatementSync {
    if (!this.#db.isOpen) throw new StoreError('ERR_STORE_CLOSED', 'store is closed');
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #tx<T>(fn: () => T): T {
    if (!this.#db.isOpen) throw new StoreError('ERR_STORE_CLOSED', 'store is closed');
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  #insert(sql: string, params: (string | number | null)[], conflict: string): void {
    try {
      this.#q(sql).run(...params);
    } catch (error) {
      if (isConstraint(error)) throw new StoreError('ERR_STORE_CONFLICT', conflict);
      throw error;
    }
  }

  // Users and links ---------------------------------------------------------------------------

  #user(row: Row | undefined): UserRecord | undefined {
    if (!row) return undefined;
    return {
      id: row['id'] as string,
      ...(optional('email', row['email']) as { email?: string }),
      ...(optional('login', row['login']) as { login?: string }),
      ...(optional('name', row['name']) as { name?: string }),
      groups: parsed<string[]>(row['groups']),
      createdAt: row['created_at'] as number,
    };
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    const id = user.id ?? newUserId();
    return this.#tx(() => {
      if (this.#q('SELECT 1 FROM users WHERE id = ?').get(id)) {
        throw new StoreError('ERR_STORE_CONFLICT', `user "${id}" already exists`);
      }
      if (user.email !== undefined) {
        const other = this.#q('SELECT id FROM users WHERE email_key = ?').get(foldCase(user.email)) as
          | Row
          | undefined;
        if (other)
          throw new StoreError(
            'ERR_STORE_CONFLICT',
            `email "${user.email}" belongs to user "${other['id']}"`,
          );
      }
      if (user.login !== undefined) {
        const other = this.#q('SELECT id FROM users WHERE login_key = ?').get(foldCase(user.login)) as
          | Row
          | undefined;
        if (other)
          throw new StoreError(
            'ERR_STORE_CONFLICT',
            `login "${user.login}" belongs to user "${other['id']}"`,
          );
      }
      this.#q(
        'INSERT INTO users (id, email, email_key, login, login_key, name, groups, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        id,
        user.email ?? null,
        user.email !== undefined ? foldCase(user.email) : null,
        user.login ?? null,
        user.login !== undefined ? foldCase(user.login) : null,
        user.name ?? null,
        json(user.groups ?? []),
        this.now(),
      );
      return this.#user(this.#q('SELECT * FROM users WHERE id = ?').get(id) as Row)!;
    });
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    return this.#user(this.#q('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined);
  }

  async findUserByEmail(email: string): Promise<UserRecord | undefined> {
    return this.#user(
      this.#q('SELECT * FROM users WHERE email_key = ?').get(foldCase(email)) as Row | undefined,
    );
  }

  async findUserByLogin(login: string): Promise<UserRecord | undefined> {
    return this.#user(
      this.#q('SELECT * FROM users WHERE login_key = ?').get(foldCase(login)) as Row | undefined,
    );
  }

  async listUsers(): Promise<UserRecord[]> {
    return (this.#q('SELECT * FROM users ORDER BY seq').all() as Row[]).map((r) => this.#user(r)!);
  }

  #link(row: Row | undefined): IdentityLink | undefined {
    if (!row) return undefined;
    return {
      provider: row['provider'] as string,
      subject: row['subject'] as string,
      userId: row['user_id'] as string,
      ...(optional('email', row['email']) as { email?: string }),
      ...(optional('login', row['login']) as { login?: string }),
      createdAt: row['created_at'] as number,
      lastSeenAt: row['last_seen_at'] as number,
    };
  }

  async linkIdentity(link: NewIdentityLink): Promise<IdentityLink> {
    return this.#tx(() => {
      if (!this.#q('SELECT 1 FROM users WHERE id = ?').get(link.userId)) {
        throw new StoreError('ERR_STORE_NOT_FOUND', `user "${link.userId}" does not exist`);
      }
      const existing = this.#link(
        this.#q('SELECT * FROM identity_links WHERE provider = ? AND subject = ?').get(
          link.provider,
          link.subject,
        ) as Row | undefined,
      );
      if (existing && existing.userId !== link.userId) {
        throw new StoreError(
          'ERR_STORE_CONFLICT',
          `identity ${link.provider}:${link.subject} is linked to user "${existing.userId}"`,
        );
      }
      const now = this.now();
      this.#q(
        `INSERT INTO identity_links (provider, subject, user_id, email, login, created_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (provider, subject) DO UPDATE SET email = excluded.email, login = excluded.login,
           last_seen_at = excluded.last_seen_at`,
      ).run(link.provider, link.subject, link.userId, link.email ?? null, link.login ?? null, now, now);
      return this.#link(
        this.#q('SELECT * FROM identity_links WHERE provider = ? AND subject = ?').get(
          link.provider,
          link.subject,
        ) as Row,
      )!;
    });
  }

  async findLink(provider: string, subject: string): Promise<IdentityLink | undefined> {
    return this.#link(
      this.#q('SELECT * FROM identity_links WHERE provider = ? AND subject = ?').get(provider, subject) as
        | Row
        | undefined,
    );
  }

  async listLinks(userId: string): Promise<IdentityLink[]> {
    return (
      this.#q('SELECT * FROM identity_links WHERE user_id = ? ORDER BY created_at, rowid').all(
        userId,
      ) as Row[]
    ).map((r) => this.#link(r)!);
  }

  // Clients -----------------------------------------------------------------------------------

  async putClient(client: ClientRecord): Promise<void> {
    this.#insert(
      'INSERT INTO clients (client_id, data, expires_at) VALUES (?, ?, ?)',
      [client.clientId, json(client), client.expiresAt ?? null],
      `client "${client.clientId}" already exists`,
    );
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const row = this.#q(
      'SELECT data FROM clients WHERE client_id = ? AND (expires_at IS NULL OR expires_at > ?)',
    ).get(clientId, this.now()) as Row | undefined;
    return row && parsed<ClientRecord>(row['data']);
  }

  async deleteClient(clientId: string): Promise<boolean> {
    return count(this.#q('DELETE FROM clients WHERE client_id = ?').run(clientId)) > 0;
  }

  async countClients(): Promise<number> {
    const row = this.#q('SELECT COUNT(*) AS n FROM clients WHERE expires_at IS NULL OR expires_at > ?').get(
      this.now(),
    ) as Row;
    return row['n'] as number;
  }

  // Transactions ------------------------------------------------------------------------------

  async putTransaction(txn: TransactionRecord): Promise<void> {
    this.#insert(
      'INSERT INTO transactions (id, upstream_state, data, expires_at) VALUES (?, ?, ?, ?)',
      [txn.id, txn.upstreamState ?? null, json(txn), txn.expiresAt],
      `transaction "${txn.id}" already exists`,
    );
  }

  async getTransaction(id: string): Promise<TransactionRecord | undefined> {
    const row = this.#q('SELECT data FROM transactions WHERE id = ? AND expires_at > ?').get(
      id,
      this.now(),
    ) as Row | undefined;
    return row && parsed<TransactionRecord>(row['data']);
  }

  async getTransactionByUpstreamState(state: string): Promise<TransactionRecord | undefined> {
    const row = this.#q('SELECT data FROM transactions WHERE upstream_state = ? AND expires_at > ?').get(
      state,
      this.now(),
    ) as Row | undefined;
    return row && parsed<TransactionRecord>(row['data']);
  }

  async updateTransaction(id: string, patch: TransactionPatch): Promise<TransactionRecord | undefined> {
    return this.#tx(() => {
      const row = this.#q('SELECT data FROM transactions WHERE id = ? AND expires_at > ?').get(
        id,
        this.now(),
      ) as Row | undefined;
      if (!row) return undefined;
      const next: TransactionRecord = { ...parsed<TransactionRecord>(row['data']), ...patch };
      try {
        this.#q('UPDATE transactions SET upstream_state = ?, data = ? WHERE id = ?').run(
          next.upstreamState ?? null,
          json(next),
          id,
        );
      } catch (error) {
        if (isConstraint(error))
          throw new StoreError('ERR_STORE_CONFLICT', 'upstream state is already in use');
        throw error;
      }
      return next;
    });
  }

  async takeTransaction(id: string): Promise<TransactionRecord | undefined> {
    return this.#tx(() => {
      const row = this.#q('SELECT data, expires_at FROM transactions WHERE id = ?').get(id) as
        | Row
        | undefined;
      if (!row) return undefined;
      if (count(this.#q('DELETE FROM transactions WHERE id = ?').run(id)) !== 1) return undefined;
      return (row['expires_at'] as number) > this.now() ? parsed<TransactionRecord>(row['data']) : undefined;
    });
  }

  // Consents ----------------------------------------------------------------------------------

  async putConsent(consent: ConsentRecord): Promise<void> {
    this.#q(
      `INSERT INTO consents (user_id, client_id, data, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, client_id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
    ).run(consent.userId, consent.clientId, json(consent), consent.expiresAt ?? null);
  }

  async getConsent(userId: string, clientId: string): Promise<ConsentRecord | undefined> {
    const row = this.#q(
      'SELECT data FROM consents WHERE user_id = ? AND client_id = ? AND (expires_at IS NULL OR expires_at > ?)',
    ).get(userId, clientId, this.now()) as Row | undefined;
    return row && parsed<ConsentRecord>(row['data']);
  }

  async deleteConsent(userId: string, clientId: string): Promise<boolean> {
    return (
      count(this.#q('DELETE FROM consents WHERE user_id = ? AND client_id = ?').run(userId, clientId)) > 0
    );
  }

  // Families ----------------------------------------------------------------------------------

  #family(row: Row | undefined): GrantFamily | undefined {
    if (!row) return undefined;
    return {
      ...parsed<GrantFamily>(row['data']),
      ...(optional('revokedAt', row['revoked_at']) as { revokedAt?: number }),
      ...(optional('revokedReason', row['revoked_reason']) as { revokedReason?: string }),
    };
  }

  async createFamily(family: Omit<GrantFamily, 'revokedAt' | 'revokedReason'>): Promise<void> {
    this.#insert(
      'INSERT INTO families (id, data) VALUES (?, ?)',
      [family.id, json(family)],
      `family "${family.id}" already exists`,
    );
  }

  async getFamily(id: string): Promise<GrantFamily | undefined> {
    return this.#family(this.#q('SELECT * FROM families WHERE id = ?').get(id) as Row | undefined);
  }

  #revokeFamily(id: string, reason: string): boolean {
    const now = this.now();
    const changed = count(
      this.#q(
        'UPDATE families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL',
      ).run(now, reason, id),
    );
    if (changed === 0) return false;
    this.#q('UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL').run(
      now,
      id,
    );
    this.#q('DELETE FROM upstream_tokens WHERE family_id = ?').run(id);
    return true;
  }

  async revokeFamily(id: string, reason: string): Promise<boolean> {
    return this.#tx(() => this.#revokeFamily(id, reason));
  }

  // Codes -------------------------------------------------------------------------------------

  #code(row: Row): CodeRecord {
    return {
      ...parsed<CodeRecord>(row['data']),
      ...(optional('consumedAt', row['consumed_at']) as { consumedAt?: number }),
    };
  }

  async putCode(code: NewCode): Promise<void> {
    this.#tx(() => {
      if (!this.#q('SELECT 1 FROM families WHERE id = ?').get(code.familyId)) {
        throw new StoreError('ERR_STORE_NOT_FOUND', `family "${code.familyId}" does not exist`);
      }
      this.#insert(
        'INSERT INTO codes (code_hash, family_id, data, expires_at) VALUES (?, ?, ?, ?)',
        [code.codeHash, code.familyId, json(code), code.expiresAt],
        'code already exists',
      );
    });
  }

  async consumeCode(codeHash: string, check?: CodeCheck): Promise<ConsumeCodeResult> {
    return this.#tx((): ConsumeCodeResult => {
      const row = this.#q('SELECT * FROM codes WHERE code_hash = ?').get(codeHash) as Row | undefined;
      if (!row) return { ok: false, reason: 'unknown' };
      const code = this.#code(row);
      const now = this.now();
      if (code.consumedAt !== undefined) return { ok: false, reason: 'used', code };
      if (code.expiresAt <= now) return { ok: false, reason: 'expired', code };
      const rejection = check?.(structuredClone(code));
      if (rejection !== undefined) return { ok: false, reason: 'rejected', rejection, code };
      const changed = count(
        this.#q('UPDATE codes SET consumed_at = ? WHERE code_hash = ? AND consumed_at IS NULL').run(
          now,
          codeHash,
        ),
      );
      if (changed !== 1) return { ok: false, reason: 'used', code };
      return { ok: true, code: { ...code, consumedAt: now } };
    });
  }

  // Refresh tokens ----------------------------------------------------------------------------

  #refresh(row: Row | undefined): RefreshTokenRecord | undefined {
    if (!row) return undefined;
    return {
      ...parsed<RefreshTokenRecord>(row['data']),
      ...(optional('rotatedAt', row['rotated_at']) as { rotatedAt?: number }),
      ...(optional('replacedBy', row['replaced_by']) as { replacedBy?: string }),
      ...(optional('revokedAt', row['revoked_at']) as { revokedAt?: number }),
    };
  }

  async putRefreshToken(token: NewRefreshToken): Promise<void> {
    this.#tx(() => {
      if (!this.#q('SELECT 1 FROM families WHERE id = ?').get(token.familyId)) {
        throw new StoreError('ERR_STORE_NOT_FOUND', `family "${token.familyId}" does not exist`);
      }
      this.#insert(
        'INSERT INTO refresh_tokens (token_hash, family_id, data, expires_at) VALUES (?, ?, ?, ?)',
        [token.tokenHash, token.familyId, json(token), token.expiresAt],
        'refresh token already exists',
      );
    });
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    return this.#refresh(
      this.#q('SELECT * FROM refresh_tokens WHERE token_hash = ?').get(tokenHash) as Row | undefined,
    );
  }

  async rotateRefreshToken(
    oldHash: string,
    next: { tokenHash: string; expiresAt: number; scope?: string[] },
    options: RotateOptions,
  ): Promise<RotateResult> {
    return this.#tx((): RotateResult => {
      const old = this.#refresh(
        this.#q('SELECT * FROM refresh_tokens WHERE token_hash = ?').get(oldHash) as Row | undefined,
      );
      if (!old) return { ok: false, reason: 'unknown' };
      const family = this.#family(
        this.#q('SELECT * FROM families WHERE id = ?').get(old.familyId) as Row | undefined,
      );
      const now = this.now();
      if (old.clientId !== options.clientId) return { ok: false, reason: 'client_mismatch', record: old };
      if (!family || family.revokedAt !== undefined || old.revokedAt !== undefined) {
        return { ok: false, reason: 'revoked', record: old };
      }
      if (old.rotatedAt !== undefined) {
        if (options.graceSeconds && now - old.rotatedAt <= options.graceSeconds) {
          return { ok: false, reason: 'superseded', record: old };
        }
        this.#revokeFamily(old.familyId, 'refresh_token_reuse');
        return { ok: false, reason: 'reused', record: { ...old, revokedAt: now } };
      }
      if (old.expiresAt <= now) return { ok: false, reason: 'expired', record: old };
      const current = successorRefreshToken(old, next, now);
      const changed = count(
        this.#q(
          'UPDATE refresh_tokens SET rotated_at = ?, replaced_by = ? WHERE token_hash = ? AND rotated_at IS NULL',
        ).run(now, next.tokenHash, oldHash),
      );
      if (changed !== 1) return { ok: false, reason: 'superseded', record: old };
      this.#insert(
        'INSERT INTO refresh_tokens (token_hash, family_id, data, expires_at) VALUES (?, ?, ?, ?)',
        [current.tokenHash, current.familyId, json(current), current.expiresAt],
        'refresh token already exists',
      );
      return { ok: true, previous: { ...old, rotatedAt: now, replacedBy: next.tokenHash }, current, family };
    });
  }

  // Signing keys ------------------------------------------------------------------------------

  async putSigningKey(key: SigningKeyRecord): Promise<void> {
    this.#insert(
      'INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)',
      [key.kid, key.alg, json(key.publicJwk), key.privateKey, key.createdAt, key.retiredAt ?? null],
      `signing key "${key.kid}" already exists`,
    );
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (this.#q('SELECT * FROM signing_keys ORDER BY created_at, seq').all() as Row[]).map((r) => ({
      kid: r['kid'] as string,
      alg: r['alg'] as 'ES256',
      publicJwk: parsed<Record<string, unknown>>(r['public_jwk']),
      privateKey: r['private_key'] as string,
      createdAt: r['created_at'] as number,
      ...(optional('retiredAt', r['retired_at']) as { retiredAt?: number }),
    }));
  }

  async retireSigningKey(kid: string, at?: number): Promise<boolean> {
    return (
      count(
        this.#q('UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL').run(
          at ?? this.now(),
          kid,
        ),
      ) > 0
    );
  }

  async deleteSigningKey(kid: string): Promise<boolean> {
    return count(this.#q('DELETE FROM signing_keys WHERE kid = ?').run(kid)) > 0;
  }

  // Upstream tokens ---------------------------------------------------------------------------

  #upstream(row: Row | undefined): UpstreamTokenRecord | undefined {
    if (!row) return undefined;
    return {
      id: row['id'] as string,
      ...(optional('familyId', row['family_id']) as { familyId?: string }),
      userId: row['user_id'] as string,
      provider: row['provider'] as string,
      sealed: row['sealed'] as Sealed,
      createdAt: row['created_at'] as number,
      ...(optional('expiresAt', row['expires_at']) as { expiresAt?: number }),
    };
  }

  async putUpstreamTokens(record: UpstreamTokenRecord): Promise<void> {
    this.#q(
      `INSERT INTO upstream_tokens (id, family_id, user_id, provider, sealed, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET family_id = excluded.family_id, user_id = excluded.user_id,
         provider = excluded.provider, sealed = excluded.sealed, created_at = excluded.created_at,
         expires_at = excluded.expires_at`,
    ).run(
      record.id,
      record.familyId ?? null,
      record.userId,
      record.provider,
      record.sealed,
      record.createdAt,
      record.expiresAt ?? null,
    );
  }

  async getUpstreamTokens(id: string): Promise<UpstreamTokenRecord | undefined> {
    return this.#upstream(
      this.#q('SELECT * FROM upstream_tokens WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)').get(
        id,
        this.now(),
      ) as Row | undefined,
    );
  }

  async getUpstreamTokensForFamily(familyId: string): Promise<UpstreamTokenRecord | undefined> {
    return this.#upstream(
      this.#q(
        `SELECT * FROM upstream_tokens WHERE family_id = ? AND (expires_at IS NULL OR expires_at > ?)
         ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      ).get(familyId, this.now()) as Row | undefined,
    );
  }

  async deleteUpstreamTokens(id: string): Promise<boolean> {
    return count(this.#q('DELETE FROM upstream_tokens WHERE id = ?').run(id)) > 0;
  }

  // Maintenance -------------------------------------------------------------------------------

  async deleteExpired(): Promise<ExpiredCounts> {
    const now = this.now();
    return this.#tx(() => {
      const del = (sql: string): number => count(this.#q(sql).run(now));
      return {
        clients: del('DELETE FROM clients WHERE expires_at IS NOT NULL AND expires_at <= ?'),
        transactions: del('DELETE FROM transactions WHERE expires_at <= ?'),
        consents: del('DELETE FROM consents WHERE expires_at IS NOT NULL AND expires_at <= ?'),
        codes: del('DELETE FROM codes WHERE expires_at <= ?'),
        refreshTokens: del('DELETE FROM refresh_tokens WHERE expires_at <= ?'),
        upstreamTokens: del('DELETE FROM upstream_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      };
    });
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    this.#statements.clear();
    this.#db.close();
  }
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
