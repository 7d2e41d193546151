import { UpstreamError } from '../backends/types.ts';
import type { Runtime } from '../runtime.ts';
import type { TransactionRecord } from '../store/types.ts';
import { hashToken } from '../tokens/hash.ts';
import { completeAuthorization } from './complete.ts';
import { readCookies } from './cookies.ts';
import { endpoints } from './metadata.ts';
import { errorPage, redirectTo } from './responses.ts';

/**
 * The transaction a browser may continue: its binding cookie must match the one set when it
 * approved consent (edge 2). Taken (single use) on success.
 */
export async function takeBoundTransaction(
  rt: Runtime,
  request: Request,
  txn: TransactionRecord | undefined,
): Promise<TransactionRecord | Response> {
  if (!txn || txn.consentedAt === undefined || !txn.browserBinding) {
    return errorPage(400, 'invalid_request', 'this sign-in is unknown, expired or was never approved');
  }
  const binding = readCookies(request).get('mcp_binding');
  if (!binding || hashToken(binding) !== txn.browserBinding) {
    rt.log.log('warn', 'signin.binding_mismatch', { client_id: txn.clientId });
    return errorPage(
      403,
      'access_denied',
      'this sign-in was approved in another browser; start again from your app',
    );
  }
  const taken = await rt.store.takeTransaction(txn.id);
  if (!taken) return errorPage(400, 'invalid_request', 'this sign-in was already completed');
  return taken;
}

/**
 * Our fixed upstream callback: finds the transaction by our own upstream state, checks the
 * browser binding, exchanges the upstream code with our verifier, verifies who signed in, and
 * completes the authorization. Any failure is an error page without a code.
 */
export async function callback(rt: Runtime, request: Request): Promise<Response> {
  if (rt.backend?.kind !== 'proxy')
    return errorPage(404, 'not_found', 'this server has no upstream callback');
  // Our upstreams answer in the query (response_mode=query), so the callback is a GET only.
  if (request.method !== 'GET')
    return errorPage(405, 'invalid_request', 'use GET for the sign-in callback', { allow: 'GET' });
  const params = new URL(request.url).searchParams;
  const state = params.get('state');
  const found = state ? await rt.store.getTransactionByUpstreamState(state) : undefined;
  const txn = await takeBoundTransaction(rt, request, found);
  if (txn instanceof Response) return txn;
  const upstreamError = params.get('error');
  if (upstreamError) {
    return redirectTo(txn.redirectUri, {
      error: upstreamError === 'access_denied' ? 'access_denied' : 'server_error',
      error_description: 'the upstream sign-in did not complete',
      state: txn.state,
      iss: rt.urls.issuer,
    });
  }
  const code = params.get('code');
  if (!code) return errorPage(400, 'invalid_request', 'the upstream sent no code');
  try {
    const { identity, tokens } = await rt.backend.exchange({
      code,
      codeVerifier: txn.upstreamVerifier ?? '',
      redirectUri: endpoints(rt).callback,
      nonce: txn.upstreamNonce ?? '',
    });
    return await completeAuthorization(rt, txn, identity, tokens);
  } catch (error) {
    if (error instanceof UpstreamError) {
      rt.log.log('warn', 'signin.upstream_failed', { code: error.code, message: error.message });
      return errorPage(502, 'server_error', `The sign-in with ${rt.settings.auth} failed: ${error.message}`);
    }
    throw error;
  }
}
