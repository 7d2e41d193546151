import { timingSafeEqual } from 'node:crypto';
import type { Runtime } from '../runtime.ts';
import type { ClientRecord } from '../store/types.ts';
import { hashToken } from '../tokens/hash.ts';
import { oauthError } from './responses.ts';

export type ClientAuthResult = { ok: true; client: ClientRecord } | { ok: false; response: Response };

function basic(header: string | null): { id: string; secret: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon)),
      secret: decodeURIComponent(decoded.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

function sameHash(secret: string, hash: string | undefined): boolean {
  if (!hash) return false;
  const a = Buffer.from(hashToken(secret));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Authenticates the client at the token and revocation endpoints by the method it registered
 * (RFC 6749 2.3, RFC 7591 2): `none` (client_id in the body, no secret), `client_secret_basic`,
 * or `client_secret_post`. A wrong or missing secret is 401 `invalid_client` (edge 22).
 */
export async function authenticateClient(
  rt: Runtime,
  request: Request,
  params: URLSearchParams,
): Promise<ClientAuthResult> {
  const header = request.headers.get('authorization');
  const fromHeader = basic(header);
  // RFC 6749 5.2: a client that tried the Authorization header, even unreadably, gets a challenge.
  const triedHeader = fromHeader !== undefined || (header !== null && /^basic(\s|$)/i.test(header));
  const bodyId = params.get('client_id') ?? undefined;
  const clientId = fromHeader?.id ?? bodyId;
  const fail = (description: string) => ({
    ok: false as const,
    response: oauthError(
      'invalid_client',
      description,
      401,
      triedHeader ? { 'www-authenticate': 'Basic realm="token", charset="UTF-8"' } : {},
    ),
  });
  if (!clientId) return fail('client authentication failed: no client_id');
  if (fromHeader && bodyId && bodyId !== fromHeader.id)
    return fail('"client_id" differs from the Basic credentials');
  const client = await rt.store.getClient(clientId);
  if (!client) return fail('client authentication failed: unknown client');
  switch (client.tokenEndpointAuthMethod) {
    case 'none':
      if (fromHeader || params.has('client_secret')) return fail('this client is public and sends no secret');
      break;
    case 'client_secret_basic':
      if (!fromHeader || !sameHash(fromHeader.secret, client.clientSecretHash)) {
        return fail('client authentication failed');
      }
      break;
    case 'client_secret_post': {
      const secret = params.get('client_secret');
      if (fromHeader || !secret || !sameHash(secret, client.clientSecretHash)) {
        return fail('client authentication failed');
      }
      break;
    }
  }
  return { ok: true, client };
}
