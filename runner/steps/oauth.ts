import { createHash, randomBytes } from 'node:crypto';
import type { BrowserJar } from '../agent/browser.ts';
import { type AgentExchange, type HtmlForm, parseForms } from '../agent/http.ts';
import { type BrowserRule, type CaseContext, type ResponseResult, toResponseResult } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expand, expandString, lookup } from '../template.ts';

/** A registered (or configured) client as the steps use it. */
export interface ClientInfo {
  client_id: string;
  client_secret?: string;
  redirect_uri: string;
  token_endpoint_auth_method: string;
}

export interface PkcePair {
  verifier: string;
  challenge: string;
  method: 'S256' | 'plain';
}

/** What the `authorize` step found out. */
export interface AuthorizeResult {
  kind: 'authorize';
  /** The server showed a consent page of its own. */
  consent_shown: boolean;
  consent_page: ResponseResult | undefined;
  /**
   * Where approving our consent page sent the browser (the upstream sign-in, a login page, or the
   * client itself): the target a consent page's CSP `form-action` must allow (edge 35).
   */
  consent_redirect: string | undefined;
  /** Every page the browser landed on, in order (consent, upstream login...). */
  pages: Array<{ url: string; status: number }>;
  /** The navigation reached the client's redirect URI. */
  redirected: boolean;
  /** Where it went: the client's redirect URI with its parameters. */
  location: string | undefined;
  code: string | undefined;
  state: string | undefined;
  iss: string | undefined;
  error: string | undefined;
  error_description: string | undefined;
  /** Where the browser ended when it did not reach the client (an error page). */
  final: ResponseResult | undefined;
  /** The authorization request as sent. */
  request: { url: string; params: Record<string, string> };
  pkce: PkcePair | undefined;
  exchanges: number[];
}

function metadataEndpoint(ctx: CaseContext, name: string): string {
  const as = ctx.run.profile.authorizationServer as Record<string, unknown> | undefined;
  const url = as?.[name];
  if (typeof url !== 'string') {
    throw new RunnerError('ERR_STEP_FAILED', `the authorization server metadata has no ${name}`);
  }
  return url;
}

export function newPkce(method: 'S256' | 'plain' = 'S256'): PkcePair {
  const verifier = randomBytes(32).toString('base64url');
  return {
    verifier,
    method,
    challenge: method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier,
  };
}

function clientFrom(ctx: CaseContext, ref: unknown): ClientInfo {
  const value = ref === undefined ? lookup(ctx.vars, 'client') : expand(ref, ctx.vars);
  const client = (value as { client?: ClientInfo } | undefined)?.client ?? (value as ClientInfo | undefined);
  if (!client || typeof client.client_id !== 'string') {
    const refused = value as { kind?: string; status?: number; headers?: Record<string, string> } | undefined;
    if (refused?.kind === 'response' && typeof refused.status === 'number') {
      const wait = refused.headers?.['retry-after'];
      throw new RunnerError(
        'ERR_STEP_FAILED',
        refused.status === 429
          ? `the server refused the client registration with 429 (rate limited${wait ? `; retry after ${wait} s` : ''}); an earlier run may have spent its registration budget`
          : `the client registration failed with HTTP ${refused.status}`,
      );
    }
    throw new RunnerError(
      'ERR_STEP_FAILED',
      'no client: register one first (a `register` step with `as: client`)',
    );
  }
  return client;
}

/** RFC 7591 registration, or the configured static client when the server has no DCR. */
export async function register(
  ctx: CaseContext,
  args: Record<string, unknown>,
): Promise<ResponseResult & { client?: ClientInfo }> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const endpoint = ctx.run.profile.authorizationServer?.['registration_endpoint'];
  if (typeof endpoint !== 'string') {
    const s = ctx.run.staticClient;
    if (!s)
      throw new RunnerError(
        'ERR_STEP_FAILED',
        'the server has no registration_endpoint and no static client is configured',
      );
    return {
      kind: 'response',
      url: '',
      status: 201,
      headers: {},
      body: '',
      json: s,
      location: undefined,
      exchanges: [],
      client: { ...s },
    };
  }
  const body =
    a['raw'] !== undefined
      ? a['raw']
      : {
          redirect_uris: a['redirect_uris'] ?? [ctx.run.redirectUri],
          token_endpoint_auth_method: a['token_endpoint_auth_method'] ?? 'none',
          grant_types: a['grant_types'] ?? ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          client_name: a['client_name'] ?? 'mcp-auth-conformance',
        };
  const { value, exchanges } = await ctx.recording(() =>
    ctx.agent().request(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...ctx.run.headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
  const res = toResponseResult(value, exchanges);
  const json = res.json as Record<string, unknown> | undefined;
  if (res.status === 201 || res.status === 200) {
    if (json && typeof json['client_id'] === 'string') {
      const uris =
        (json['redirect_uris'] as string[] | undefined) ??
        (body as { redirect_uris?: string[] }).redirect_uris ??
        [];
      const client: ClientInfo = {
        client_id: json['client_id'],
        ...(typeof json['client_secret'] === 'string' ? { client_secret: json['client_secret'] } : {}),
        redirect_uri: uris[0] ?? ctx.run.redirectUri,
        token_endpoint_auth_method: String(json['token_endpoint_auth_method'] ?? 'client_secret_basic'),
      };
      if (client.client_secret) ctx.run.secrets.add(client.client_secret);
      return { ...res, client };
    }
  }
  return res;
}

/** The buttons of a consent page, by value or visible text (both agents use them). */
export const APPROVE = /\b(approve|allow|accept|authori[sz]e|consent|continue|yes|grant)\b/i;
export const DENY = /\b(deny|cancel|reject|decline|no)\b/i;

/** Where one action of an agent left the browser (the HTTP agent's Navigation fits it). */
interface DriverNavigation {
  final?: { url: string; status: number; headers: Headers; body: string } | undefined;
  stoppedAt?: string | undefined;
  /** The browser stayed on the same document (the action did not navigate or was refused). */
  unchanged?: boolean | undefined;
  /** The requests of this navigation, in order (the first one is the action's own). */
  hops?: AgentExchange[] | undefined;
}

type FormButton = HtmlForm['buttons'][number];

/** What `authorize` needs from an agent: the plain-HTTP one or real Chromium (`--browser`). */
interface AuthorizeDriver {
  start(url: string): Promise<DriverNavigation>;
  forms(page: NonNullable<DriverNavigation['final']>): Promise<HtmlForm[]>;
  submit(form: HtmlForm, button: FormButton | undefined): Promise<DriverNavigation>;
  /** Browser rules (browser mode only). */
  rule?(url: string): BrowserRule | undefined;
  runRule?(rule: BrowserRule, which: 'commands' | 'deny'): Promise<DriverNavigation>;
  /** Continues in another jar: opens `url` there; later submits use it (`upstream_jar`). */
  switchJar?(name: string, url: string): Promise<DriverNavigation>;
}

const MAX_ROUNDS = 8;

/** The Location the first response of a navigation sent the browser to (absolute), if it redirected. */
function firstLocation(nav: DriverNavigation): string | undefined {
  const first = nav.hops?.[0];
  const location = first?.response?.headers['location'];
  if (!first || !location) return nav.stoppedAt;
  try {
    return new URL(location, first.request.url).toString();
  } catch {
    return location;
  }
}

/** Reads the authorization response from the URL the browser was sent to (RFC 6749 4.1.2, RFC 9207). */
function readRedirect(
  ctx: CaseContext,
  result: AuthorizeResult,
  location: string,
  redirected: boolean,
): void {
  result.redirected = redirected;
  result.location = location;
  if (!redirected) return;
  const target = new URL(location);
  const query = new URLSearchParams(target.hash ? target.hash.slice(1) : '');
  for (const [k, v] of target.searchParams) query.set(k, v);
  result.code = query.get('code') ?? undefined;
  result.state = query.get('state') ?? undefined;
  result.iss = query.get('iss') ?? undefined;
  result.error = query.get('error') ?? undefined;
  result.error_description = query.get('error_description') ?? undefined;
  if (result.code) ctx.run.secrets.add(result.code);
}

/**
 * The walk both agents share: browser rules first (browser mode), then the mock IdP's (or a
 * server's own) persona login page, then a consent page, until the client's redirect URI or a
 * page that is none of these.
 */
async function drive(
  ctx: CaseContext,
  driver: AuthorizeDriver,
  url: string,
  result: AuthorizeResult,
  options: {
    persona: string;
    consent: string;
    stopAtUpstream: boolean;
    stopAt: (u: string) => boolean;
    /** `deny`: cancel at the mock IdP's sign-in page instead of signing in. */
    upstreamAction?: string;
    /** After approving consent, finish the sign-in in this jar (another browser; edge 2). */
    upstreamJar?: string | undefined;
  },
): Promise<void> {
  const { persona, consent } = options;
  let nav = await driver.start(url);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if (nav.stoppedAt) {
      readRedirect(ctx, result, nav.stoppedAt, options.stopAt(nav.stoppedAt));
      return;
    }
    if (nav.unchanged) return;
    const page = nav.final;
    if (!page) return;
    result.pages.push({ url: page.url, status: page.status });
    const response = toResponseResult({ ...page }, []);
    result.final = response;
    if (page.status !== 200) return;
    const rule = driver.rule?.(page.url);
    if (rule && driver.runRule) {
      if (rule.consent) {
        result.consent_shown = true;
        result.consent_page = response;
        if (consent === 'stop') return;
      }
      nav = await driver.runRule(rule, rule.consent && consent === 'deny' ? 'deny' : 'commands');
      continue;
    }
    const forms = await driver.forms(page);
    const onIdp = ctx.run.idpUrl !== undefined && page.url.startsWith(ctx.run.idpUrl);
    // `upstream_action: deny`: the user cancels at the IdP, which answers the server's callback
    // with error=access_denied (RFC 6749 4.1.2.1).
    if (onIdp && options.upstreamAction === 'deny') {
      const denyForm = forms.find((f) => f.buttons.some((b) => b.value === 'deny'));
      const button = denyForm?.buttons.find((b) => b.value === 'deny');
      if (!denyForm || !button)
        throw new RunnerError('ERR_STEP_FAILED', 'the IdP sign-in page has no deny button');
      nav = await driver.submit(denyForm, button);
      continue;
    }
    const personaForm = forms.find(
      (f) =>
        f.fields['persona'] === persona || f.buttons.some((b) => b.name === 'persona' && b.value === persona),
    );
    if (personaForm) {
      if (onIdp && options.stopAtUpstream) return;
      const button =
        personaForm.buttons.find((b) => b.name === 'persona' && b.value === persona) ??
        personaForm.buttons.find((b) => b.value === 'approve') ??
        personaForm.buttons[0];
      nav = await driver.submit(personaForm, button);
      continue;
    }
    const consentForm = forms.find((f) => f.buttons.some((b) => APPROVE.test(`${b.value} ${b.text}`)));
    if (consentForm && !onIdp) {
      result.consent_shown = true;
      result.consent_page = response;
      if (consent === 'stop') return;
      const button =
        consent === 'deny'
          ? consentForm.buttons.find((b) => DENY.test(`${b.value} ${b.text}`))
          : consentForm.buttons.find((b) => APPROVE.test(`${b.value} ${b.text}`));
      if (!button) throw new RunnerError('ERR_STEP_FAILED', `the consent page has no ${consent} button`);
      nav = await driver.submit(consentForm, button);
      if (consent === 'approve') result.consent_redirect = firstLocation(nav);
      if (options.upstreamJar && consent === 'approve' && nav.final && !nav.stoppedAt) {
        if (!driver.switchJar)
          throw new RunnerError('ERR_STEP_FAILED', '"upstream_jar" needs the plain-HTTP agent');
        nav = await driver.switchJar(options.upstreamJar, nav.final.url);
      }
      continue;
    }
    return;
  }
}

/**
 * Drives a browser through /authorize: our consent page (approve, deny or stop), the mock IdP's
 * login page (signs in as the persona), a server's own persona login page, until the navigation
 * reaches the client's redirect URI (recorded, never requested) or ends on a page. In browser
 * mode the browser is real Chromium with a context per jar, and the browser rules drive pages
 * that are not ours.
 */
export async function authorize(ctx: CaseContext, args: Record<string, unknown>): Promise<AuthorizeResult> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const client = clientFrom(ctx, args['client']);
  const redirectUri = typeof a['redirect_uri'] === 'string' ? a['redirect_uri'] : client.redirect_uri;
  let pkce: PkcePair | undefined;
  if (a['pkce'] === 'none') pkce = undefined;
  else if (a['pkce'] && typeof a['pkce'] === 'object') pkce = a['pkce'] as PkcePair;
  else pkce = newPkce();
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    state: typeof a['state'] === 'string' ? a['state'] : randomBytes(12).toString('base64url'),
  };
  if (pkce) {
    params['code_challenge'] = pkce.challenge;
    params['code_challenge_method'] =
      typeof a['code_challenge_method'] === 'string' ? a['code_challenge_method'] : pkce.method;
  }
  const resource = a['resource'] ?? ctx.run.profile.resource;
  if (typeof resource === 'string' && resource !== 'none') params['resource'] = resource;
  // MCP scope selection: the scope the challenge names, else what the resource metadata offers.
  const offered = ctx.run.profile.protectedResource?.['scopes_supported'];
  const challenged = ctx.run.profile.challenge.wwwAuthenticate?.match(/\bscope="([^"]*)"/)?.[1];
  if (typeof a['scope'] === 'string') params['scope'] = a['scope'];
  else if (challenged) params['scope'] = challenged;
  else if (Array.isArray(offered) && offered.length) params['scope'] = offered.join(' ');
  for (const [k, v] of Object.entries((a['params'] as Record<string, unknown> | undefined) ?? {})) {
    if (v === null) delete params[k];
    else params[k] = String(v);
  }
  const endpoint = metadataEndpoint(ctx, 'authorization_endpoint');
  const url = new URL(endpoint);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const options = {
    persona: typeof a['persona'] === 'string' ? a['persona'] : 'alice',
    consent: (a['consent'] as string | undefined) ?? 'approve',
    stopAtUpstream: a['stop_at'] === 'upstream',
    upstreamAction: typeof a['upstream_action'] === 'string' ? a['upstream_action'] : 'approve',
    stopAt: (u: string) => u.split(/[?#]/)[0] === redirectUri.split(/[?#]/)[0],
    upstreamJar: typeof a['upstream_jar'] === 'string' ? a['upstream_jar'] : undefined,
  };
  const jarName = typeof a['jar'] === 'string' ? a['jar'] : 'default';
  const headers = { ...ctx.run.headers, ...((a['headers'] as Record<string, string> | undefined) ?? {}) };

  const result: AuthorizeResult = {
    kind: 'authorize',
    consent_shown: false,
    consent_page: undefined,
    consent_redirect: undefined,
    pages: [],
    redirected: false,
    location: undefined,
    code: undefined,
    state: undefined,
    iss: undefined,
    error: undefined,
    error_description: undefined,
    final: undefined,
    request: { url: url.toString(), params },
    pkce,
    exchanges: [],
  };
  if (ctx.run.browser) {
    // Real Chromium: one context per jar; its cookies and the plain-HTTP jar's are kept in step.
    const used = new Map<string, BrowserJar>();
    const open = async (name: string, at: string) => {
      const jar = await ctx.browserJar(name);
      used.set(name, jar);
      await jar.importCookies(at, ctx.agent(name).cookieHeader(at));
      return jar.open({
        redirectUri,
        extraHeaders: { origin: url.origin, headers },
        rules: ctx.run.browserRules,
      });
    };
    await ctx.browserJar(jarName);
    const { exchanges } = await ctx.recording(async () => {
      const tabs = [await open(jarName, url.toString())];
      const tab = () => tabs.at(-1)!;
      try {
        await drive(
          ctx,
          {
            start: (u) => tab().navigate(u),
            forms: () => tab().forms(),
            submit: (form, button) => tab().submit(form, button),
            rule: (u) => tab().rule(u),
            runRule: (rule, which) => tab().runRule(rule, which),
            switchJar: async (name, u) => {
              tabs.push(await open(name, u));
              return tab().navigate(u);
            },
          },
          url.toString(),
          result,
          options,
        );
      } finally {
        for (const t of tabs) await t.close();
        for (const [name, jar] of used) {
          for (const c of await jar.exportCookies()) ctx.agent(name).setCookie(c.url, c.name, c.value);
        }
      }
    });
    result.exchanges = exchanges;
    return result;
  }
  let agent = ctx.agent(jarName);
  const { stopAt } = options;
  const { exchanges } = await ctx.recording(() =>
    drive(
      ctx,
      {
        start: (u) => agent.navigate(u, { stopAt, headers }),
        forms: async (page) => parseForms(page.body, page.url),
        submit: (form, button) => agent.submit(form, button, { stopAt }),
        switchJar: (name, u) => {
          agent = ctx.agent(name);
          return agent.navigate(u, { stopAt, headers });
        },
      },
      url.toString(),
      result,
      options,
    ),
  );
  result.exchanges = exchanges;
  return result;
}

function clientAuth(
  client: ClientInfo,
  mode: string,
  body: URLSearchParams,
  headers: Record<string, string>,
): void {
  const method = mode === 'registered' ? client.token_endpoint_auth_method : mode;
  const secret = mode === 'wrong-secret' ? `${client.client_secret ?? 'x'}-wrong` : client.client_secret;
  if (mode === 'wrong-secret' && client.token_endpoint_auth_method === 'client_secret_basic') {
    headers['authorization'] =
      `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(secret!)}`).toString('base64')}`;
    return;
  }
  if (method === 'client_secret_basic' || method === 'basic') {
    headers['authorization'] =
      `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(secret ?? '')}`).toString('base64')}`;
  } else {
    body.set('client_id', client.client_id);
    if ((method === 'client_secret_post' || method === 'post' || mode === 'wrong-secret') && secret) {
      body.set('client_secret', secret);
    }
  }
}

async function tokenRequest(
  ctx: CaseContext,
  endpointName: string,
  client: ClientInfo,
  fields: Record<string, string | undefined>,
  auth: string,
): Promise<ResponseResult> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body.set(k, v);
  const headers: Record<string, string> = { accept: 'application/json', ...ctx.run.headers };
  clientAuth(client, auth, body, headers);
  const endpoint = metadataEndpoint(ctx, endpointName);
  const { value, exchanges } = await ctx.recording(() =>
    ctx.agent('token-client').request(endpoint, { method: 'POST', headers, body }),
  );
  const res = toResponseResult(value, exchanges);
  const json = res.json as Record<string, unknown> | undefined;
  for (const key of ['access_token', 'refresh_token', 'id_token']) {
    if (typeof json?.[key] === 'string') ctx.run.secrets.add(json[key] as string);
  }
  return res;
}

function optional(a: Record<string, unknown>, key: string, fallback: unknown): string | undefined {
  const value = key in a ? a[key] : fallback;
  if (value === null || value === 'none' || value === undefined) return undefined;
  return String(value);
}

/** The code exchange (RFC 6749 4.1.3) with the case's verifier and the registered client auth. */
export async function exchange(ctx: CaseContext, args: Record<string, unknown>): Promise<ResponseResult> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const client = clientFrom(ctx, args['client']);
  const auth = lookup(ctx.vars, 'auth') as AuthorizeResult | undefined;
  return tokenRequest(
    ctx,
    'token_endpoint',
    client,
    {
      grant_type: 'authorization_code',
      code: optional(a, 'code', auth?.code),
      code_verifier: optional(a, 'code_verifier', auth?.pkce?.verifier),
      redirect_uri: optional(a, 'redirect_uri', client.redirect_uri),
      resource: optional(a, 'resource', ctx.run.profile.resource),
      ...((a['params'] as Record<string, string> | undefined) ?? {}),
    },
    typeof a['auth'] === 'string' ? a['auth'] : 'registered',
  );
}

/** A refresh (RFC 6749 6). */
export async function refresh(ctx: CaseContext, args: Record<string, unknown>): Promise<ResponseResult> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const client = clientFrom(ctx, args['client']);
  const token = a['refresh_token'] ?? (lookup(ctx.vars, 'tokens.json.refresh_token') as string | undefined);
  return tokenRequest(
    ctx,
    'token_endpoint',
    client,
    {
      grant_type: 'refresh_token',
      refresh_token: token === undefined ? undefined : String(token),
      resource: optional(a, 'resource', ctx.run.profile.resource),
    },
    typeof a['auth'] === 'string' ? a['auth'] : 'registered',
  );
}

/** Token revocation (RFC 7009). */
export async function revoke(ctx: CaseContext, args: Record<string, unknown>): Promise<ResponseResult> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const client = clientFrom(ctx, args['client']);
  return tokenRequest(
    ctx,
    'revocation_endpoint',
    client,
    {
      token: expandString(a['token'], ctx.vars, '"token"'),
      token_type_hint: typeof a['token_type_hint'] === 'string' ? a['token_type_hint'] : undefined,
    },
    'registered',
  );
}
