/**
 * Deliberately broken parts for the codes suite (and the rewiring the other broken files share):
 * each wraps a real part of the reference server (reference-server/oauth/*.ts) and changes one
 * behaviour, either at the HTTP boundary (request or response rewritten) or in the store the part
 * sees (a proxy over the real store with one operation replaced). Never used in production.
 */
import type { AppParts } from '../../../reference-server/app.ts';
import { callback } from '../../../reference-server/oauth/callback.ts';
import { token } from '../../../reference-server/oauth/token.ts';
import type { Runtime } from '../../../reference-server/runtime.ts';
import type { CodeCheck, ConsumeCodeResult, Store } from '../../../reference-server/store/types.ts';
import { hashToken } from '../../../reference-server/tokens/hash.ts';

type Part = (rt: Runtime, request: Request) => Promise<Response>;

/** The real store with some operations replaced (methods of the real one stay bound to it). */
export function storeWith(store: Store, overrides: Partial<Store>): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof Store];
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A part that sees the store through `overrides`. */
export function withStore(part: Part, overrides: (store: Store) => Partial<Store>): Part {
  return (rt, request) => part({ ...rt, store: storeWith(rt.store, overrides(rt.store)) }, request);
}

/**
 * The request again, with another URL or headers (null removes one). The body is not carried
 * over: a POST passes the body it read (`withForm`, or `await request.text()`).
 */
export function rebuild(
  request: Request,
  changes: { url?: string; headers?: Record<string, string | null>; body?: string },
): Request {
  const headers = new Headers(request.headers);
  for (const [name, value] of Object.entries(changes.headers ?? {})) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  if (changes.body !== undefined) headers.delete('content-length');
  return new Request(changes.url ?? request.url, {
    method: request.method,
    headers,
    ...(changes.body !== undefined ? { body: changes.body } : {}),
  });
}

/** A form-posting part whose form fields are rewritten before the real part reads them. */
export function withForm(
  part: Part,
  edit: (params: URLSearchParams, rt: Runtime, request: Request) => Promise<void> | void,
): Part {
  return async (rt, request) => {
    if (request.method !== 'POST') return part(rt, request);
    const params = new URLSearchParams(await request.text());
    await edit(params, rt, request);
    return part(rt, rebuild(request, { body: params.toString() }));
  };
}

/** The fields of a posted form, read from a copy (the part still reads the original). */
export async function formOf(request: Request): Promise<URLSearchParams> {
  return new URLSearchParams(request.method === 'POST' ? await request.clone().text() : '');
}

/** A JSON response with its body and headers rewritten. */
export async function rewriteJson(
  response: Response,
  edit: (body: Record<string, unknown>, headers: Headers) => Promise<void> | void,
): Promise<Response> {
  if (!(response.headers.get('content-type') ?? '').includes('json')) return response;
  const body = (await response.json()) as Record<string, unknown>;
  const headers = new Headers(response.headers);
  await edit(body, headers);
  headers.delete('content-length');
  return new Response(JSON.stringify(body), { status: response.status, headers });
}

/** A redirect whose Location has parameters removed. */
function withoutLocationParams(response: Response, names: string[]): Response {
  const location = response.headers.get('location');
  if (!location) return response;
  const target = new URL(location);
  for (const name of names) target.searchParams.delete(name);
  const headers = new Headers(response.headers);
  headers.set('location', target.toString());
  return new Response(null, { status: response.status, headers });
}

/** A code check that ignores the refusals whose reason matches `ignored`. */
function lenient(check: CodeCheck | undefined, ignored: RegExp): CodeCheck | undefined {
  return (
    check &&
    ((code) => {
      const reason = check(code);
      return reason !== undefined && ignored.test(reason) ? undefined : reason;
    })
  );
}

/** Codes stay redeemable after use: a replay is served like the first redemption (edge 20). */
export const tokenRedeemingTwice: AppParts['token'] = withStore(token, (store) => ({
  async consumeCode(hash, check) {
    const result = await store.consumeCode(hash, check);
    if (result.ok || result.reason !== 'used') return result;
    const rejection = check?.(result.code);
    return rejection === undefined
      ? { ok: true, code: result.code }
      : { ok: false, reason: 'rejected', rejection, code: result.code };
  },
}));

/**
 * Codes deleted on use: a replay is refused as an unknown code, so nothing is revoked (the
 * RFC 6749 4.1.2 SHOULD; edge 20).
 */
export const tokenForgettingUsedCodes: AppParts['token'] = withStore(token, (store) => ({
  async consumeCode(hash, check) {
    const result = await store.consumeCode(hash, check);
    return !result.ok && result.reason === 'used' ? { ok: false, reason: 'unknown' } : result;
  },
}));

/**
 * A check-then-act race: the code is read, then marked used a moment later (as two separate
 * database statements would do); redemptions that arrive in between all see it unused (edge 20).
 * Sequential replays are still refused.
 */
export function tokenWithRacyCodes(windowMs = 400): AppParts['token'] {
  const inFlight = new Map<string, Promise<ConsumeCodeResult>>();
  return withStore(token, (store) => ({
    async consumeCode(hash, check) {
      const first = inFlight.get(hash);
      if (first) {
        const seen = await first;
        if (seen.ok) return seen;
      }
      const pending = new Promise<ConsumeCodeResult>((resolve) => {
        setTimeout(() => resolve(store.consumeCode(hash, check)), windowMs);
      });
      inFlight.set(hash, pending);
      try {
        return await pending;
      } finally {
        if (inFlight.get(hash) === pending) inFlight.delete(hash);
      }
    },
  }));
}

/** The code is not bound to the client it was issued to (edge 21). */
export const tokenNotBindingClient: AppParts['token'] = withStore(token, (store) => ({
  consumeCode: (hash, check) => store.consumeCode(hash, lenient(check, /another client/)),
}));

/** The code is not bound to the redirect_uri of the authorization request (edge 21). */
export const tokenNotBindingRedirectUri: AppParts['token'] = withStore(token, (store) => ({
  consumeCode: (hash, check) => store.consumeCode(hash, lenient(check, /"redirect_uri" differs/)),
}));

/** Any client secret is accepted: the registered one is swapped for whatever was presented (edge 22). */
export const tokenAcceptingAnySecret: AppParts['token'] = async (rt, request) => {
  const form = await formOf(request);
  const header = request.headers.get('authorization') ?? '';
  let presented: { id: string; secret: string } | undefined;
  if (/^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    presented = {
      id: decodeURIComponent(decoded.slice(0, colon)),
      secret: decodeURIComponent(decoded.slice(colon + 1)),
    };
  } else if (form.get('client_id') && form.get('client_secret')) {
    presented = { id: form.get('client_id')!, secret: form.get('client_secret')! };
  }
  return withStore(token, (store) => ({
    async getClient(clientId) {
      const client = await store.getClient(clientId);
      if (client?.clientSecretHash && presented?.id === clientId) {
        client.clientSecretHash = hashToken(presented.secret);
      }
      return client;
    },
  }))(rt, request);
};

/** Every refused code redemption burns the code (so a wrong secret or resource locks the client out; edges 22, 25). */
export const tokenBurningRefusedCodes: AppParts['token'] = async (rt, request) => {
  const form = await formOf(request);
  const response = await token(rt, request);
  const code = form.get('code');
  if (response.status >= 400 && form.get('grant_type') === 'authorization_code' && code) {
    await rt.store.consumeCode(hashToken(code));
  }
  return response;
};

/** The authorization response without `iss` (RFC 9207). */
export const callbackWithoutIss: AppParts['callback'] = async (rt, request) =>
  withoutLocationParams(await callback(rt, request), ['iss']);

/** The authorization response without the client's `state` (RFC 6749 4.1.2). */
export const callbackDroppingState: AppParts['callback'] = async (rt, request) =>
  withoutLocationParams(await callback(rt, request), ['state']);
