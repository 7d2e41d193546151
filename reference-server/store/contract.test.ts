/**
 * The Store contract, run against every implementation. A networked engine joins by adding a row
 * to `engines`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError, type StoreErrorCode } from '../errors.ts';
import { generateOpaqueToken, hashToken } from '../tokens/hash.ts';
import { createSealer } from '../tokens/seal.ts';
import { MemoryStore } from './memory.ts';
import { SqliteStore } from './sqlite.ts';
import type { ClientRecord, NewCode, Store, TransactionRecord } from './types.ts';

const T0 = 1_800_000_000;
let now = T0;
const clock = () => now;

async function expectStoreError(
  promise: Promise<unknown>,
  code: StoreErrorCode,
  message: string,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(StoreError);
  expect((caught as StoreError).code).toBe(code);
  expect((caught as StoreError).message).toBe(message);
}

const engines: [string, (dir: string) => Store][] = [
  ['memory', () => new MemoryStore({ now: clock })],
  ['sqlite', (dir) => new SqliteStore({ dataDir: dir, now: clock })],
];

function client(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: 'client-1',
    clientSecretHash: hashToken('secret-1'),
    clientName: 'Test Client',
    redirectUris: ['http://127.0.0.1:3000/cb'],
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
    tokenEndpointAuthMethod: 'client_secret_post',
    metadata: { client_uri: 'https://client.example' },
    createdAt: T0,
    expiresAt: T0 + 3600,
    ...overrides,
  };
}

function txn(overrides: Partial<TransactionRecord> = {}): TransactionRecord {
  return {
    id: 'txn-1',
    clientId: 'client-1',
    redirectUri: 'http://127.0.0.1:3000/cb',
    redirectUriProvided: true,
    state: 'client-state',
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    codeChallengeMethod: 'S256',
    scope: ['mcp'],
    resource: 'https://mcp.example.com/mcp',
    extra: {},
    createdAt: T0,
    expiresAt: T0 + 600,
    ...overrides,
  };
}

function code(familyId: string, overrides: Partial<NewCode> = {}): NewCode {
  return {
    codeHash: hashToken('code-1'),
    familyId,
    clientId: 'client-1',
    userId: 'U1',
    redirectUri: 'http://127.0.0.1:3000/cb',
    redirectUriProvided: true,
    scope: ['mcp'],
    resource: 'https://mcp.example.com/mcp',
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    codeChallengeMethod: 'S256',
    claims: { upstream_claims: { roles: ['admin'] } },
    createdAt: T0,
    expiresAt: T0 + 300,
    ...overrides,
  };
}

describe.each(engines)('Store contract: %s', (_name, open) => {
  let dir: string;
  let store: Store;

  beforeEach(() => {
    now = T0;
    dir = mkdtempSync(join(tmpdir(), 'rs-store-'));
    store = open(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function family(id = 'fam-1') {
    await store.createFamily({ id, clientId: 'client-1', userId: 'U1', scope: ['mcp'], createdAt: now });
    return id;
  }

  describe('users', () => {
    it('creates a user with the given fields and reads it back', async () => {
      const user = await store.createUser({
        id: 'U1',
        email: 'alice@example.com',
        login: 'alice-gh',
        groups: ['admin'],
      });
      expect(user).toEqual({
        id: 'U1',
        email: 'alice@example.com',
        login: 'alice-gh',
        groups: ['admin'],
        createdAt: T0,
      });
      expect(await store.getUser('U1')).toEqual(user);
      expect(await store.getUser('U2')).toBeUndefined();
    });

    it('generates an id when none is given', async () => {
      const user = await store.createUser({ email: 'x@example.com' });
      expect(user.id).toMatch(/^u_[0-9a-f]{32}$/);
      expect(user.groups).toEqual([]);
      expect(await store.getUser(user.id)).toEqual(user);
    });

    it('finds a user by email ignoring case, and folds nothing else', async () => {
      await store.createUser({ id: 'U2', email: 'bob.smith@example.com' });
      expect((await store.findUserByEmail('Bob.Smith@Example.COM'))?.id).toBe('U2');
      expect(await store.findUserByEmail('bobsmith@example.com')).toBeUndefined();
      expect(await store.findUserByEmail('bob.smith+x@example.com')).toBeUndefined();
      expect(await store.findUserByEmail(' bob.smith@example.com')).toBeUndefined();
    });

    it('finds a user by login ignoring case', async () => {
      await store.createUser({ id: 'U2', login: 'bobsmith' });
      expect((await store.findUserByLogin('BobSmith'))?.id).toBe('U2');
      expect(await store.findUserByLogin('bob-smith')).toBeUndefined();
    });

    it('lists users in creation order', async () => {
      await store.createUser({ id: 'B', groups: ['public'] });
      await store.createUser({ id: 'A', groups: ['admin'] });
      await store.createUser({ id: 'C' });
      expect((await store.listUsers()).map((u) => u.id)).toEqual(['B', 'A', 'C']);
    });

    it('refuses a duplicate id, an email or login differing only in case', async () => {
      await store.createUser({ id: 'U1', email: 'alice@example.com', login: 'alice-gh' });
      await expectStoreError(
        store.createUser({ id: 'U1' }),
        'ERR_STORE_CONFLICT',
        'user "U1" already exists',
      );
      await expectStoreError(
        store.createUser({ id: 'U9', email: 'ALICE@example.com' }),
        'ERR_STORE_CONFLICT',
        'email "ALICE@example.com" belongs to user "U1"',
      );
      await expectStoreError(
        store.createUser({ id: 'U9', login: 'Alice-GH' }),
        'ERR_STORE_CONFLICT',
        'login "Alice-GH" belongs to user "U1"',
      );
      expect((await store.listUsers()).map((u) => u.id)).toEqual(['U1']);
    });
  });

  describe('identity links', () => {
    beforeEach(async () => {
      await store.createUser({ id: 'U1', email: 'alice@example.com' });
      await store.createUser({ id: 'U2' });
    });

    it('links by (provider, subject) and finds the link', async () => {
      const link = await store.linkIdentity({
        provider: 'github',
        subject: '1001',
        userId: 'U1',
        login: 'alice-gh',
      });
      expect(link).toEqual({
        provider: 'github',
        subject: '1001',
        userId: 'U1',
        login: 'alice-gh',
        createdAt: T0,
        lastSeenAt: T0,
      });
      expect(await store.findLink('github', '1001')).toEqual(link);
      expect(await store.findLink('google', '1001')).toBeUndefined();
      expect(await store.findLink('github', '1002')).toBeUndefined();
    });

    it('refreshes an existing link to the same user and keeps its creation time', async () => {
      await store.linkIdentity({
        provider: 'google',
        subject: 'G1',
        userId: 'U1',
        email: 'alice@example.com',
      });
      now += 100;
      const again = await store.linkIdentity({
        provider: 'google',
        subject: 'G1',
        userId: 'U1',
        email: 'new@example.com',
      });
      expect(again).toEqual({
        provider: 'google',
        subject: 'G1',
        userId: 'U1',
        email: 'new@example.com',
        createdAt: T0,
        lastSeenAt: T0 + 100,
      });
      expect(await store.listLinks('U1')).toEqual([again]);
    });

    it('refuses to move a link to another user', async () => {
      await store.linkIdentity({ provider: 'github', subject: '1001', userId: 'U1' });
      await expectStoreError(
        store.linkIdentity({ provider: 'github', subject: '1001', userId: 'U2' }),
        'ERR_STORE_CONFLICT',
        'identity github:1001 is linked to user "U1"',
      );
      expect((await store.findLink('github', '1001'))?.userId).toBe('U1');
    });

    it('refuses a link to a user that does not exist', async () => {
      await expectStoreError(
        store.linkIdentity({ provider: 'github', subject: '1', userId: 'nobody' }),
        'ERR_STORE_NOT_FOUND',
        'user "nobody" does not exist',
      );
      expect(await store.findLink('github', '1')).toBeUndefined();
    });

    it('lists every link of a user, several per provider allowed', async () => {
      await store.linkIdentity({ provider: 'auth0', subject: 'github|42', userId: 'U1' });
      await store.linkIdentity({ provider: 'auth0', subject: 'google-oauth2|G1', userId: 'U1' });
      await store.linkIdentity({ provider: 'github', subject: '7', userId: 'U2' });
      expect((await store.listLinks('U1')).map((l) => l.subject)).toEqual(['github|42', 'google-oauth2|G1']);
      expect((await store.listLinks('U2')).map((l) => l.subject)).toEqual(['7']);
    });
  });

  describe('clients', () => {
    it('stores and returns a client exactly as registered', async () => {
      await store.putClient(client());
      expect(await store.getClient('client-1')).toEqual(client());
      expect(await store.getClient('client-2')).toBeUndefined();
    });

    it('refuses a duplicate client id', async () => {
      await store.putClient(client());
      await expectStoreError(
        store.putClient(client()),
        'ERR_STORE_CONFLICT',
        'client "client-1" already exists',
      );
    });

    it('hides an expired client and does not count it', async () => {
      await store.putClient(client());
      await store.putClient(client({ clientId: 'forever', expiresAt: undefined }));
      expect(await store.countClients()).toBe(2);
      now = T0 + 3600;
      expect(await store.getClient('client-1')).toBeUndefined();
      expect((await store.getClient('forever'))?.clientId).toBe('forever');
      expect(await store.countClients()).toBe(1);
    });

    it('deletes a client', async () => {
      await store.putClient(client());
      expect(await store.deleteClient('client-1')).toBe(true);
      expect(await store.deleteClient('client-1')).toBe(false);
      expect(await store.getClient('client-1')).toBeUndefined();
    });

    it('returns copies: changing a returned record does not change the store', async () => {
      await store.putClient(client());
      const c = (await store.getClient('client-1'))!;
      c.redirectUris.push('https://evil.example/cb');
      expect((await store.getClient('client-1'))!.redirectUris).toEqual(['http://127.0.0.1:3000/cb']);
    });
  });

  describe('transactions', () => {
    it('stores, finds by id and by upstream state, and updates', async () => {
      await store.putTransaction(txn());
      expect(await store.getTransaction('txn-1')).toEqual(txn());
      expect(await store.getTransactionByUpstreamState('up-state')).toBeUndefined();
      const updated = await store.updateTransaction('txn-1', {
        upstreamState: 'up-state',
        upstreamVerifier: 'verifier',
        consentedAt: T0 + 5,
      });
      expect(updated).toEqual(
        txn({ upstreamState: 'up-state', upstreamVerifier: 'verifier', consentedAt: T0 + 5 }),
      );
      expect(await store.getTransactionByUpstreamState('up-state')).toEqual(updated);
      expect(await store.updateTransaction('nope', { consentedAt: 1 })).toBeUndefined();
    });

    it('refuses a duplicate id', async () => {
      await store.putTransaction(txn());
      await expectStoreError(
        store.putTransaction(txn()),
        'ERR_STORE_CONFLICT',
        'transaction "txn-1" already exists',
      );
    });

    it('takes a transaction exactly once', async () => {
      await store.putTransaction(txn());
      expect(await store.takeTransaction('txn-1')).toEqual(txn());
      expect(await store.takeTransaction('txn-1')).toBeUndefined();
      expect(await store.getTransaction('txn-1')).toBeUndefined();
    });

    it('gives a transaction to exactly one of many concurrent takers', async () => {
      await store.putTransaction(txn());
      const results = await Promise.all(Array.from({ length: 20 }, () => store.takeTransaction('txn-1')));
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });

    it('hides an expired transaction everywhere', async () => {
      await store.putTransaction(txn({ upstreamState: 's' }));
      now = T0 + 600;
      expect(await store.getTransaction('txn-1')).toBeUndefined();
      expect(await store.getTransactionByUpstreamState('s')).toBeUndefined();
      expect(await store.updateTransaction('txn-1', { consentedAt: now })).toBeUndefined();
      expect(await store.takeTransaction('txn-1')).toBeUndefined();
    });
  });

  describe('consents', () => {
    it('stores, replaces, expires and deletes a consent', async () => {
      await store.putConsent({
        userId: 'U1',
        clientId: 'client-1',
        scope: ['mcp'],
        grantedAt: T0,
        expiresAt: T0 + 100,
      });
      expect(await store.getConsent('U1', 'client-1')).toEqual({
        userId: 'U1',
        clientId: 'client-1',
        scope: ['mcp'],
        grantedAt: T0,
        expiresAt: T0 + 100,
      });
      expect(await store.getConsent('U1', 'client-2')).toBeUndefined();
      expect(await store.getConsent('U2', 'client-1')).toBeUndefined();
      await store.putConsent({ userId: 'U1', clientId: 'client-1', scope: ['mcp', 'x'], grantedAt: T0 + 1 });
      expect((await store.getConsent('U1', 'client-1'))?.scope).toEqual(['mcp', 'x']);
      now = T0 + 10_000;
      expect(await store.getConsent('U1', 'client-1')).toBeDefined();
      expect(await store.deleteConsent('U1', 'client-1')).toBe(true);
      expect(await store.deleteConsent('U1', 'client-1')).toBe(false);
      expect(await store.getConsent('U1', 'client-1')).toBeUndefined();
    });

    it('hides an expired consent', async () => {
      await store.putConsent({ userId: 'U1', clientId: 'c', scope: [], grantedAt: T0, expiresAt: T0 + 100 });
      now = T0 + 100;
      expect(await store.getConsent('U1', 'c')).toBeUndefined();
    });
  });

  describe('authorization codes', () => {
    it('consumes a code once; a replay reports "used" with the family to revoke', async () => {
      const fam = await family();
      await store.putCode(code(fam));
      now = T0 + 10;
      const first = await store.consumeCode(hashToken('code-1'));
      expect(first).toEqual({ ok: true, code: { ...code(fam), consumedAt: T0 + 10 } });
      const second = await store.consumeCode(hashToken('code-1'));
      expect(second).toEqual({ ok: false, reason: 'used', code: { ...code(fam), consumedAt: T0 + 10 } });
    });

    it('reports an unknown code', async () => {
      expect(await store.consumeCode(hashToken('nope'))).toEqual({ ok: false, reason: 'unknown' });
    });

    it('reports an expired code and does not consume it', async () => {
      const fam = await family();
      await store.putCode(code(fam));
      now = T0 + 300;
      expect(await store.consumeCode(hashToken('code-1'))).toEqual({
        ok: false,
        reason: 'expired',
        code: code(fam),
      });
    });

    it('leaves the code redeemable when the check refuses it (wrong client, verifier, resource)', async () => {
      const fam = await family();
      await store.putCode(code(fam));
      const refused = await store.consumeCode(hashToken('code-1'), (c) =>
        c.clientId === 'attacker' ? undefined : 'client_mismatch',
      );
      expect(refused).toEqual({
        ok: false,
        reason: 'rejected',
        rejection: 'client_mismatch',
        code: code(fam),
      });
      const accepted = await store.consumeCode(hashToken('code-1'), (c) =>
        c.clientId === 'client-1' ? undefined : 'client_mismatch',
      );
      expect(accepted.ok).toBe(true);
    });

    it('lets exactly one of many concurrent redemptions succeed', async () => {
      const fam = await family();
      await store.putCode(code(fam));
      const results = await Promise.all(
        Array.from({ length: 25 }, () => store.consumeCode(hashToken('code-1'))),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(24);
    });

    it('refuses a code for an unknown family and a duplicate code', async () => {
      await expectStoreError(
        store.putCode(code('nope')),
        'ERR_STORE_NOT_FOUND',
        'family "nope" does not exist',
      );
      const fam = await family();
      await store.putCode(code(fam));
      await expectStoreError(store.putCode(code(fam)), 'ERR_STORE_CONFLICT', 'code already exists');
    });
  });

  describe('grant families and refresh tokens', () => {
    const rt = (familyId: string, value: string, overrides = {}) => ({
      tokenHash: hashToken(value),
      familyId,
      clientId: 'client-1',
      userId: 'U1',
      scope: ['mcp', 'offline'],
      resource: 'https://mcp.example.com/mcp',
      createdAt: now,
      expiresAt: now + 1000,
      ...overrides,
    });

    it('stores refresh tokens by hash only', async () => {
      const fam = await family();
      const value = generateOpaqueToken('mcc_rt_');
      await store.putRefreshToken(rt(fam, value));
      expect(await store.getRefreshToken(value)).toBeUndefined();
      expect(await store.getRefreshToken(hashToken(value))).toEqual(rt(fam, value));
    });

    it('rotates: the new token joins the family, the old one records its successor', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      now = T0 + 50;
      const result = await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r2'), expiresAt: now + 1000, scope: ['mcp'] },
        { clientId: 'client-1' },
      );
      expect(result).toEqual({
        ok: true,
        previous: {
          ...rt(fam, 'r1', { createdAt: T0, expiresAt: T0 + 1000 }),
          rotatedAt: T0 + 50,
          replacedBy: hashToken('r2'),
        },
        current: {
          tokenHash: hashToken('r2'),
          familyId: fam,
          clientId: 'client-1',
          userId: 'U1',
          scope: ['mcp'],
          resource: 'https://mcp.example.com/mcp',
          createdAt: T0 + 50,
          expiresAt: T0 + 1050,
        },
        family: { id: fam, clientId: 'client-1', userId: 'U1', scope: ['mcp'], createdAt: T0 },
      });
      expect((await store.getRefreshToken(hashToken('r1')))?.replacedBy).toBe(hashToken('r2'));
    });

    it('revokes the whole family when a rotated token is replayed (and the family stays dead)', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      await store.putUpstreamTokens({
        id: 'up-1',
        familyId: fam,
        userId: 'U1',
        provider: 'github',
        sealed: createSealer('x'.repeat(32)).seal('gho_x', 'up-1'),
        createdAt: T0,
      });
      await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r2'), expiresAt: T0 + 1000 },
        { clientId: 'client-1' },
      );
      now = T0 + 5;
      const replay = await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r3'), expiresAt: T0 + 1000 },
        { clientId: 'client-1' },
      );
      expect(replay).toMatchObject({ ok: false, reason: 'reused', record: { tokenHash: hashToken('r1') } });
      expect(await store.getFamily(fam)).toMatchObject({
        revokedAt: T0 + 5,
        revokedReason: 'refresh_token_reuse',
      });
      expect((await store.getRefreshToken(hashToken('r2')))?.revokedAt).toBe(T0 + 5);
      expect(await store.getRefreshToken(hashToken('r3'))).toBeUndefined();
      expect(await store.getUpstreamTokens('up-1')).toBeUndefined();
      const successor = await store.rotateRefreshToken(
        hashToken('r2'),
        { tokenHash: hashToken('r4'), expiresAt: T0 + 1000 },
        { clientId: 'client-1' },
      );
      expect(successor).toMatchObject({ ok: false, reason: 'revoked' });
    });

    it('within the grace window a replay fails as "superseded" without revoking the family', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r2'), expiresAt: T0 + 1000 },
        { clientId: 'client-1' },
      );
      now = T0 + 2;
      const again = await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r3'), expiresAt: T0 + 1000 },
        { clientId: 'client-1', graceSeconds: 5 },
      );
      expect(again).toMatchObject({ ok: false, reason: 'superseded' });
      expect((await store.getFamily(fam))?.revokedAt).toBeUndefined();
      now = T0 + 6;
      const late = await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r3'), expiresAt: T0 + 1000 },
        { clientId: 'client-1', graceSeconds: 5 },
      );
      expect(late).toMatchObject({ ok: false, reason: 'reused' });
      expect((await store.getFamily(fam))?.revokedAt).toBe(T0 + 6);
    });

    it('refuses another client without any effect', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      const result = await store.rotateRefreshToken(
        hashToken('r1'),
        { tokenHash: hashToken('r2'), expiresAt: T0 + 1000 },
        { clientId: 'attacker' },
      );
      expect(result).toMatchObject({ ok: false, reason: 'client_mismatch' });
      expect((await store.getRefreshToken(hashToken('r1')))?.rotatedAt).toBeUndefined();
      expect((await store.getFamily(fam))?.revokedAt).toBeUndefined();
    });

    it('reports unknown and expired tokens', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      const next = { tokenHash: hashToken('r2'), expiresAt: T0 + 5000 };
      expect(await store.rotateRefreshToken(hashToken('nope'), next, { clientId: 'client-1' })).toEqual({
        ok: false,
        reason: 'unknown',
      });
      now = T0 + 1000;
      expect(await store.rotateRefreshToken(hashToken('r1'), next, { clientId: 'client-1' })).toMatchObject({
        ok: false,
        reason: 'expired',
      });
      expect(await store.getRefreshToken(hashToken('r2'))).toBeUndefined();
    });

    it('rotates exactly once under concurrent refreshes (strict: the losers revoke the family)', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.rotateRefreshToken(
            hashToken('r1'),
            { tokenHash: hashToken(`next-${i}`), expiresAt: T0 + 1000 },
            { clientId: 'client-1' },
          ),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && (r.reason === 'reused' || r.reason === 'revoked'))).toHaveLength(
        9,
      );
    });

    it('rotates exactly once under concurrent refreshes with a grace window, keeping the winner valid', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.rotateRefreshToken(
            hashToken('r1'),
            { tokenHash: hashToken(`next-${i}`), expiresAt: T0 + 1000 },
            { clientId: 'client-1', graceSeconds: 2 },
          ),
        ),
      );
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === 'superseded')).toHaveLength(9);
      expect((await store.getFamily(fam))?.revokedAt).toBeUndefined();
      const winner = winners[0] as Extract<(typeof results)[number], { ok: true }>;
      const next = await store.rotateRefreshToken(
        winner.current.tokenHash,
        { tokenHash: hashToken('after'), expiresAt: T0 + 1000 },
        { clientId: 'client-1' },
      );
      expect(next.ok).toBe(true);
    });

    it('revokes a family once, with its refresh tokens', async () => {
      const fam = await family();
      await store.putRefreshToken(rt(fam, 'r1'));
      now = T0 + 7;
      expect(await store.revokeFamily(fam, 'code_replay')).toBe(true);
      expect(await store.revokeFamily(fam, 'again')).toBe(false);
      expect(await store.revokeFamily('nope', 'x')).toBe(false);
      expect(await store.getFamily(fam)).toEqual({
        id: fam,
        clientId: 'client-1',
        userId: 'U1',
        scope: ['mcp'],
        createdAt: T0,
        revokedAt: T0 + 7,
        revokedReason: 'code_replay',
      });
      expect((await store.getRefreshToken(hashToken('r1')))?.revokedAt).toBe(T0 + 7);
    });

    it('refuses a duplicate family and a token of an unknown family', async () => {
      await family('f');
      await expectStoreError(family('f'), 'ERR_STORE_CONFLICT', 'family "f" already exists');
      await expectStoreError(
        store.putRefreshToken(rt('nope', 'r')),
        'ERR_STORE_NOT_FOUND',
        'family "nope" does not exist',
      );
    });
  });

  describe('signing keys', () => {
    const key = (kid: string, createdAt: number) => ({
      kid,
      alg: 'ES256' as const,
      publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid },
      privateKey: 'v1.sealed',
      createdAt,
    });

    it('lists keys oldest first, retires and deletes them', async () => {
      await store.putSigningKey(key('b', T0 + 1));
      await store.putSigningKey(key('a', T0));
      expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(['a', 'b']);
      expect(await store.retireSigningKey('a', T0 + 5)).toBe(true);
      expect(await store.retireSigningKey('a', T0 + 6)).toBe(false);
      expect(await store.listSigningKeys()).toEqual([
        { ...key('a', T0), retiredAt: T0 + 5 },
        key('b', T0 + 1),
      ]);
      expect(await store.deleteSigningKey('a')).toBe(true);
      expect(await store.deleteSigningKey('a')).toBe(false);
      expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(['b']);
    });

    it('refuses a duplicate kid', async () => {
      await store.putSigningKey(key('a', T0));
      await expectStoreError(
        store.putSigningKey(key('a', T0)),
        'ERR_STORE_CONFLICT',
        'signing key "a" already exists',
      );
    });
  });

  describe('upstream tokens', () => {
    const sealer = createSealer('an-upstream-token-secret-of-length-32+', 'upstream-tokens');

    it('stores sealed upstream tokens and opens them with the record id as context', async () => {
      const upstream = { access_token: 'gho_upstream', refresh_token: 'ghr_upstream' };
      await store.putUpstreamTokens({
        id: 'up-1',
        familyId: 'fam-1',
        userId: 'U1',
        provider: 'github',
        sealed: sealer.sealJson(upstream, 'up-1'),
        createdAt: T0,
        expiresAt: T0 + 100,
      });
      const record = (await store.getUpstreamTokens('up-1'))!;
      expect(record).toMatchObject({
        id: 'up-1',
        familyId: 'fam-1',
        userId: 'U1',
        provider: 'github',
        createdAt: T0,
      });
      expect(record.sealed).not.toContain('gho_upstream');
      expect(sealer.openJson(record.sealed, 'up-1')).toEqual(upstream);
      expect((await store.getUpstreamTokensForFamily('fam-1'))?.id).toBe('up-1');
      now = T0 + 100;
      expect(await store.getUpstreamTokens('up-1')).toBeUndefined();
      expect(await store.getUpstreamTokensForFamily('fam-1')).toBeUndefined();
    });

    it('returns the newest record of a family, replaces by id and deletes', async () => {
      const base = { userId: 'U1', provider: 'google', familyId: 'f' };
      await store.putUpstreamTokens({ ...base, id: 'a', sealed: sealer.seal('1', 'a'), createdAt: T0 });
      await store.putUpstreamTokens({ ...base, id: 'b', sealed: sealer.seal('2', 'b'), createdAt: T0 + 1 });
      expect((await store.getUpstreamTokensForFamily('f'))?.id).toBe('b');
      await store.putUpstreamTokens({ ...base, id: 'a', sealed: sealer.seal('3', 'a'), createdAt: T0 + 2 });
      const latest = (await store.getUpstreamTokensForFamily('f'))!;
      expect(latest.id).toBe('a');
      expect(sealer.open(latest.sealed, 'a')).toBe('3');
      expect(await store.deleteUpstreamTokens('a')).toBe(true);
      expect(await store.deleteUpstreamTokens('a')).toBe(false);
      expect((await store.getUpstreamTokensForFamily('f'))?.id).toBe('b');
    });
  });

  describe('maintenance', () => {
    it('deletes expired records of every kind and reports the counts', async () => {
      const fam = await family();
      await store.putClient(client({ expiresAt: T0 + 10 }));
      await store.putClient(client({ clientId: 'keep', expiresAt: undefined }));
      await store.putTransaction(txn({ expiresAt: T0 + 10 }));
      await store.putConsent({ userId: 'U1', clientId: 'c', scope: [], grantedAt: T0, expiresAt: T0 + 10 });
      await store.putCode(code(fam, { expiresAt: T0 + 10 }));
      await store.putRefreshToken({
        tokenHash: hashToken('r'),
        familyId: fam,
        clientId: 'client-1',
        userId: 'U1',
        scope: [],
        createdAt: T0,
        expiresAt: T0 + 10,
      });
      await store.putUpstreamTokens({
        id: 'u',
        userId: 'U1',
        provider: 'github',
        sealed: createSealer('y'.repeat(32)).seal('t'),
        createdAt: T0,
        expiresAt: T0 + 10,
      });
      expect(await store.deleteExpired()).toEqual({
        clients: 0,
        transactions: 0,
        consents: 0,
        codes: 0,
        refreshTokens: 0,
        upstreamTokens: 0,
      });
      now = T0 + 10;
      expect(await store.deleteExpired()).toEqual({
        clients: 1,
        transactions: 1,
        consents: 1,
        codes: 1,
        refreshTokens: 1,
        upstreamTokens: 1,
      });
      expect(await store.consumeCode(code(fam).codeHash)).toEqual({ ok: false, reason: 'unknown' });
      expect((await store.getClient('keep'))?.clientId).toBe('keep');
    });

    it('refuses every operation once closed', async () => {
      await store.close();
      await expectStoreError(store.getUser('U1'), 'ERR_STORE_CLOSED', 'store is closed');
      await expectStoreError(store.consumeCode('x'), 'ERR_STORE_CLOSED', 'store is closed');
    });
  });
});
