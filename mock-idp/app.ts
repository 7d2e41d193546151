import { type ClientRegistry, ClientRegistry as Clients, type RegisteredClient } from './clients.ts';
import { registerEndpoint } from './endpoint.ts';
import { MockIdpError } from './errors.ts';
import {
  defectiveClaims,
  type Fault,
  type FaultInput,
  FaultRegistry,
  parseFault,
  type TokenDefect,
} from './faults.ts';
import { type AuthorizationTxn, GrantStore, nowSeconds } from './grants.ts';
import { Journal, type JournalEntry } from './journal.ts';
import { KeySet } from './keys.ts';
import { errorPage, formPostPage, loginPage } from './login-page.ts';
import { loadPersonas, type Persona, type PersonaSet, parsePersonas } from './personas.ts';
import {
  type EndpointRequest,
  type HostApp,
  type HostSpec,
  json,
  type ProviderContext,
  type ProviderDefinition,
  type UrlView,
} from './provider.ts';
import { allProviders } from './providers/index.ts';
import { randomId } from './random.ts';

export interface MockIdpOptions {
  /** A personas set, a path to a personas YAML file, or nothing for the bundled personas. */
  personas?: PersonaSet | string;
  /** Limit the mock to these provider ids (all by default). */
  providers?: string[];
  /** Provider shapes to serve instead of the built-in ones (for a shape of your own). */
  definitions?: ProviderDefinition[];
}

export interface NextLogin {
  persona: string;
  provider?: string;
  /** `deny` answers the next authorization with access_denied. */
  action: 'approve' | 'deny';
}

export interface ProviderDescription {
  id: string;
  title: string;
  issuer?: string;
  /** Base URL of each host of the provider. */
  base_urls: Record<string, string>;
  endpoints: Record<string, string>;
  client: {
    client_id: string;
    client_secret?: string;
    redirect_uris: string[];
    loopback_redirects_allowed: boolean;
    token_endpoint_auth_method: string;
  };
  clients: Array<{ client_id: string; name: string }>;
}

interface MountedHost {
  provider: ProviderContextImpl;
  spec: HostSpec;
  app: HostApp;
  pattern: RegExp;
}

function hostPattern(host: string): RegExp {
  const escaped = host
    .split('.')
    .map((label, i) => (label === '*' ? (i === 0 ? '(?:[a-z0-9-]+\\.)*[a-z0-9-]+' : '[a-z0-9-]+') : label))
    .join('\\.');
  return new RegExp(`^${escaped}$`, 'i');
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

class ProviderContextImpl implements ProviderContext {
  readonly id: string;
  readonly definition: ProviderDefinition;
  readonly journal: Journal;
  readonly keys: KeySet;
  readonly grants: GrantStore;
  readonly clients: ClientRegistry;
  readonly faults: FaultRegistry;
  readonly #idp: MockIdp;
  settings: Record<string, string | number | boolean> = {};

  constructor(idp: MockIdp, definition: ProviderDefinition) {
    this.#idp = idp;
    this.id = definition.id;
    this.definition = definition;
    this.journal = idp.journal;
    this.grants = idp.grants;
    this.faults = idp.faults;
    this.keys = new KeySet(definition.id);
    this.clients = new Clients(definition.clients);
    this.resetSettings();
  }

  personas = (): PersonaSet => this.#idp.personas;

  setting<T extends string | number | boolean>(name: string): T {
    return this.settings[name] as T;
  }

  resetSettings(): void {
    this.settings = { ...(this.definition.settings ?? {}) };
  }

  /** Changes settings; unknown names and values of another type are refused. */
  updateSettings(input: Record<string, unknown>): Record<string, string | number | boolean> {
    const defaults = this.definition.settings ?? {};
    for (const [name, value] of Object.entries(input)) {
      if (!(name in defaults)) {
        const known = Object.keys(defaults).join(', ') || 'none';
        throw new MockIdpError(
          'ERR_FAULT_INVALID',
          `provider "${this.id}" has no setting "${name}" (settings: ${known})`,
        );
      }
      if (typeof value !== typeof defaults[name]) {
        throw new MockIdpError('ERR_FAULT_INVALID', `setting "${name}" must be a ${typeof defaults[name]}`);
      }
    }
    Object.assign(this.settings, input);
    return { ...this.settings };
  }

  persona(id: string): Persona | undefined {
    return this.#idp.personas.personas.find((p) => p.id === id);
  }

  url(view: UrlView, hostId: string, path = ''): string {
    const spec = this.definition.hosts.find((h) => h.id === hostId);
    if (!spec)
      throw new MockIdpError('ERR_UNKNOWN_PROVIDER', `provider "${this.id}" has no host "${hostId}"`);
    if (view.mode === 'path') return `${view.origin}/${spec.prefix}${path}`;
    const hostname = view.hostnames?.[`${this.id}:${hostId}`] ?? spec.defaultHost;
    return `https://${hostname}${path}`;
  }

  endpoint: ProviderContext['endpoint'] = (app, spec, handler) => {
    registerEndpoint(
      { definition: this.definition, journal: this.journal, faults: this.faults, keys: this.keys, ctx: this },
      app,
      spec,
      handler,
    );
  };

  issued(
    kind: 'code' | 'access_token' | 'refresh_token' | 'id_token',
    persona: string,
    client: string,
    value: string,
  ) {
    this.journal.add({ type: 'issued', provider: this.id, kind, persona, client, value });
  }

  takeDefect(endpoint: string): TokenDefect | undefined {
    const hit = this.faults.take(this.id, endpoint, ['token'])[0];
    return hit?.kind === 'token' ? hit.defect : undefined;
  }

  async signJwt(
    endpoint: string,
    payload: Record<string, unknown>,
    options: { typ?: string; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const defect = this.takeDefect(endpoint);
    const claims = defectiveClaims(payload, defect, nowSeconds());
    if (defect === 'alg-none') {
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      return `${enc({ alg: 'none', typ: options.typ ?? 'JWT' })}.${enc(claims)}.`;
    }
    return this.keys.sign(claims, {
      key: defect === 'bad-signature' ? 'untrusted' : 'current',
      ...(options.typ ? { typ: options.typ } : {}),
      ...(options.header ? { header: options.header } : {}),
    });
  }

  async authorize(
    req: EndpointRequest,
    input: Omit<AuthorizationTxn, 'id' | 'createdAt' | 'provider'>,
  ): Promise<Response> {
    const txn = this.grants.createTxn({ ...input, provider: this.id });
    const queued = this.#idp.takeNextLogin(this.id);
    if (queued) return this.complete(txn, queued.persona, queued.action);
    const client = this.clients.get(txn.clientId);
    return loginPage({
      providerTitle: this.definition.title,
      clientName: client?.name ?? txn.clientId,
      action: this.url(req.view, req.c.env.hostId, '/__mock/login'),
      txn: txn.id,
      personas: this.#idp.personas.personas,
    });
  }

  /** Finishes a transaction: a code (or access_denied) sent to the client by its response mode. */
  complete(txn: AuthorizationTxn, personaId: string, action: 'approve' | 'deny'): Response {
    const params: Record<string, string> = {};
    if (action === 'deny') {
      params['error'] = 'access_denied';
      params['error_description'] = 'The user denied the request.';
    } else {
      const code = this.definition.newCode?.() ?? randomId(32);
      this.grants.createCode(txn, personaId, code);
      this.issued('code', personaId, txn.clientId, code);
      params['code'] = code;
    }
    // RFC 9207: the issuer goes with error responses too.
    Object.assign(params, txn.redirectParams);
    if (txn.state !== undefined) params['state'] = txn.state;
    if (txn.responseMode === 'form_post') return formPostPage(txn.target, params);
    const target = new URL(txn.target);
    if (txn.responseMode === 'fragment') {
      target.hash = new URLSearchParams(params).toString();
    } else {
      for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    }
    return new Response(null, {
      status: 302,
      headers: { location: target.toString(), 'cache-control': 'no-store' },
    });
  }

  /** Adds the login form's target to a host app. */
  mountLogin(app: HostApp): void {
    this.endpoint(app, { name: 'login', path: '/__mock/login', methods: ['POST'] }, (req) => {
      const txn = this.grants.peekTxn(req.params['txn'] ?? '');
      if (!txn || txn.provider !== this.id) {
        return errorPage(400, 'Sign-in expired', 'This sign-in request is unknown or has already been used.');
      }
      const action = req.params['action'] === 'deny' ? 'deny' : 'approve';
      const persona = req.params['persona'] ?? '';
      if (action === 'approve' && !this.persona(persona)) {
        return errorPage(400, 'Unknown persona', `No persona is named "${persona}".`);
      }
      this.grants.takeTxn(txn.id);
      return this.complete(txn, persona, action);
    });
  }
}

/**
 * The mock multi-provider identity provider as one fetch handler: every provider under its
 * own path prefix (standalone) or at its real hostnames (msw, the HTTPS proxy), plus the
 * control API under /_mock/.
 */
export class MockIdp {
  readonly journal = new Journal();
  readonly grants = new GrantStore();
  readonly faults = new FaultRegistry();
  personas: PersonaSet;
  readonly providers: ProviderContextImpl[];
  readonly #hosts: MountedHost[] = [];
  #nextLogins: NextLogin[] = [];

  constructor(options: MockIdpOptions = {}) {
    this.personas =
      typeof options.personas === 'string'
        ? loadPersonas(options.personas)
        : (options.personas ?? loadPersonas());
    const wanted = options.providers;
    const definitions = options.definitions ?? allProviders;
    if (wanted) {
      for (const id of wanted) {
        if (!definitions.some((p) => p.id === id)) {
          const known = definitions.map((p) => p.id).join(', ');
          throw new MockIdpError('ERR_UNKNOWN_PROVIDER', `unknown provider "${id}" (known: ${known})`);
        }
      }
    }
    this.providers = definitions
      .filter((p) => !wanted || wanted.includes(p.id))
      .map((definition) => new ProviderContextImpl(this, definition));
    for (const ctx of this.providers) {
      const apps = ctx.definition.mount(ctx);
      for (const spec of ctx.definition.hosts) {
        const app = apps[spec.id];
        if (!app) continue;
        ctx.mountLogin(app);
        app.notFound(() =>
          json({ error: 'not_found', error_description: 'no such endpoint at this mock host' }, 404),
        );
        this.#hosts.push({ provider: ctx, spec, app, pattern: hostPattern(spec.host) });
      }
    }
  }

  provider(id: string): ProviderContextImpl {
    const ctx = this.providers.find((p) => p.id === id);
    if (!ctx) throw new MockIdpError('ERR_UNKNOWN_PROVIDER', `unknown provider "${id}"`);
    return ctx;
  }

  /** Whether a hostname is one the mock answers for at its real name. */
  handlesHost(hostname: string): boolean {
    return this.#hosts.some((h) => h.pattern.test(hostname));
  }

  /** The real hostnames and patterns the mock answers for. */
  hostPatterns(): string[] {
    return [...new Set(this.#hosts.map((h) => h.spec.host))];
  }

  fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (!LOCAL_HOSTS.has(url.hostname)) {
      const host = this.#hosts.find((h) => h.pattern.test(url.hostname));
      if (host) {
        const hostnames = { [`${host.provider.id}:${host.spec.id}`]: url.hostname };
        return host.app.fetch(request, { view: { mode: 'host', hostnames }, hostId: host.spec.id });
      }
    }
    if (url.pathname === '/_mock' || url.pathname.startsWith('/_mock/')) return this.#control(request, url);
    if (url.pathname === '/' || url.pathname === '') {
      return json({ service: 'mock-idp', providers: this.describe({ mode: 'path', origin: url.origin }) });
    }
    // RFC 8414 3.1 / RFC 9728 3.1: the well-known segment is inserted before the issuer's path, so
    // /.well-known/<name>/<prefix>/<rest> belongs to the host mounted at <prefix>.
    const inserted = url.pathname.match(/^\/\.well-known\/([a-z-]+)\/([^/]+)(\/.*)?$/);
    if (inserted) {
      const host = this.#hosts.find((h) => h.spec.prefix === inserted[2]);
      if (host) {
        const inner = new Request(
          `${url.origin}/.well-known/${inserted[1]}${inserted[3] ?? ''}${url.search}`,
          {
            method: request.method,
            headers: request.headers,
          },
        );
        return host.app.fetch(inner, { view: { mode: 'path', origin: url.origin }, hostId: host.spec.id });
      }
    }
    const segment = url.pathname.split('/')[1] ?? '';
    const host = this.#hosts.find((h) => h.spec.prefix === segment);
    if (!host)
      return json({ error: 'not_found', error_description: `no provider is mounted at /${segment}` }, 404);
    const rest = url.pathname.slice(segment.length + 1) || '/';
    const inner = new Request(`${url.origin}${rest}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: request.method === 'GET' || request.method === 'HEAD' ? null : request.body,
      redirect: 'manual',
      ...(request.body ? { duplex: 'half' } : {}),
    } as RequestInit);
    return host.app.fetch(inner, {
      view: { mode: 'path', origin: url.origin },
      hostId: host.spec.id,
      originalUrl: url.toString(),
    });
  };

  describe(view: UrlView): ProviderDescription[] {
    return this.providers.map((ctx) => {
      const { issuer, endpoints } = ctx.definition.describe(ctx, view);
      const client = ctx.clients.default;
      return {
        id: ctx.id,
        title: ctx.definition.title,
        ...(issuer ? { issuer } : {}),
        base_urls: Object.fromEntries(ctx.definition.hosts.map((h) => [h.id, ctx.url(view, h.id)])),
        endpoints,
        client: {
          client_id: client.clientId,
          ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
          redirect_uris: client.redirectUris,
          loopback_redirects_allowed: client.allowLoopback,
          token_endpoint_auth_method: client.tokenEndpointAuthMethod,
        },
        clients: ctx.clients.list().map((c) => ({ client_id: c.clientId, name: c.name })),
      };
    });
  }

  describePersonas(): Record<string, unknown> {
    return {
      users: this.personas.users,
      personas: this.personas.personas.map((p) => ({
        id: p.id,
        name: p.name,
        description: p.description,
        email: p.email,
        email_verified: p.email_verified,
        expect: p.expect,
        claims: p.claims,
        identities: Object.fromEntries(this.providers.map((ctx) => [ctx.id, ctx.definition.identity(p)])),
      })),
    };
  }

  /** Queues the persona the next authorization request completes as (of `provider`, or of any). */
  nextLogin(persona: string, options: { provider?: string; action?: 'approve' | 'deny' } = {}): NextLogin {
    if (options.action !== 'deny' && !this.personas.personas.some((p) => p.id === persona)) {
      throw new MockIdpError('ERR_UNKNOWN_PERSONA', `unknown persona "${persona}"`);
    }
    if (options.provider) this.provider(options.provider);
    const entry: NextLogin = {
      persona,
      action: options.action ?? 'approve',
      ...(options.provider ? { provider: options.provider } : {}),
    };
    this.#nextLogins.push(entry);
    return entry;
  }

  takeNextLogin(provider: string): NextLogin | undefined {
    const index = this.#nextLogins.findIndex((n) => !n.provider || n.provider === provider);
    if (index < 0) return undefined;
    return this.#nextLogins.splice(index, 1)[0];
  }

  addFault(input: FaultInput): Fault {
    this.provider(input.provider);
    return this.faults.add(input);
  }

  registerClient(
    provider: string,
    client: Partial<RegisteredClient> & { clientId: string },
  ): RegisteredClient {
    const ctx = this.provider(provider);
    const base = ctx.clients.default;
    return ctx.clients.add({
      ...base,
      clientSecret: undefined,
      redirectUris: [],
      name: client.clientId,
      extra: {},
      ...client,
    });
  }

  reset(): void {
    this.journal.clear();
    this.grants.clear();
    this.faults.clear();
    this.#nextLogins = [];
    for (const ctx of this.providers) {
      ctx.clients.reset();
      ctx.keys.reset();
      ctx.resetSettings();
    }
  }

  setPersonas(personas: PersonaSet | string): void {
    this.personas = typeof personas === 'string' ? parsePersonas(personas) : personas;
  }

  journalEntries(
    filter: { provider?: string; type?: JournalEntry['type']; since?: number } = {},
  ): JournalEntry[] {
    return this.journal.entries(filter);
  }

  async #control(request: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/\/+$/, '');
    const bad = (message: string, status = 400) => json({ error: 'invalid_request', message }, status);
    const readJson = async (): Promise<unknown> => {
      const text = await request.text();
      if (text.length > 1_000_000) throw new MockIdpError('ERR_FAULT_INVALID', 'request body is too large');
      if (!text.trim()) return {};
      try {
        return JSON.parse(text);
      } catch {
        throw new MockIdpError('ERR_FAULT_INVALID', 'request body is not valid JSON');
      }
    };
    const method = request.method;
    const allow = (methods: string[]) =>
      methods.includes(method)
        ? undefined
        : json({ error: 'method_not_allowed', message: `use ${methods.join(' or ')}` }, 405, {
            allow: methods.join(', '),
          });
    try {
      switch (path) {
        case '/_mock':
        case '/_mock/providers':
          return allow(['GET']) ?? json({ providers: this.describe({ mode: 'path', origin: url.origin }) });
        case '/_mock/personas':
          return allow(['GET']) ?? json(this.describePersonas());
        case '/_mock/next-login': {
          const denied = allow(['POST']);
          if (denied) return denied;
          const body = (await readJson()) as Record<string, unknown>;
          if (body['action'] !== undefined && body['action'] !== 'approve' && body['action'] !== 'deny') {
            return bad('"action" must be approve or deny');
          }
          const action = body['action'] === 'deny' ? 'deny' : 'approve';
          if (action === 'approve' && typeof body['persona'] !== 'string')
            return bad('"persona" must be a string');
          if (body['provider'] !== undefined && typeof body['provider'] !== 'string') {
            return bad('"provider" must be a string');
          }
          const queued = this.nextLogin(typeof body['persona'] === 'string' ? body['persona'] : '', {
            action,
            ...(typeof body['provider'] === 'string' ? { provider: body['provider'] } : {}),
          });
          return json({ queued }, 200);
        }
        case '/_mock/journal': {
          const denied = allow(['GET']);
          if (denied) return denied;
          const since = url.searchParams.get('since');
          const type = url.searchParams.get('type');
          if (type && type !== 'request' && type !== 'issued') return bad('"type" must be request or issued');
          if (since !== null && !/^\d+$/.test(since)) return bad('"since" must be a sequence number');
          const provider = url.searchParams.get('provider');
          const entries = this.journal.entries({
            ...(provider ? { provider } : {}),
            ...(type ? { type: type as JournalEntry['type'] } : {}),
            ...(since !== null ? { since: Number(since) } : {}),
          });
          return json({ last_seq: this.journal.lastSeq, entries });
        }
        case '/_mock/reset': {
          const denied = allow(['POST']);
          if (denied) return denied;
          this.reset();
          return json({ reset: true });
        }
        case '/_mock/faults': {
          if (method === 'GET') return json({ faults: this.faults.list() });
          if (method === 'DELETE') {
            this.faults.clear();
            return json({ faults: [] });
          }
          const denied = allow(['GET', 'POST', 'DELETE']);
          if (denied) return denied;
          const body = (await readJson()) as Record<string, unknown>;
          const inputs = Array.isArray(body['faults']) ? body['faults'] : [body];
          const parsed = inputs.map(parseFault);
          const added = parsed.map((f) => this.addFault(f));
          return json({ faults: added }, 201);
        }
        case '/_mock/settings': {
          if (method === 'GET') {
            return json({
              settings: Object.fromEntries(this.providers.map((ctx) => [ctx.id, ctx.settings])),
            });
          }
          const denied = allow(['GET', 'POST']);
          if (denied) return denied;
          const body = (await readJson()) as Record<string, unknown>;
          if (typeof body['provider'] !== 'string') return bad('"provider" must be a string');
          const settings = body['settings'];
          if (!settings || typeof settings !== 'object' || Array.isArray(settings)) {
            return bad('"settings" must be an object');
          }
          const updated = this.provider(body['provider']).updateSettings(settings as Record<string, unknown>);
          return json({ provider: body['provider'], settings: updated });
        }
        case '/_mock/mint': {
          // Signs arbitrary claims with a provider's current key (or a defect), so a conformance
          // run can present validly signed tokens with a wrong iss, aud or lifetime.
          const denied = allow(['POST']);
          if (denied) return denied;
          const body = (await readJson()) as Record<string, unknown>;
          if (typeof body['provider'] !== 'string') return bad('"provider" must be a string');
          const claims = body['claims'];
          if (!claims || typeof claims !== 'object' || Array.isArray(claims))
            return bad('"claims" must be an object');
          const ctx = this.provider(body['provider']);
          const header = body['header'];
          const token = await ctx.keys.sign(claims as Record<string, unknown>, {
            ...(header && typeof header === 'object' ? { header: header as Record<string, unknown> } : {}),
            ...(body['key'] === 'untrusted' ? { key: 'untrusted' as const } : {}),
          });
          return json({ token, kid: (await ctx.keys.current()).kid });
        }
        case '/_mock/clients': {
          if (method === 'GET') {
            return json({
              clients: this.providers.flatMap((ctx) =>
                ctx.clients.list().map((c) => ({ provider: ctx.id, client_id: c.clientId, name: c.name })),
              ),
            });
          }
          const denied = allow(['GET', 'POST']);
          if (denied) return denied;
          const body = (await readJson()) as Record<string, unknown>;
          if (typeof body['provider'] !== 'string') return bad('"provider" must be a string');
          if (typeof body['client_id'] !== 'string' || !body['client_id'])
            return bad('"client_id" must be a string');
          const uris = body['redirect_uris'] ?? [];
          if (!Array.isArray(uris) || uris.some((u) => typeof u !== 'string')) {
            return bad('"redirect_uris" must be a list of strings');
          }
          const client = this.registerClient(body['provider'], {
            clientId: body['client_id'],
            clientSecret: typeof body['client_secret'] === 'string' ? body['client_secret'] : undefined,
            redirectUris: uris as string[],
          });
          return json({ provider: body['provider'], client_id: client.clientId }, 201);
        }
        default: {
          const faultId = path.match(/^\/_mock\/faults\/(\d+)$/)?.[1];
          if (faultId) {
            const denied = allow(['DELETE']);
            if (denied) return denied;
            return this.faults.remove(Number(faultId))
              ? json({ removed: Number(faultId) })
              : json({ error: 'not_found', message: `no fault ${faultId}` }, 404);
          }
          return json({ error: 'not_found', message: `no control endpoint ${path}` }, 404);
        }
      }
    } catch (error) {
      if (error instanceof MockIdpError) {
        return json(
          { error: 'invalid_request', code: error.code, message: error.message },
          error.code === 'ERR_UNKNOWN_PROVIDER' || error.code === 'ERR_UNKNOWN_PERSONA' ? 404 : 400,
        );
      }
      throw error;
    }
  }
}

export function createMockIdp(options: MockIdpOptions = {}): MockIdp {
  return new MockIdp(options);
}

export { randomId };
