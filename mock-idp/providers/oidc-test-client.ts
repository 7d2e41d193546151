/**
 * What the OIDC-family tests share: the control API, the flavour descriptions served by
 * /_mock/providers, PKCE pairs, and token requests sent with plain fetch (for the malformed and
 * provider-specific requests oauth4webapi would refuse to send).
 */
import { createHash } from 'node:crypto';
import { createLocalJWKSet, type JWTPayload, type JWTVerifyOptions, jwtVerify } from 'jose';
import type { ProviderDescription } from '../app.ts';
import { randomId } from '../random.ts';

export const CALLBACK = 'http://127.0.0.1:9999/callback';

/** Discord's `GET /oauth2/@me` answer, as far as the tests read it. */
export interface DiscordAuthorization {
  application: { id: string; name: string };
  scopes: string[];
  expires: string;
  user?: Record<string, unknown>;
}

/** An RFC 7591 registration answer, as far as the tests read it. */
export interface Registration {
  client_id: string;
  client_secret?: string;
  client_id_issued_at: number;
  [key: string]: unknown;
}

export class MockControl {
  readonly origin: string;
  #providers: ProviderDescription[] | undefined;

  constructor(origin: string) {
    this.origin = origin;
  }

  async post(path: string, body: unknown): Promise<Response> {
    const res = await fetch(`${this.origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return res;
  }

  reset(): Promise<Response> {
    return this.post('/_mock/reset', {});
  }

  nextLogin(provider: string, persona = 'alice'): Promise<Response> {
    return this.post('/_mock/next-login', { persona, provider });
  }

  fault(
    provider: string,
    endpoint: string,
    action: Record<string, unknown>,
    times?: number,
  ): Promise<Response> {
    return this.post('/_mock/faults', { provider, endpoint, action, ...(times ? { times } : {}) });
  }

  settings(provider: string, settings: Record<string, unknown>): Promise<Response> {
    return this.post('/_mock/settings', { provider, settings });
  }

  async provider(id: string): Promise<ProviderDescription> {
    this.#providers ??= (
      (await (await fetch(`${this.origin}/_mock/providers`)).json()) as {
        providers: ProviderDescription[];
      }
    ).providers;
    const found = this.#providers.find((p) => p.id === id);
    if (!found) throw new Error(`no provider ${id}`);
    return found;
  }

  async endpoint(id: string, name: string): Promise<string> {
    const url = (await this.provider(id)).endpoints[name];
    if (!url) throw new Error(`provider ${id} has no endpoint ${name}`);
    return url;
  }

  async issued(
    provider: string,
  ): Promise<Array<{ kind: string; persona: string; client: string; value: string }>> {
    const res = await fetch(`${this.origin}/_mock/journal?type=issued&provider=${provider}`);
    return (
      (await res.json()) as {
        entries: Array<{ kind: string; persona: string; client: string; value: string }>;
      }
    ).entries;
  }
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomId(64);
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A form POST, optionally with HTTP Basic client credentials. */
export function postForm(
  url: string,
  form: Record<string, string>,
  basic?: { id: string; secret: string },
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) {
    const enc = (v: string) => encodeURIComponent(v);
    headers['authorization'] =
      `Basic ${Buffer.from(`${enc(basic.id)}:${enc(basic.secret)}`).toString('base64')}`;
  }
  return fetch(url, { method: 'POST', headers, body: new URLSearchParams(form) });
}

/** GET `url` without following redirects; the Location of the 302, parsed. */
export async function redirectOf(url: string): Promise<URL> {
  const res = await fetch(url, { redirect: 'manual' });
  if (res.status !== 302)
    throw new Error(`expected a redirect from ${url}, got HTTP ${res.status}: ${await res.text()}`);
  return new URL(res.headers.get('location')!);
}

/** Verifies a JWT against the JWKS the provider publishes now. */
export async function verifyWithJwks(
  jwksUri: string,
  token: string,
  options: JWTVerifyOptions = {},
): Promise<{ payload: JWTPayload; kid: string | undefined }> {
  const jwks = await (await fetch(jwksUri)).json();
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ['RS256'],
    ...options,
  });
  return { payload, kid: protectedHeader.kid };
}

export function decodeJwtPart(token: string, part: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[part]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

export interface CodeFlowOptions {
  persona?: string;
  scope?: string;
  /** Extra authorization parameters (resource, nonce...). */
  extra?: Record<string, string>;
  client?: { id: string; secret?: string };
  /** Extra token request parameters. */
  tokenExtra?: Record<string, string>;
}

/** A code flow with plain fetch: queue the persona, authorize with S256, exchange with Basic. */
export async function codeFlow(
  mock: MockControl,
  id: string,
  options: CodeFlowOptions = {},
): Promise<{ status: number; body: Record<string, unknown>; code: string }> {
  const description = await mock.provider(id);
  const client = options.client ?? {
    id: description.client.client_id,
    secret: description.client.client_secret,
  };
  const { verifier, challenge } = pkcePair();
  await mock.nextLogin(id, options.persona ?? 'alice');
  const url = new URL(await mock.endpoint(id, 'authorize'));
  url.search = new URLSearchParams({
    client_id: client.id,
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: options.scope ?? 'openid profile email',
    state: randomId(16),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...options.extra,
  }).toString();
  const location = await redirectOf(url.toString());
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in ${location}`);
  const form: Record<string, string> = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: CALLBACK,
    code_verifier: verifier,
    ...options.tokenExtra,
  };
  const res =
    client.secret === undefined
      ? await postForm(await mock.endpoint(id, 'token'), { ...form, client_id: client.id })
      : await postForm(await mock.endpoint(id, 'token'), form, { id: client.id, secret: client.secret });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, code };
}
