/**
 * Shared harness of the security-edge tests (reference/security-edges.md): the mock IdP and
 * reference servers on loopback, dynamic registration, the authorization flow driven by the
 * runner's HttpAgent (our consent page, the upstream leg through the mock with a queued persona,
 * our callback), the token endpoint, the MCP endpoint, and the assertions every edge shares: an
 * RFC 6749 5.2 error body, an error page that redirects nowhere, the bearer challenge.
 *
 * Every server gets a memory store seeded with the personas' users, and a clock it can be moved
 * on (the store's clock is the server's clock: codes, clients, tokens and the registration
 * limiter all read it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { ProviderDescription } from '../../mock-idp/app.ts';
import type { IssuedEntry, RequestEntry } from '../../mock-idp/journal.ts';
import { loadPersonas, type PersonaSet } from '../../mock-idp/personas.ts';
import { type RunningMockIdp, startMockIdp } from '../../mock-idp/server.ts';
import { type HtmlForm, HttpAgent, type Navigation, parseForms } from '../../runner/agent/http.ts';
import { type AuthBackend, loadSettings } from '../config.ts';
import { silentLogger } from '../log.ts';
import { MOCK_PROVIDER, mockIdpOverrides } from '../mock-wiring.ts';
import { type RunningReferenceServer, startReferenceServer } from '../server.ts';
import { createMemoryStore } from '../store/memory.ts';
import type { Store } from '../store/types.ts';
import { seedUsers } from '../users/seed.ts';

/** The redirect URI our test clients register (a loopback native client, RFC 8252 7.3). */
export const CALLBACK = 'http://127.0.0.1:7777/cb';

export const personas: PersonaSet = loadPersonas();

/**
 * Error codes registered for the token endpoint (RFC 6749 5.2) and its extensions: RFC 8707 2
 * (`invalid_target`), RFC 7009 2.2.1 (`unsupported_token_type`).
 */
export const TOKEN_ERRORS = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'unsupported_token_type',
];
/** Error codes registered for dynamic registration (RFC 7591 3.2.2). */
export const REGISTRATION_ERRORS = [
  'invalid_request',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
];

/** A clock the server's store reads (epoch seconds); `advance` moves every expiry check. */
export class TestClock {
  offset = 0;
  now = (): number => Math.floor(Date.now() / 1000) + this.offset;
  advance(seconds: number): void {
    this.offset += seconds;
  }
}

/** A reference server under test, with what the helpers need to drive it. */
export interface Target {
  server: RunningReferenceServer;
  mock: RunningMockIdp;
  backend: AuthBackend;
  store: Store;
  clock: TestClock;
  /** The base URL (issuer). */
  url: string;
  /** The MCP resource URL. */
  mcpUrl: string;
  stop(): Promise<void>;
}

export async function startMock(): Promise<RunningMockIdp> {
  return startMockIdp();
}

export function providersOf(mock: RunningMockIdp): ProviderDescription[] {
  return mock.idp.describe({ mode: 'path', origin: mock.url });
}

export function providerOf(mock: RunningMockIdp, id: string): ProviderDescription {
  const found = providersOf(mock).find((p) => p.id === id);
  if (!found) throw new Error(`the mock serves no provider "${id}"`);
  return found;
}

export interface ServerOptions {
  /** Settings overrides, nested or dotted, applied after the mock wiring. */
  overrides?: Record<string, unknown> | ((bound: { baseUrl: string }) => Record<string, unknown>);
  /** A store to share with another server (its clock is then the caller's business). */
  store?: Store;
  clock?: TestClock;
  /** Skip seeding the personas' users (a shared store seeded already). */
  seed?: boolean;
}

/** Starts a reference server for `backend`, wired to the mock IdP, on 127.0.0.1:0. */
export async function startServer(
  mock: RunningMockIdp,
  backend: AuthBackend,
  options: ServerOptions = {},
): Promise<Target> {
  const clock = options.clock ?? new TestClock();
  const store = options.store ?? createMemoryStore({ now: clock.now });
  if (options.seed !== false) await seedUsers(store, personas);
  const providers = providersOf(mock);
  const server = await startReferenceServer(
    ({ baseUrl }) => {
      const extra =
        typeof options.overrides === 'function' ? options.overrides({ baseUrl }) : (options.overrides ?? {});
      const wiringBase = typeof extra['oauth.base_url'] === 'string' ? extra['oauth.base_url'] : baseUrl;
      return loadSettings({
        env: {},
        overrides: {
          ...mockIdpOverrides(backend, providers, { baseUrl: wiringBase }),
          'server.storage': 'memory',
          ...extra,
        },
      });
    },
    { store, log: silentLogger },
  );
  return {
    server,
    mock,
    backend,
    store,
    clock,
    url: server.url,
    mcpUrl: server.mcpUrl,
    stop: () => server.stop(),
  };
}

/** Stops a server's listener but leaves its store open (for a store another server shares). */
export function stopListening(target: Target): Promise<void> {
  target.server.server.closeAllConnections();
  return new Promise((resolve) => target.server.server.close(() => resolve()));
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function randomState(): string {
  return randomBytes(12).toString('base64url');
}

/** What a test keeps of an HTTP answer (the body read once). */
export interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

export async function answer(response: Response): Promise<Answer> {
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** The JSON body of an answer (fails the test when it is not JSON). */
export function jsonOf(a: Answer): Record<string, unknown> {
  expect(a.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  return JSON.parse(a.body) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Registration

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  client_secret_expires_at?: number;
  client_id_issued_at: number;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  [field: string]: unknown;
}

export async function registerRaw(target: Target, body: unknown): Promise<Answer> {
  return answer(
    await fetch(`${target.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

/** Registers a client (public, redirect URI CALLBACK unless given); fails the test unless 201. */
export async function registerClient(
  target: Target,
  body: Record<string, unknown> = {},
): Promise<RegisteredClient> {
  const a = await registerRaw(target, {
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'none',
    client_name: 'Edge test client',
    ...body,
  });
  expect(a.status, a.body).toBe(201);
  return jsonOf(a) as RegisteredClient;
}

// ---------------------------------------------------------------------------------------------
// Authorization

/** The authorization request of a client: S256 PKCE, a state, our resource; `undefined` drops a parameter. */
export function authorizeUrl(target: Target, params: Record<string, string | undefined>): string {
  const url = new URL(`${target.url}/authorize`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

export interface Authorization {
  client: RegisteredClient;
  verifier: string;
  challenge: string;
  state: string;
  redirectUri: string;
  params: Record<string, string | undefined>;
  url: string;
}

/** A well-formed authorization request for `client` (parameters in `extra` replace or drop). */
export function authorization(
  target: Target,
  client: RegisteredClient,
  extra: Record<string, string | undefined> = {},
): Authorization {
  const { verifier, challenge } = pkce();
  const state = randomState();
  const params: Record<string, string | undefined> = {
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource: target.mcpUrl,
    ...extra,
  };
  return {
    client,
    verifier,
    challenge,
    state,
    redirectUri: params['redirect_uri'] ?? client.redirect_uris[0]!,
    params,
    url: authorizeUrl(target, params),
  };
}

/** The consent page the agent lands on (200 with the approve form); fails the test otherwise. */
export async function openConsent(
  agent: HttpAgent,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ page: Answer & { url: string }; form: HtmlForm }> {
  const res = await agent.request(url, { headers });
  expect(res.status, res.body.slice(0, 300)).toBe(200);
  expect(res.headers.get('location')).toBeNull();
  const form = parseForms(res.body, url).find((f) => f.buttons.some((b) => b.value === 'approve'));
  expect(form, 'the consent page has an approve form').toBeDefined();
  return { page: { status: res.status, headers: res.headers, body: res.body, url }, form: form! };
}

/** Whether a URL is the client's redirect target (the agent records it and stops). */
export function atRedirect(redirectUri: string): (url: string) => boolean {
  const base = redirectUri.split('?')[0]!;
  return (url) => url === redirectUri || url.startsWith(`${base}?`) || url === base;
}

/** The mock provider that stands in for a proxy backend's upstream. */
export function upstreamOf(target: Target): string {
  const id = MOCK_PROVIDER[target.backend];
  if (!id) throw new Error(`backend ${target.backend} has no mock upstream`);
  return id;
}

/**
 * Approves the consent form and lets the sign-in finish as `persona`: upstream through the mock
 * (the persona queued with nextLogin) for proxy backends, our own login page for in-memory.
 * Stops at the client's redirect URI.
 */
export async function approveAndSignIn(
  target: Target,
  agent: HttpAgent,
  form: HtmlForm,
  persona: string,
  redirectUri: string,
): Promise<Navigation> {
  const stopAt = atRedirect(redirectUri);
  if (target.backend === 'in-memory') {
    const toLogin = await agent.submit(form, { name: 'action', value: 'approve' }, { stopAt });
    const login = toLogin.final!;
    expect(login.status, login.body.slice(0, 300)).toBe(200);
    const loginForm = parseForms(login.body, login.url)[0]!;
    return agent.submit(loginForm, { name: 'persona', value: persona }, { stopAt });
  }
  target.mock.idp.nextLogin(persona, { provider: upstreamOf(target) });
  return agent.submit(form, { name: 'action', value: 'approve' }, { stopAt });
}

export interface SignedIn extends Authorization {
  agent: HttpAgent;
  navigation: Navigation;
  /** Where the client was sent (the redirect URI with code or error). */
  back: URL;
  code: string;
}

/**
 * The whole front channel for one persona: authorization request, our consent page, approval,
 * the sign-in, and the redirect to the client with a code (fails the test without one).
 */
export async function signIn(
  target: Target,
  client: RegisteredClient,
  persona = 'alice',
  options: { extra?: Record<string, string | undefined>; agent?: HttpAgent } = {},
): Promise<SignedIn> {
  const auth = authorization(target, client, options.extra);
  const agent = options.agent ?? new HttpAgent();
  const { form } = await openConsent(agent, auth.url);
  const navigation = await approveAndSignIn(target, agent, form, persona, auth.redirectUri);
  expect(
    navigation.stoppedAt,
    `no redirect to the client: ${navigation.final?.body.slice(0, 300)}`,
  ).toBeDefined();
  const back = new URL(navigation.stoppedAt!);
  const code = back.searchParams.get('code');
  expect(code, `no code: ${back}`).toBeTruthy();
  expect(back.searchParams.get('state')).toBe(auth.state);
  return { ...auth, agent, navigation, back, code: code! };
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

export type ClientAuth =
  | { kind: 'none' }
  | { kind: 'basic'; id: string; secret: string }
  | { kind: 'post'; id: string; secret: string };

function authOf(client: RegisteredClient): ClientAuth {
  if (client.token_endpoint_auth_method === 'client_secret_basic')
    return { kind: 'basic', id: client.client_id, secret: client.client_secret! };
  if (client.token_endpoint_auth_method === 'client_secret_post')
    return { kind: 'post', id: client.client_id, secret: client.client_secret! };
  return { kind: 'none' };
}

export function basicHeader(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v);
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** A token request; `auth` defaults to the client's registered method; `undefined` drops a field. */
export async function tokenRequest(
  target: Target,
  form: Record<string, string | undefined>,
  auth: ClientAuth = { kind: 'none' },
  headers: Record<string, string> = {},
): Promise<Answer> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v);
  const h: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...headers };
  if (auth.kind === 'basic') h['authorization'] = basicHeader(auth.id, auth.secret);
  if (auth.kind === 'post') {
    body.set('client_id', auth.id);
    body.set('client_secret', auth.secret);
  }
  return answer(await fetch(`${target.url}/token`, { method: 'POST', headers: h, body }));
}

/** Redeems a signed-in code as its own client would (fields in `extra` replace or drop). */
export function redeem(
  target: Target,
  s: SignedIn,
  extra: Record<string, string | undefined> = {},
  auth: ClientAuth = authOf(s.client),
): Promise<Answer> {
  return tokenRequest(
    target,
    {
      grant_type: 'authorization_code',
      code: s.code,
      code_verifier: s.verifier,
      redirect_uri: s.redirectUri,
      client_id: s.client.client_id,
      resource: target.mcpUrl,
      ...extra,
    },
    auth,
  );
}

export interface TokenSet {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

/** Redeems and checks for 200 with both tokens. */
export async function tokensFor(target: Target, s: SignedIn): Promise<TokenSet> {
  const a = await redeem(target, s);
  expect(a.status, a.body).toBe(200);
  const body = jsonOf(a) as unknown as TokenSet;
  expect(typeof body.access_token).toBe('string');
  expect(typeof body.refresh_token).toBe('string');
  return body;
}

export function refresh(
  target: Target,
  client: RegisteredClient,
  refreshToken: string,
  extra: Record<string, string | undefined> = {},
): Promise<Answer> {
  return tokenRequest(
    target,
    { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id, ...extra },
    authOf(client),
  );
}

// ---------------------------------------------------------------------------------------------
// The MCP endpoint

const WHOAMI = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {} },
});

/** A request to the MCP endpoint; `authorization` is the raw header (undefined: none). */
export async function mcpRequest(
  mcpUrl: string,
  authorization: string | undefined,
  method: 'POST' | 'GET' | 'DELETE' = 'POST',
): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
  if (authorization !== undefined) headers['authorization'] = authorization;
  if (method === 'POST') headers['content-type'] = 'application/json';
  return answer(await fetch(mcpUrl, { method, headers, ...(method === 'POST' ? { body: WHOAMI } : {}) }));
}

export interface WhoAmI {
  user: { id: string; email: string | null; login: string | null; groups: string[] };
  backend: string;
  client_id: string | null;
  scopes: string[];
  claims: Record<string, unknown>;
}

/** Calls the whoami tool with a bearer token; fails the test unless 200. */
export async function whoami(mcpUrl: string, token: string): Promise<WhoAmI> {
  const a = await mcpRequest(mcpUrl, `Bearer ${token}`);
  expect(a.status, a.body).toBe(200);
  const body = JSON.parse(a.body) as { result: { structuredContent: WhoAmI } };
  return body.result.structuredContent;
}

/** The parameters of a `WWW-Authenticate: Bearer ...` challenge (RFC 6750 3). */
export function bearerChallenge(a: Answer): Record<string, string> {
  const header = a.headers.get('www-authenticate') ?? '';
  expect(header).toMatch(/^Bearer /);
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/([a-z_]+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return params;
}

/** A 401 from the MCP endpoint for a token it refused: `invalid_token` and the metadata URL. */
export function expectTokenRefused(a: Answer, target: { mcpUrl: string }): void {
  expect(a.status, a.body).toBe(401);
  const challenge = bearerChallenge(a);
  expect(challenge['error']).toBe('invalid_token');
  expect(challenge['resource_metadata']).toBe(prmUrl(target.mcpUrl));
  expect(jsonOf(a)['error']).toBe('invalid_token');
  expect(a.body).not.toContain('"result"');
}

/** The path-aware protected resource metadata URL of a resource (RFC 9728 3.1). */
export function prmUrl(mcpUrl: string): string {
  const u = new URL(mcpUrl);
  return `${u.origin}/.well-known/oauth-protected-resource${u.pathname === '/' ? '' : u.pathname}`;
}

// ---------------------------------------------------------------------------------------------
// Shared assertions

/** RFC 6749 5.2: printable ASCII without `"` and `\` (so no CR, LF or TAB). */
export const CLEAN_DESCRIPTION = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * An OAuth error answer of the token, registration or revocation endpoint: the status, JSON with
 * a registered `error` (from `registered`), an error_description without CR/LF/TAB or quotes,
 * and `Cache-Control: no-store`.
 */
export function expectOAuthError(
  a: Answer,
  status: number,
  error: string,
  registered: readonly string[] = TOKEN_ERRORS,
): Record<string, unknown> {
  expect(a.status, a.body).toBe(status);
  const body = jsonOf(a);
  expect(body['error']).toBe(error);
  expect(registered).toContain(body['error']);
  expect(typeof body['error_description']).toBe('string');
  expect(body['error_description']).toMatch(CLEAN_DESCRIPTION);
  expect(a.headers.get('cache-control')).toContain('no-store');
  expect(body).not.toHaveProperty('access_token');
  expect(body).not.toHaveProperty('client_id');
  return body;
}

/**
 * An error page of ours: the status, HTML, anti-framing headers, the error code on the page, and
 * above all no redirect (no Location header at all).
 */
export function expectErrorPage(a: Answer, status: number, error: string): void {
  expect(a.status, a.body.slice(0, 300)).toBe(status);
  expect(a.headers.get('location')).toBeNull();
  expect(a.headers.get('content-type')).toMatch(/^text\/html/);
  expect(a.headers.get('x-frame-options')).toBe('DENY');
  expect(a.body).toContain(`<strong id="error">${error}</strong>`);
  expect(a.body).not.toMatch(/name="action" value="approve"/);
}

// ---------------------------------------------------------------------------------------------
// Tokens the IdP issues itself (remote and jwt backends)

/**
 * A token the mock IdP issues for `persona` with its default client: the code flow with S256
 * PKCE and an RFC 8707 `resource`, the persona queued so the mock approves at once.
 */
export async function idpTokens(
  mock: RunningMockIdp,
  provider: string,
  persona: string,
  options: { scope?: string; resource?: string } = {},
): Promise<Record<string, unknown>> {
  const p = providerOf(mock, provider);
  const { verifier, challenge } = pkce();
  mock.idp.nextLogin(persona, { provider });
  const url = new URL(p.endpoints['authorize']!);
  const params: Record<string, string | undefined> = {
    client_id: p.client.client_id,
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: options.scope ?? 'openid email profile',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomState(),
    resource: options.resource,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  const authorize = await fetch(url, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (!location) throw new Error(`${provider} authorize answered ${authorize.status}`);
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`${provider} sent no code: ${location}`);
  const res = await fetch(p.endpoints['token']!, {
    method: 'POST',
    headers: {
      authorization: basicHeader(p.client.client_id, p.client.client_secret!),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      ...(options.resource ? { resource: options.resource } : {}),
    }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${provider} token: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

// ---------------------------------------------------------------------------------------------
// The mock's journal

export function upstreamRequests(mock: RunningMockIdp, provider: string, endpoint: string, since = 0) {
  return mock.idp.journal
    .entries({ provider, type: 'request', since })
    .filter((e): e is RequestEntry => e.type === 'request' && e.endpoint === endpoint);
}

export function issuedByMock(mock: RunningMockIdp, since = 0): IssuedEntry[] {
  return mock.idp.journal
    .entries({ type: 'issued', since })
    .filter((e): e is IssuedEntry => e.type === 'issued');
}

export function lastSeq(mock: RunningMockIdp): number {
  return mock.idp.journal.lastSeq;
}

export { HttpAgent, parseForms };
