/**
 * The identity behind a bearer token an IdP issued (remote backends).
 *
 * The subject is the token's `sub`. An email counts only when verified (security edge 32,
 * users/resolve.ts): most IdPs' access tokens say nothing about that (Scalekit, Descope and
 * PropelAuth carry no email at all; Supabase carries `email` but keeps its confirmation status
 * out of the token, and its `user_metadata` is user-editable), so when the token itself does not
 * hold a verified email, the IdP's OpenID Connect userinfo endpoint is asked with that same
 * token, over TLS, and its answer is used only when its `sub` equals the token's
 * (OIDC Core 5.3.2). The outcome is cached per token (by SHA-256, never the token itself) until
 * the token expires, at most USERINFO_TTL_S; a userinfo failure leaves the identity without an
 * email, it never rejects an already verified token.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 */
import { createHash } from 'node:crypto';
import { oidcIdentity } from '../users/resolve.ts';
import { userClaims } from './oidc-upstream.ts';
import { UpstreamError, type UpstreamIdentity } from './types.ts';
import { readJsonObject, type UpstreamClient, upstreamRequest } from './upstream-http.ts';

/** Longest a userinfo answer is reused. */
export const USERINFO_TTL_S = 300;
/** Most cached answers kept (oldest dropped first). */
const MAX_ENTRIES = 10_000;

interface Cached {
  claims: Promise<Record<string, unknown> | undefined>;
  until: number;
}

/** Userinfo lookups for one IdP. */
export class UserinfoLookup {
  readonly #client: UpstreamClient;
  readonly #url: () => Promise<string>;
  readonly #cache = new Map<string, Cached>();

  constructor(client: UpstreamClient, url: string | (() => Promise<string>)) {
    this.#client = client;
    this.#url = typeof url === 'string' ? async () => url : url;
  }

  /**
   * The userinfo claims for `token` when the IdP answers 200 with a JSON object whose `sub` is
   * `subject`; otherwise undefined.
   */
  claims(
    token: string,
    subject: string,
    expiresAt: number | undefined,
  ): Promise<Record<string, unknown> | undefined> {
    const now = Math.floor(Date.now() / 1000);
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.claims;
    if (this.#cache.size >= MAX_ENTRIES) {
      for (const [k, v] of this.#cache)
        if (v.until <= now || this.#cache.size >= MAX_ENTRIES) this.#cache.delete(k);
    }
    const claims = this.#fetch(token, subject).catch((error: unknown) => {
      // Unreachable: not cached, the next request asks again.
      this.#cache.delete(key);
      if (error instanceof UpstreamError) return undefined;
      throw error;
    });
    this.#cache.set(key, {
      claims,
      until: Math.min(expiresAt ?? now + USERINFO_TTL_S, now + USERINFO_TTL_S),
    });
    return claims;
  }

  async #fetch(token: string, subject: string): Promise<Record<string, unknown> | undefined> {
    const response = await upstreamRequest(
      this.#client,
      await this.#url(),
      { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } },
      'userinfo',
    );
    if (response.status >= 500) {
      await response.body?.cancel();
      throw new UpstreamError(
        'ERR_UPSTREAM_UNREACHABLE',
        `${this.#client.provider} userinfo answered HTTP ${response.status}`,
      );
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      return undefined;
    }
    const json = await readJsonObject(response);
    return json && json['sub'] === subject ? json : undefined;
  }
}

/**
 * The identity of a verified token: `sub` namespaced by `provider`, the token's email when the
 * token itself marks it verified, else the userinfo email when userinfo marks it verified (and the
 * userinfo `name` when the token has none); the token's non-protocol claims for passthrough.
 */
export async function bearerIdentity(
  provider: string,
  token: string,
  claims: Record<string, unknown>,
  userinfo: UserinfoLookup | undefined,
): Promise<UpstreamIdentity> {
  const subject = claims['sub'] as string;
  const fromToken = oidcIdentity(claims, { provider });
  const passthrough = userClaims(claims);
  if (fromToken.email !== undefined || !userinfo) return { ...fromToken, claims: passthrough };
  const exp = typeof claims['exp'] === 'number' ? claims['exp'] : undefined;
  const info = await userinfo.claims(token, subject, exp);
  if (!info) return { ...fromToken, claims: passthrough };
  const merged = {
    sub: subject,
    email: info['email'],
    email_verified: info['email_verified'],
    name: claims['name'] ?? info['name'],
  };
  return { ...oidcIdentity(merged, { provider }), claims: passthrough };
}
