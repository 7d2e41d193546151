import { randomUUID } from 'node:crypto';
import type { UpstreamIdentity, UpstreamTokens } from '../backends/types.ts';
import type { Runtime } from '../runtime.ts';
import type { TransactionRecord } from '../store/types.ts';
import { generateOpaqueToken, hashToken } from '../tokens/hash.ts';
import { resolveUser } from '../users/resolve.ts';
import { errorPage, redirectTo } from './responses.ts';

/** What is kept sealed per grant: the upstream tokens (never sent to a client) and the passed claims. */
export interface GrantSecrets {
  tokens?: UpstreamTokens;
  claims: Record<string, unknown>;
}

/**
 * Finishes an approved, signed-in transaction: resolves the application user (an unknown user
 * gets an error page and no code), opens a grant family, keeps the upstream tokens sealed
 * (AES-256-GCM), and sends a single-use code to the exact redirect URI of the request (edge 14).
 */
export async function completeAuthorization(
  rt: Runtime,
  txn: TransactionRecord,
  identity: UpstreamIdentity,
  tokens: UpstreamTokens | undefined,
): Promise<Response> {
  const resolution = await resolveUser(rt.store, identity);
  if (resolution.kind === 'unknown_user') {
    rt.log.log('warn', 'signin.unknown_user', { provider: identity.provider, subject: identity.subject });
    return errorPage(
      403,
      'access_denied',
      'You signed in, but no account of this server matches you. Ask an administrator to add you.',
    );
  }
  const now = rt.now();
  const familyId = randomUUID();
  await rt.store.createFamily({
    id: familyId,
    clientId: txn.clientId,
    userId: resolution.user.id,
    scope: txn.scope,
    ...(txn.resource ? { resource: txn.resource } : {}),
    createdAt: now,
  });
  const claims = rt.claims(identity.claims, rt.settings.claims);
  const secrets: GrantSecrets = { ...(tokens ? { tokens } : {}), claims };
  const recordId = randomUUID();
  await rt.store.putUpstreamTokens({
    id: recordId,
    familyId,
    userId: resolution.user.id,
    provider: identity.provider,
    sealed: rt.sealer.sealJson(secrets, recordId),
    createdAt: now,
    expiresAt: now + rt.settings.tokens.refresh_ttl,
  });
  const code = generateOpaqueToken();
  await rt.store.putCode({
    codeHash: hashToken(code),
    familyId,
    clientId: txn.clientId,
    userId: resolution.user.id,
    redirectUri: txn.redirectUri,
    redirectUriProvided: txn.redirectUriProvided,
    scope: txn.scope,
    ...(txn.resource ? { resource: txn.resource } : {}),
    codeChallenge: txn.codeChallenge,
    codeChallengeMethod: 'S256',
    claims,
    createdAt: now,
    expiresAt: now + rt.settings.tokens.code_ttl,
  });
  rt.log.log('info', 'signin.completed', {
    client_id: txn.clientId,
    user: resolution.user.id,
    via: resolution.via,
    provider: identity.provider,
  });
  return redirectTo(txn.redirectUri, { code, state: txn.state, iss: rt.urls.issuer });
}

/** The claims kept for a grant family (for refreshed access tokens). */
export async function grantClaims(rt: Runtime, familyId: string): Promise<Record<string, unknown>> {
  const record = await rt.store.getUpstreamTokensForFamily(familyId);
  if (!record) return {};
  try {
    return rt.sealer.openJson<GrantSecrets>(record.sealed, record.id).claims ?? {};
  } catch {
    return {};
  }
}
