/**
 * Broken parts of the upstream leg, for the detection tests of the upstream and claims suites.
 * Each wraps a real part of the reference server and breaks one thing, the way a real proxy
 * gets it wrong (security edges 19, 34; RFC 6749 4.1.2.1).
 */
import { decodeJwt, type JWTPayload } from 'jose';
import type { AppParts } from '../../../reference-server/app.ts';
import { UpstreamEndpoints } from '../../../reference-server/backends/oidc-upstream.ts';
import type {
  BackendFactory,
  ProxyUpstream,
  UpstreamIdentity,
} from '../../../reference-server/backends/types.ts';
import {
  clientCredentials,
  exchangeCode,
  type UpstreamClient,
} from '../../../reference-server/backends/upstream-http.ts';
import { callback } from '../../../reference-server/oauth/callback.ts';
import { consent } from '../../../reference-server/oauth/consent.ts';
import { redirectTo } from '../../../reference-server/oauth/responses.ts';
import type { Runtime } from '../../../reference-server/runtime.ts';
import type { TransactionRecord } from '../../../reference-server/store/types.ts';
import { generateOpaqueToken } from '../../../reference-server/tokens/hash.ts';

/**
 * A consent part whose redirect to the upstream is rewritten: `change` edits the upstream
 * authorization URL of the approved transaction (and may rebind the transaction).
 */
function rewritingConsent(
  change: (url: URL, txn: TransactionRecord, rt: Runtime) => Promise<void> | void,
): AppParts['consent'] {
  return async (rt, request) => {
    const form = new URLSearchParams(await request.clone().text());
    const response = await consent(rt, request);
    const location = response.headers.get('location');
    const txn = await rt.store.getTransaction(form.get('txn') ?? '');
    if (!location || !txn?.upstreamState) return response;
    const url = new URL(location);
    if (url.searchParams.get('state') !== txn.upstreamState) return response;
    await change(url, txn, rt);
    const headers = new Headers(response.headers);
    headers.set('location', url.toString());
    return new Response(null, { status: response.status, headers });
  };
}

/**
 * Sends the client's own `state` upstream (and finds the transaction by it at the callback), as a
 * proxy that forwards the downstream parameters does. Edge 19.
 */
export const consentForwardingClientState: AppParts['consent'] = rewritingConsent(async (url, txn, rt) => {
  if (!txn.state) return;
  url.searchParams.set('state', txn.state);
  await rt.store.updateTransaction(txn.id, { upstreamState: txn.state });
});

let counter = 0;
/** A state that is unique but guessable: a counter. Edge 19 ("unguessable"). */
export const consentWithCounterState: AppParts['consent'] = rewritingConsent(async (url, txn, rt) => {
  counter += 1;
  const state = `s${counter}`;
  url.searchParams.set('state', state);
  await rt.store.updateTransaction(txn.id, { upstreamState: state });
});

/**
 * Sends the client's PKCE challenge upstream instead of its own (the upstream code exchange,
 * made with the server's verifier, then fails at the IdP). Edge 19.
 */
export const consentForwardingClientChallenge: AppParts['consent'] = rewritingConsent((url, txn) => {
  url.searchParams.set('code_challenge', txn.codeChallenge);
});

/** Sends the client's redirect_uri upstream instead of the server's fixed callback. Edge 19. */
export const consentForwardingClientRedirectUri: AppParts['consent'] = rewritingConsent((url, txn) => {
  url.searchParams.set('redirect_uri', txn.redirectUri);
});

/** On an upstream error, redirects to the client without its `state` (RFC 6749 4.1.2.1). */
export const callbackDroppingStateOnError: AppParts['callback'] = async (rt, request) => {
  const response = await callback(rt, request);
  const location = response.headers.get('location');
  if (!location) return response;
  const url = new URL(location);
  if (!url.searchParams.has('error')) return response;
  url.searchParams.delete('state');
  const headers = new Headers(response.headers);
  headers.set('location', url.toString());
  return new Response(null, { status: response.status, headers });
};

/**
 * Hands the client a code although the upstream sign-in failed, as a proxy does that defers the
 * upstream code exchange to its own token endpoint (the client's /token then fails, but the
 * client was told the sign-in succeeded).
 */
export const callbackIssuingCodeBeforeExchange: AppParts['callback'] = async (rt, request) => {
  const state = new URL(request.url).searchParams.get('state');
  const txn = state ? await rt.store.getTransactionByUpstreamState(state) : undefined;
  const response = await callback(rt, request);
  if (!txn || response.status < 400) return response;
  return redirectTo(txn.redirectUri, {
    code: generateOpaqueToken(),
    state: txn.state,
    iss: rt.urls.issuer,
  });
};

/**
 * An OIDC backend (Google or Entra) whose code exchange reads the id_token without verifying it:
 * no signature, `iss`, `aud`, `exp`, `nbf` or `nonce` check (edge 34). The rest is the real
 * backend's (authorization URL, identity mapping).
 */
export function skippingIdTokenVerification(
  real: BackendFactory,
  identity: (claims: JWTPayload) => UpstreamIdentity,
): BackendFactory {
  return async (settings, deps) => {
    const backend = (await real(settings, deps)) as ProxyUpstream;
    const client: UpstreamClient = { provider: backend.id, fetch: deps.fetch };
    const endpoints = new UpstreamEndpoints(client, settings, backend.id, { preferDiscovery: false });
    const { clientId, clientSecret } = clientCredentials(backend.id, settings.oauth);
    return {
      kind: 'proxy',
      id: backend.id,
      authorizationUrl: (input) => backend.authorizationUrl(input),
      async exchange(input) {
        const tokens = await exchangeCode(client, {
          tokenUrl: await endpoints.get('token_url'),
          clientId,
          clientSecret,
          auth: 'client_secret_post',
          code: input.code,
          codeVerifier: input.codeVerifier,
          redirectUri: input.redirectUri,
        });
        return { identity: identity(decodeJwt(tokens.id_token ?? '')), tokens };
      },
    };
  };
}
