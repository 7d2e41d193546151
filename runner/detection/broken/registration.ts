/**
 * Deliberately broken parts of the authorization server around client registration and
 * redirect URIs, for the detection tests of the dcr and redirect-uri suites. Each wraps the real
 * part (reference-server/oauth/register.ts, authorize.ts, token.ts) and breaks one thing the way
 * servers in the wild do; the production server never reaches them.
 */
import type { AppParts } from '../../../reference-server/app.ts';
import { authorize } from '../../../reference-server/oauth/authorize.ts';
import { register } from '../../../reference-server/oauth/register.ts';
import { errorPage } from '../../../reference-server/oauth/responses.ts';
import { token } from '../../../reference-server/oauth/token.ts';
import type { Runtime } from '../../../reference-server/runtime.ts';
import type { ClientRecord, Store } from '../../../reference-server/store/types.ts';

type RegisterPart = AppParts['register'];
type AuthorizePart = AppParts['authorize'];
type TokenPart = AppParts['token'];

/** A runtime whose store answers some methods differently (the rest go to the real store). */
function withStore(rt: Runtime, overrides: Partial<Store>): Runtime {
  const store = new Proxy(rt.store, {
    get(target, prop, receiver) {
      if (prop in overrides) return overrides[prop as keyof Store];
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...rt, store };
}

/** The same registration request with another JSON body. */
function withBody(request: Request, body: unknown): Request {
  const headers = new Headers(request.headers);
  headers.delete('content-length');
  return new Request(request.url, {
    method: request.method,
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A response with its JSON body rewritten (status and headers kept). */
async function rewriteJson(
  response: Response,
  change: (body: Record<string, unknown>) => Record<string, unknown>,
): Promise<Response> {
  const body = (await response.json()) as Record<string, unknown>;
  return new Response(JSON.stringify(change(body)), { status: response.status, headers: response.headers });
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Registration

/**
 * Registers whatever redirect URIs it is given (edges 7-11): the real registration runs with a
 * placeholder URI, then the client is stored and answered with the URIs the request named.
 */
export const skipsRedirectValidation: RegisterPart = async (rt, request) => {
  const text = await request.text();
  const body = parseObject(text);
  if (!body) return register(rt, withBody(request, text));
  const wanted = Array.isArray(body['redirect_uris']) ? body['redirect_uris'].map(String) : [];
  const response = await register(
    rt,
    withBody(request, { ...body, redirect_uris: ['http://127.0.0.1:1/placeholder'] }),
  );
  if (response.status !== 201) return response;
  const json = (await response.json()) as Record<string, unknown>;
  const client = (await rt.store.getClient(String(json['client_id']))) as ClientRecord;
  await rt.store.deleteClient(client.clientId);
  await rt.store.putClient({ ...client, redirectUris: wanted });
  return new Response(JSON.stringify({ ...json, redirect_uris: wanted }), {
    status: response.status,
    headers: response.headers,
  });
};

/** Echoes the proxy's upstream client credentials in every registration response (edge 6). */
export const leaksUpstreamCredentials: RegisterPart = async (rt, request) => {
  const response = await register(rt, request);
  if (response.status !== 201) return response;
  return rewriteJson(response, (body) => ({
    ...body,
    upstream_client_id: rt.settings.oauth.client_id,
    upstream_client_secret: rt.settings.oauth.client_secret,
  }));
};

/** No rate limit: the per-minute budget is forgotten before every registration (edge 15). */
export const withoutRateLimit: RegisterPart = (rt, request) => {
  rt.registrations.length = 0;
  return register(rt, request);
};

/** Registrations never expire: the secret reports client_secret_expires_at 0 (edge 15). */
export const neverExpires: RegisterPart = async (rt, request) => {
  const response = await register(rt, request);
  if (response.status !== 201) return response;
  return rewriteJson(response, (body) => {
    if (body['client_secret'] === undefined) return body;
    return { ...body, client_secret_expires_at: 0 };
  });
};

/** Answers with the credentials only, not the registered metadata (RFC 7591 3.2.1). */
export const credentialsOnly: RegisterPart = async (rt, request) => {
  const response = await register(rt, request);
  if (response.status !== 201) return response;
  return rewriteJson(response, (body) => {
    const kept: Record<string, unknown> = {};
    for (const key of ['client_id', 'client_secret', 'client_secret_expires_at', 'client_id_issued_at']) {
      if (body[key] !== undefined) kept[key] = body[key];
    }
    return kept;
  });
};

/** Reads the body unguarded: anything but a JSON object makes it fail (500). */
export const failsOnUnparseableBody: RegisterPart = async (rt, request) => {
  const text = await request.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  if (Array.isArray(body)) throw new TypeError('the registration is not an object');
  return register(rt, withBody(request, text));
};

/** Its errors are plain text instead of RFC 7591 3.2.2 JSON. */
export const plainTextErrors: RegisterPart = async (rt, request) => {
  const response = await register(rt, request);
  if (response.status < 400) return response;
  const body = (await response.json()) as { error_description?: string };
  return new Response(body.error_description ?? 'registration refused', {
    status: response.status,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
};

/** Its responses may be cached: no Cache-Control no-store. */
export const cacheableResponses: RegisterPart = async (rt, request) => {
  const response = await register(rt, request);
  const headers = new Headers(response.headers);
  headers.delete('cache-control');
  headers.delete('pragma');
  return new Response(response.body, { status: response.status, headers });
};

// ---------------------------------------------------------------------------------------------
// Redirect URIs at the authorization and token endpoints

/**
 * An authorization endpoint whose redirect URI comparison is `accepts(registered, requested)`:
 * when it holds for a registered URI, the requested one is treated as registered.
 */
function comparingBy(accepts: (registered: string, requested: string) => boolean): AuthorizePart {
  return (rt, request) => {
    const requested = new URL(request.url).searchParams.get('redirect_uri');
    if (requested === null) return authorize(rt, request);
    const loose = withStore(rt, {
      async getClient(clientId: string) {
        const client = await rt.store.getClient(clientId);
        if (!client?.redirectUris.some((r) => accepts(r, requested))) return client;
        return { ...client, redirectUris: [...client.redirectUris, requested] };
      },
    });
    return authorize(loose, request);
  };
}

/** Prefix matching: a registered URI that starts the requested one is enough. */
export const prefixMatching: AuthorizePart = comparingBy((registered, requested) =>
  requested.startsWith(registered),
);

/** Host and path compared case-insensitively; scheme and port ignored (a "normalised" match). */
export const normalisedMatching: AuthorizePart = comparingBy((registered, requested) => {
  const key = (uri: string) => {
    try {
      const url = new URL(uri);
      return `${url.hostname.toLowerCase()}${url.pathname.toLowerCase()}${url.search}`;
    } catch {
      return uri;
    }
  };
  return key(registered) === key(requested);
});

/** Checks the redirect URI against the registration policy only, never against the client's URIs (edge 12). */
export const policyOnlyMatching: AuthorizePart = comparingBy(() => true);

/** Exact string comparison without the loopback port exception of RFC 8252 7.3. */
export const exactWithoutLoopbackPorts: AuthorizePart = async (rt, request) => {
  const params = new URL(request.url).searchParams;
  const requested = params.get('redirect_uri');
  const client = await rt.store.getClient(params.get('client_id') ?? '');
  if (requested !== null && client && !client.redirectUris.includes(requested)) {
    return errorPage(400, 'invalid_request', '"redirect_uri" is not registered for this client');
  }
  return authorize(rt, request);
};

/** Re-derives the redirect URI from the registration: the first registered one wins (edge 14). */
export const firstRegisteredUri: AuthorizePart = async (rt, request) => {
  const url = new URL(request.url);
  const requested = url.searchParams.get('redirect_uri');
  const client = await rt.store.getClient(url.searchParams.get('client_id') ?? '');
  if (requested === null || !client?.redirectUris.includes(requested)) return authorize(rt, request);
  url.searchParams.set('redirect_uri', client.redirectUris[0]!);
  return authorize(rt, new Request(url, { method: request.method, headers: request.headers }));
};

/** A token endpoint that redeems a code whatever redirect_uri comes with it (edges 12, 21). */
export const ignoresRedirectUriAtToken: TokenPart = (rt, request) =>
  token(
    withStore(rt, {
      consumeCode: (hash, check) =>
        rt.store.consumeCode(hash, (code) => {
          const why = check?.(code);
          return why?.includes('"redirect_uri"') ? undefined : why;
        }),
    }),
    request,
  );
