/**
 * Security edges 20-27 (reference/security-edges.md, "Codes and tokens"), proven on the reference
 * server with the github backend (google too for token passthrough, where the mock also issues
 * an id_token) in front of the mock IdP.
 *
 * Servers: `main` (github); `other` (an independent github server: another issuer, keys and
 * resource); `sibling` (shares main's store and sealing secret, hence its signing keys, and
 * main's issuer, with another MCP path: only the audience tells their tokens apart); `timed`
 * (a clock the tests move); `graceful` (refresh_reuse_grace 30 s).
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14
 * @see https://www.rfc-editor.org/rfc/rfc8707
 */
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { type AuthBackend, loadSettings } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { createMemoryStore } from '../store/memory.ts';
import {
  type Answer,
  answer,
  authorization,
  basicHeader,
  CALLBACK,
  CLEAN_DESCRIPTION,
  expectOAuthError,
  expectTokenRefused,
  HttpAgent,
  issuedByMock,
  jsonOf,
  lastSeq,
  mcpRequest,
  REGISTRATION_ERRORS,
  redeem,
  refresh,
  registerClient,
  registerRaw,
  type SignedIn,
  signIn,
  startMock,
  startServer,
  stopListening,
  type Target,
  TestClock,
  TOKEN_ERRORS,
  tokenRequest,
  tokensFor,
  whoami,
} from './harness.ts';

const SECRET = 'security-edges-codes-tokens-secret-0123456789abcdef';

let mock: RunningMockIdp;
let main: Target;
let other: Target;
let sibling: Target;
/** The sibling's MCP endpoint at its real listener (its settings name main's base URL). */
let siblingMcp: string;

beforeAll(async () => {
  mock = await startMock();
  const clock = new TestClock();
  const store = createMemoryStore({ now: clock.now });
  main = await startServer(mock, 'github', { store, clock, overrides: { 'server.secret': SECRET } });
  other = await startServer(mock, 'github');
  sibling = await startServer(mock, 'github', {
    store,
    clock,
    seed: false,
    overrides: { 'server.secret': SECRET, 'oauth.base_url': main.url, 'server.mcp_path': '/mcp-sibling' },
  });
  siblingMcp = `http://127.0.0.1:${(sibling.server.server.address() as AddressInfo).port}/mcp-sibling`;
});
afterAll(async () => {
  await stopListening(sibling);
  await main.stop();
  await other.stop();
  await mock.stop();
});

const bearer = (token: string) => `Bearer ${token}`;

/** Parallel requests; the answers in order. */
function parallel(n: number, request: () => Promise<Answer>): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, request));
}

describe('edge 20: authorization codes are single-use', () => {
  it('a second redemption is invalid_grant and revokes the tokens of the first', async () => {
    const client = await registerClient(main);
    const s = await signIn(main, client);
    const tokens = await tokensFor(main, s);
    expect((await whoami(main.mcpUrl, tokens.access_token)).user.id).toBe('U1');
    expectOAuthError(await redeem(main, s), 400, 'invalid_grant');
    expectTokenRefused(await mcpRequest(main.mcpUrl, bearer(tokens.access_token)), main);
    expectOAuthError(await refresh(main, client, tokens.refresh_token), 400, 'invalid_grant');
  });

  it('eight concurrent redemptions of one code: exactly one succeeds', async () => {
    const client = await registerClient(main);
    const s = await signIn(main, client);
    const answers = await parallel(8, () => redeem(main, s));
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200)) expectOAuthError(a, 400, 'invalid_grant');
    // The losers are replays: the winner's tokens are revoked with the grant (RFC 6749 4.1.2).
    const winner = jsonOf(ok[0]!) as { access_token: string };
    expectTokenRefused(await mcpRequest(main.mcpUrl, bearer(winner.access_token)), main);
  });
});

describe('edge 21: codes are bound to their client and redirect URI, and short-lived', () => {
  it('invalid_grant for another public client, the code stays with its own', async () => {
    const client = await registerClient(main);
    const thief = await registerClient(main);
    const s = await signIn(main, client);
    expectOAuthError(await redeem(main, s, { client_id: thief.client_id }), 400, 'invalid_grant');
    expect((await redeem(main, s)).status).toBe(200);
  });

  it('invalid_grant for another confidential client with its own valid secret', async () => {
    const client = await registerClient(main);
    const thief = await registerClient(main, { token_endpoint_auth_method: 'client_secret_basic' });
    const s = await signIn(main, client);
    const a = await redeem(
      main,
      s,
      { client_id: undefined },
      {
        kind: 'basic',
        id: thief.client_id,
        secret: thief.client_secret!,
      },
    );
    expectOAuthError(a, 400, 'invalid_grant');
    expect((await redeem(main, s)).status).toBe(200);
  });

  it('invalid_grant for another redirect_uri of the same client', async () => {
    const client = await registerClient(main, { redirect_uris: [CALLBACK, 'http://127.0.0.1:7777/two'] });
    const s = await signIn(main, client);
    expectOAuthError(
      await redeem(main, s, { redirect_uri: 'http://127.0.0.1:7777/two' }),
      400,
      'invalid_grant',
    );
    expect((await redeem(main, s)).status).toBe(200);
  });

  it('codes live at most ten minutes: a longer code_ttl is refused at load', () => {
    expect(() => loadSettings({ env: {}, overrides: { auth: 'in-memory', 'tokens.code_ttl': 601 } })).toThrow(
      ConfigError,
    );
    expect(loadSettings({ env: {}, overrides: { auth: 'in-memory' } }).tokens.code_ttl).toBeLessThanOrEqual(
      600,
    );
  });

  it('an expired code is invalid_grant', async () => {
    const clock = new TestClock();
    const timed = await startServer(mock, 'github', { clock, overrides: { 'tokens.code_ttl': 60 } });
    try {
      const s = await signIn(timed, await registerClient(timed));
      clock.advance(61);
      const body = expectOAuthError(await redeem(timed, s), 400, 'invalid_grant');
      expect(body['error_description']).toContain('expired');
    } finally {
      await timed.stop();
    }
  });
});

describe('edge 22: token endpoint client authentication', () => {
  let basic: Awaited<ReturnType<typeof registerClient>>;
  let post: Awaited<ReturnType<typeof registerClient>>;
  beforeAll(async () => {
    basic = await registerClient(main, { token_endpoint_auth_method: 'client_secret_basic' });
    post = await registerClient(main, { token_endpoint_auth_method: 'client_secret_post' });
  });

  it('client_secret_basic: 401 invalid_client for a wrong, missing or misplaced secret; the code survives', async () => {
    const s = await signIn(main, basic);
    const wrong = await redeem(
      main,
      s,
      {},
      { kind: 'basic', id: basic.client_id, secret: `${basic.client_secret}x` },
    );
    expectOAuthError(wrong, 401, 'invalid_client');
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
    expectOAuthError(await redeem(main, s, {}, { kind: 'none' }), 401, 'invalid_client');
    expectOAuthError(
      await redeem(main, s, {}, { kind: 'post', id: basic.client_id, secret: basic.client_secret! }),
      401,
      'invalid_client',
    );
    const ok = await redeem(main, s);
    expect(ok.status).toBe(200);
  });

  it('client_secret_post: 401 invalid_client for a wrong secret; the code survives', async () => {
    const s = await signIn(main, post);
    expectOAuthError(
      await redeem(main, s, {}, { kind: 'post', id: post.client_id, secret: 'not-the-secret' }),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await redeem(main, s, {}, { kind: 'basic', id: post.client_id, secret: post.client_secret! }),
      401,
      'invalid_client',
    );
    expect((await redeem(main, s)).status).toBe(200);
  });

  it("a public client's secret or another client's secret is refused", async () => {
    const pub = await registerClient(main);
    const s = await signIn(main, pub);
    expectOAuthError(
      await redeem(main, s, {}, { kind: 'post', id: pub.client_id, secret: 'anything' }),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await redeem(main, s, {}, { kind: 'basic', id: basic.client_id, secret: post.client_secret! }),
      401,
      'invalid_client',
    );
    expect((await redeem(main, s)).status).toBe(200);
  });
});

describe('edge 23: access and refresh tokens are not interchangeable', () => {
  let client: Awaited<ReturnType<typeof registerClient>>;
  let tokens: Awaited<ReturnType<typeof tokensFor>>;
  beforeAll(async () => {
    client = await registerClient(main);
    tokens = await tokensFor(main, await signIn(main, client));
  });

  it('a refresh token as Bearer: 401 invalid_token', async () => {
    expectTokenRefused(await mcpRequest(main.mcpUrl, bearer(tokens.refresh_token)), main);
  });

  it('an access token at grant_type=refresh_token: invalid_grant', async () => {
    expectOAuthError(await refresh(main, client, tokens.access_token), 400, 'invalid_grant');
  });

  it('the two are distinguishable: an at+jwt with token_use "access", and an opaque refresh token', async () => {
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(decodeJwt(tokens.access_token)['token_use']).toBe('access');
    expect(tokens.refresh_token.split('.')).toHaveLength(1);
    // Both still work for what they are.
    expect((await whoami(main.mcpUrl, tokens.access_token)).user.id).toBe('U1');
    expect((await refresh(main, client, tokens.refresh_token)).status).toBe(200);
  });
});

describe('edge 24: refresh rotation with reuse detection', () => {
  it('five concurrent refreshes with one token: exactly one new pair', async () => {
    const client = await registerClient(main);
    const tokens = await tokensFor(main, await signIn(main, client));
    const answers = await parallel(5, () => refresh(main, client, tokens.refresh_token));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200)) expectOAuthError(a, 400, 'invalid_grant');
  });

  it('reusing a rotated refresh token is invalid_grant and revokes the whole family', async () => {
    const client = await registerClient(main);
    const first = await tokensFor(main, await signIn(main, client));
    const rotated = await refresh(main, client, first.refresh_token);
    expect(rotated.status).toBe(200);
    const second = jsonOf(rotated) as { access_token: string; refresh_token: string };
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expectOAuthError(await refresh(main, client, first.refresh_token), 400, 'invalid_grant');
    // The family is gone: the new refresh token and both access tokens are refused.
    expectOAuthError(await refresh(main, client, second.refresh_token), 400, 'invalid_grant');
    expectTokenRefused(await mcpRequest(main.mcpUrl, bearer(second.access_token)), main);
    expectTokenRefused(await mcpRequest(main.mcpUrl, bearer(first.access_token)), main);
  });

  it('a refresh token presented by another client is invalid_grant', async () => {
    const client = await registerClient(main);
    const thief = await registerClient(main);
    const tokens = await tokensFor(main, await signIn(main, client));
    expectOAuthError(await refresh(main, thief, tokens.refresh_token), 400, 'invalid_grant');
  });

  describe('with a grace period (tokens.refresh_reuse_grace 30)', () => {
    let graceful: Target;
    let clock: TestClock;
    beforeAll(async () => {
      clock = new TestClock();
      graceful = await startServer(mock, 'github', {
        clock,
        overrides: { 'tokens.refresh_reuse_grace': 30 },
      });
    });
    afterAll(() => graceful.stop());

    it('concurrent refreshes: one new pair, the others a bounded invalid_grant that revokes nothing', async () => {
      const client = await registerClient(graceful);
      const tokens = await tokensFor(graceful, await signIn(graceful, client));
      const answers = await parallel(5, () => refresh(graceful, client, tokens.refresh_token));
      const ok = answers.filter((a) => a.status === 200);
      expect(ok).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 200)) expectOAuthError(a, 400, 'invalid_grant');
      const winner = jsonOf(ok[0]!) as { access_token: string; refresh_token: string };
      expect((await whoami(graceful.mcpUrl, winner.access_token)).user.id).toBe('U1');
      // After the grace period a replay is reuse: the family is revoked.
      clock.advance(31);
      expectOAuthError(await refresh(graceful, client, tokens.refresh_token), 400, 'invalid_grant');
      expectOAuthError(await refresh(graceful, client, winner.refresh_token), 400, 'invalid_grant');
      expectTokenRefused(await mcpRequest(graceful.mcpUrl, bearer(winner.access_token)), graceful);
    });
  });
});

describe('edge 25: audience binding (RFC 8707)', () => {
  let client: Awaited<ReturnType<typeof registerClient>>;
  let tokens: Awaited<ReturnType<typeof tokensFor>>;
  beforeAll(async () => {
    client = await registerClient(main);
    tokens = await tokensFor(main, await signIn(main, client));
  });

  it('issued tokens carry aud = the MCP resource URL and iss = our issuer', () => {
    const claims = decodeJwt(tokens.access_token);
    expect(claims.aud).toBe(main.mcpUrl);
    expect(claims.iss).toBe(main.url);
  });

  it('a token of this server is refused by another server (another issuer and resource)', async () => {
    expectTokenRefused(await mcpRequest(other.mcpUrl, bearer(tokens.access_token)), other);
  });

  it('a token of this server is refused at a resource with the same issuer and keys but another URL', async () => {
    // Control: the sibling shares the keys and the issuer, so only `aud` differs.
    expect(decodeJwt(tokens.access_token).iss).toBe(main.url);
    const a = await mcpRequest(siblingMcp, bearer(tokens.access_token));
    expect(a.status).toBe(401);
    expect(a.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(a.headers.get('www-authenticate')).toContain('aud');
  });

  it('invalid_target at /authorize for a resource that is not our canonical URL', async () => {
    for (const resource of [
      `${main.mcpUrl}/`,
      main.mcpUrl.replace('127.0.0.1', 'localhost'),
      other.mcpUrl,
      `${main.url}/`,
      'https://evil.example/mcp',
    ]) {
      const auth = authorization(main, client, { resource });
      const res = await new HttpAgent().request(auth.url);
      expect(res.status).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
      expect(back.searchParams.get('error')).toBe('invalid_target');
      expect(back.searchParams.get('code')).toBeNull();
    }
  });

  it('invalid_target at /token without consuming the code', async () => {
    const s = await signIn(main, client);
    for (const resource of [`${main.mcpUrl}/`, other.mcpUrl, 'https://evil.example/mcp']) {
      expectOAuthError(await redeem(main, s, { resource }), 400, 'invalid_target');
    }
    const ok = await redeem(main, s);
    expect(ok.status).toBe(200);
    expect(decodeJwt((jsonOf(ok) as { access_token: string }).access_token).aud).toBe(main.mcpUrl);
  });

  it('invalid_target at refresh for another resource, without spending the refresh token', async () => {
    const fresh = await tokensFor(main, await signIn(main, client));
    expectOAuthError(
      await refresh(main, client, fresh.refresh_token, { resource: other.mcpUrl }),
      400,
      'invalid_target',
    );
    expect((await refresh(main, client, fresh.refresh_token)).status).toBe(200);
  });
});

describe.each(['github', 'google'] as AuthBackend[])('edge 26: no token passthrough (%s)', (backend) => {
  let target: Target;
  beforeAll(async () => {
    target = await startServer(mock, backend);
  });
  afterAll(() => target.stop());

  it('nothing the IdP issued reaches the client, and every token the client gets is ours', async () => {
    const since = lastSeq(mock);
    const seen: string[] = [];
    const keep = (a: Answer) => {
      seen.push(a.body, ...[...a.headers.entries()].map(([k, v]) => `${k}: ${v}`));
      return a;
    };
    const client = await registerClient(target);
    const agent = new HttpAgent();
    const s: SignedIn = await signIn(target, client, 'alice', { agent });
    const tokens = jsonOf(keep(await redeem(target, s))) as { access_token: string; refresh_token: string };
    const refreshed = jsonOf(keep(await refresh(target, client, tokens.refresh_token))) as {
      access_token: string;
    };
    keep(await mcpRequest(target.mcpUrl, bearer(refreshed.access_token)));
    // Every answer of our server the browser saw, and where it sent the client.
    for (const x of agent.exchanges) {
      if (!x.request.url.startsWith(target.url) || !x.response) continue;
      seen.push(x.response.body, ...Object.entries(x.response.headers).map(([k, v]) => `${k}: ${v}`));
    }
    seen.push(s.back.toString());

    const issued = issuedByMock(mock, since);
    expect(issued.map((e) => e.kind)).toEqual(expect.arrayContaining(['code', 'access_token']));
    const everything = seen.join('\n');
    for (const entry of issued)
      expect(everything, `${entry.kind} of the IdP leaked`).not.toContain(entry.value);

    for (const token of [tokens.access_token, refreshed.access_token]) {
      expect(decodeJwt(token).iss).toBe(target.url);
      expect(decodeProtectedHeader(token).kid).toBe(
        (
          (await (await fetch(`${target.url}/.well-known/jwks.json`)).json()) as {
            keys: Array<{ kid: string }>;
          }
        ).keys[0]!.kid,
      );
    }
  });

  it("the IdP's own tokens are refused at /mcp (401 invalid_token)", async () => {
    const since = lastSeq(mock);
    await signIn(target, await registerClient(target));
    const upstream = issuedByMock(mock, since).filter((e) => e.kind !== 'code');
    expect(upstream.length).toBeGreaterThan(0);
    for (const entry of upstream)
      expectTokenRefused(await mcpRequest(target.mcpUrl, bearer(entry.value)), target);
  });
});

describe('edge 27: token responses are not cached; error bodies are registered and clean', () => {
  it('Cache-Control: no-store (and Pragma: no-cache) on code and refresh responses', async () => {
    const client = await registerClient(main);
    const s = await signIn(main, client);
    const issued = await redeem(main, s);
    expect(issued.status).toBe(200);
    expect(issued.headers.get('cache-control')).toBe('no-store');
    expect(issued.headers.get('pragma')).toBe('no-cache');
    const refreshed = await refresh(
      main,
      client,
      (jsonOf(issued) as { refresh_token: string }).refresh_token,
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
  });

  it('every token endpoint error is JSON with a registered code and a CR/LF/TAB-free description', async () => {
    const client = await registerClient(main);
    const form = (fields: Record<string, string>) => tokenRequest(main, fields);
    const cases: Array<[Promise<Answer>, number, string]> = [
      [
        form({ grant_type: 'password\r\nX-Injected: 1\t', client_id: client.client_id }),
        400,
        'unsupported_grant_type',
      ],
      [form({ client_id: client.client_id }), 400, 'invalid_request'],
      [form({ grant_type: 'authorization_code', client_id: client.client_id }), 400, 'invalid_request'],
      [
        form({
          grant_type: 'authorization_code',
          code: 'bad\r\ncode\t"x"',
          code_verifier: 'v'.repeat(43),
          client_id: client.client_id,
        }),
        400,
        'invalid_grant',
      ],
      [
        form({ grant_type: 'refresh_token', refresh_token: 'rt_\nnope', client_id: client.client_id }),
        400,
        'invalid_grant',
      ],
      [
        form({ grant_type: 'authorization_code', code: 'x', client_id: 'unknown\r\nclient' }),
        401,
        'invalid_client',
      ],
      [form({ grant_type: 'authorization_code', code: 'x' }), 401, 'invalid_client'],
      [
        form({
          grant_type: 'authorization_code',
          code: 'x',
          client_id: client.client_id,
          resource: 'https://e.example/\r\n',
        }),
        400,
        'invalid_target',
      ],
      [
        tokenRequest(
          main,
          { grant_type: 'authorization_code', code: 'x', client_id: client.client_id },
          { kind: 'none' },
          {
            'content-type': 'application/json',
          },
        ),
        400,
        'invalid_request',
      ],
      [
        answer(
          await fetch(`${main.url}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: `grant_type=refresh_token&grant_type=authorization_code&client_id=${client.client_id}`,
          }),
        ),
        400,
        'invalid_request',
      ],
      [answer(await fetch(`${main.url}/token`)), 405, 'invalid_request'],
      [
        answer(
          await fetch(`${main.url}/token`, {
            method: 'POST',
            headers: {
              authorization: basicHeader('no-such-client', 'x'),
              'content-type': 'application/x-www-form-urlencoded',
            },
            body: 'grant_type=authorization_code&code=x',
          }),
        ),
        401,
        'invalid_client',
      ],
    ];
    for (const [pending, status, error] of cases) {
      const a = await pending;
      const body = expectOAuthError(a, status, error, TOKEN_ERRORS);
      expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
    }
  });

  it('registration and revocation errors follow the same rules', async () => {
    const reg = [
      await registerRaw(main, { redirect_uris: ['http://127.0.0.1:7777/cb\r\nSet-Cookie: x=1'] }),
      await registerRaw(main, { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'private_key_jwt\t' }),
      await registerRaw(main, { redirect_uris: [CALLBACK], grant_types: ['implicit'] }),
      await registerRaw(main, { redirect_uris: [] }),
    ];
    for (const a of reg) {
      expect(a.status).toBe(400);
      const body = jsonOf(a);
      expect(REGISTRATION_ERRORS).toContain(body['error']);
      expect(body['error_description']).toMatch(CLEAN_DESCRIPTION);
      expect(a.headers.get('cache-control')).toContain('no-store');
    }
    const revoke = await answer(
      await fetch(`${main.url}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=x&client_id=unknown%0D%0A',
      }),
    );
    expectOAuthError(revoke, 401, 'invalid_client');
  });
});
