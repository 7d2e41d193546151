/**
 * Deliberately broken parts for the tokens suite: the real token endpoint (and, for one variant,
 * the real authorization endpoint or the MCP endpoint's verifier) with one rule of refresh-token
 * rotation, token typing, audience binding or response hygiene taken away (edges 23-25, 27).
 * Never used in production.
 */
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import type { AppParts } from '../../../reference-server/app.ts';
import { authorize } from '../../../reference-server/oauth/authorize.ts';
import { token } from '../../../reference-server/oauth/token.ts';
import { TokenRejected } from '../../../reference-server/principal.ts';
import type { RotateResult } from '../../../reference-server/store/types.ts';
import { hashToken } from '../../../reference-server/tokens/hash.ts';
import { ownTokenVerifier } from '../../../reference-server/verify.ts';
import { formOf, rebuild, rewriteJson, withForm, withStore } from './codes.ts';

/** The real token endpoint with its JSON responses rewritten. */
function rewritingTokenResponses(
  edit: (body: Record<string, unknown>, headers: Headers, status: number) => Promise<void> | void,
): AppParts['token'] {
  return async (rt, request) => {
    const response = await token(rt, request);
    return rewriteJson(response, (body, headers) => edit(body, headers, response.status));
  };
}

/**
 * No rotation: a refresh hands back the refresh token it was given, which stays valid forever
 * (RFC 9700 4.14.2 wants rotation or sender-constraining for public clients; edge 24).
 */
export const tokenWithoutRotation: AppParts['token'] = async (rt, request) => {
  const form = await formOf(request);
  const response = await withStore(token, (store) => ({
    async rotateRefreshToken(oldHash, _next, options): Promise<RotateResult> {
      const old = await store.getRefreshToken(oldHash);
      if (!old) return { ok: false, reason: 'unknown' };
      if (old.clientId !== options.clientId) return { ok: false, reason: 'client_mismatch', record: old };
      const family = await store.getFamily(old.familyId);
      if (!family || family.revokedAt !== undefined || old.revokedAt !== undefined) {
        return { ok: false, reason: 'revoked', record: old };
      }
      return { ok: true, previous: old, current: old, family };
    },
  }))(rt, request);
  if (form.get('grant_type') !== 'refresh_token' || response.status !== 200) return response;
  return rewriteJson(response, (body) => {
    body['refresh_token'] = form.get('refresh_token');
  });
};

/** Rotation without reuse detection: a rotated token is refused, but nothing else is revoked (edge 24). */
export const tokenWithoutReuseDetection: AppParts['token'] = withStore(token, (store) => ({
  async rotateRefreshToken(oldHash, next, options) {
    const old = await store.getRefreshToken(oldHash);
    if (old?.rotatedAt !== undefined) return { ok: false, reason: 'superseded', record: old };
    return store.rotateRefreshToken(oldHash, next, options);
  },
}));

/**
 * A check-then-act race in rotation: refreshes that arrive while the first is between reading
 * and writing each get a new refresh token of their own, forking the grant (edge 24).
 */
export function tokenWithRacyRefresh(windowMs = 400): AppParts['token'] {
  const inFlight = new Map<string, Promise<RotateResult>>();
  return withStore(token, (store) => ({
    async rotateRefreshToken(oldHash, next, options) {
      const first = inFlight.get(oldHash);
      if (first) {
        const seen = await first;
        if (seen.ok) {
          const current = { ...seen.current, tokenHash: next.tokenHash, expiresAt: next.expiresAt };
          await store.putRefreshToken(current);
          return { ...seen, current };
        }
      }
      const pending = new Promise<RotateResult>((resolve) => {
        setTimeout(() => resolve(store.rotateRefreshToken(oldHash, next, options)), windowMs);
      });
      inFlight.set(oldHash, pending);
      try {
        return await pending;
      } finally {
        if (inFlight.get(oldHash) === pending) inFlight.delete(oldHash);
      }
    },
  }));
}

/** The refresh token is not bound to its client: any authenticated client may use it. */
export const tokenNotBindingRefreshToClient: AppParts['token'] = withStore(token, (store) => ({
  async rotateRefreshToken(oldHash, next, options) {
    const old = await store.getRefreshToken(oldHash);
    return store.rotateRefreshToken(oldHash, next, {
      ...options,
      clientId: old?.clientId ?? options.clientId,
    });
  },
}));

/**
 * An access token accepted as a refresh token: one the server signed is taken as a refresh token
 * of its grant (tokens without a type; edge 23).
 */
export const tokenAcceptingAccessTokenAsRefresh: AppParts['token'] = async (rt, request) => {
  const form = await formOf(request);
  const presented = form.get('refresh_token');
  if (form.get('grant_type') === 'refresh_token' && presented?.split('.').length === 3) {
    try {
      const { claims, scopes } = await rt.accessTokens.verify(presented);
      const hash = hashToken(presented);
      if (claims.sid && !(await rt.store.getRefreshToken(hash))) {
        await rt.store.putRefreshToken({
          tokenHash: hash,
          familyId: claims.sid,
          clientId: claims.client_id,
          userId: claims.sub,
          scope: scopes,
          createdAt: rt.now(),
          expiresAt: claims.exp,
        });
      }
    } catch {
      // not one of our access tokens: the real endpoint refuses it
    }
  }
  return token(rt, request);
};

/** The MCP endpoint takes a live refresh token as a Bearer token (edge 23). */
export const verifierAcceptingRefreshTokens: AppParts['verifier'] = (rt) => {
  const real = ownTokenVerifier(rt);
  return {
    async verify(value) {
      if (!value.startsWith('rt_')) return real.verify(value);
      const record = await rt.store.getRefreshToken(hashToken(value));
      const user = record && !record.revokedAt ? await rt.store.getUser(record.userId) : undefined;
      if (!record || !user) throw new TokenRejected('invalid_token', 'unknown token');
      return {
        user: { id: user.id, groups: user.groups },
        backend: rt.settings.auth,
        clientId: record.clientId,
        scopes: record.scope,
        claims: {},
        expiresAt: record.expiresAt,
      };
    },
  };
};

/** `resource` ignored at the token endpoint (RFC 8707 2.2; edge 25). */
export const tokenIgnoringResource: AppParts['token'] = withForm(token, (params) => {
  params.delete('resource');
});

/** `resource` ignored at the authorization endpoint (RFC 8707 2.1; edge 25). */
export const authorizeIgnoringResource: AppParts['authorize'] = (rt, request) => {
  const url = new URL(request.url);
  url.searchParams.delete('resource');
  return authorize(rt, rebuild(request, { url: url.toString() }));
};

/**
 * Access tokens for this server and another API at once (`aud` with a second audience): the MCP
 * endpoint still accepts them, and so would the other API (edge 25).
 */
export const tokenWithExtraAudience: AppParts['token'] = async (rt, request) =>
  rewriteJson(await token(rt, request), async (body) => {
    const value = body['access_token'];
    if (typeof value !== 'string') return;
    const { kid, privateKey } = rt.keys.active();
    const claims = decodeJwt(value);
    const header = decodeProtectedHeader(value);
    body['access_token'] = await new SignJWT({
      ...claims,
      aud: [String(claims.aud), 'https://api.other.example'],
    })
      .setProtectedHeader({ alg: 'ES256', kid, typ: String(header.typ ?? 'at+jwt') })
      .sign(privateKey);
  });

/** Token responses a cache may keep: no Cache-Control no-store, no Pragma (edge 27). */
export const tokenWithoutNoStore: AppParts['token'] = rewritingTokenResponses((_body, headers) => {
  headers.delete('cache-control');
  headers.delete('pragma');
});

/** Error descriptions with a stack trace (CR, LF, spaces) appended (RFC 6749 5.2; edge 27). */
export const tokenWithRawErrorDescriptions: AppParts['token'] = rewritingTokenResponses(
  (body, _h, status) => {
    if (status >= 400 && typeof body['error_description'] === 'string') {
      body['error_description'] = `${body['error_description']}\r\n    at token (oauth/token.ts:120:7)`;
    }
  },
);

/** Token responses without token_type and expires_in (RFC 6749 5.1). */
export const tokenWithoutTypeAndLifetime: AppParts['token'] = rewritingTokenResponses((body, _h, status) => {
  if (status !== 200) return;
  delete body['token_type'];
  delete body['expires_in'];
});
