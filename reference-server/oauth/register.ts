import { randomBytes } from 'node:crypto';
import type { Runtime } from '../runtime.ts';
import type { ClientRecord, TokenEndpointAuthMethod } from '../store/types.ts';
import { hashToken } from '../tokens/hash.ts';
import { describeRedirectUriProblem, validateRedirectUri } from './redirect-uri.ts';
import { jsonResponse, oauthError } from './responses.ts';

const AUTH_METHODS: TokenEndpointAuthMethod[] = ['none', 'client_secret_post', 'client_secret_basic'];
const MAX_BODY = 16 * 1024;
/**
 * Registrations allowed per minute across the server (edge 15). A complete conformance run
 * registers about a hundred clients within seconds, so the budget admits that and stops a flood.
 */
export const REGISTRATIONS_PER_MINUTE = 300;

function registrationError(description: string, error = 'invalid_client_metadata', status = 400) {
  return oauthError(error, description, status);
}

/** Counts a registration against the per-minute budget; false when the budget is spent. */
function underRateLimit(rt: Runtime): boolean {
  const now = rt.now();
  while (rt.registrations.length && rt.registrations[0]! <= now - 60) rt.registrations.shift();
  if (rt.registrations.length >= REGISTRATIONS_PER_MINUTE) return false;
  rt.registrations.push(now);
  return true;
}

/**
 * Dynamic client registration (RFC 7591). Redirect URIs are validated strictly at registration
 * (edges 7-11); registrations are rate limited, bounded in number and expire (edge 15); the
 * response never carries the upstream client's credentials (edge 6).
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3
 */
export async function register(rt: Runtime, request: Request): Promise<Response> {
  if (request.method !== 'POST') return oauthError('invalid_request', 'use POST', 405, { allow: 'POST' });
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return registrationError('the body must be application/json');
  const text = await request.text();
  if (text.length > MAX_BODY)
    return registrationError('the registration is too large', 'invalid_client_metadata', 413);
  let body: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Record<string, unknown>;
  } catch {
    return registrationError('the body is not a JSON object');
  }
  const uris = body['redirect_uris'];
  if (!Array.isArray(uris) || uris.length === 0) {
    return registrationError('"redirect_uris" must be a non-empty array', 'invalid_redirect_uri');
  }
  if (uris.length > 20) return registrationError('too many "redirect_uris"', 'invalid_redirect_uri');
  const redirectUris: string[] = [];
  for (const uri of uris) {
    const checked = validateRedirectUri(uri, rt.redirectPolicy);
    if (!checked.ok) {
      return registrationError(
        `"redirect_uri" ${JSON.stringify(String(uri)).slice(0, 120)} ${describeRedirectUriProblem(checked.reason).replace(/^"redirect_uri" /, '')}`,
        'invalid_redirect_uri',
      );
    }
    redirectUris.push(checked.uri);
  }
  const method = (body['token_endpoint_auth_method'] ?? 'client_secret_basic') as TokenEndpointAuthMethod;
  if (!AUTH_METHODS.includes(method)) {
    return registrationError(`"token_endpoint_auth_method" must be one of ${AUTH_METHODS.join(', ')}`);
  }
  const grantTypes = (body['grant_types'] ?? ['authorization_code', 'refresh_token']) as unknown;
  if (
    !Array.isArray(grantTypes) ||
    grantTypes.length === 0 ||
    grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token')
  ) {
    return registrationError('"grant_types" may hold authorization_code and refresh_token only');
  }
  const responseTypes = (body['response_types'] ?? ['code']) as unknown;
  if (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== 'code')) {
    return registrationError('"response_types" may hold "code" only');
  }
  for (const field of ['client_name', 'client_uri', 'logo_uri', 'scope', 'software_id', 'software_version']) {
    if (
      body[field] !== undefined &&
      (typeof body[field] !== 'string' || (body[field] as string).length > 512)
    ) {
      return registrationError(`"${field}" must be a string of at most 512 characters`);
    }
  }
  // RFC 7591 2: `contacts` is an array of strings (e-mail addresses).
  const contacts = body['contacts'];
  if (
    contacts !== undefined &&
    (!Array.isArray(contacts) ||
      contacts.length > 10 ||
      contacts.some((c) => typeof c !== 'string' || c.length > 512))
  ) {
    return registrationError('"contacts" must be an array of at most 10 strings');
  }
  if (!underRateLimit(rt)) {
    return oauthError('too_many_requests', 'too many registrations; try again in a minute', 429, {
      'retry-after': '60',
    });
  }
  if ((await rt.store.countClients()) >= rt.settings.registration.max_clients) {
    await rt.store.deleteExpired();
    if ((await rt.store.countClients()) >= rt.settings.registration.max_clients) {
      return oauthError('too_many_requests', 'the registration limit of this server is reached', 429);
    }
  }
  const now = rt.now();
  const clientId = `mcp_${randomBytes(16).toString('base64url')}`;
  const secret = method === 'none' ? undefined : randomBytes(32).toString('base64url');
  const ttl = rt.settings.registration.client_ttl;
  const metadata: Record<string, unknown> = {};
  for (const field of ['client_uri', 'logo_uri', 'software_id', 'software_version', 'contacts']) {
    if (body[field] !== undefined) metadata[field] = body[field];
  }
  const client: ClientRecord = {
    clientId,
    ...(secret ? { clientSecretHash: hashToken(secret) } : {}),
    ...(typeof body['client_name'] === 'string' ? { clientName: body['client_name'] } : {}),
    redirectUris,
    grantTypes: grantTypes as string[],
    responseTypes: ['code'],
    tokenEndpointAuthMethod: method,
    ...(typeof body['scope'] === 'string' ? { scope: body['scope'] } : {}),
    metadata,
    createdAt: now,
    ...(ttl > 0 ? { expiresAt: now + ttl } : {}),
  };
  await rt.store.putClient(client);
  rt.log.log('info', 'client.registered', { client_id: clientId, redirect_uris: redirectUris, method });
  return jsonResponse(
    {
      client_id: clientId,
      ...(secret ? { client_secret: secret, client_secret_expires_at: ttl > 0 ? now + ttl : 0 } : {}),
      client_id_issued_at: now,
      client_name: client.clientName,
      redirect_uris: redirectUris,
      grant_types: client.grantTypes,
      response_types: client.responseTypes,
      token_endpoint_auth_method: method,
      ...(client.scope ? { scope: client.scope } : {}),
      ...metadata,
    },
    201,
    { 'cache-control': 'no-store', pragma: 'no-cache' },
  );
}
