import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../errors.ts';
import { generateOpaqueToken, hashToken } from '../tokens/hash.ts';
import { createSealer } from '../tokens/seal.ts';
import { MIGRATIONS, SQLITE_FILE_NAME, SqliteStore } from './sqlite.ts';

const T0 = 1_800_000_000;
let now = T0;
const clock = () => now;

let dir: string;
beforeEach(() => {
  now = T0;
  dir = mkdtempSync(join(tmpdir(), 'rs-sqlite-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sealer = createSealer('sqlite-test-secret-with-at-least-32-chars', 'upstream-tokens');

async function populate(store: SqliteStore, secrets: { refresh: string; code: string; upstream: string }) {
  await store.createUser({ id: 'U1', email: 'alice@example.com', login: 'alice-gh', groups: ['admin'] });
  await store.createUser({ id: 'U2', email: 'bob.smith@example.com', groups: ['public'] });
  await store.linkIdentity({ provider: 'github', subject: '1001', userId: 'U1', login: 'alice-gh' });
  await store.putClient({
    clientId: 'c1',
    clientSecretHash: hashToken('s'),
    redirectUris: ['cursor://host/cb'],
    grantTypes: ['authorization_code'],
    responseTypes: ['code'],
    tokenEndpointAuthMethod: 'none',
    metadata: { software_id: 'x' },
    createdAt: T0,
  });
  await store.putTransaction({
    id: 't1',
    clientId: 'c1',
    redirectUri: 'cursor://host/cb',
    redirectUriProvided: false,
    codeChallenge: 'c',
    codeChallengeMethod: 'S256',
    scope: ['mcp'],
    upstreamState: 'us',
    extra: { a: 1 },
    createdAt: T0,
    expiresAt: T0 + 600,
  });
  await store.putConsent({ userId: 'U1', clientId: 'c1', scope: ['mcp'], grantedAt: T0 });
  await store.createFamily({ id: 'f1', clientId: 'c1', userId: 'U1', scope: ['mcp'], createdAt: T0 });
  await store.putCode({
    codeHash: hashToken(secrets.code),
    familyId: 'f1',
    clientId: 'c1',
    userId: 'U1',
    redirectUri: 'cursor://host/cb',
    redirectUriProvided: false,
    scope: ['mcp'],
    codeChallenge: 'c',
    codeChallengeMethod: 'S256',
    claims: {},
    createdAt: T0,
    expiresAt: T0 + 300,
  });
  await store.consumeCode(hashToken(secrets.code));
  await store.putRefreshToken({
    tokenHash: hashToken(secrets.refresh),
    familyId: 'f1',
    clientId: 'c1',
    userId: 'U1',
    scope: ['mcp'],
    createdAt: T0,
    expiresAt: T0 + 10_000,
  });
  await store.rotateRefreshToken(
    hashToken(secrets.refresh),
    { tokenHash: hashToken(`${secrets.refresh}-next`), expiresAt: T0 + 10_000 },
    { clientId: 'c1' },
  );
  await store.putSigningKey({
    kid: 'k1',
    alg: 'ES256',
    publicJwk: { kty: 'EC', kid: 'k1' },
    privateKey: 'v1.sealed',
    createdAt: T0,
  });
  await store.putUpstreamTokens({
    id: 'up1',
    familyId: 'f1',
    userId: 'U1',
    provider: 'github',
    sealed: sealer.sealJson({ access_token: secrets.upstream }, 'up1'),
    createdAt: T0,
  });
}

describe('SqliteStore', () => {
  it('creates the data directory and one database file in it', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const store = new SqliteStore({ dataDir, now: clock });
    expect(store.path).toBe(join(dataDir, SQLITE_FILE_NAME));
    expect(existsSync(store.path)).toBe(true);
    await store.close();
  });

  it('keeps everything across a restart (close, reopen the same file)', async () => {
    const secrets = {
      refresh: generateOpaqueToken('mcc_rt_'),
      code: generateOpaqueToken(),
      upstream: 'gho_UPSTREAM_SECRET',
    };
    const first = new SqliteStore({ dataDir: dir, now: clock });
    await populate(first, secrets);
    await first.close();

    now = T0 + 60;
    const second = new SqliteStore({ dataDir: dir, now: clock });
    expect((await second.listUsers()).map((u) => u.id)).toEqual(['U1', 'U2']);
    expect((await second.findUserByEmail('ALICE@example.com'))?.id).toBe('U1');
    expect((await second.findUserByLogin('Alice-GH'))?.id).toBe('U1');
    expect(await second.findLink('github', '1001')).toMatchObject({ userId: 'U1', login: 'alice-gh' });
    expect(await second.getClient('c1')).toMatchObject({ clientId: 'c1', metadata: { software_id: 'x' } });
    expect(await second.getTransactionByUpstreamState('us')).toMatchObject({ id: 't1', extra: { a: 1 } });
    expect(await second.getConsent('U1', 'c1')).toMatchObject({ scope: ['mcp'] });
    expect(await second.consumeCode(hashToken(secrets.code))).toMatchObject({ ok: false, reason: 'used' });
    expect(await second.getRefreshToken(hashToken(secrets.refresh))).toMatchObject({
      rotatedAt: T0,
      replacedBy: hashToken(`${secrets.refresh}-next`),
    });
    expect(
      await second.rotateRefreshToken(
        hashToken(`${secrets.refresh}-next`),
        { tokenHash: hashToken('third'), expiresAt: T0 + 10_000 },
        { clientId: 'c1' },
      ),
    ).toMatchObject({ ok: true });
    expect((await second.listSigningKeys()).map((k) => k.kid)).toEqual(['k1']);
    const upstream = await second.getUpstreamTokensForFamily('f1');
    expect(sealer.openJson(upstream!.sealed, 'up1')).toEqual({ access_token: secrets.upstream });
    await second.close();
  });

  it('never writes a refresh token, a code or an upstream token in the clear', async () => {
    const secrets = {
      refresh: generateOpaqueToken('mcc_rt_'),
      code: generateOpaqueToken(),
      upstream: 'gho_PLAINTEXT_MUST_NOT_APPEAR',
    };
    const store = new SqliteStore({ dataDir: dir, now: clock });
    await populate(store, secrets);
    await store.close();
    const bytes = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f)).toString('latin1'))
      .join('');
    expect(bytes).toContain(hashToken(secrets.refresh));
    expect(bytes).not.toContain(secrets.refresh);
    expect(bytes).not.toContain(secrets.code);
    expect(bytes).not.toContain(secrets.upstream);
  });

  it('uses WAL and records its schema version once', async () => {
    const store = new SqliteStore({ dataDir: dir, now: clock });
    expect(store.schemaVersion()).toBe(MIGRATIONS.at(-1)!.version);
    await store.close();
    const again = new SqliteStore({ dataDir: dir, now: clock });
    await again.close();
    const raw = new DatabaseSync(join(dir, SQLITE_FILE_NAME));
    expect(raw.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(raw.prepare('SELECT version, name, applied_at FROM schema_migrations').all()).toEqual([
      { version: 1, name: 'initial', applied_at: T0 },
    ]);
    raw.close();
  });

  it('refuses a database whose schema is newer than this server', async () => {
    const store = new SqliteStore({ dataDir: dir, now: clock });
    await store.close();
    const raw = new DatabaseSync(join(dir, SQLITE_FILE_NAME));
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
    raw.close();
    let caught: unknown;
    try {
      new SqliteStore({ dataDir: dir, now: clock });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StoreError);
    expect((caught as StoreError).code).toBe('ERR_STORE_SCHEMA');
    expect((caught as StoreError).message).toBe("database schema 99 is newer than this server's (1)");
  });

  it('keeps single use across two connections to the same file', async () => {
    const a = new SqliteStore({ dataDir: dir, now: clock });
    const b = new SqliteStore({ dataDir: dir, now: clock });
    await a.createFamily({ id: 'f', clientId: 'c', userId: 'U', scope: [], createdAt: T0 });
    const hashes = Array.from({ length: 5 }, (_, i) => hashToken(`code-${i}`));
    for (const codeHash of hashes) {
      await a.putCode({
        codeHash,
        familyId: 'f',
        clientId: 'c',
        userId: 'U',
        redirectUri: 'cursor://h/cb',
        redirectUriProvided: true,
        scope: [],
        codeChallenge: 'c',
        codeChallengeMethod: 'S256',
        claims: {},
        createdAt: T0,
        expiresAt: T0 + 300,
      });
    }
    const results = await Promise.all(
      hashes.flatMap((h) => [a.consumeCode(h), b.consumeCode(h), a.consumeCode(h)]),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(10);

    await b.putRefreshToken({
      tokenHash: hashToken('r'),
      familyId: 'f',
      clientId: 'c',
      userId: 'U',
      scope: [],
      createdAt: T0,
      expiresAt: T0 + 100,
    });
    const rotations = await Promise.all(
      [a, b, a, b].map((s, i) =>
        s.rotateRefreshToken(
          hashToken('r'),
          { tokenHash: hashToken(`n${i}`), expiresAt: T0 + 100 },
          {
            clientId: 'c',
            graceSeconds: 5,
          },
        ),
      ),
    );
    expect(rotations.filter((r) => r.ok)).toHaveLength(1);
    expect(rotations.filter((r) => !r.ok && r.reason === 'superseded')).toHaveLength(3);
    await a.close();
    await b.close();
  });

  it('needs a path or a data directory', () => {
    expect(() => new SqliteStore({})).toThrow('SqliteStore needs "path" or "dataDir"');
  });
});
