import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderDescription } from './app.ts';
import { type RunningMockIdp, startMockIdp } from './server.ts';

/**
 * Throws malformed input at every endpoint of every provider (as listed by /_mock/providers) and
 * checks that each answer is in that provider's own error shape, never a 5xx, and that the
 * listener still answers afterwards. The shape oracle is the provider's own `error()` renderer
 * for the endpoint: same content type, and the same error key (`error`, or `message` for the
 * GitHub REST API).
 */

let running: RunningMockIdp;
let providers: ProviderDescription[];

beforeAll(async () => {
  running = await startMockIdp();
  providers = running.idp.describe({ mode: 'path', origin: running.url });
});
afterAll(() => running.stop());

interface Shape {
  type: string;
  keys: string[];
}

async function shapeOf(response: Response): Promise<Shape> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const text = await response.text();
  let keys: string[] = [];
  if (type.includes('json')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      keys = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.keys(parsed) : [];
    } catch {
      keys = ['<invalid json>'];
    }
  } else if (type === 'application/x-www-form-urlencoded') {
    keys = [...new URLSearchParams(text).keys()];
  } else if (type.includes('xml')) {
    keys = [...text.matchAll(/<([a-z_]+)>/g)].map((m) => m[1]!);
  }
  return { type, keys };
}

const ERROR_KEYS = ['error', 'message'];

async function oracle(providerId: string, endpoint: string, status: number): Promise<Shape> {
  const definition = running.idp.provider(providerId).definition;
  return shapeOf(await definition.error({ endpoint, error: 'invalid_request', description: 'x', status }));
}

function expectSameShape(actual: Shape, expected: Shape, where: string) {
  expect(actual.type, `${where}: content type`).toBe(expected.type);
  for (const key of ERROR_KEYS.filter((k) => expected.keys.includes(k))) {
    expect(actual.keys, `${where}: error key "${key}"`).toContain(key);
  }
}

const TOKENISH = /token|register|introspect|revoke|token_info/;

describe('malformed input at every endpoint', () => {
  it('covers every provider', () => {
    expect(providers.map((p) => p.id)).toEqual(
      expect.arrayContaining(['github', 'google', 'entra', 'auth0', 'cognito', 'oidc']),
    );
    for (const p of providers) expect(Object.keys(p.endpoints).length, p.id).toBeGreaterThan(1);
  });

  it('answers a wrong method in the provider shape', async () => {
    for (const p of providers) {
      for (const [name, url] of Object.entries(p.endpoints)) {
        const res = await fetch(url, { method: 'PATCH', redirect: 'manual' });
        const where = `${p.id} ${name} PATCH`;
        expect(res.status, where).toBeLessThan(500);
        expect(res.status, where).toBeGreaterThanOrEqual(400);
        expectSameShape(await shapeOf(res), await oracle(p.id, name, 405), where);
      }
    }
  });

  it('answers a huge body in the provider shape', async () => {
    const huge = `x=${'a'.repeat(300_000)}`;
    for (const p of providers) {
      for (const [name, url] of Object.entries(p.endpoints)) {
        if (!TOKENISH.test(name)) continue;
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: huge,
        });
        const where = `${p.id} ${name} huge body`;
        expect(res.status, where).toBeLessThan(500);
        expectSameShape(await shapeOf(res), await oracle(p.id, name, 413), where);
      }
    }
  });

  it('answers bad JSON, missing parameters, repeated parameters and unknown clients in the provider shape', async () => {
    const bodies: Array<[string, RequestInit]> = [
      ['bad JSON', { headers: { 'content-type': 'application/json' }, body: '{"grant_type":' }],
      ['missing parameters', { body: new URLSearchParams() }],
      [
        'repeated parameters',
        {
          body: new URLSearchParams([
            ['grant_type', 'authorization_code'],
            ['grant_type', 'authorization_code'],
            ['code', 'a'],
            ['code', 'b'],
            ['client_id', 'x'],
          ]),
        },
      ],
      [
        'unknown client',
        {
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code: 'nope',
            client_id: 'no-such-client',
            client_secret: 'nope',
            redirect_uri: 'http://127.0.0.1:1/cb',
          }),
        },
      ],
    ];
    for (const p of providers) {
      for (const [name, url] of Object.entries(p.endpoints)) {
        if (!TOKENISH.test(name)) continue;
        for (const [kind, init] of bodies) {
          const res = await fetch(url, { method: 'POST', redirect: 'manual', ...init });
          const where = `${p.id} ${name} ${kind}`;
          expect(res.status, where).toBeLessThan(500);
          const shape = await shapeOf(res);
          // Revocation (RFC 7009 2.2) answers 200 for tokens it does not know; anything else is an error.
          if (res.status === 200 && /revoke/.test(name) && kind !== 'bad JSON') continue;
          if (res.status === 201 && name === 'register') continue;
          expectSameShape(shape, await oracle(p.id, name, 400), where);
        }
      }
    }
  });

  it('answers authorization requests with missing parameters or an unknown client without a 5xx or a redirect elsewhere', async () => {
    for (const p of providers) {
      for (const [name, url] of Object.entries(p.endpoints)) {
        if (name !== 'authorize') continue;
        for (const query of [
          '',
          '?client_id=no-such-client&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code',
        ]) {
          const res = await fetch(`${url}${query}`, { redirect: 'manual' });
          const where = `${p.id} authorize ${query || 'no parameters'}`;
          expect(res.status, where).toBeLessThan(500);
          expect(res.headers.get('location') ?? '', where).not.toContain('evil.example');
        }
      }
    }
  });

  it('still answers after all of that', async () => {
    const res = await fetch(`${running.url}/_mock/providers`);
    expect(res.status).toBe(200);
    const again = (await res.json()) as { providers: unknown[] };
    expect(again.providers).toHaveLength(providers.length);
  });
});
