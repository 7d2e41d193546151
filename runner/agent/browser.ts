/**
 * The runner's real browser (`--browser`): Chromium through Playwright drives the `authorize`
 * step's navigation (consent page, upstream login, third-party pages), where a plain-HTTP agent
 * cannot judge what a browser does: CSP `form-action` on every redirect of a form submission,
 * SameSite cookies, scripts, custom-scheme redirect URIs. Token, MCP and registration requests
 * stay plain HTTP.
 *
 * One Chromium per run (`ChromiumAgent`), one browser context per case and jar name
 * (`BrowserJar`: cookie isolation between jars, as the HTTP agent's jars), one page per
 * authorization (`BrowserTab`, so parallel steps on one jar do not share a page).
 *
 * How the client's redirect URI is caught (it is recorded, never fetched):
 * - http(s) redirect URIs: the CDP Fetch domain pauses every request to that URI, including the
 *   hops of a redirect chain, and the tab fails it (`Aborted`). Playwright's `route()` is not
 *   used: it is not called for requests that result from a redirect (Playwright's own test
 *   "should not work with redirects"), which is exactly how the code comes back.
 * - other schemes (`cursor://...`, RFC 8252 7.1): Chromium has no handler and fetches nothing;
 *   CDP `Network.requestWillBeSent` names the attempted URL, also for a redirect hop of a
 *   navigation the tab started itself, where Playwright reports only a failed request.
 * Either way the URL (with its fragment) is the step's `location`.
 *
 * @see https://chromedevtools.github.io/devtools-protocol/tot/Fetch/ (requestPaused: "Requests
 *   resulting from a redirect will have redirectedRequestId field set")
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.1 (private-use URI scheme redirection)
 * @see https://www.w3.org/TR/CSP3/#directive-form-action
 */
import type {
  Browser,
  BrowserContext,
  CDPSession,
  ElementHandle,
  Page,
  Request,
  Response,
} from 'playwright-core';
import type { BrowserRule } from '../context.ts';
import { RunnerError } from '../errors.ts';
import type { AgentExchange, HtmlForm } from './http.ts';
import { matchRule, runCommands } from './rules.ts';

/**
 * Debian's Chromium and the flags every browser of the project starts with (the Playwright
 * config of the e2e tests imports this definition).
 */
export const chromiumLaunchOptions = {
  executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
};

const MAX_BODY_RECORDED = 64 * 1024;
/** How long a page without scripts may stay before it counts as settled (late CDP events). */
const QUIET_STATIC_MS = 60;
/** How long a page with scripts (or a meta refresh) may stay quiet before it counts as settled. */
const QUIET_SCRIPTED_MS = 400;
/** How long a click on a submit button may take to start its navigation. */
const NAVIGATION_GRACE_MS = 1_000;
/** Markup that lets a page navigate without a user: scripts, inline handlers, a meta refresh. */
const SCRIPTED = /<script\b|\son[a-z]+\s*=|http-equiv\s*=\s*["']?refresh/i;
/** Navigation errors that are the browser's own refusal, not a network failure. */
const REFUSALS = /^net::ERR_(ABORTED|BLOCKED_BY_CSP|BLOCKED_BY_RESPONSE|BLOCKED_BY_CLIENT)$/;
/** Schemes a document navigation may use without leaving the browser. */
const WEB_SCHEMES = new Set(['http:', 'https:', 'about:', 'data:', 'blob:', 'chrome-error:', 'javascript:']);

/** The parts of CDP events the tab reads (playwright-core does not export its Protocol types). */
interface CdpResponse {
  url: string;
  status: number;
  headers: Record<string, unknown>;
}
interface CdpRequestWillBeSent {
  type?: string;
  frameId?: string;
  request: { url: string; urlFragment?: string };
  redirectResponse?: CdpResponse;
}
interface CdpRequestPaused {
  requestId: string;
  frameId: string;
  resourceType: string;
  request: { url: string; urlFragment?: string; headers: Record<string, unknown> };
}

/** A document the browser landed on. */
export interface PageSnapshot {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

/** Where one action left the browser: a page, the client's URL it did not follow, or no change. */
export interface BrowserNavigation {
  final?: PageSnapshot;
  /** The client's redirect URI (or another non-web URL) the browser tried to open. */
  stoppedAt?: string;
  /** No new document: the action did not navigate, or the browser refused the navigation. */
  unchanged?: boolean;
  /** The main-frame requests of this navigation, in order. */
  hops: AgentExchange[];
}

/** A form of the live page; `index` and the buttons' `index` locate the elements again. */
export interface BrowserForm extends HtmlForm {
  index: number;
  buttons: Array<HtmlForm['buttons'][number] & { index: number }>;
}

export interface TabOptions {
  /** The client's redirect URI: never fetched; a navigation to it ends the drive. */
  redirectUri: string;
  /**
   * Headers added to every request to one origin (the server's fixed headers). Chromium sets the
   * `Sec-Fetch-*` headers itself: `sec-fetch-site: cross-site` is honoured by starting the first
   * navigation from a page of no origin (a real cross-site navigation); other values are ignored.
   */
  extraHeaders?: { origin: string; headers: Record<string, string> };
  rules?: readonly BrowserRule[];
}

function headersOf(record: Record<string, string>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(record)) {
    try {
      if (name === 'set-cookie') for (const line of value.split('\n')) headers.append(name, line);
      else headers.set(name, value);
    } catch {
      // a header value Headers refuses (control characters); the exchange still holds it
    }
  }
  return headers;
}

function firstLine(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0]!;
}

function baseOf(url: string): string {
  return url.split(/[?#]/)[0]!;
}

function schemeOf(url: string): string {
  const m = url.match(/^([a-z][a-z0-9+.-]*:)/i);
  return m ? m[1]!.toLowerCase() : '';
}

/** A Fetch-domain URL pattern that matches `base` followed by anything (`*`, `?`, `\` escaped). */
function fetchPattern(base: string): string {
  return `${base.replace(/[*?\\]/g, '\\$&')}*`;
}

/** One Chromium for the whole run. */
export class ChromiumAgent {
  readonly #browser: Browser;
  readonly #timeoutMs: number;
  readonly #jars = new Set<BrowserJar>();

  constructor(browser: Browser, timeoutMs: number) {
    this.#browser = browser;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Starts headless Chromium. Throws RunnerError ERR_OPTIONS when Playwright or the browser is
   * missing (the run cannot be made).
   */
  static async launch(options: { timeoutMs: number; executablePath?: string }): Promise<ChromiumAgent> {
    let chromium: typeof import('playwright-core').chromium;
    try {
      ({ chromium } = await import('playwright-core'));
    } catch {
      throw new RunnerError('ERR_OPTIONS', 'browser mode needs the "playwright-core" package');
    }
    const executablePath = options.executablePath ?? chromiumLaunchOptions.executablePath;
    try {
      const browser = await chromium.launch({
        ...chromiumLaunchOptions,
        executablePath,
        headless: true,
        timeout: 30_000,
      });
      return new ChromiumAgent(browser, options.timeoutMs);
    } catch (error) {
      throw new RunnerError(
        'ERR_OPTIONS',
        `Chromium at ${executablePath} did not start: ${firstLine(error)}`,
      );
    }
  }

  /** A fresh browser context: its own cookies, storage and cache. */
  async newJar(): Promise<BrowserJar> {
    const context = await this.#browser.newContext({ acceptDownloads: false });
    const jar = new BrowserJar(context, this.#timeoutMs, () => this.#jars.delete(jar));
    this.#jars.add(jar);
    return jar;
  }

  /** Closes every context still open, then the browser. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#jars].map((jar) => jar.close()));
    await this.#browser.close().catch(() => undefined);
  }
}

/** A browser context: one user's browser with its cookie jar. */
export class BrowserJar {
  /** Main-frame navigations of every tab, as the HTTP agent records its requests. */
  readonly exchanges: AgentExchange[] = [];
  readonly #context: BrowserContext;
  readonly #timeoutMs: number;
  readonly #onClose: () => void;
  readonly #tabs = new Set<BrowserTab>();
  #closed = false;

  constructor(context: BrowserContext, timeoutMs: number, onClose: () => void) {
    this.#context = context;
    this.#timeoutMs = timeoutMs;
    this.#onClose = onClose;
  }

  /** Opens a page with the redirect URI intercepted. */
  async open(options: TabOptions): Promise<BrowserTab> {
    if (this.#closed) throw new RunnerError('ERR_STEP_FAILED', 'the browser context is closed');
    const page = await this.#context.newPage();
    page.setDefaultTimeout(this.#timeoutMs);
    const cdp = await this.#context.newCDPSession(page);
    const tab = new BrowserTab(page, cdp, this, options, this.#timeoutMs);
    this.#tabs.add(tab);
    try {
      await tab.init();
    } catch (error) {
      await tab.close();
      throw error;
    }
    return tab;
  }

  /** @internal */
  forget(tab: BrowserTab): void {
    this.#tabs.delete(tab);
  }

  /**
   * Adds the cookies of a `Cookie` header (the plain-HTTP jar of the same name) for a URL, except
   * those the browser holds already (their attributes, SameSite above all, stay the browser's).
   */
  async importCookies(url: string, cookieHeader: string | undefined): Promise<void> {
    if (!cookieHeader) return;
    const origin = new URL(url).origin;
    const held = new Set((await this.#context.cookies(origin).catch(() => [])).map((c) => c.name));
    const cookies = cookieHeader
      .split(';')
      .map((pair) => pair.trim())
      .filter((pair) => pair.indexOf('=') > 0)
      .map((pair) => {
        const eq = pair.indexOf('=');
        return { name: pair.slice(0, eq), value: pair.slice(eq + 1), url: origin };
      })
      .filter((c) => !held.has(c.name));
    if (cookies.length) await this.#context.addCookies(cookies).catch(() => undefined);
  }

  /** The context's cookies for every origin its pages visited, to hand to the plain-HTTP jar. */
  async exportCookies(): Promise<Array<{ url: string; name: string; value: string }>> {
    const origins = new Set<string>();
    for (const exchange of this.exchanges) {
      const url = new URL(exchange.request.url);
      if (url.protocol === 'http:' || url.protocol === 'https:') origins.add(url.origin);
    }
    const cookies = await this.#context.cookies().catch(() => []);
    const out: Array<{ url: string; name: string; value: string }> = [];
    for (const origin of origins) {
      const host = new URL(origin).hostname;
      for (const c of cookies) {
        const domain = c.domain.replace(/^\./, '');
        if (host === domain || host.endsWith(`.${domain}`))
          out.push({ url: origin, name: c.name, value: c.value });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#tabs].map((tab) => tab.close()));
    await this.#context.close().catch(() => undefined);
    this.#onClose();
  }
}

interface Recorded {
  exchange: AgentExchange;
  started: number;
}

/**
 * One page driving one authorization. Every wait is bounded: a page that never settles ends
 * the action with RunnerError ERR_STEP_TIMEOUT naming the page.
 */
export class BrowserTab {
  readonly #page: Page;
  readonly #cdp: CDPSession;
  readonly #jar: BrowserJar;
  readonly #options: TabOptions;
  readonly #timeoutMs: number;
  /** The whole authorization's budget: every wait of the tab ends by then. */
  readonly #deadline: number;
  readonly #redirectBase: string;
  #mainFrameId = '';
  /** The client URL the browser tried to open (ends the drive). */
  #caught: string | undefined;
  /** Main-frame navigation requests started (redirect hops included). */
  #navSeq = 0;
  /** Main-frame documents received, and the last one whose DOM is ready. */
  #docSeq = 0;
  #readySeq = 0;
  #lastDocument: Response | undefined;
  #lastFailure: { seq: number; method: string; url: string; error: string } | undefined;
  readonly #inflight = new Set<Request>();
  readonly #recorded = new Map<Request, Recorded>();
  /** This tab's exchanges, in order (the jar holds every tab's). */
  readonly #exchanges: AgentExchange[] = [];
  readonly #pending = new Set<Promise<void>>();
  readonly #bodies = new WeakMap<Response, Promise<string>>();
  readonly #waiters = new Set<() => void>();
  /** Chromium's console complaints about a Content-Security-Policy (why a navigation was refused). */
  readonly #complaints: string[] = [];
  readonly #headers: Record<string, string>;
  readonly #crossSite: boolean;
  #closed = false;

  constructor(page: Page, cdp: CDPSession, jar: BrowserJar, options: TabOptions, timeoutMs: number) {
    this.#page = page;
    this.#cdp = cdp;
    this.#jar = jar;
    this.#options = options;
    this.#timeoutMs = timeoutMs;
    this.#deadline = Date.now() + timeoutMs;
    this.#redirectBase = baseOf(options.redirectUri);
    const extra = options.extraHeaders?.headers ?? {};
    this.#headers = Object.fromEntries(Object.entries(extra).filter(([k]) => !/^sec-fetch-/i.test(k)));
    this.#crossSite = Object.entries(extra).some(
      ([k, v]) => k.toLowerCase() === 'sec-fetch-site' && v.toLowerCase() === 'cross-site',
    );
  }

  /** @internal Wires the events and the interception. */
  async init(): Promise<void> {
    const page = this.#page;
    page.on('request', (r) => this.#onRequest(r));
    page.on('response', (r) => this.#onResponse(r));
    page.on('requestfinished', (r) => this.#onDone(r, undefined));
    page.on('requestfailed', (r) => this.#onDone(r, r.failure()?.errorText ?? 'failed'));
    page.on('domcontentloaded', () => {
      this.#readySeq = this.#docSeq;
      this.#notify();
    });
    page.on('dialog', (d) => void d.dismiss().catch(() => undefined));
    page.on('console', (m) => {
      if (m.type() === 'error' && /content security policy/i.test(m.text())) this.#complaints.push(m.text());
    });
    page.on('close', () => this.#notify());
    page.on('crash', () => this.#notify());
    const tree = await this.#cdp.send('Page.getFrameTree');
    this.#mainFrameId = tree.frameTree.frame.id;
    this.#cdp.on('Network.requestWillBeSent', (e) => this.#onCdpRequest(e));
    this.#cdp.on('Fetch.requestPaused', (e) => void this.#onPaused(e));
    await this.#cdp.send('Network.enable');
    const patterns: Array<{ urlPattern: string; requestStage: 'Request' }> = [];
    if (/^https?:/i.test(this.#redirectBase)) {
      patterns.push({ urlPattern: fetchPattern(this.#redirectBase), requestStage: 'Request' });
    }
    const extra = this.#options.extraHeaders;
    if (extra && Object.keys(this.#headers).length) {
      patterns.push({ urlPattern: fetchPattern(`${extra.origin}/`), requestStage: 'Request' });
    }
    if (patterns.length) await this.#cdp.send('Fetch.enable', { patterns });
  }

  /** The client's redirect URI (same scheme, authority and path), or a URL no browser opens. */
  isClientTarget(url: string): boolean {
    return baseOf(url) === this.#redirectBase || !WEB_SCHEMES.has(schemeOf(url));
  }

  #isMainNavigation(request: Request): boolean {
    try {
      return request.isNavigationRequest() && request.frame() === this.#page.mainFrame();
    } catch {
      return false;
    }
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #catch(url: string): void {
    this.#caught ??= url;
    this.#notify();
  }

  #onCdpRequest(e: CdpRequestWillBeSent): void {
    if (e.type !== 'Document' || e.frameId !== this.#mainFrameId) return;
    if (e.redirectResponse) this.#patchRedirectHop(e.redirectResponse);
    const url = e.request.url + (e.request.urlFragment ?? '');
    if (this.isClientTarget(url)) this.#catch(url);
  }

  /**
   * A redirect hop Playwright reported as a failed request (the browser refused the next URL):
   * its response is the redirect CDP saw.
   */
  #patchRedirectHop(response: CdpResponse): void {
    for (const exchange of this.#exchanges) {
      if (exchange.request.url === response.url && !exchange.response) {
        exchange.response = { status: response.status, headers: lowerCase(response.headers), body: '' };
        delete exchange.error;
      }
    }
  }

  async #onPaused(e: CdpRequestPaused): Promise<void> {
    const url = e.request.url + (e.request.urlFragment ?? '');
    try {
      if (baseOf(url) === this.#redirectBase) {
        if (e.resourceType === 'Document' && e.frameId === this.#mainFrameId) this.#catch(url);
        await this.#cdp.send('Fetch.failRequest', { requestId: e.requestId, errorReason: 'Aborted' });
        return;
      }
      const extra = this.#options.extraHeaders;
      if (extra && new URL(url).origin === extra.origin) {
        const names = new Set(Object.keys(this.#headers).map((k) => k.toLowerCase()));
        const headers = Object.entries(e.request.headers)
          .filter(([name]) => !names.has(name.toLowerCase()))
          .map(([name, value]) => ({ name, value: String(value) }));
        for (const [name, value] of Object.entries(this.#headers)) headers.push({ name, value });
        await this.#cdp.send('Fetch.continueRequest', { requestId: e.requestId, headers });
        return;
      }
      await this.#cdp.send('Fetch.continueRequest', { requestId: e.requestId });
    } catch {
      // the page closed while the request was paused
    }
  }

  #onRequest(request: Request): void {
    if (!this.#isMainNavigation(request)) return;
    if (this.isClientTarget(request.url())) return;
    this.#navSeq++;
    this.#inflight.add(request);
    const postData = request.postData();
    const exchange: AgentExchange = {
      request: {
        method: request.method(),
        url: request.url(),
        headers: request.headers(),
        ...(postData !== null ? { body: postData.slice(0, MAX_BODY_RECORDED) } : {}),
      },
      durationMs: 0,
    };
    this.#jar.exchanges.push(exchange);
    this.#exchanges.push(exchange);
    this.#recorded.set(request, { exchange, started: performance.now() });
    this.#notify();
  }

  #body(response: Response): Promise<string> {
    let body = this.#bodies.get(response);
    if (!body) {
      body = response.text().catch(() => '');
      this.#bodies.set(response, body);
    }
    return body;
  }

  #onResponse(response: Response): void {
    const request = response.request();
    const recorded = this.#recorded.get(request);
    if (!recorded) return;
    const status = response.status();
    const redirect = status >= 300 && status < 400;
    if (!redirect && status !== 204 && status !== 205) {
      this.#docSeq++;
      this.#lastDocument = response;
    }
    const task = (async () => {
      const [requestHeaders, responseHeaders, body] = await Promise.all([
        request.allHeaders().catch(() => request.headers()),
        response.allHeaders().catch(() => response.headers()),
        redirect ? Promise.resolve('') : this.#body(response),
      ]);
      recorded.exchange.request.headers = requestHeaders;
      recorded.exchange.response = {
        status,
        headers: responseHeaders,
        body: body.slice(0, MAX_BODY_RECORDED),
      };
    })().catch(() => undefined);
    this.#pending.add(task);
    void task.finally(() => this.#pending.delete(task));
    this.#notify();
  }

  #onDone(request: Request, error: string | undefined): void {
    const recorded = this.#recorded.get(request);
    if (!recorded) return;
    this.#inflight.delete(request);
    recorded.exchange.durationMs = Math.round(performance.now() - recorded.started);
    if (error !== undefined && !recorded.exchange.response) {
      recorded.exchange.error = error;
      if (this.#caught === undefined) {
        this.#lastFailure = { seq: this.#navSeq, method: request.method(), url: request.url(), error };
      }
    }
    this.#notify();
  }

  /** Resolves when `done()` holds; at `deadline` resolves anyway, or rejects with `timeout`. */
  #until(done: () => boolean, deadline: number, timeout?: () => string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        this.#waiters.delete(check);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (this.#closed || this.#page.isClosed())
          finish(new RunnerError('ERR_STEP_FAILED', 'the page closed'));
        else if (done()) finish();
      };
      this.#waiters.add(check);
      timer = setTimeout(
        () => finish(timeout ? new RunnerError('ERR_STEP_TIMEOUT', timeout()) : undefined),
        Math.max(0, deadline - Date.now()),
      );
      timer.unref();
      check();
    });
  }

  /** `promise`, or RunnerError ERR_STEP_TIMEOUT after the tab's timeout. */
  #bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      promise,
      new Promise<T>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new RunnerError('ERR_STEP_TIMEOUT', `${what} did not finish within ${this.#timeoutMs} ms`),
            ),
          this.#left(),
        );
        timer.unref();
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Milliseconds left of the tab's budget (at least 1). */
  #left(): number {
    return Math.max(1, this.#deadline - Date.now());
  }

  /** The page being loaded, else the one shown. */
  #currentUrl(): string {
    return [...this.#inflight].at(-1)?.url() ?? this.#lastDocument?.url() ?? this.#page.url();
  }

  /** The current document may navigate by itself (scripts, inline handlers, a meta refresh). */
  async #scripted(): Promise<boolean> {
    const document = this.#lastDocument;
    if (!document) return false;
    return SCRIPTED.test(await this.#orElse(this.#body(document), '<script>', this.#deadline));
  }

  /**
   * Runs `action` and waits until the browser settles: it tried to open the client's URL, or the
   * main frame holds a document whose DOM is ready and no navigation followed for a quiet moment
   * (longer for pages with scripts, which may navigate on their own).
   */
  async #settle(
    action: () => Promise<unknown>,
    expectNavigation: string | undefined,
  ): Promise<BrowserNavigation> {
    const deadline = this.#deadline;
    const startNav = this.#navSeq;
    const startDoc = this.#docSeq;
    const startHop = this.#exchanges.length;
    const startComplaints = this.#complaints.length;
    let actionError: unknown;
    let actionDone = false;
    const acting = action().then(
      () => {
        actionDone = true;
        this.#notify();
      },
      (error: unknown) => {
        actionError = error;
        actionDone = true;
        this.#notify();
      },
    );
    const navigated = () => this.#caught !== undefined || this.#navSeq > startNav;
    if (expectNavigation) {
      await this.#until(
        () => actionDone || navigated(),
        deadline,
        () => `${expectNavigation} on ${this.#currentUrl()} did not finish within ${this.#timeoutMs} ms`,
      );
      if (actionError !== undefined && !navigated()) {
        throw new RunnerError('ERR_STEP_FAILED', `${expectNavigation} failed: ${firstLine(actionError)}`);
      }
      // A click sends a form at once; a page that does not move in the grace period stays as it is
      // (a required field, a script that cancelled the submission, a CSP that refused it).
      if (!navigated()) await this.#until(navigated, Math.min(deadline, Date.now() + NAVIGATION_GRACE_MS));
    } else {
      // The rule's commands have their own timeouts inside `deadline`; theirs is the better message.
      await this.#until(
        () => actionDone,
        deadline + 1_000,
        () => `the browser rule on ${this.#currentUrl()} did not finish`,
      );
      if (actionError !== undefined && this.#caught === undefined) throw actionError;
    }
    for (;;) {
      await this.#until(
        () =>
          this.#caught !== undefined ||
          (this.#inflight.size === 0 &&
            this.#readySeq === this.#docSeq &&
            (actionDone || this.#docSeq > startDoc)),
        deadline,
        () => `the page at ${this.#currentUrl()} did not finish loading within ${this.#timeoutMs} ms`,
      );
      if (this.#caught !== undefined) break;
      const seq = this.#navSeq;
      const quiet = (await this.#scripted()) ? QUIET_SCRIPTED_MS : QUIET_STATIC_MS;
      await this.#until(
        () => this.#caught !== undefined || this.#navSeq > seq,
        Math.min(deadline, Date.now() + quiet),
      );
      if (this.#caught !== undefined || this.#navSeq === seq) break;
    }
    void acting;
    await this.flush();
    const hops = this.#exchanges.slice(startHop);
    if (this.#caught !== undefined) return { stoppedAt: this.#caught, hops };
    const failure = this.#lastFailure;
    if (this.#docSeq === startDoc) {
      if (failure && failure.seq > startNav && !REFUSALS.test(failure.error)) {
        throw new RunnerError('ERR_STEP_FAILED', `${failure.method} ${failure.url}: ${failure.error}`);
      }
      const refused = hops.at(-1);
      const complaint = this.#complaints[startComplaints];
      if (refused?.error && complaint) refused.error = `${refused.error}: ${complaint.slice(0, 300)}`;
      return { unchanged: true, hops };
    }
    const final = await this.#snapshot();
    return final ? { final, hops } : { hops };
  }

  async #snapshot(): Promise<PageSnapshot | undefined> {
    const response = this.#lastDocument;
    if (!response) return undefined;
    const [headers, body] = await Promise.all([
      this.#orElse(
        response.allHeaders().catch(() => response.headers()),
        response.headers(),
        this.#deadline,
      ),
      this.#orElse(this.#body(response), '', this.#deadline),
    ]);
    return { url: response.url(), status: response.status(), headers: headersOf(headers), body };
  }

  /** Waits (until `until` at most) for the exchange records still reading headers and bodies. */
  async flush(until = this.#deadline): Promise<void> {
    await this.#orElse(Promise.allSettled([...this.#pending]), undefined, until);
  }

  /** `promise`, or `fallback` once `until` has passed (a body that never ends, say). */
  #orElse<T>(promise: Promise<T>, fallback: T, until: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      promise,
      new Promise<T>((resolve) => {
        timer = setTimeout(() => resolve(fallback), Math.max(0, until - Date.now()));
        timer.unref();
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Opens a URL as a user would (typed into the address bar: `Sec-Fetch-Site: none`), or, for a
   * cross-site start, by a script of the blank page (no origin: `Sec-Fetch-Site: cross-site`).
   */
  navigate(url: string): Promise<BrowserNavigation> {
    return this.#settle(async () => {
      try {
        if (this.#crossSite) {
          await this.#page.evaluate((target) => {
            window.location.href = target;
          }, url);
        } else await this.#page.goto(url, { waitUntil: 'commit', timeout: this.#left() });
      } catch (error) {
        // An aborted or refused navigation is judged from the events; anything else is an error.
        if (this.#navSeq === 0 && this.#caught === undefined) throw error;
      }
    }, `opening ${url}`);
  }

  /** The forms of the live page (after scripts ran), in document order. */
  async forms(): Promise<BrowserForm[]> {
    return this.#bounded(
      this.#page.evaluate(() => {
        const controls = 'input, button, select, textarea';
        return Array.from(document.querySelectorAll('form')).map((form, index) => {
          const fields: Record<string, string> = {};
          const buttons: Array<{ name: string; value: string; text: string; id?: string; index: number }> =
            [];
          Array.from(form.querySelectorAll(controls)).forEach((el, i) => {
            if (el instanceof HTMLButtonElement) {
              if (el.type === 'submit') {
                buttons.push({
                  name: el.name,
                  value: el.value,
                  text: (el.textContent ?? '').trim(),
                  ...(el.id ? { id: el.id } : {}),
                  index: i,
                });
              }
            } else if (el instanceof HTMLInputElement) {
              const type = el.type;
              if (type === 'submit' || type === 'image') {
                buttons.push({
                  name: el.name,
                  value: el.value,
                  text: el.value,
                  ...(el.id ? { id: el.id } : {}),
                  index: i,
                });
              } else if (type === 'checkbox' || type === 'radio') {
                if (el.checked && el.name) fields[el.name] = el.value;
              } else if (el.name && type !== 'file' && type !== 'reset' && type !== 'button') {
                fields[el.name] = el.value;
              }
            } else if ((el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement) && el.name) {
              fields[el.name] = el.value;
            }
          });
          // getAttribute: a control named "action" or "method" shadows the form's properties.
          const action = new URL(form.getAttribute('action') ?? '', document.baseURI).toString();
          const method = (form.getAttribute('method') ?? 'GET').toUpperCase();
          return { index, action, method, fields, buttons };
        });
      }),
      'reading the forms',
    );
  }

  /** Submits a form of `forms()` by clicking one of its buttons (or `requestSubmit()` without one). */
  async submit(form: HtmlForm, button: HtmlForm['buttons'][number] | undefined): Promise<BrowserNavigation> {
    const formIndex = (form as Partial<BrowserForm>).index;
    const buttonIndex = (button as { index?: number } | undefined)?.index;
    if (formIndex === undefined)
      throw new RunnerError('ERR_STEP_FAILED', 'the form does not come from this page');
    if (buttonIndex === undefined) {
      return this.#settle(
        () => this.#page.evaluate((f) => document.querySelectorAll('form')[f]?.requestSubmit(), formIndex),
        `submitting form ${formIndex + 1}`,
      );
    }
    const handle = await this.#bounded(
      this.#page.evaluateHandle(
        ([f, b]) =>
          document.querySelectorAll('form')[f]?.querySelectorAll('input, button, select, textarea')[b] ??
          null,
        [formIndex, buttonIndex] as const,
      ),
      'finding the button',
    );
    const element = handle.asElement() as ElementHandle<Element> | null;
    if (!element)
      throw new RunnerError('ERR_STEP_FAILED', `the button "${button?.text ?? ''}" is gone from the page`);
    const label = `clicking "${(button?.text || button?.value || button?.name) ?? ''}"`;
    try {
      return await this.#settle(() => element.click({ timeout: this.#left() }), label);
    } finally {
      void element.dispose().catch(() => undefined);
    }
  }

  /** The browser rule for this URL, if any. */
  rule(url: string): BrowserRule | undefined {
    return matchRule(this.#options.rules ?? [], url);
  }

  /** Runs a rule's commands (or its deny commands) and waits for the browser to settle. */
  runRule(rule: BrowserRule, which: 'commands' | 'deny'): Promise<BrowserNavigation> {
    const commands = which === 'deny' ? rule.deny : rule.commands;
    if (!commands?.length) {
      return Promise.reject(
        new RunnerError('ERR_STEP_FAILED', `the browser rule "${rule.match}" has no deny commands`),
      );
    }
    return this.#settle(
      () =>
        runCommands(
          this.#page,
          rule,
          commands,
          () => this.#left(),
          () => this.#caught !== undefined,
        ),
      undefined,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#notify();
    await this.flush(Date.now() + 1_000);
    // Closing the page ends its CDP session too (an explicit detach can wait on a hung navigation).
    await this.#page.close().catch(() => undefined);
    this.#jar.forget(this);
  }
}

function lowerCase(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = String(value);
  return out;
}
