import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MockIdp } from './app.ts';
import { loginThroughPage } from './login-client.ts';
import { hostApp, json, type ProviderDefinition } from './provider.ts';
import { type RunningMockIdp, startMockIdp } from './server.ts';

/**
 * A minimal provider shape used to test the shared machinery (routing, login page, next-login,
 * journal, faults, settings, malformed input) independently of the real provider shapes.
 */
const acme: ProviderDefinition = {
  id: 'acme',
  title: 'Acme ID',
  hosts: [{ id: 'web', host: 'login.acme.test', defaultHost: 'login.acme.test', prefix: 'acme' }],
  clients: [
    {
      clientId: 'acme-client',
      clientSecret: 'acme-secret',
      redirectUris: ['https://app.example/cb'],
      allowLoopback: true,
      tokenEndpointAuthMethod: 'client_secret_post',
      name: 'Acme Test App',
      extra: {},
    },
  ],
  settings: { strict: false },
  mount(ctx) {
    const app = hostApp();
    ctx.endpoint(app, { name: 'authorize', path: '/authorize', methods: ['GET'] }, (req) => {
      const client = ctx.clients.get(req.params['client_id'] ?? '');
      const redirectUri = req.params['redirect_uri'] ?? '';
      if (!client) return json({ shape: 'acme', code: 'unknown_client' }, 400);
      return ctx.authorize(req, {
        clientId: client.clientId,
        redirectUri,
        target: redirectUri,
        scope: (req.params['scope'] ?? '').split(' ').filter(Boolean),
        state: req.params['state'],
        nonce: undefined,
        codeChallenge: undefined,
        codeChallengeMethod: undefined,
        responseMode:
          (req.params['response_mode'] as 'query' | 'fragment' | 'form_post' | undefined) ?? 'query',
        extra: {},
        redirectParams: { iss: ctx.url(req.view, 'web') },
      });
    });
    ctx.endpoint(app, { name: 'token', path: '/token', methods: ['POST'] }, async (req) => {
      if (req.repeated.length) return json({ shape: 'acme', code: 'repeated', params: req.repeated }, 400);
      const result = ctx.grants.redeemCode('acme', req.params['code'] ?? '', {
        clientId: req.params['client_id'] ?? '',
        redirectUri: req.params['redirect_uri'],
        codeVerifier: undefined,
      });
      if (!result.ok) return json({ shape: 'acme', code: result.reason }, 400);
      const idToken = await ctx.signJwt('token', {
        iss: ctx.url(req.view, 'web'),
        sub: result.record.persona,
        aud: 'acme-client',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 300,
        strict: ctx.setting<boolean>('strict'),
      });
      ctx.issued('id_token', result.record.persona, 'acme-client', idToken);
      return json({ id_token: idToken });
    });
    ctx.endpoint(app, { name: 'jwks', path: '/jwks', methods: ['GET'] }, async () =>
      json(await ctx.keys.jwks()),
    );
    ctx.endpoint(app, { name: 'boom', path: '/boom', methods: ['GET'] }, () => {
      throw new Error('handler bug');
    });
    return { web: app };
  },
  describe(ctx, view) {
    return {
      issuer: ctx.url(view, 'web'),
      endpoints: { authorize: ctx.url(view, 'web', '/authorize'), token: ctx.url(view, 'web', '/token') },
    };
  },
  identity: (persona) => ({ acme_id: `acme-${persona.id}` }),
  error: (input) =>
    json({ shape: 'acme', code: input.error, detail: input.description ?? '' }, input.status ?? 400),
};

let running: RunningMockIdp;
let idp: MockIdp;
let base: string;

const control = (path: string, init: RequestInit = {}) =>
  fetch(`${running.url}/_mock/${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
  });

const authorizeUrl = (extra: Record<string, string> = {}) =>
  `${base}/authorize?${new URLSearchParams({
    client_id: 'acme-client',
    redirect_uri: 'http://127.0.0.1:9999/cb',
    state: 's-1',
    ...extra,
  })}`;

beforeAll(async () => {
  running = await startMockIdp({ definitions: [acme] });
  idp = running.idp;
  base = `${running.url}/acme`;
});
afterAll(() => running.stop());
beforeEach(() => idp.reset());

describe('control API', () => {
  it('describes each provider with its base URLs, endpoints and default client', async () => {
    const res = await control('providers');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { providers: Array<Record<string, unknown>> };
    expect(body.providers).toEqual([
      {
        id: 'acme',
        title: 'Acme ID',
        issuer: base,
        base_urls: { web: base },
        endpoints: { authorize: `${base}/authorize`, token: `${base}/token` },
        client: {
          client_id: 'acme-client',
          client_secret: 'acme-secret',
          redirect_uris: ['https://app.example/cb'],
          loopback_redirects_allowed: true,
          token_endpoint_auth_method: 'client_secret_post',
        },
        clients: [{ client_id: 'acme-client', name: 'Acme Test App' }],
      },
    ]);
  });

  it('lists personas with their identity in each provider shape', async () => {
    const body = (await (await control('personas')).json()) as {
      users: unknown[];
      personas: Array<{ id: string; identities: Record<string, unknown>; expect: unknown }>;
    };
    const alice = body.personas.find((p) => p.id === 'alice')!;
    expect(alice.identities).toEqual({ acme: { acme_id: 'acme-alice' } });
    expect(alice.expect).toEqual({ default: 'U1' });
    expect(body.users.length).toBeGreaterThanOrEqual(5);
  });

  it('refuses wrong methods, bad JSON, unknown personas and providers with JSON errors', async () => {
    const wrong = await control('journal', { method: 'POST' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    const badJson = await control('next-login', { method: 'POST', body: '{nope' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ message: 'request body is not valid JSON' });
    const unknown = await control('next-login', { method: 'POST', body: JSON.stringify({ persona: 'zed' }) });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      code: 'ERR_UNKNOWN_PERSONA',
      message: 'unknown persona "zed"',
    });
    const noProvider = await control('next-login', {
      method: 'POST',
      body: JSON.stringify({ persona: 'alice', provider: 'nope' }),
    });
    expect(noProvider.status).toBe(404);
    expect(await noProvider.json()).toMatchObject({ code: 'ERR_UNKNOWN_PROVIDER' });
    const badAction = await control('next-login', {
      method: 'POST',
      body: JSON.stringify({ persona: 'alice', action: 'denied' }),
    });
    expect(badAction.status).toBe(400);
    expect(await badAction.json()).toMatchObject({ message: '"action" must be approve or deny' });
    const missing = await control('nothing-here');
    expect(missing.status).toBe(404);
  });

  it('changes provider settings and refuses unknown ones', async () => {
    const ok = await control('settings', {
      method: 'POST',
      body: JSON.stringify({ provider: 'acme', settings: { strict: true } }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ provider: 'acme', settings: { strict: true } });
    const bad = await control('settings', {
      method: 'POST',
      body: JSON.stringify({ provider: 'acme', settings: { loose: 1 } }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      message: 'provider "acme" has no setting "loose" (settings: strict)',
    });
    const badType = await control('settings', {
      method: 'POST',
      body: JSON.stringify({ provider: 'acme', settings: { strict: 'yes' } }),
    });
    expect(badType.status).toBe(400);
    expect(await badType.json()).toMatchObject({ message: 'setting "strict" must be a boolean' });
  });

  it('mints a token with the provider key, and with the untrusted key when asked', async () => {
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const jwks = createLocalJWKSet(await (await fetch(`${base}/jwks`)).json());
    const minted = await control('mint', {
      method: 'POST',
      body: JSON.stringify({ provider: 'acme', claims: { iss: 'https://elsewhere.example', sub: 'x' } }),
    });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    const { payload } = await jwtVerify(token, jwks);
    expect(payload).toEqual({ iss: 'https://elsewhere.example', sub: 'x' });
    const forged = (await (
      await control('mint', {
        method: 'POST',
        body: JSON.stringify({ provider: 'acme', claims: {}, key: 'untrusted' }),
      })
    ).json()) as { token: string };
    await expect(jwtVerify(forged.token, jwks)).rejects.toThrow('signature verification failed');
    const bad = await control('mint', {
      method: 'POST',
      body: JSON.stringify({ provider: 'acme', claims: [] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ message: '"claims" must be an object' });
  });

  it('registers extra clients', async () => {
    const res = await control('clients', {
      method: 'POST',
      body: JSON.stringify({
        provider: 'acme',
        client_id: 'mine',
        redirect_uris: ['https://mine.example/cb'],
      }),
    });
    expect(res.status).toBe(201);
    expect(idp.provider('acme').clients.get('mine')?.redirectUris).toEqual(['https://mine.example/cb']);
  });
});

describe('authorization through /_mock/next-login', () => {
  it('completes the next authorization as the queued persona, once', async () => {
    const queued = await control('next-login', { method: 'POST', body: JSON.stringify({ persona: 'bob' }) });
    expect(await queued.json()).toEqual({ queued: { persona: 'bob', action: 'approve' } });
    const res = await fetch(authorizeUrl(), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('http://127.0.0.1:9999/cb');
    expect(location.searchParams.get('state')).toBe('s-1');
    expect(location.searchParams.get('iss')).toBe(base);
    const code = location.searchParams.get('code')!;
    const token = await fetch(`${base}/token`, {
      method: 'POST',
      body: new URLSearchParams({ code, client_id: 'acme-client', redirect_uri: 'http://127.0.0.1:9999/cb' }),
    });
    expect(token.status).toBe(200);
    const { id_token } = (await token.json()) as { id_token: string };
    expect(decodeJwt(id_token)).toMatchObject({ sub: 'bob', iss: base });
    // The queue is consumed: the next request shows the login page.
    const next = await fetch(authorizeUrl(), { redirect: 'manual' });
    expect(next.status).toBe(200);
    expect(await next.text()).toContain('data-persona="alice"');
  });

  it('honours a provider-scoped queue and a queued denial', async () => {
    idp.nextLogin('alice', { provider: 'acme', action: 'deny' });
    const res = await fetch(authorizeUrl(), { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('code')).toBeNull();
    expect(location.searchParams.get('state')).toBe('s-1');
  });

  it('sends the code in the fragment or by form_post when asked', async () => {
    idp.nextLogin('alice');
    const fragment = await fetch(authorizeUrl({ response_mode: 'fragment' }), { redirect: 'manual' });
    const hash = new URLSearchParams(new URL(fragment.headers.get('location')!).hash.slice(1));
    expect(hash.get('code')).toMatch(/^[A-Za-z0-9]{32}$/);
    idp.nextLogin('alice');
    const post = await fetch(authorizeUrl({ response_mode: 'form_post' }), { redirect: 'manual' });
    expect(post.status).toBe(200);
    const html = await post.text();
    expect(html).toContain('<form method="post" action="http://127.0.0.1:9999/cb">');
    expect(html).toMatch(/name="code" value="[A-Za-z0-9]{32}"/);
  });
});

describe('the login page', () => {
  it('lists every persona and signs in the chosen one', async () => {
    const result = await loginThroughPage(authorizeUrl(), 'carol');
    expect(result.page).toContain('Sign in to <strong>Acme Test App</strong>');
    expect(result.status).toBe(302);
    const location = new URL(result.location!);
    expect(location.searchParams.get('state')).toBe('s-1');
    const issued = idp.journal.entries({ type: 'issued' });
    expect(issued).toEqual([
      expect.objectContaining({ kind: 'code', persona: 'carol', value: location.searchParams.get('code') }),
    ]);
  });

  it('answers Cancel with access_denied', async () => {
    const result = await loginThroughPage(authorizeUrl(), 'alice', { action: 'deny' });
    expect(new URL(result.location!).searchParams.get('error')).toBe('access_denied');
  });

  it('refuses a used or unknown transaction and an unknown persona', async () => {
    const page = await (await fetch(authorizeUrl())).text();
    const txn = page.match(/name="txn" value="([^"]+)"/)![1]!;
    const unknownPersona = await fetch(`${base}/__mock/login`, {
      method: 'POST',
      body: new URLSearchParams({ txn, persona: 'zed', action: 'approve' }),
      redirect: 'manual',
    });
    expect(unknownPersona.status).toBe(400);
    expect(await unknownPersona.text()).toContain('No persona is named &#34;zed&#34;.');
    const first = await fetch(`${base}/__mock/login`, {
      method: 'POST',
      body: new URLSearchParams({ txn, persona: 'alice', action: 'approve' }),
      redirect: 'manual',
    });
    expect(first.status).toBe(302);
    const replay = await fetch(`${base}/__mock/login`, {
      method: 'POST',
      body: new URLSearchParams({ txn, persona: 'alice', action: 'approve' }),
      redirect: 'manual',
    });
    expect(replay.status).toBe(400);
    expect(replay.headers.get('location')).toBeNull();
  });
});

describe('journal', () => {
  it('records requests and issued values in order, with filters', async () => {
    idp.nextLogin('alice');
    await fetch(authorizeUrl({ scope: 'openid email' }), { redirect: 'manual' });
    const body = (await (await control('journal')).json()) as {
      last_seq: number;
      entries: Array<Record<string, unknown>>;
    };
    expect(body.entries.map((e) => [e['type'], e['endpoint'] ?? e['kind']])).toEqual([
      ['request', 'authorize'],
      ['issued', 'code'],
    ]);
    expect(body.entries[0]).toMatchObject({
      provider: 'acme',
      method: 'GET',
      status: 302,
      params: { client_id: 'acme-client', scope: 'openid email', state: 's-1' },
    });
    const since = (await (await control(`journal?since=${body.last_seq - 1}&type=issued`)).json()) as {
      entries: unknown[];
    };
    expect(since.entries).toHaveLength(1);
    expect((await control('journal?since=x')).status).toBe(400);
    expect((await control('reset', { method: 'POST' })).status).toBe(200);
    expect(((await (await control('journal')).json()) as { entries: unknown[] }).entries).toEqual([]);
  });
});

async function codeFor(persona: string): Promise<string> {
  idp.nextLogin(persona);
  const res = await fetch(authorizeUrl(), { redirect: 'manual' });
  return new URL(res.headers.get('location')!).searchParams.get('code')!;
}

async function exchange(code: string) {
  return fetch(`${base}/token`, {
    method: 'POST',
    body: new URLSearchParams({ code, client_id: 'acme-client', redirect_uri: 'http://127.0.0.1:9999/cb' }),
  });
}

describe('faults', () => {
  const addFault = (fault: unknown) => control('faults', { method: 'POST', body: JSON.stringify(fault) });

  it('answers with a chosen error in the provider shape, for the set number of times', async () => {
    const added = await addFault({
      provider: 'acme',
      endpoint: 'token',
      times: 1,
      action: { kind: 'error', error: 'temporarily_unavailable', description: 'try later', status: 503 },
    });
    expect(added.status).toBe(201);
    const code = await codeFor('alice');
    const failed = await exchange(code);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual({
      shape: 'acme',
      code: 'temporarily_unavailable',
      detail: 'try later',
    });
    expect((await exchange(code)).status).toBe(200);
  });

  it('answers with a 5xx and still serves afterwards', async () => {
    await addFault({ provider: 'acme', endpoint: 'jwks', action: { kind: 'status', status: 502 } });
    expect((await fetch(`${base}/jwks`)).status).toBe(502);
    expect((await control('faults', { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${base}/jwks`)).status).toBe(200);
  });

  it('delays an answer', async () => {
    await addFault({ provider: 'acme', endpoint: 'jwks', times: 1, action: { kind: 'delay', ms: 20 } });
    const res = await fetch(`${base}/jwks`);
    expect(res.status).toBe(200);
    expect(((await (await control('faults')).json()) as { faults: unknown[] }).faults).toEqual([]);
  });

  it('issues defective tokens: expired, not yet valid, wrong iss, wrong aud, bad signature, alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claimsWith = async (defect: string) => {
      await addFault({ provider: 'acme', endpoint: 'token', times: 1, action: { kind: 'token', defect } });
      const body = (await (await exchange(await codeFor('alice'))).json()) as { id_token: string };
      return {
        claims: decodeJwt(body.id_token),
        header: decodeProtectedHeader(body.id_token),
        raw: body.id_token,
      };
    };
    expect((await claimsWith('expired')).claims.exp).toBeLessThan(now);
    expect((await claimsWith('not-yet-valid')).claims.nbf).toBeGreaterThan(now + 60);
    expect((await claimsWith('wrong-iss')).claims.iss).toBe('https://issuer.invalid/');
    expect((await claimsWith('wrong-aud')).claims.aud).toBe('urn:mock:wrong-audience');
    const none = await claimsWith('alg-none');
    expect(none.header.alg).toBe('none');
    expect(none.raw.endsWith('.')).toBe(true);
    const forged = await claimsWith('bad-signature');
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const jwks = createLocalJWKSet(await (await fetch(`${base}/jwks`)).json());
    await expect(jwtVerify(forged.raw, jwks)).rejects.toThrow('signature verification failed');
  });

  it('rotates the signing key and keeps the old one published', async () => {
    const before = (await (await fetch(`${base}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(before.keys).toHaveLength(1);
    await addFault({ provider: 'acme', endpoint: 'token', times: 1, action: { kind: 'rotate-key' } });
    const body = (await (await exchange(await codeFor('alice'))).json()) as { id_token: string };
    const after = (await (await fetch(`${base}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(after.keys.map((k) => k.kid)).toEqual([
      expect.not.stringMatching(before.keys[0]!.kid),
      before.keys[0]!.kid,
    ]);
    expect(decodeProtectedHeader(body.id_token).kid).toBe(after.keys[0]!.kid);
  });

  it('refuses an invalid fault and an unknown provider', async () => {
    const bad = await addFault({ provider: 'acme', action: { kind: 'status', status: 200 } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      code: 'ERR_FAULT_INVALID',
      message: '"status" must be a 5xx status',
    });
    const unknown = await addFault({ provider: 'nope', action: { kind: 'rotate-key' } });
    expect(unknown.status).toBe(404);
  });
});

describe('malformed input', () => {
  it('answers wrong methods, bad JSON, huge and repeated bodies in the provider shape, and keeps serving', async () => {
    const wrongMethod = await fetch(`${base}/token`);
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toEqual({
      shape: 'acme',
      code: 'invalid_request',
      detail: 'method GET is not allowed here',
    });
    const badJson = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"code":',
    });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ shape: 'acme', code: 'invalid_request' });
    const huge = await fetch(`${base}/token`, { method: 'POST', body: `code=${'x'.repeat(200_000)}` });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ shape: 'acme', detail: 'request body exceeds 65536 bytes' });
    const repeated = await fetch(`${base}/token`, {
      method: 'POST',
      body: new URLSearchParams([
        ['code', 'a'],
        ['code', 'b'],
      ]),
    });
    expect(await repeated.json()).toEqual({ shape: 'acme', code: 'repeated', params: ['code'] });
    const bug = await fetch(`${base}/boom`);
    expect(bug.status).toBe(500);
    expect(await bug.json()).toMatchObject({ shape: 'acme', code: 'server_error' });
    const unknownPath = await fetch(`${base}/nowhere`);
    expect(unknownPath.status).toBe(404);
    const unknownPrefix = await fetch(`${running.url}/nowhere/x`);
    expect(await unknownPrefix.json()).toEqual({
      error: 'not_found',
      error_description: 'no provider is mounted at /nowhere',
    });
    expect((await fetch(`${base}/jwks`)).status).toBe(200);
  });
});

describe('host mode', () => {
  it('answers at the real hostname with https URLs', async () => {
    idp.nextLogin('alice');
    const res = await idp.fetch(
      new Request(
        'https://login.acme.test/authorize?client_id=acme-client&redirect_uri=http://127.0.0.1:1/cb&state=z',
      ),
    );
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('iss')).toBe('https://login.acme.test');
    expect(idp.handlesHost('login.acme.test')).toBe(true);
    expect(idp.handlesHost('acme.test')).toBe(false);
  });
});
