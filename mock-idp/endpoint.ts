import type { FaultRegistry } from './faults.ts';
import type { Journal, RequestEntry } from './journal.ts';
import type { KeySet } from './keys.ts';
import type {
  EndpointHandler,
  EndpointRequest,
  EndpointSpec,
  HostApp,
  ProviderContext,
  ProviderDefinition,
} from './provider.ts';

const DEFAULT_MAX_BODY = 64 * 1024;
const JOURNALED_HEADERS = ['authorization', 'content-type', 'accept', 'user-agent', 'origin'];

type Parsed = Pick<EndpointRequest, 'all' | 'repeated' | 'bodyType' | 'body' | 'json'>;

class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reads and discards what is left of a body (bounded), so the client sees our answer, not a reset. */
async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  budget = 16 * 1024 * 1024,
): Promise<void> {
  let seen = 0;
  while (seen < budget) {
    const { done, value } = await reader.read();
    if (done) return;
    seen += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
}

async function readBody(request: Request, limit: number): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await drain(reader);
    throw new BodyError(413, `request body exceeds ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await drain(reader);
      throw new BodyError(413, `request body exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function addParam(all: Record<string, string[]>, key: string, value: string): void {
  const values = all[key] ?? [];
  values.push(value);
  all[key] = values;
}

async function parse(request: Request, url: URL, limit: number): Promise<Parsed> {
  const all: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) addParam(all, k, v);
  const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await readBody(request, limit);
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  let bodyType: Parsed['bodyType'] = 'none';
  let json: unknown;
  if (body.length > 0) {
    if (type === 'application/json' || type.endsWith('+json')) {
      bodyType = 'json';
      try {
        json = JSON.parse(body);
      } catch {
        throw new BodyError(400, 'request body is not valid JSON');
      }
      if (json && typeof json === 'object' && !Array.isArray(json)) {
        for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
          if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
            addParam(all, k, String(v));
        }
      }
    } else if (type === 'application/x-www-form-urlencoded' || type === '') {
      bodyType = 'form';
      for (const [k, v] of new URLSearchParams(body)) addParam(all, k, v);
    } else {
      bodyType = 'other';
    }
  }
  const repeated = Object.entries(all)
    .filter(([, values]) => values.length > 1)
    .map(([k]) => k);
  return { all, repeated, bodyType, body, json };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers one endpoint on a host app. Every request is journaled; faults set through
 * /_mock/faults apply before the handler runs; malformed input (wrong method, unreadable or
 * oversized body) is answered in the provider's own error shape; a handler that throws is
 * answered with the provider's `server_error`, never left to crash the listener.
 */
export function registerEndpoint(
  deps: {
    definition: ProviderDefinition;
    journal: Journal;
    faults: FaultRegistry;
    keys: KeySet;
    ctx?: ProviderContext;
  },
  app: HostApp,
  spec: EndpointSpec,
  handler: EndpointHandler,
): void {
  const { definition, journal, faults, keys } = deps;
  app.all(spec.path, async (c) => {
    const request = c.req.raw;
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    for (const name of JOURNALED_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const entry: RequestEntry = journal.add<Omit<RequestEntry, 'seq' | 'at'>>({
      type: 'request',
      provider: definition.id,
      endpoint: spec.name,
      method: request.method,
      url: c.env.originalUrl ?? url.toString(),
      params: Object.fromEntries(url.searchParams),
      headers,
    });
    const finish = (response: Response) => {
      entry.status = response.status;
      return response;
    };
    const fail = async (status: number, error: string, description: string, req?: EndpointRequest) =>
      finish(
        await definition.error({
          endpoint: spec.name,
          status,
          error,
          description,
          ...(req ? { request: req } : {}),
        }),
      );

    if (!spec.methods.includes(request.method)) {
      return fail(405, 'invalid_request', `method ${request.method} is not allowed here`);
    }
    let parsed: Parsed;
    try {
      parsed = await parse(request, url, spec.maxBody ?? DEFAULT_MAX_BODY);
    } catch (error) {
      if (error instanceof BodyError) return fail(error.status, 'invalid_request', error.message);
      return fail(400, 'invalid_request', 'request body could not be read');
    }
    entry.params = Object.fromEntries(
      Object.entries(parsed.all).map(([k, v]) => [k, v.length === 1 ? v[0]! : v]),
    );
    const req: EndpointRequest = {
      c,
      method: request.method,
      url,
      view: c.env.view,
      params: Object.fromEntries(Object.entries(parsed.all).map(([k, v]) => [k, v[0]!])),
      ...parsed,
      header: (name) => request.headers.get(name) ?? undefined,
    };

    for (const action of faults.take(definition.id, spec.name, ['delay', 'rotate-key', 'status', 'error'])) {
      if (action.kind === 'delay') await sleep(action.ms);
      else if (action.kind === 'rotate-key') await keys.rotate();
      else if (action.kind === 'status') {
        return finish(
          new Response(
            JSON.stringify({ error: 'server_error', error_description: 'injected upstream failure' }),
            {
              status: action.status,
              headers: { 'content-type': 'application/json' },
            },
          ),
        );
      } else if (action.kind === 'error') {
        return fail(action.status ?? 400, action.error, action.description ?? '', req);
      }
    }
    try {
      return finish(await handler(req));
    } catch (error) {
      console.error(`mock-idp: ${definition.id} ${spec.name} failed: ${(error as Error).message}`);
      return fail(500, 'server_error', 'the mock provider failed to answer this request');
    }
  });
}
