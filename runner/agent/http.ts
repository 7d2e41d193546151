/**
 * The runner's plain-HTTP browser: a cookie jar per host, manual redirects (every hop recorded),
 * HTML form discovery and submission. It stands in for a user's browser on consent and login
 * pages, and stops before navigating to the client's redirect URI (which it only records).
 */

export interface AgentExchange {
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  response?: { status: number; headers: Record<string, string>; body: string };
  error?: string;
  durationMs: number;
}

export interface HtmlForm {
  action: string;
  method: string;
  fields: Record<string, string>;
  /** Submit buttons: name=value pairs. */
  buttons: Array<{ name: string; value: string; text: string; id?: string }>;
}

export interface Navigation {
  /** The last response received (the page the browser ends on), if any. */
  final?: { url: string; status: number; headers: Headers; body: string };
  /** The URL the agent did not follow because it matched `stopAt` (the client's redirect URI). */
  stoppedAt?: string;
  hops: AgentExchange[];
}

const MAX_BODY_RECORDED = 64 * 1024;

function headerRecord(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  const cookies = headers.getSetCookie();
  if (cookies.length) out['set-cookie'] = cookies.join('\n');
  return out;
}

function decode(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCharCode(Number.parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  const raw = m?.[1] ?? m?.[2] ?? m?.[3];
  return raw === undefined ? undefined : decode(raw);
}

/** Parses the forms of an HTML page (enough for consent and login pages; no scripts). */
export function parseForms(html: string, baseUrl: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const open = m[1]!;
    const inner = m[2]!;
    const fields: Record<string, string> = {};
    const buttons: HtmlForm['buttons'] = [];
    for (const input of inner.matchAll(/<input\b[^>]*>/gi)) {
      const tag = input[0];
      const name = attr(tag, 'name');
      const type = (attr(tag, 'type') ?? 'text').toLowerCase();
      if (!name) continue;
      if (type === 'submit')
        buttons.push({ name, value: attr(tag, 'value') ?? '', text: attr(tag, 'value') ?? '' });
      else if (type !== 'checkbox' || /\schecked/i.test(tag)) fields[name] = attr(tag, 'value') ?? '';
    }
    for (const button of inner.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
      const tag = `<button${button[1]}>`;
      const type = (attr(tag, 'type') ?? 'submit').toLowerCase();
      if (type !== 'submit') continue;
      const id = attr(tag, 'id');
      buttons.push({
        name: attr(tag, 'name') ?? '',
        value: attr(tag, 'value') ?? '',
        text: decode(button[2]!.replace(/<[^>]+>/g, '').trim()),
        ...(id ? { id } : {}),
      });
    }
    forms.push({
      action: new URL(attr(`<form${open}>`, 'action') ?? baseUrl, baseUrl).toString(),
      method: (attr(`<form${open}>`, 'method') ?? 'GET').toUpperCase(),
      fields,
      buttons,
    });
  }
  return forms;
}

export class HttpAgent {
  readonly #jar = new Map<string, Map<string, string>>();
  readonly exchanges: AgentExchange[] = [];
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;

  constructor(options: { fetch?: typeof fetch; timeoutMs?: number; headers?: Record<string, string> } = {}) {
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#headers = options.headers ?? {};
  }

  cookieHeader(url: string): string | undefined {
    const jar = this.#jar.get(new URL(url).host);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Drops every cookie (a second browser), or the cookies of one host. */
  clearCookies(host?: string): void {
    if (host) this.#jar.delete(host);
    else this.#jar.clear();
  }

  /** Sets one cookie for a URL's host (browser mode hands the Chromium jar's cookies over). */
  setCookie(url: string, name: string, value: string): void {
    const host = new URL(url).host;
    const jar = this.#jar.get(host) ?? new Map<string, string>();
    jar.set(name, value);
    this.#jar.set(host, jar);
  }

  #store(url: string, headers: Headers): void {
    const host = new URL(url).host;
    const jar = this.#jar.get(host) ?? new Map<string, string>();
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq < 1) continue;
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a)) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    this.#jar.set(host, jar);
  }

  /** One HTTP request (no redirect following), with the jar's cookies, recorded. */
  async request(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string | URLSearchParams } = {},
  ): Promise<{ status: number; headers: Headers; body: string; url: string }> {
    const method = init.method ?? 'GET';
    const headers: Record<string, string> = { ...this.#headers, ...(init.headers ?? {}) };
    const cookie = this.cookieHeader(url);
    if (cookie && !Object.keys(headers).some((h) => h.toLowerCase() === 'cookie')) headers['cookie'] = cookie;
    let body: string | undefined;
    if (init.body instanceof URLSearchParams) {
      body = init.body.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else body = init.body;
    const started = performance.now();
    const exchange: AgentExchange = {
      request: {
        method,
        url,
        headers,
        ...(body !== undefined ? { body: body.slice(0, MAX_BODY_RECORDED) } : {}),
      },
      durationMs: 0,
    };
    this.exchanges.push(exchange);
    try {
      const response = await this.#fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await response.text();
      exchange.response = {
        status: response.status,
        headers: headerRecord(response.headers),
        body: text.slice(0, MAX_BODY_RECORDED),
      };
      this.#store(url, response.headers);
      return { status: response.status, headers: response.headers, body: text, url };
    } catch (error) {
      exchange.error =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.#timeoutMs} ms`
          : (error as Error).message;
      throw new Error(`${method} ${url}: ${exchange.error}`);
    } finally {
      exchange.durationMs = Math.round(performance.now() - started);
    }
  }

  /**
   * Navigates like a browser: follows redirects (303 turns into GET) until a page answers, or
   * until the next location matches `stopAt` (recorded, not requested).
   */
  async navigate(
    url: string,
    options: {
      method?: string;
      body?: URLSearchParams;
      headers?: Record<string, string>;
      stopAt?: (url: string) => boolean;
      maxHops?: number;
    } = {},
  ): Promise<Navigation> {
    const hops: AgentExchange[] = [];
    let current = url;
    let method = options.method ?? 'GET';
    let body: URLSearchParams | undefined = options.body;
    for (let hop = 0; hop < (options.maxHops ?? 12); hop++) {
      if (options.stopAt?.(current) && hop > 0) return { stoppedAt: current, hops };
      const before = this.exchanges.length;
      const res = await this.request(current, {
        method,
        ...(body ? { body } : {}),
        ...(options.headers ? { headers: options.headers } : {}),
      });
      hops.push(this.exchanges[before]!);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, current).toString();
        if (options.stopAt?.(next)) return { stoppedAt: next, hops, final: { ...res, url: current } };
        if (!/^https?:/.test(next)) return { stoppedAt: next, hops, final: { ...res, url: current } };
        if (res.status !== 307 && res.status !== 308) {
          method = 'GET';
          body = undefined;
        }
        current = next;
        continue;
      }
      return { final: { ...res, url: current }, hops };
    }
    throw new Error(`more than ${options.maxHops ?? 12} redirects from ${url}`);
  }

  /** Submits a form with one of its buttons (by name/value or visible text). */
  async submit(
    form: HtmlForm,
    button: { name?: string; value?: string } | undefined,
    options: {
      stopAt?: (url: string) => boolean;
      headers?: Record<string, string>;
      fields?: Record<string, string>;
    } = {},
  ): Promise<Navigation> {
    const body = new URLSearchParams({ ...form.fields, ...(options.fields ?? {}) });
    if (button?.name) body.set(button.name, button.value ?? '');
    if (form.method === 'GET') {
      const target = new URL(form.action);
      for (const [k, v] of body) target.searchParams.set(k, v);
      return this.navigate(target.toString(), options);
    }
    return this.navigate(form.action, {
      method: 'POST',
      body,
      headers: { origin: new URL(form.action).origin, ...(options.headers ?? {}) },
      ...(options.stopAt ? { stopAt: options.stopAt } : {}),
    });
  }
}
