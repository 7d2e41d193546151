import { randomBytes } from 'node:crypto';
import type { Runtime } from '../runtime.ts';
import type { ClientRecord, TransactionRecord } from '../store/types.ts';
import { hashToken } from '../tokens/hash.ts';
import { renderConsent } from './consent.ts';
import { readCookies } from './cookies.ts';
import { noRepeats } from './form.ts';
import { supportedScopes } from './metadata.ts';
import { checkRedirectUri, describeRedirectUriProblem } from './redirect-uri.ts';
import { errorPage, redirectTo } from './responses.ts';

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** The scopes a request gets: those asked for (all must be supported), or the required ones. */
export function grantedScopes(rt: Runtime, requested: string | null): string[] | undefined {
  const asked = (requested ?? '').split(' ').filter(Boolean);
  if (asked.length === 0) return [...rt.settings.jwt.required_scopes];
  const supported = supportedScopes(rt);
  return asked.every((s) => supported.includes(s)) ? [...new Set(asked)] : undefined;
}

/** Clients whose approval this browser remembers, read from the sealed consent cookie. */
export function rememberedClients(rt: Runtime, request: Request): string[] {
  const cookie = readCookies(request).get('mcp_consent');
  if (!cookie) return [];
  try {
    const value = rt.sealer.openJson<{ clients: string[]; exp: number }>(cookie, 'consent');
    return value.exp > rt.now() ? value.clients : [];
  } catch {
    return [];
  }
}

/**
 * The authorization endpoint (RFC 6749 4.1.1, OAuth 2.1, MCP authorization). Client and
 * redirect URI are checked before anything may be redirected (an error page otherwise; edge 12);
 * then S256 PKCE is required (edge 17), `resource` must be our canonical URL (edge 25), and the
 * request waits for consent on our own page (edges 1, 3, 5).
 */
export async function authorize(rt: Runtime, request: Request): Promise<Response> {
  if (request.method !== 'GET')
    return errorPage(405, 'invalid_request', 'use GET for the authorization endpoint', { allow: 'GET' });
  const url = new URL(request.url);
  const params = url.searchParams;
  const repeated = noRepeats(params);
  if (repeated) return errorPage(400, 'invalid_request', `"${repeated}" is repeated`);
  const clientId = params.get('client_id');
  if (!clientId) return errorPage(400, 'invalid_request', '"client_id" is missing');
  const client = await rt.store.getClient(clientId);
  if (!client) return errorPage(400, 'invalid_client', '"client_id" is not registered with this server');
  const requestedUri = params.get('redirect_uri') ?? undefined;
  const match = checkRedirectUri(requestedUri, client.redirectUris, rt.redirectPolicy);
  if (!match.ok) return errorPage(400, 'invalid_request', describeRedirectUriProblem(match.reason));
  const redirectUri = match.uri;
  const state = params.get('state') ?? undefined;
  const fail = (error: string, description: string) =>
    redirectTo(redirectUri, { error, error_description: description, state, iss: rt.urls.issuer });

  if (params.get('response_type') !== 'code') {
    return fail('unsupported_response_type', '"response_type" must be code');
  }
  const challenge = params.get('code_challenge');
  if (!challenge) return fail('invalid_request', 'PKCE is required: "code_challenge" is missing');
  if (params.get('code_challenge_method') !== 'S256') {
    return fail('invalid_request', '"code_challenge_method" must be S256');
  }
  if (!CHALLENGE.test(challenge)) return fail('invalid_request', '"code_challenge" is not a S256 challenge');
  const resource = params.get('resource') ?? undefined;
  if (resource !== undefined && resource !== rt.urls.resource) {
    return fail('invalid_target', `"resource" must be ${rt.urls.resource}`);
  }
  const scope = grantedScopes(rt, params.get('scope'));
  if (!scope) return fail('invalid_scope', `"scope" may hold ${supportedScopes(rt).join(', ')}`);

  const now = rt.now();
  const csrf = randomBytes(24).toString('base64url');
  const txn: TransactionRecord = {
    id: randomBytes(18).toString('base64url'),
    clientId: client.clientId,
    redirectUri,
    redirectUriProvided: requestedUri !== undefined,
    ...(state !== undefined ? { state } : {}),
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    scope,
    ...(resource !== undefined ? { resource } : {}),
    extra: { csrfHash: hashToken(csrf) },
    createdAt: now,
    expiresAt: now + rt.settings.tokens.transaction_ttl,
  };
  await rt.store.putTransaction(txn);
  return renderConsent(rt, request, txn, client, csrf);
}

export type { ClientRecord };
