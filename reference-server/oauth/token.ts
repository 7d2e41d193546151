import type { Runtime } from '../runtime.ts';
import type { ClientRecord, CodeRecord } from '../store/types.ts';
import { generateOpaqueToken, hashToken } from '../tokens/hash.ts';
import { authenticateClient } from './client-auth.ts';
import { grantClaims } from './complete.ts';
import { s256 } from './consent.ts';
import { readForm } from './form.ts';
import { validateRedirectUri } from './redirect-uri.ts';
import { noStoreJson, oauthError } from './responses.ts';

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

async function issueTokens(
  rt: Runtime,
  client: ClientRecord,
  grant: {
    userId: string;
    familyId: string;
    scope: string[];
    resource?: string;
    claims: Record<string, unknown>;
  },
  refreshToken?: string,
): Promise<Response> {
  const access = await rt.accessTokens.issue({
    sub: grant.userId,
    clientId: client.clientId,
    scope: grant.scope,
    familyId: grant.familyId,
    claims: grant.claims,
  });
  let refresh = refreshToken;
  if (refresh === undefined && client.grantTypes.includes('refresh_token')) {
    refresh = generateOpaqueToken('rt_');
    await rt.store.putRefreshToken({
      tokenHash: hashToken(refresh),
      familyId: grant.familyId,
      clientId: client.clientId,
      userId: grant.userId,
      scope: grant.scope,
      ...(grant.resource ? { resource: grant.resource } : {}),
      createdAt: rt.now(),
      expiresAt: rt.now() + rt.settings.tokens.refresh_ttl,
    });
  }
  return noStoreJson({
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    ...(refresh ? { refresh_token: refresh } : {}),
    scope: grant.scope.join(' '),
  });
}

/** Why a code check refused the redemption (the code stays redeemable; edge 12, 21, 22, 25). */
function checkCode(rt: Runtime, client: ClientRecord, params: URLSearchParams) {
  return (code: CodeRecord): string | undefined => {
    if (code.clientId !== client.clientId) return 'the code was issued to another client';
    // The policy holds here too (redirect-uri.ts `checkRedirectUri`; edge 12): a URI the policy
    // stopped allowing after /authorize does not get its code redeemed.
    if (!validateRedirectUri(code.redirectUri, rt.redirectPolicy).ok) {
      return 'the code\'s "redirect_uri" is no longer allowed by this server';
    }
    const redirectUri = params.get('redirect_uri');
    if (code.redirectUriProvided && redirectUri !== code.redirectUri) {
      return '"redirect_uri" differs from the one sent to the authorization endpoint';
    }
    if (!code.redirectUriProvided && redirectUri !== null && redirectUri !== code.redirectUri) {
      return '"redirect_uri" differs from the registered one';
    }
    const verifier = params.get('code_verifier');
    if (!verifier) return '"code_verifier" is missing';
    if (!VERIFIER.test(verifier) || s256(verifier) !== code.codeChallenge) {
      return '"code_verifier" does not match the code challenge';
    }
    return undefined;
  };
}

async function authorizationCode(
  rt: Runtime,
  client: ClientRecord,
  params: URLSearchParams,
): Promise<Response> {
  if (!client.grantTypes.includes('authorization_code')) {
    return oauthError('unauthorized_client', 'this client may not use authorization_code');
  }
  const code = params.get('code');
  if (!code) return oauthError('invalid_request', '"code" is missing');
  const resource = params.get('resource');
  if (resource !== null && resource !== rt.urls.resource) {
    return oauthError('invalid_target', `"resource" must be ${rt.urls.resource}`);
  }
  const result = await rt.store.consumeCode(hashToken(code), checkCode(rt, client, params));
  if (!result.ok) {
    switch (result.reason) {
      case 'unknown':
        return oauthError('invalid_grant', 'the code is unknown');
      case 'expired':
        return oauthError('invalid_grant', 'the code has expired');
      case 'used':
        await rt.store.revokeFamily(result.code.familyId, 'code replayed');
        rt.log.log('warn', 'token.code_replayed', { client_id: client.clientId });
        return oauthError('invalid_grant', 'the code was already used; the tokens issued for it are revoked');
      case 'rejected':
        return oauthError('invalid_grant', result.rejection);
    }
  }
  const granted = result.code;
  return issueTokens(rt, client, {
    userId: granted.userId,
    familyId: granted.familyId,
    scope: granted.scope,
    ...(granted.resource ? { resource: granted.resource } : {}),
    claims: granted.claims,
  });
}

async function refreshToken(rt: Runtime, client: ClientRecord, params: URLSearchParams): Promise<Response> {
  if (!client.grantTypes.includes('refresh_token')) {
    return oauthError('unauthorized_client', 'this client may not use refresh_token');
  }
  const presented = params.get('refresh_token');
  if (!presented) return oauthError('invalid_request', '"refresh_token" is missing');
  const resource = params.get('resource');
  if (resource !== null && resource !== rt.urls.resource) {
    return oauthError('invalid_target', `"resource" must be ${rt.urls.resource}`);
  }
  const previous = await rt.store.getRefreshToken(hashToken(presented));
  let scope = previous?.scope;
  const asked = params.get('scope');
  if (asked !== null && previous) {
    const narrowed = asked.split(' ').filter(Boolean);
    if (narrowed.some((s) => !previous.scope.includes(s))) {
      return oauthError('invalid_scope', '"scope" may not exceed the original grant');
    }
    scope = narrowed;
  }
  const next = generateOpaqueToken('rt_');
  const result = await rt.store.rotateRefreshToken(
    hashToken(presented),
    {
      tokenHash: hashToken(next),
      expiresAt: rt.now() + rt.settings.tokens.refresh_ttl,
      ...(scope ? { scope } : {}),
    },
    { clientId: client.clientId, graceSeconds: rt.settings.tokens.refresh_reuse_grace },
  );
  if (!result.ok) {
    const reasons: Record<string, string> = {
      unknown: 'the refresh token is unknown',
      expired: 'the refresh token has expired',
      revoked: 'the refresh token was revoked',
      client_mismatch: 'the refresh token was issued to another client',
      superseded: 'the refresh token was just rotated; use the new one',
      reused: 'the refresh token was already used; its grant is revoked',
    };
    if (result.reason === 'reused')
      rt.log.log('warn', 'token.refresh_reused', { client_id: client.clientId });
    return oauthError('invalid_grant', reasons[result.reason] ?? 'the refresh token is invalid');
  }
  const family = result.family;
  return issueTokens(
    rt,
    client,
    {
      userId: family.userId,
      familyId: family.id,
      scope: result.current.scope,
      ...(family.resource ? { resource: family.resource } : {}),
      claims: await grantClaims(rt, family.id),
    },
    next,
  );
}

/**
 * The token endpoint (RFC 6749 3.2, 4.1.3, 6): client authentication by the registered method,
 * single-use codes bound to client, redirect URI and PKCE verifier, refresh rotation with reuse
 * detection (RFC 9700 4.14.2), `no-store` responses and RFC 6749 5.2 errors.
 */
export async function token(rt: Runtime, request: Request): Promise<Response> {
  if (request.method !== 'POST') return oauthError('invalid_request', 'use POST', 405, { allow: 'POST' });
  const form = await readForm(request);
  if (!form.ok) return oauthError('invalid_request', form.description, form.status);
  const params = form.params;
  const grantType = params.get('grant_type');
  if (!grantType) return oauthError('invalid_request', '"grant_type" is missing');
  const auth = await authenticateClient(rt, request, params);
  if (!auth.ok) return auth.response;
  switch (grantType) {
    case 'authorization_code':
      return authorizationCode(rt, auth.client, params);
    case 'refresh_token':
      return refreshToken(rt, auth.client, params);
    default:
      return oauthError('unsupported_grant_type', `"grant_type" ${grantType.slice(0, 40)} is not supported`);
  }
}
