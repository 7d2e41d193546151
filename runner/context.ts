import type { Exchange } from '../reports/model.ts';
import type { BrowserJar, ChromiumAgent } from './agent/browser.ts';
import { type AgentExchange, HttpAgent } from './agent/http.ts';
import { RunnerError } from './errors.ts';
import type { Profile } from './probe.ts';

/** What a run knows before its cases start. */
export interface RunContext {
  /** The MCP endpoint under test. */
  target: string;
  profile: Profile;
  /** The mock IdP's control origin (standalone listener), when one is in front of the server. */
  idpUrl: string | undefined;
  /** The mock provider that stands in for the server's upstream (`github`, `google`...). */
  upstream: string | undefined;
  /** Fixed headers sent with every request to the server (redacted in every output). */
  headers: Record<string, string>;
  /** The client's redirect URI (the agent never calls it; it stops there). */
  redirectUri: string;
  /** The identity probe: a tool and where the user's fields are in its result. */
  identity: IdentityProbe | undefined;
  /** Static client for servers without DCR. */
  staticClient: StaticClient | undefined;
  /** Browser mode: the `authorize` step drives real Chromium (every other step stays plain HTTP). */
  browser?: boolean;
  /** The Chromium of a browser-mode run: launched once per run, closed at its end. */
  browserAgent?: ChromiumAgent;
  /** Consent and login automation for pages that are not ours: URL glob -> commands (browser mode). */
  browserRules: BrowserRule[];
  stepTimeoutMs: number;
  fetch: typeof fetch;
  /** Values to redact everywhere (header values, secrets learned during the run). */
  secrets: Set<string>;
  /** Application users the personas file says the server's store holds (for identity checks). */
  users: Array<{ id: string; email?: string; login?: string }>;
  /** The personas and whom each should resolve to, per upstream provider (`expected_user` step). */
  personas?: Array<{ id: string; expect: Record<string, string | null> }>;
}

export interface IdentityProbe {
  tool: string;
  /** JSON paths into the tool's result (structuredContent, or the JSON of its text content). */
  /** `claims`: the claims the server passed through from the upstream (claims passthrough). */
  fields: { id?: string; email: string; login?: string; groups?: string; claims?: string };
  arguments?: Record<string, unknown>;
}

export interface StaticClient {
  client_id: string;
  client_secret?: string;
  redirect_uri: string;
  token_endpoint_auth_method: 'none' | 'client_secret_post' | 'client_secret_basic';
}

export interface BrowserCommand {
  fill?: { selector: string; value: string };
  click?: string;
  wait?: string;
}

export interface BrowserRule {
  /** URL glob (`*` any run of characters). */
  match: string;
  commands: BrowserCommand[];
  /** The page is the server's consent page: recorded as such; `consent: stop` stops there. */
  consent?: boolean;
  /** Commands that deny on a consent page (`consent: deny`). */
  deny?: BrowserCommand[];
}

/** A response as steps record it on the blackboard. */
export interface ResponseResult {
  kind: 'response';
  url: string;
  status: number;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: string;
  json: unknown;
  location: string | undefined;
  /** Exchanges that produced it (the checks link to them). */
  exchanges: number[];
}

/** One case's working state: the blackboard, its browsers (cookie jars) and what it saw. */
export class CaseContext {
  readonly run: RunContext;
  readonly vars: Record<string, unknown>;
  /** Faults this case set at the mock IdP; removed when the case ends. */
  readonly faultIds: number[] = [];
  readonly #agents = new Map<string, HttpAgent>();
  /** Browser-mode jars: one Chromium context per name, opened on first use. */
  readonly #jars = new Map<string, BrowserJar>();
  readonly #opening = new Map<string, Promise<BrowserJar>>();
  readonly #recorded: Array<{ id: number; step: string; exchange: AgentExchange }> = [];
  /** Ids of recorded exchanges: concurrent recordings (`parallel`) see each other's, kept once. */
  readonly #ids = new Map<AgentExchange, number>();
  #step = 'setup';

  constructor(run: RunContext, vars: Record<string, unknown>) {
    this.run = run;
    this.vars = vars;
  }

  set step(name: string) {
    this.#step = name;
  }

  /** The browser (cookie jar) of that name; `default` unless a step names another. */
  agent(name = 'default'): HttpAgent {
    let agent = this.#agents.get(name);
    if (!agent) {
      agent = new HttpAgent({ fetch: this.run.fetch, timeoutMs: this.run.stepTimeoutMs });
      this.#agents.set(name, agent);
    }
    return agent;
  }

  /** The Chromium context (cookie jar) of that name, in browser mode. */
  browserJar(name = 'default'): Promise<BrowserJar> {
    const open = this.#jars.get(name);
    if (open) return Promise.resolve(open);
    let pending = this.#opening.get(name);
    if (!pending) {
      const agent = this.run.browserAgent;
      if (!agent)
        return Promise.reject(new RunnerError('ERR_STEP_FAILED', 'browser mode has no launched browser'));
      pending = agent.newJar().then((jar) => {
        this.#jars.set(name, jar);
        return jar;
      });
      this.#opening.set(name, pending);
    }
    return pending;
  }

  /** Closes the case's browser contexts (the engine calls it when the case ends). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#opening.values()].map(async (p) => (await p).close()));
  }

  #sources(): Array<[string, { exchanges: AgentExchange[] }]> {
    return [
      ...[...this.#agents].map(([k, a]): [string, HttpAgent] => [`http:${k}`, a]),
      ...[...this.#jars].map(([k, j]): [string, BrowserJar] => [`browser:${k}`, j]),
    ];
  }

  /** Runs `fn` and returns the ids of the exchanges it made (on any agent). */
  async recording<T>(fn: () => Promise<T>): Promise<{ value: T; exchanges: number[] }> {
    const before = new Map(this.#sources().map(([k, a]) => [k, a.exchanges.length]));
    let value: T;
    try {
      value = await fn();
    } finally {
      this.#collect(before);
    }
    const ids = this.#lastCollected;
    return { value, exchanges: ids };
  }

  #lastCollected: number[] = [];

  #collect(before: Map<string, number>): void {
    const ids: number[] = [];
    for (const [name, agent] of this.#sources()) {
      for (const exchange of agent.exchanges.slice(before.get(name) ?? 0)) {
        let id = this.#ids.get(exchange);
        if (id === undefined) {
          id = this.#recorded.length + 1;
          this.#recorded.push({ id, step: this.#step, exchange });
          this.#ids.set(exchange, id);
        }
        ids.push(id);
      }
    }
    this.#lastCollected = ids;
  }

  /** Every exchange of the case, in the result model's shape (not yet redacted). */
  exchanges(): Exchange[] {
    return this.#recorded.map(({ id, step, exchange }) => ({
      id,
      step,
      request: exchange.request,
      ...(exchange.response ? { response: exchange.response } : {}),
      ...(exchange.error ? { error: exchange.error } : {}),
      durationMs: exchange.durationMs,
    }));
  }

  /** Every response body and header value the client side saw (for leak checks). */
  seenByClient(): string[] {
    return this.#recorded.flatMap(({ exchange }) =>
      exchange.response ? [exchange.response.body, ...Object.values(exchange.response.headers)] : [],
    );
  }
}

export function toResponseResult(
  res: { status: number; headers: Headers; body: string; url: string },
  exchanges: number[],
): ResponseResult {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    headers[k] = v;
  });
  let json: unknown;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  return {
    kind: 'response',
    url: res.url,
    status: res.status,
    headers,
    body: res.body,
    json,
    location: res.headers.get('location') ?? undefined,
    exchanges,
  };
}
