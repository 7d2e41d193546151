/**
 * Test support for the proxy upstream adapters: the real mock IdP on loopback, settings that
 * point a backend at it, our own PKCE pair, state and nonce, a login through the mock's page (or
 * a queued persona), and the mock's journal and faults through its control API.
 */
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { ProviderDescription } from '../../mock-idp/app.ts';
import type { JournalEntry, RequestEntry } from '../../mock-idp/journal.ts';
import { loginThroughPage } from '../../mock-idp/login-client.ts';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { startMockIdp } from '../../mock-idp/server.ts';
import type { AuthBackend, Settings } from '../config.ts';
import { loadSettings } from '../config.ts';
import { type ProxyUpstream, type UpstreamAuthorizationInput, UpstreamError } from './types.ts';

/** Our public base URL in the tests, and our fixed upstream callback under it. */
export const BASE_URL = 'http://127.0.0.1:8000';
export const CALLBACK = `${BASE_URL}/oauth/callback`;

/** The real mock IdP on 127.0.0.1 (a free port). */
export function startIdp(): Promise<RunningMockIdp> {
  return startMockIdp();
}

/** One provider's standalone description: endpoints, issuer and default client. */
export function describeProvider(idp: RunningMockIdp, id: string): ProviderDescription {
  const found = idp.idp.describe({ mode: 'path', origin: idp.url }).find((d) => d.id === id);
  if (!found) throw new Error(`the mock serves no provider "${id}"`);
  return found;
}

/** Settings for `auth` with the mock's default client and `upstream.<auth>.*` overrides. */
export function settingsFor(
  auth: AuthBackend,
  provider: ProviderDescription,
  upstream: Record<string, string>,
  oauth: Record<string, string> = {},
): Settings {
  const overrides: Record<string, unknown> = {
    auth,
    'server.storage': 'memory',
    'oauth.base_url': BASE_URL,
    'oauth.client_id': provider.client.client_id,
    'oauth.client_secret': provider.client.client_secret,
  };
  for (const [k, v] of Object.entries(oauth)) overrides[`oauth.${k}`] = v;
  for (const [k, v] of Object.entries(upstream)) overrides[`upstream.${auth}.${k}`] = v;
  return loadSettings({ env: {}, overrides });
}

/** Our own transaction values toward the upstream: state, PKCE pair (S256), nonce, callback. */
export function newTransaction(): UpstreamAuthorizationInput & { codeVerifier: string } {
  const codeVerifier = randomBytes(32).toString('base64url');
  return {
    state: randomBytes(24).toString('base64url'),
    codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url'),
    codeVerifier,
    redirectUri: CALLBACK,
    nonce: randomBytes(16).toString('base64url'),
  };
}

/** Where the upstream sent the browser back: our callback with `code` and `state` (or an error). */
export interface CallbackParams {
  url: URL;
  code: string | undefined;
  state: string | undefined;
  error: string | undefined;
}

function callbackParams(location: string | undefined): CallbackParams {
  if (!location) throw new Error('the upstream did not redirect back');
  const url = new URL(location);
  const params = new URLSearchParams(url.hash ? url.hash.slice(1) : url.search);
  return {
    url,
    code: params.get('code') ?? undefined,
    state: params.get('state') ?? undefined,
    error: params.get('error') ?? undefined,
  };
}

/** Signs in as `persona` on the mock's login page and returns the redirect back to our callback. */
export async function loginAs(authorizationUrl: URL, persona: string): Promise<CallbackParams> {
  const result = await loginThroughPage(authorizationUrl, persona);
  if (result.formPost) {
    const { code, state, error } = result.formPost.fields;
    return { url: new URL(result.formPost.action), code, state, error };
  }
  return callbackParams(result.location);
}

/** Queues `persona` for the provider's next authorization, then follows the URL (no page). */
export async function loginQueued(
  idp: RunningMockIdp,
  provider: string,
  authorizationUrl: URL,
  persona: string,
): Promise<CallbackParams> {
  await control(idp, 'POST', '/_mock/next-login', { persona, provider });
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  await response.body?.cancel();
  return callbackParams(response.headers.get('location') ?? undefined);
}

/** A call to the mock's control API. */
export async function control(
  idp: RunningMockIdp,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${idp.url}${path}`, {
    method,
    ...(body !== undefined
      ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
      : {}),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300)
    throw new Error(`control ${path}: HTTP ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Adds a one-shot fault. */
export function fault(
  idp: RunningMockIdp,
  provider: string,
  endpoint: string,
  action: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  return control(idp, 'POST', '/_mock/faults', { provider, endpoint, action, times: 1 });
}

/** The requests the mock journaled for a provider's endpoint, oldest first. */
export async function requests(
  idp: RunningMockIdp,
  provider: string,
  endpoint?: string,
): Promise<RequestEntry[]> {
  const body = await control(idp, 'GET', `/_mock/journal?provider=${provider}&type=request`);
  return (body['entries'] as JournalEntry[]).filter(
    (e): e is RequestEntry => e.type === 'request' && (endpoint === undefined || e.endpoint === endpoint),
  );
}

/** A fetch that records every URL it is asked for, to prove all upstream calls go through it. */
export function recordingFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const wrapped: typeof fetch = (input, init) => {
    urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return fetch(input, init);
  };
  return { fetch: wrapped, urls };
}

/** How the mock shows a persona at one provider (user object, OIDC claims...). */
export function personaAt(idp: RunningMockIdp, persona: string, provider: string): Record<string, unknown> {
  const all = idp.idp.describePersonas() as {
    personas: Array<{ id: string; identities: Record<string, Record<string, unknown>> }>;
  };
  const found = all.personas.find((p) => p.id === persona)?.identities[provider];
  if (!found) throw new Error(`the mock shows no persona "${persona}" at "${provider}"`);
  return found;
}

/**
 * A fetch that rewrites the JSON answer of one URL (to simulate an upstream answer the mock
 * never gives: another application, an inactive token...).
 */
export function rewritingFetch(
  url: string,
  rewrite: (body: Record<string, unknown>) => Record<string, unknown>,
): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (href !== url) return response;
    const body = (await response.json()) as Record<string, unknown>;
    return Response.json(rewrite(body), { status: response.status });
  };
}

/**
 * Signs `persona` in through an upstream adapter: our authorization URL, the mock's login page,
 * then the adapter's code exchange with our verifier and nonce (`nonce` overrides the one sent,
 * to test the id_token's nonce check).
 */
export async function signInThrough(
  upstream: ProxyUpstream | Promise<ProxyUpstream>,
  persona: string,
  options: { nonce?: string } = {},
): ReturnType<ProxyUpstream['exchange']> {
  const adapter = await upstream;
  const txn = newTransaction();
  const back = await loginAs(await adapter.authorizationUrl(txn), persona);
  expect(back.error).toBeUndefined();
  expect(back.state).toBe(txn.state);
  return adapter.exchange({
    code: back.code!,
    codeVerifier: txn.codeVerifier,
    redirectUri: CALLBACK,
    nonce: options.nonce ?? txn.nonce,
  });
}

/** The UpstreamError a promise rejects with (the test fails if it resolves or rejects otherwise). */
export async function expectUpstreamError(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}
