import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderDescription } from '../mock-idp/app.ts';
import { expectedUser, loadPersonas } from '../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../mock-idp/server.ts';
import { HttpAgent, parseForms } from '../runner/agent/http.ts';
import { type AuthBackend, loadSettings } from './config.ts';
import { silentLogger } from './log.ts';
import { MOCK_PROVIDER, mockIdpOverrides } from './mock-wiring.ts';
import { type RunningReferenceServer, startReferenceServer } from './server.ts';
import { createMemoryStore } from './store/memory.ts';
import { seedUsers } from './users/seed.ts';

/**
 * Every backend of the catalogue, end to end against the mock IdP: for proxy backends,
 * registration, authorization, our consent page, the upstream sign-in as a persona, the token,
 * an MCP call and `whoami` naming the user the persona file expects; for remote and jwt
 * backends, a token the IdP issued, presented at /mcp.
 */

const CALLBACK = 'http://127.0.0.1:7777/cb';
const personas = loadPersonas();
let mock: RunningMockIdp;
let providers: ProviderDescription[];

beforeAll(async () => {
  mock = await startMockIdp();
  providers = mock.idp.describe({ mode: 'path', origin: mock.url });
});
afterAll(() => mock.stop());

async function startFor(backend: AuthBackend): Promise<RunningReferenceServer> {
  const store = createMemoryStore();
  await seedUsers(store, personas);
  return startReferenceServer(
    ({ baseUrl }) =>
      loadSettings({
        env: {},
        overrides: { ...mockIdpOverrides(backend, providers, { baseUrl }), server: { storage: 'memory' } },
      }),
    { store, log: silentLogger },
  );
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The JSON-RPC answer of the whoami tool. */
interface WhoamiBody {
  result: { structuredContent: { user: { id: string; groups: string[] } } };
}

async function whoami(server: RunningReferenceServer, token: string) {
  const res = await fetch(server.mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'whoami', arguments: {} },
    }),
  });
  return {
    status: res.status,
    body: res.status === 200 ? ((await res.json()) as WhoamiBody) : await res.text(),
  };
}

/** The whole proxy flow for one persona; returns the MCP whoami user id, or the refusal. */
async function proxySignIn(server: RunningReferenceServer, backend: AuthBackend, persona: string) {
  const reg = await fetch(`${server.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'none',
      client_name: 'E2E',
    }),
  });
  expect(reg.status).toBe(201);
  const client = (await reg.json()) as { client_id: string };
  const { verifier, challenge } = pkce();
  const agent = new HttpAgent();
  const authorizeUrl = `${server.url}/authorize?${new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: CALLBACK,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: `st-${persona}`,
    resource: server.mcpUrl,
  })}`;
  const consentPage = await agent.navigate(authorizeUrl);
  expect(consentPage.final?.status).toBe(200);
  expect(consentPage.final?.body).toContain('E2E');
  const form = parseForms(consentPage.final!.body, consentPage.final!.url).find((f) =>
    f.buttons.some((b) => b.value === 'approve'),
  )!;
  mock.idp.nextLogin(persona, { provider: MOCK_PROVIDER[backend]! });
  const done = await agent.submit(
    form,
    { name: 'action', value: 'approve' },
    { stopAt: (u) => u.startsWith(CALLBACK) },
  );
  if (!done.stoppedAt) return { refused: done.final?.status, body: done.final?.body };
  const back = new URL(done.stoppedAt);
  expect(back.searchParams.get('state')).toBe(`st-${persona}`);
  const code = back.searchParams.get('code');
  if (!code) return { refused: back.searchParams.get('error') };
  const tokenRes = await fetch(`${server.url}/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: client.client_id,
      redirect_uri: CALLBACK,
      resource: server.mcpUrl,
    }),
  });
  expect(tokenRes.status).toBe(200);
  const tokens = (await tokenRes.json()) as { access_token: string };
  // No upstream token ever reaches the client (edge 26): the issued tokens are all ours.
  const issuedUpstream = mock.idp.journal
    .entries({ type: 'issued' })
    .map((e) => (e.type === 'issued' ? e.value : ''));
  expect(issuedUpstream).not.toContain(tokens.access_token);
  const who = await whoami(server, tokens.access_token);
  expect(who.status).toBe(200);
  return { user: (who.body as WhoamiBody).result.structuredContent.user.id };
}

const PROXY_BACKENDS: AuthBackend[] = [
  'github',
  'google',
  'azure',
  'auth0',
  'aws',
  'clerk',
  'discord',
  'workos',
  'oci',
];

describe.each(PROXY_BACKENDS)('proxy backend %s', (backend) => {
  let server: RunningReferenceServer;
  beforeAll(async () => {
    server = await startFor(backend);
  });
  afterAll(() => server.stop());

  for (const persona of ['alice', 'heidi']) {
    it(`resolves ${persona} as the personas file expects`, async () => {
      const p = personas.personas.find((x) => x.id === persona)!;
      const expected = expectedUser(p, MOCK_PROVIDER[backend]!);
      const result = await proxySignIn(server, backend, persona);
      if (expected === null) {
        expect(result.user).toBeUndefined();
        expect(result.refused).toBe(403);
      } else {
        expect(result).toEqual({ user: expected });
      }
    });
  }
});

/** A token the IdP itself issues (code flow with RFC 8707 resource), for remote and jwt backends. */
async function idpToken(providerId: string, persona: string, resource: string): Promise<string> {
  const p = providers.find((d) => d.id === providerId)!;
  const { verifier, challenge } = pkce();
  mock.idp.nextLogin(persona, { provider: providerId });
  const authorize = await fetch(
    `${p.endpoints['authorize']}?${new URLSearchParams({
      client_id: p.client.client_id,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'openid email profile',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'remote-state',
      resource,
    })}`,
    { redirect: 'manual' },
  );
  const location = authorize.headers.get('location');
  expect(location, `${providerId} authorize answered ${authorize.status}`).toBeTruthy();
  const code = new URL(location!).searchParams.get('code')!;
  const basic = Buffer.from(`${p.client.client_id}:${p.client.client_secret}`).toString('base64');
  const res = await fetch(p.endpoints['token']!, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}` },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      resource,
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const REMOTE_BACKENDS: AuthBackend[] = ['supabase', 'scalekit', 'propelauth', 'descope', 'jwt'];

describe.each(REMOTE_BACKENDS)('remote backend %s', (backend) => {
  let server: RunningReferenceServer;
  beforeAll(async () => {
    server = await startFor(backend);
  });
  afterAll(() => server.stop());

  it('advertises the IdP in its protected resource metadata', async () => {
    const prm = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json()) as {
      resource: string;
      authorization_servers: string[];
    };
    expect(prm.resource).toBe(server.mcpUrl);
    expect(prm.authorization_servers.length).toBe(1);
    expect(prm.authorization_servers[0]).toContain(mock.url);
  });

  it('accepts a token the IdP issued for alice and names U1', async () => {
    const token = await idpToken(MOCK_PROVIDER[backend]!, 'alice', server.mcpUrl);
    const who = await whoami(server, token);
    expect(who.status, String(who.body)).toBe(200);
    expect((who.body as WhoamiBody).result.structuredContent.user.id).toBe('U1');
  });

  it('refuses a token that is not the IdP’s', async () => {
    const who = await whoami(server, 'not-a-token');
    expect(who.status).toBe(401);
  });
});

describe.each(['dev-admin', 'dev-public'] as const)('%s', (backend) => {
  let server: RunningReferenceServer;
  beforeAll(async () => {
    server = await startFor(backend);
  });
  afterAll(() => server.stop());

  it('needs no token and acts as the first matching user of the store', async () => {
    const res = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'whoami', arguments: {} },
      }),
    });
    expect(res.status).toBe(200);
    const user = ((await res.json()) as WhoamiBody).result.structuredContent.user;
    expect(user).toMatchObject(backend === 'dev-admin' ? { id: 'U1', groups: ['admin'] } : { id: 'U2' });
  });
});
