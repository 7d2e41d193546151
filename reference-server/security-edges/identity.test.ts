/**
 * Security edges 31-34 (reference/security-edges.md, "Claims and identity"), proven end to end:
 * a persona signs in through our consent page and the mock IdP (or the in-memory backend's own
 * page), the code is redeemed, and `whoami` says who the server resolved and which claims it
 * passed through. The expected user of each persona at each provider comes from the personas
 * file (`expect`), the single source the user-resolution suite reads too.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedUser, type PersonaSet } from '../../mock-idp/personas.ts';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { type AuthBackend, loadSettings } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { MOCK_PROVIDER } from '../mock-wiring.ts';
import {
  type Answer,
  approveAndSignIn,
  atRedirect,
  authorization,
  expectErrorPage,
  HttpAgent,
  lastSeq,
  openConsent,
  personas,
  type RegisteredClient,
  registerClient,
  type SignedIn,
  signIn,
  startMock,
  startServer,
  type Target,
  tokensFor,
  upstreamRequests,
  whoami,
} from './harness.ts';

let mock: RunningMockIdp;
const servers = new Map<string, Target>();
const clients = new Map<Target, RegisteredClient>();

beforeAll(async () => {
  mock = await startMock();
});
afterAll(async () => {
  for (const target of servers.values()) await target.stop();
  await mock.stop();
});

/** One server per backend and settings variant, shared by the tests of this file. */
async function serverFor(backend: AuthBackend, overrides: Record<string, unknown> = {}): Promise<Target> {
  const key = `${backend} ${JSON.stringify(overrides)}`;
  let target = servers.get(key);
  if (!target) {
    target = await startServer(mock, backend, { overrides });
    servers.set(key, target);
  }
  return target;
}

async function clientOf(target: Target): Promise<RegisteredClient> {
  let client = clients.get(target);
  if (!client) {
    client = await registerClient(target);
    clients.set(target, client);
  }
  return client;
}

type Outcome = { user: string; token: string } | { refused: Answer };

/** A persona's sign-in to the end: the user whoami names, or the page that refused it. */
async function resolve(target: Target, persona: string): Promise<Outcome> {
  const auth = authorization(target, await clientOf(target));
  const agent = new HttpAgent();
  const { form } = await openConsent(agent, auth.url);
  const nav = await approveAndSignIn(target, agent, form, persona, auth.redirectUri);
  if (!nav.stoppedAt) return { refused: nav.final! };
  const back = new URL(nav.stoppedAt);
  const code = back.searchParams.get('code');
  expect(code, `no code and no error page: ${back}`).toBeTruthy();
  const s = { ...auth, agent, navigation: nav, back, code: code! } satisfies SignedIn;
  const tokens = await tokensFor(target, s);
  return { user: (await whoami(target.mcpUrl, tokens.access_token)).user.id, token: tokens.access_token };
}

/** The refusal of an unknown or unverifiable user: our error page, no code to anyone. */
function expectRefused(outcome: Outcome): void {
  expect('refused' in outcome, `resolved to ${'user' in outcome ? outcome.user : ''}`).toBe(true);
  const refused = (outcome as { refused: Answer }).refused;
  expectErrorPage(refused, 403, 'access_denied');
  expect(refused.body).toContain('no account of this server matches you');
}

describe('edge 31: claims pass through only allowed, capped, nested and never over ours', () => {
  it('in-memory, no allow-list: reserved names and the oversized claim are dropped; ours stay ours', async () => {
    const target = await serverFor('in-memory', { 'claims.allow_list': [] });
    const client = await clientOf(target);
    const s = await signIn(target, client, 'oscar');
    const tokens = await tokensFor(target, s);
    const claims = decodeJwt(tokens.access_token);
    // Ours: the upstream's iss, aud and scope ("https://evil.example", "admin") never replace them.
    expect(claims.iss).toBe(target.url);
    expect(claims.aud).toBe(target.mcpUrl);
    expect(claims.sub).toBe('U9');
    expect(claims['scope']).toBe('');
    expect(claims['client_id']).toBe(client.client_id);
    expect(claims['token_use']).toBe('access');
    const oscar = personas.personas.find((p) => p.id === 'oscar')!;
    const passed = {
      roles: oscar.claims['roles'],
      groups: oscar.claims['groups'],
      profile: oscar.claims['profile'],
    };
    expect(claims['upstream_claims']).toEqual(passed);
    expect(JSON.stringify(oscar.claims['notes']).length).toBeGreaterThan(2048);
    expect(tokens.access_token.length).toBeLessThan(2048);
    const who = await whoami(target.mcpUrl, tokens.access_token);
    expect(who.claims).toEqual(passed);
    expect(who.user.id).toBe('U9');
    expect(who.client_id).toBe(client.client_id);
    expect(who.scopes).toEqual([]);
  });

  it('in-memory, the default allow-list: only roles and groups', async () => {
    const target = await serverFor('in-memory');
    const outcome = await resolve(target, 'oscar');
    expect('user' in outcome && outcome.user).toBe('U9');
    const claims = decodeJwt((outcome as { token: string }).token);
    expect(claims['upstream_claims']).toEqual({ roles: ['auditor'], groups: ['finance', 'audit'] });
  });

  it('azure: claims of the verified id_token pass through the allow-list', async () => {
    await fetch(`${mock.url}/_mock/settings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'entra', settings: { custom_claims: true } }),
    });
    try {
      const target = await serverFor('azure');
      const outcome = await resolve(target, 'oscar');
      expect('user' in outcome && outcome.user).toBe('U9');
      const who = await whoami(target.mcpUrl, (outcome as { token: string }).token);
      expect(who.claims).toEqual({ roles: ['auditor'], groups: ['finance', 'audit'] });
      const claims = decodeJwt((outcome as { token: string }).token);
      expect([claims.iss, claims.aud, claims.sub]).toEqual([target.url, target.mcpUrl, 'U9']);
    } finally {
      mock.idp.provider('entra').resetSettings();
    }
  });

  it('passthrough off: no upstream claim at all', async () => {
    const target = await serverFor('in-memory', { 'claims.passthrough': false });
    const outcome = await resolve(target, 'oscar');
    const claims = decodeJwt((outcome as { token: string }).token);
    expect(claims).not.toHaveProperty('upstream_claims');
    expect((await whoami(target.mcpUrl, (outcome as { token: string }).token)).claims).toEqual({});
  });

  it('the settings refuse a reserved name in the allow-list or as the nesting claim', () => {
    for (const overrides of [
      { 'claims.allow_list': ['roles', 'iss'] },
      { 'claims.allow_list': ['scope'] },
      { 'claims.allow_list': ['client_id'] },
      { 'claims.claim': 'sub' },
      { 'claims.claim': 'token_use' },
    ]) {
      expect(() => loadSettings({ env: {}, overrides: { auth: 'in-memory', ...overrides } })).toThrow(
        ConfigError,
      );
    }
  });
});

/**
 * Personas and providers that exercise edges 32 and 33 (each names the trap it sets), with the
 * settings of the server: grace belongs to another Entra tenant, so a single-tenant app never
 * sees her token; the multi-tenant `organizations` authority does, and must not trust her email.
 */
const ORGANIZATIONS = { 'oauth.tenant_id': 'organizations' };
const RESOLUTION: Array<[AuthBackend, string, string, Record<string, unknown>?]> = [
  ['github', 'carol', "unverified primary address equal to alice's"],
  ['github', 'dave', 'private primary verified address, only in /user/emails'],
  ['github', 'erin', 'noreply address only: falls back to the login'],
  ['github', 'bob', 'login differing in case only'],
  ['github', 'ivan', 'renamed login, nothing verified'],
  ['github', 'alice-plus', 'alice+test@: a +tag is another address'],
  ['google', 'carol', 'email_verified false'],
  ['google', 'bob', 'address differing in case only'],
  ['google', 'erin', 'no email at all'],
  ['google', 'judy-dots', 'judy.smith@gmail.com'],
  ['google', 'judy-nodots', 'judysmith@gmail.com must not match judy.smith@'],
  ['google', 'alice-plus', 'alice+test@ must not match alice@'],
  ['azure', 'grace', "another tenant's unverified email equal to alice's", ORGANIZATIONS],
  ['azure', 'alice', 'verified domain, multi-tenant authority', ORGANIZATIONS],
  ['azure', 'heidi', 'a UPN in preferred_username that looks like frank@'],
  ['azure', 'erin', 'preferred_username only'],
  ['azure', 'alice', 'verified domain (xms_edov)'],
  ['aws', 'carol', 'email_verified "false" as a string'],
  ['aws', 'grace', 'unverified address'],
  ['aws', 'bob', 'verified address differing in case'],
];

describe('edges 32 and 33: email identifies only when verified, compared ignoring case only', () => {
  for (const [backend, persona, trap, overrides] of RESOLUTION) {
    const provider = MOCK_PROVIDER[backend]!;
    const expected = expectedUser(personas.personas.find((p) => p.id === persona)!, provider);
    it(`${backend}, ${persona} (${trap}) -> ${expected ?? 'refused'}`, async () => {
      const outcome = await resolve(await serverFor(backend, overrides), persona);
      if (expected === null) expectRefused(outcome);
      else expect('user' in outcome ? outcome.user : 'refused').toBe(expected);
    });
  }

  it('after the first match the link by the immutable id wins over a later email change', async () => {
    const original = mock.idp.personas;
    const changed = structuredClone(original) as PersonaSet;
    const dave = changed.personas.find((p) => p.id === 'dave')!;
    dave.providers['github'] = {
      ...dave.providers['github'],
      email: 'alice@example.com',
      emails: [{ email: 'alice@example.com', primary: true, verified: true, visibility: 'public' }],
    };
    try {
      // Control: on a server that never saw dave, the changed profile would resolve to alice (U1).
      const fresh = await startServer(mock, 'github');
      try {
        mock.idp.setPersonas(changed);
        const before = await resolve(fresh, 'dave');
        expect('user' in before && before.user).toBe('U1');
      } finally {
        mock.idp.setPersonas(original);
        await fresh.stop();
      }
      // On a server where dave signed in once (linked to U7 by GitHub id 1004) it stays U7.
      const linked = await startServer(mock, 'github');
      try {
        const first = await resolve(linked, 'dave');
        expect('user' in first && first.user).toBe('U7');
        mock.idp.setPersonas(changed);
        const after = await resolve(linked, 'dave');
        expect('user' in after && after.user).toBe('U7');
      } finally {
        mock.idp.setPersonas(original);
        await linked.stop();
      }
    } finally {
      mock.idp.setPersonas(original);
    }
  });
});

describe('edge 34: the upstream id_token is verified before any claim in it is used', () => {
  const DEFECTS = [
    'expired',
    'not-yet-valid',
    'wrong-iss',
    'wrong-aud',
    'bad-signature',
    'alg-none',
  ] as const;
  for (const backend of ['google', 'azure'] as AuthBackend[]) {
    for (const defect of DEFECTS) {
      it(`${backend}: an id_token with the "${defect}" defect ends at an error page with no code`, async () => {
        const target = await serverFor(backend);
        const provider = MOCK_PROVIDER[backend]!;
        const since = lastSeq(mock);
        mock.idp.addFault({ provider, endpoint: 'token', action: { kind: 'token', defect }, times: 1 });
        const outcome = await resolve(target, 'alice');
        expect('refused' in outcome).toBe(true);
        const refused = (outcome as { refused: Answer }).refused;
        expect(refused.status).toBe(502);
        expect(refused.headers.get('location')).toBeNull();
        expect(refused.body).toContain('<strong id="error">server_error</strong>');
        expect(refused.body).toMatch(/id_token/);
        expect(upstreamRequests(mock, provider, 'token', since)).toHaveLength(1);
        expect(mock.idp.faults.list()).toEqual([]);
      });
    }
  }

  it('google: an id_token carrying another nonce (an injected authorization response) is refused', async () => {
    const target = await serverFor('google');
    const auth = authorization(target, await clientOf(target));
    const agent = new HttpAgent();
    const { form } = await openConsent(agent, auth.url);
    const upstreamAuthorize = `${mock.url}/`;
    const toUpstream = await agent.submit(
      form,
      { name: 'action', value: 'approve' },
      { stopAt: (u) => u.startsWith(upstreamAuthorize) },
    );
    const upstream = new URL(toUpstream.stoppedAt!);
    expect(upstream.searchParams.get('nonce')).toBeTruthy();
    upstream.searchParams.set('nonce', 'attacker-chosen-nonce');
    mock.idp.nextLogin('alice', { provider: 'google' });
    const nav = await agent.navigate(upstream.toString(), { stopAt: atRedirect(auth.redirectUri) });
    expect(nav.stoppedAt).toBeUndefined();
    expect(nav.final!.status).toBe(502);
    expect(nav.final!.headers.get('location')).toBeNull();
    expect(nav.final!.body).toMatch(/nonce/);
  });

  it('control: the same flows without a defect resolve alice', async () => {
    for (const backend of ['google', 'azure'] as AuthBackend[]) {
      const outcome = await resolve(await serverFor(backend), 'alice');
      expect('user' in outcome && outcome.user).toBe('U1');
    }
  });
});
