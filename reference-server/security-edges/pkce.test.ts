/**
 * Security edges 17-19 (reference/security-edges.md, "PKCE"), proven on the reference server with
 * the github backend in front of the mock IdP. The mock's journal shows the upstream leg: the
 * authorization request the browser carried to GitHub and the token request our server made.
 * @see https://www.rfc-editor.org/rfc/rfc7636
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import {
  authorization,
  CALLBACK,
  expectOAuthError,
  HttpAgent,
  lastSeq,
  openConsent,
  redeem,
  registerClient,
  signIn,
  startMock,
  startServer,
  type Target,
  upstreamRequests,
} from './harness.ts';

let mock: RunningMockIdp;
let target: Target;

beforeAll(async () => {
  mock = await startMock();
  target = await startServer(mock, 'github');
});
afterAll(async () => {
  await target.stop();
  await mock.stop();
});

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

describe('edge 17: no PKCE downgrade at /authorize', () => {
  const cases: Array<[string, Record<string, string | undefined>]> = [
    ['no code_challenge', { code_challenge: undefined, code_challenge_method: undefined }],
    ['no code_challenge but a method', { code_challenge: undefined }],
    ['code_challenge_method plain', { code_challenge_method: 'plain' }],
    ['no code_challenge_method (plain by default, RFC 7636 4.3)', { code_challenge_method: undefined }],
    ['an unknown method S512', { code_challenge_method: 'S512' }],
    ['method s256 in lower case', { code_challenge_method: 's256' }],
    ['a challenge that is not an S256 value (42 characters)', { code_challenge: 'a'.repeat(42) }],
    ['a plain verifier sent as the challenge (too long for S256)', { code_challenge: 'v'.repeat(64) }],
  ];
  for (const [label, extra] of cases) {
    it(`refuses ${label}: invalid_request to the registered URI, no consent page, nothing upstream`, async () => {
      const since = lastSeq(mock);
      const client = await registerClient(target);
      const auth = authorization(target, client, extra);
      const res = await new HttpAgent().request(auth.url);
      expect(res.status).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('code')).toBeNull();
      expect(back.searchParams.get('state')).toBe(auth.state);
      expect(back.searchParams.get('iss')).toBe(target.url);
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(upstreamRequests(mock, 'github', 'authorize', since)).toEqual([]);
    });
  }
});

describe('edge 18: the code_verifier must match (RFC 7636 4.6)', () => {
  it('invalid_grant for a wrong verifier, a missing one, and a short one whose S256 matches', async () => {
    const client = await registerClient(target);
    // A 42-character verifier is below RFC 7636 4.1's minimum even though its challenge matches.
    const short = randomBytes(42).toString('base64url').slice(0, 42);
    const s = await signIn(target, client, 'alice', { extra: { code_challenge: s256(short) } });
    expectOAuthError(
      await redeem(target, s, { code_verifier: randomBytes(32).toString('base64url') }),
      400,
      'invalid_grant',
    );
    expectOAuthError(await redeem(target, s, { code_verifier: undefined }), 400, 'invalid_grant');
    expectOAuthError(await redeem(target, s, { code_verifier: short }), 400, 'invalid_grant');
    // The challenge itself is not a verifier.
    expectOAuthError(await redeem(target, s, { code_verifier: s256(short) }), 400, 'invalid_grant');
  });

  it('the right verifier still redeems after failed attempts (an attacker cannot burn the code)', async () => {
    const client = await registerClient(target);
    const s = await signIn(target, client);
    expectOAuthError(await redeem(target, s, { code_verifier: 'x'.repeat(43) }), 400, 'invalid_grant');
    const ok = await redeem(target, s);
    expect(ok.status).toBe(200);
  });
});

describe('edge 19: our own state, PKCE pair and fixed callback toward the upstream', () => {
  it('never forwards the client state or challenge; the upstream token request carries our verifier', async () => {
    const client = await registerClient(target);
    const since = lastSeq(mock);
    const s = await signIn(target, client);
    const [authorize] = upstreamRequests(mock, 'github', 'authorize', since);
    const [token] = upstreamRequests(mock, 'github', 'token', since);
    expect(authorize).toBeDefined();
    expect(token).toBeDefined();
    const up = authorize!.params;
    expect(up['redirect_uri']).toBe(`${target.url}/oauth/callback`);
    expect(up['code_challenge_method']).toBe('S256');
    expect(up['state']).not.toBe(s.state);
    expect(up['code_challenge']).not.toBe(s.challenge);
    expect(String(up['state'])).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    // None of the client's values appears anywhere upstream.
    const everything = JSON.stringify([authorize, token]);
    for (const value of [s.state, s.challenge, s.verifier, s.client.client_id, CALLBACK]) {
      expect(everything).not.toContain(value);
    }
    expect(up).not.toHaveProperty('resource');
    // The upstream token request: our verifier, whose S256 is the challenge we sent upstream.
    const verifier = String(token!.params['code_verifier']);
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(s256(verifier)).toBe(up['code_challenge']);
    expect(verifier).not.toBe(s.verifier);
    expect(token!.params['redirect_uri']).toBe(`${target.url}/oauth/callback`);
  });

  it('uses a fresh state and PKCE pair for every transaction', async () => {
    const client = await registerClient(target);
    const since = lastSeq(mock);
    await signIn(target, client);
    await signIn(target, client);
    const ups = upstreamRequests(mock, 'github', 'authorize', since).map((e) => e.params);
    expect(ups).toHaveLength(2);
    expect(ups[0]!['state']).not.toBe(ups[1]!['state']);
    expect(ups[0]!['code_challenge']).not.toBe(ups[1]!['code_challenge']);
  });

  it("binds the upstream state to its transaction: another transaction's code under this state gets no client code", async () => {
    const client = await registerClient(target);
    const agent = new HttpAgent();
    const callback = `${target.url}/oauth/callback`;
    // Transaction 1 reaches the callback with GitHub's code; transaction 2 (same browser) too.
    const first = authorization(target, client);
    const { form: form1 } = await openConsent(agent, first.url);
    mock.idp.nextLogin('alice', { provider: 'github' });
    const cb1 = await agent.submit(
      form1,
      { name: 'action', value: 'approve' },
      { stopAt: (u) => u.startsWith(`${callback}?`) },
    );
    const code1 = new URL(cb1.stoppedAt!).searchParams.get('code')!;
    const second = authorization(target, client);
    const { form: form2 } = await openConsent(agent, second.url);
    mock.idp.nextLogin('bob', { provider: 'github' });
    const cb2 = await agent.submit(
      form2,
      { name: 'action', value: 'approve' },
      { stopAt: (u) => u.startsWith(`${callback}?`) },
    );
    // Transaction 2's state with transaction 1's upstream code: exchanged with transaction 2's
    // verifier, which GitHub refuses (the code was issued for another challenge).
    const spliced = new URL(cb2.stoppedAt!);
    spliced.searchParams.set('code', code1);
    const res = await agent.navigate(spliced.toString(), { stopAt: (u) => u.startsWith(CALLBACK) });
    expect(res.stoppedAt).toBeUndefined();
    expect(res.final!.status).toBe(502);
    expect(res.final!.headers.get('location')).toBeNull();
    expect(res.final!.body).toContain('<strong id="error">server_error</strong>');
  });
});
