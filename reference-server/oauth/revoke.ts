import type { Runtime } from '../runtime.ts';
import { hashToken } from '../tokens/hash.ts';
import { authenticateClient } from './client-auth.ts';
import { readForm } from './form.ts';
import { oauthError } from './responses.ts';

/**
 * Token revocation (RFC 7009 2.1): a refresh token or an access token of the authenticated
 * client revokes its whole grant; an unknown token, or one of another client, is answered 200
 * without effect (2.2).
 */
export async function revoke(rt: Runtime, request: Request): Promise<Response> {
  if (request.method !== 'POST') return oauthError('invalid_request', 'use POST', 405, { allow: 'POST' });
  const form = await readForm(request);
  if (!form.ok) return oauthError('invalid_request', form.description, form.status);
  const auth = await authenticateClient(rt, request, form.params);
  if (!auth.ok) return auth.response;
  const value = form.params.get('token');
  if (!value) return oauthError('invalid_request', '"token" is missing');
  const refresh = await rt.store.getRefreshToken(hashToken(value));
  if (refresh) {
    if (refresh.clientId === auth.client.clientId)
      await rt.store.revokeFamily(refresh.familyId, 'revoked by client');
  } else {
    try {
      const verified = await rt.accessTokens.verify(value);
      const sid = verified.claims.sid;
      if (sid && verified.claims.client_id === auth.client.clientId)
        await rt.store.revokeFamily(sid, 'revoked by client');
    } catch {
      // Not one of our tokens: nothing to revoke.
    }
  }
  return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } });
}
