import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPersonas } from '../mock-idp/personas.ts';
import { loadSettings } from './config.ts';
import { createLogger } from './log.ts';
import { type RunningReferenceServer, startReferenceServer } from './server.ts';
import { createMemoryStore } from './store/memory.ts';
import { seedUsers } from './users/seed.ts';

let server: RunningReferenceServer;
/** Every log line the server wrote during these tests. */
const logLines: string[] = [];

beforeAll(async () => {
  const store = createMemoryStore();
  await seedUsers(store, loadPersonas());
  const settings = loadSettings({
    env: {},
    overrides: { auth: 'in-memory', server: { port: 0, storage: 'memory' } },
  });
  server = await startReferenceServer(settings, {
    store,
    log: createLogger({ level: 'debug', write: (line) => logLines.push(line) }),
  });
});
afterAll(() => server.stop());

class Jar {
  cookies = new Map<string, string>();
  store(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  }
  header() {
    return [...this.cookies]
      .filter(([, v]) => v)
      .map(([k, v]) => `${k}=${v}`)
      .join('; ');
  }
}

async function signIn(persona: string) {
  const base = server.url;
  const reg = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: ['http://127.0.0.1:7777/cb'],
      token_endpoint_auth_method: 'none',
      client_name: 'Test Client',
    }),
  });
  expect(reg.status).toBe(201);
  const client = (await reg.json()) as { client_id: string };
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const jar = new Jar();
  const authorizeUrl = `${base}/authorize?${new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: 'http://127.0.0.1:7777/cb',
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-1',
    resource: server.mcpUrl,
  })}`;
  const consentPage = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(consentPage.status).toBe(200);
  jar.store(consentPage);
  const html = await consentPage.text();
  expect(html).toContain('Test Client');
  expect(html).toContain('http://127.0.0.1:7777/cb');
  const txn = html.match(/name="txn" value="([^"]+)"/)![1]!;
  const csrf = html.match(/name="csrf" value="([^"]+)"/)![1]!;
  const approved = await fetch(`${base}/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), origin: new URL(base).origin },
    body: new URLSearchParams({ txn, csrf, action: 'approve' }),
  });
  expect(approved.status).toBe(303);
  jar.store(approved);
  const loginPage = await fetch(new URL(approved.headers.get('location')!, base), {
    redirect: 'manual',
    headers: { cookie: jar.header() },
  });
  expect(loginPage.status).toBe(200);
  jar.store(loginPage);
  const loginHtml = await loginPage.text();
  const loginCsrf = loginHtml.match(/name="csrf" value="([^"]+)"/)![1]!;
  const done = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header() },
    body: new URLSearchParams({ txn, csrf: loginCsrf, persona }),
  });
  return { done, client, verifier };
}

describe('in-memory backend, end to end', () => {
  it('registers, consents, signs in as a persona, exchanges the code and calls whoami', async () => {
    const { done, client, verifier } = await signIn('alice');
    expect(done.status).toBe(302);
    const back = new URL(done.headers.get('location')!);
    expect(back.searchParams.get('state')).toBe('st-1');
    expect(back.searchParams.get('iss')).toBe(server.url);
    const tokenRes = await fetch(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code')!,
        code_verifier: verifier,
        client_id: client.client_id,
        redirect_uri: 'http://127.0.0.1:7777/cb',
      }),
    });
    expect(tokenRes.status).toBe(200);
    expect(tokenRes.headers.get('cache-control')).toContain('no-store');
    const tokens = (await tokenRes.json()) as { access_token: string; refresh_token: string };
    const call = await fetch(server.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
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
    expect(call.status).toBe(200);
    const body = (await call.json()) as {
      result: { structuredContent: { user: { id: string; email: string } } };
    };
    expect(body.result.structuredContent.user).toMatchObject({ id: 'U1', email: 'alice@example.com' });
  });

  it('logs structured JSON lines without any secret it handled', async () => {
    const { done, client, verifier } = await signIn('alice');
    const code = new URL(done.headers.get('location')!).searchParams.get('code')!;
    const tokens = (await (
      await fetch(`${server.url}/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          client_id: client.client_id,
          redirect_uri: 'http://127.0.0.1:7777/cb',
        }),
      })
    ).json()) as { access_token: string; refresh_token: string };
    // A replayed code and a bad token make the server log warnings about them.
    await fetch(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        client_id: client.client_id,
      }),
    });
    await fetch(server.mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}x` },
    });
    expect(logLines.length).toBeGreaterThan(2);
    for (const line of logLines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(entry).toMatchObject({
        level: expect.any(String),
        event: expect.any(String),
        time: expect.any(String),
      });
      for (const secret of [code, verifier, tokens.access_token, tokens.refresh_token])
        expect(line).not.toContain(secret);
    }
    expect(logLines.some((l) => l.includes('"event":"token.code_replayed"'))).toBe(true);
  });

  it('refuses an unknown user with an error page and no code', async () => {
    const { done } = await signIn('heidi');
    expect(done.status).toBe(403);
    expect(done.headers.get('location')).toBeNull();
  });

  it('challenges an unauthenticated MCP request', async () => {
    const res = await fetch(server.mcpUrl, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`,
    );
    const prm = (await (
      await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    expect(prm['resource']).toBe(server.mcpUrl);
    expect(prm['authorization_servers']).toEqual([server.url]);
  });
});
