/**
 * HTTP toward an upstream identity provider: every call with a timeout and no redirects, JSON
 * bodies read defensively, and the authorization code exchange (RFC 6749 4.1.3) with the client
 * authentication each provider documents. Failures become `UpstreamError`s whose messages name
 * the provider and what failed, never a token, code or secret.
 */
import { UpstreamError, type UpstreamTokens } from './types.ts';

/** Every upstream call gives up after this long. */
export const UPSTREAM_TIMEOUT_MS = 10_000;
/** Larger answers are refused (a token response or a user object is a few kilobytes). */
const MAX_BODY_CHARS = 1_000_000;

/** What a backend needs to talk to its upstream. */
export interface UpstreamClient {
  /** The provider's display name, for messages (`GitHub`, `Google`...). */
  provider: string;
  fetch: typeof fetch;
}

/**
 * One request to the upstream: a 10-second timeout, `redirect: manual` (a redirect from an API
 * is an error, and a bearer token never follows one), network failures as
 * `ERR_UPSTREAM_UNREACHABLE`.
 */
export async function upstreamRequest(
  client: UpstreamClient,
  url: string,
  init: RequestInit,
  what: string,
): Promise<Response> {
  try {
    return await client.fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = (error as Error | undefined)?.name === 'TimeoutError';
    throw new UpstreamError(
      'ERR_UPSTREAM_UNREACHABLE',
      `${client.provider} ${what} is unreachable${timedOut ? ' (timed out)' : ''}`,
    );
  }
}

/** The parsed body, or undefined when it cannot be read, is too long or is not JSON. */
async function readJson(response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  if (text.length > MAX_BODY_CHARS) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A JSON object from a response body, or undefined when the body is not one. */
export async function readJsonObject(response: Response): Promise<Record<string, unknown> | undefined> {
  const value = await readJson(response);
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** A JSON array from a response body, or undefined. */
export async function readJsonArray(response: Response): Promise<unknown[] | undefined> {
  const value = await readJson(response);
  return Array.isArray(value) ? value : undefined;
}

/**
 * An upstream-supplied value made safe for a message: the characters RFC 6749 5.2 allows in
 * `error` (%x20-21 / %x23-5B / %x5D-7E), at most 64 of them.
 */
export function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 64);
}

/**
 * HTTP Basic client credentials: client id and secret form-urlencoded, then base64.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

/** How the client authenticates at the token endpoint. */
export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic';

export interface CodeExchangeRequest {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  auth: ClientAuthMethod;
  code: string;
  codeVerifier: string;
  redirectUri: string;
  /** Extra form fields (`scope` for Entra). */
  extra?: Record<string, string>;
  /** Extra headers (`Accept: application/json` for GitHub). */
  headers?: Record<string, string>;
}

/** The token response as sent: only the fields the proxy keeps, which it stores as they are. */
export type TokenResponse = UpstreamTokens;

/**
 * Redeems an authorization code with our PKCE verifier and our client credentials.
 * Answers: a 5xx is `ERR_UPSTREAM_UNREACHABLE`; an `error` member (at any status: GitHub answers
 * errors with HTTP 200) or another non-2xx is `ERR_UPSTREAM_TOKEN`; a 2xx without an
 * `access_token`, or with a `token_type` other than Bearer, is `ERR_UPSTREAM_TOKEN` too.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.5
 */
export async function exchangeCode(client: UpstreamClient, req: CodeExchangeRequest): Promise<TokenResponse> {
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: req.code,
    redirect_uri: req.redirectUri,
    code_verifier: req.codeVerifier,
    ...(req.extra ?? {}),
  });
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    ...(req.headers ?? {}),
  };
  if (req.auth === 'client_secret_basic') {
    headers['authorization'] = basicAuthorization(req.clientId, req.clientSecret);
  } else {
    body.set('client_id', req.clientId);
    body.set('client_secret', req.clientSecret);
  }
  const response = await upstreamRequest(
    client,
    req.tokenUrl,
    { method: 'POST', headers, body },
    'token endpoint',
  );
  const p = client.provider;
  if (response.status >= 500) {
    throw new UpstreamError(
      'ERR_UPSTREAM_UNREACHABLE',
      `${p} token endpoint answered HTTP ${response.status}`,
    );
  }
  const json = await readJsonObject(response);
  if (json && typeof json['error'] === 'string') {
    throw new UpstreamError('ERR_UPSTREAM_TOKEN', `${p} refused the code: ${shown(json['error'])}`);
  }
  if (response.status < 200 || response.status > 299) {
    throw new UpstreamError('ERR_UPSTREAM_TOKEN', `${p} token endpoint answered HTTP ${response.status}`);
  }
  if (!json) throw new UpstreamError('ERR_UPSTREAM_TOKEN', `${p} token response is not a JSON object`);
  const accessToken = json['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new UpstreamError('ERR_UPSTREAM_TOKEN', `${p} token response has no "access_token"`);
  }
  const tokenType = json['token_type'];
  // RFC 6749 7.1 / RFC 6750: the proxy only knows how to use Bearer tokens; the type is case-insensitive.
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
    throw new UpstreamError('ERR_UPSTREAM_TOKEN', `${p} "token_type" ${shown(tokenType)} is not Bearer`);
  }
  const out: TokenResponse = { access_token: accessToken };
  if (typeof tokenType === 'string') out.token_type = tokenType;
  for (const key of ['refresh_token', 'id_token', 'scope'] as const) {
    const value = json[key];
    if (typeof value === 'string' && value !== '') out[key] = value;
  }
  const expiresIn = json['expires_in'];
  const seconds = typeof expiresIn === 'string' && /^\d+$/.test(expiresIn) ? Number(expiresIn) : expiresIn;
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) out.expires_in = seconds;
  return out;
}

/**
 * A GET (or form POST) to a user or token-info API with the upstream access token, answered as a
 * JSON object. 5xx -> `ERR_UPSTREAM_UNREACHABLE`; another non-2xx or a non-object -> `ERR_UPSTREAM_USER`.
 * Returns the response too, for callers that branch on the status (GitHub's /user/emails).
 */
export async function fetchUserJson(
  client: UpstreamClient,
  url: string,
  init: RequestInit,
  what: string,
): Promise<Record<string, unknown>> {
  const response = await upstreamRequest(client, url, init, what);
  checkUserStatus(client, response, what);
  const json = await readJsonObject(response);
  if (!json) throw new UpstreamError('ERR_UPSTREAM_USER', `${client.provider} ${what} is not a JSON object`);
  return json;
}

/** Throws for a 5xx (unreachable) or another non-2xx (the user API refused the token). */
export function checkUserStatus(client: UpstreamClient, response: Response, what: string): void {
  if (response.status >= 500) {
    throw new UpstreamError(
      'ERR_UPSTREAM_UNREACHABLE',
      `${client.provider} ${what} answered HTTP ${response.status}`,
    );
  }
  if (response.status < 200 || response.status > 299) {
    throw new UpstreamError(
      'ERR_UPSTREAM_USER',
      `${client.provider} ${what} answered HTTP ${response.status}`,
    );
  }
}

/** The upstream client credentials from settings; a proxy backend cannot run without them. */
export function clientCredentials(
  provider: string,
  oauth: { client_id?: string | undefined; client_secret?: string | undefined },
): { clientId: string; clientSecret: string } {
  if (!oauth.client_id) throw new UpstreamError('ERR_UPSTREAM_CONFIG', `${provider} needs oauth.client_id`);
  if (!oauth.client_secret) {
    throw new UpstreamError('ERR_UPSTREAM_CONFIG', `${provider} needs oauth.client_secret`);
  }
  return { clientId: oauth.client_id, clientSecret: oauth.client_secret };
}

/** A string member, or undefined. */
export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * An `email_verified` value as the identity carries it: a boolean, or the exact strings "true"
 * and "false" (some providers send strings); anything else is dropped.
 */
export function verifiedFlag(value: unknown): boolean | 'true' | 'false' | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value;
  return undefined;
}
