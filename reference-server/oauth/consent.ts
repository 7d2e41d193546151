import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Runtime } from '../runtime.ts';
import type { ClientRecord, TransactionRecord } from '../store/types.ts';
import { hashToken } from '../tokens/hash.ts';
import { rememberedClients } from './authorize.ts';
import { readCookies, setCookie } from './cookies.ts';
import { readForm } from './form.ts';
import { endpoints } from './metadata.ts';
import { errorPage, escapeHtml, page, pageHeaders, redirectTo } from './responses.ts';

const CONSENT_REMEMBER_SECONDS = 30 * 24 * 3600;

const secure = (rt: Runtime) => rt.urls.issuer.startsWith('https:');

function sameHash(value: string | undefined, hash: unknown): boolean {
  if (!value || typeof hash !== 'string') return false;
  const a = Buffer.from(hashToken(value));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * CSP form-action sources that let the redirect chain reach the client (edge 35): Chromium checks
 * form-action on every redirect that follows a form submission, so our consent and login forms
 * must allow the client's redirect URI (and, for a proxy, the upstream) besides ourselves.
 */
export function formActionSources(rt: Runtime, txn: TransactionRecord, extra: string[] = []): string {
  const sources = new Set(["'self'", ...extra]);
  const target = new URL(txn.redirectUri);
  sources.add(target.protocol === 'http:' || target.protocol === 'https:' ? target.origin : target.protocol);
  const upstream = rt.backend?.kind === 'proxy' ? rt.settings.upstream : undefined;
  if (upstream) {
    for (const value of Object.values(upstream[rt.settings.auth] ?? {})) {
      try {
        if (value && /^https?:/.test(value)) sources.add(new URL(value).origin);
      } catch {
        // not a URL (an audience, say)
      }
    }
  }
  // Real upstream hosts are https; allowing https: keeps the chain open whatever the authority.
  if (rt.kind === 'proxy') sources.add('https:');
  return [...sources].join(' ');
}

/**
 * The origin of the upstream authorization endpoint, as the backend builds it (a discovery-based
 * upstream such as Auth0 or WorkOS has no URL in the upstream settings; edge 35).
 */
async function upstreamOrigin(rt: Runtime): Promise<string | undefined> {
  if (rt.backend?.kind !== 'proxy') return undefined;
  try {
    const url = await rt.backend.authorizationUrl({
      state: 'x',
      codeChallenge: s256('x'),
      redirectUri: endpoints(rt).callback,
      nonce: 'x',
    });
    return url.origin;
  } catch {
    return undefined; // the upstream cannot be reached now; approval will report it
  }
}

/**
 * Our consent page: names the client and the exact redirect URI the code will go to (edge 5),
 * carries a CSRF token bound to a cookie (edge 4), and may not be framed. A browser that approved
 * this client before skips it, but only for a navigation it started itself (Sec-Fetch-Site
 * `none` or `same-origin`; edge 3).
 */
export async function renderConsent(
  rt: Runtime,
  request: Request,
  txn: TransactionRecord,
  client: ClientRecord,
  csrf: string,
): Promise<Response> {
  const site = request.headers.get('sec-fetch-site');
  if (
    (site === 'none' || site === 'same-origin') &&
    rememberedClients(rt, request).includes(client.clientId)
  ) {
    return approve(rt, request, txn, 302);
  }
  const name = client.clientName ?? client.clientId;
  const upstreamName = rt.kind === 'proxy' ? rt.settings.auth : 'this server';
  const body = `<h1>Allow access?</h1>
<p><strong id="client-name">${escapeHtml(name)}</strong> (client <code id="client-id">${escapeHtml(client.clientId)}</code>)
asks to use this MCP server on your behalf${txn.scope.length ? ` with scope <code>${escapeHtml(txn.scope.join(' '))}</code>` : ''}.</p>
<p>If you allow it, you will sign in with <strong>${escapeHtml(upstreamName)}</strong>, and the authorization code will be sent to:</p>
<p><code id="redirect-uri">${escapeHtml(txn.redirectUri)}</code></p>
<form method="post" action="${escapeHtml(endpoints(rt).consent)}">
<input type="hidden" name="txn" value="${escapeHtml(txn.id)}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<button type="submit" name="action" value="approve" id="approve">Allow</button>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form>`;
  return page('Allow access?', body, 200, {
    ...pageHeaders(formActionSources(rt, txn, [(await upstreamOrigin(rt)) ?? "'self'"])),
    'set-cookie': setCookie('mcp_csrf', csrf, {
      secure: secure(rt),
      sameSite: 'Strict',
      maxAge: rt.settings.tokens.transaction_ttl,
    }),
  });
}

/** The S256 challenge of a verifier (RFC 7636 4.2). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * After approval: binds the transaction to this browser (a cookie checked at the callback;
 * edge 2), then starts the upstream leg with our own state, PKCE pair and nonce toward our fixed
 * callback (edge 19), or our own login page for the in-memory backend.
 */
async function approve(
  rt: Runtime,
  request: Request,
  txn: TransactionRecord,
  status: 302 | 303,
): Promise<Response> {
  const binding = randomBytes(24).toString('base64url');
  const upstreamState = randomBytes(24).toString('base64url');
  const upstreamVerifier = randomBytes(48).toString('base64url');
  const upstreamNonce = randomBytes(18).toString('base64url');
  await rt.store.updateTransaction(txn.id, {
    browserBinding: hashToken(binding),
    consentedAt: rt.now(),
    upstreamState,
    upstreamVerifier,
    upstreamNonce,
  });
  const remembered = [...new Set([...rememberedClients(rt, request), txn.clientId])].slice(-50);
  const cookies = [
    setCookie('mcp_binding', binding, {
      secure: secure(rt),
      sameSite: 'Lax',
      maxAge: rt.settings.tokens.transaction_ttl,
    }),
    setCookie(
      'mcp_consent',
      rt.sealer.sealJson({ clients: remembered, exp: rt.now() + CONSENT_REMEMBER_SECONDS }, 'consent'),
      { secure: secure(rt), sameSite: 'Lax', maxAge: CONSENT_REMEMBER_SECONDS },
    ),
    setCookie('mcp_csrf', '', { secure: secure(rt), sameSite: 'Strict', maxAge: 0 }),
  ];
  let location: string;
  if (rt.backend?.kind === 'proxy') {
    const url = await rt.backend.authorizationUrl({
      state: upstreamState,
      codeChallenge: s256(upstreamVerifier),
      redirectUri: endpoints(rt).callback,
      nonce: upstreamNonce,
    });
    location = url.toString();
  } else {
    location = `${endpoints(rt).login}?${new URLSearchParams({ txn: txn.id })}`;
  }
  const headers = new Headers({ location, 'cache-control': 'no-store' });
  for (const cookie of cookies) headers.append('set-cookie', cookie);
  return new Response(null, { status, headers });
}

/**
 * POST /consent: refuses a foreign Origin, a missing or wrong CSRF token (403), and anything but
 * an explicit approve or deny (400; never taken as approval). Edge 4.
 */
export async function consent(rt: Runtime, request: Request): Promise<Response> {
  if (request.method !== 'POST')
    return errorPage(405, 'invalid_request', 'use POST to answer the consent page', { allow: 'POST' });
  const origin = request.headers.get('origin');
  const ours = new URL(rt.urls.issuer).origin;
  if ((origin !== null && origin !== ours) || request.headers.get('sec-fetch-site') === 'cross-site') {
    return errorPage(403, 'access_denied', 'the consent form was posted from another site');
  }
  const form = await readForm(request, 8 * 1024);
  if (!form.ok) return errorPage(form.status, 'invalid_request', form.description);
  const params = form.params;
  const txn = await rt.store.getTransaction(params.get('txn') ?? '');
  if (!txn || txn.consentedAt !== undefined) {
    return errorPage(
      400,
      'invalid_request',
      'this authorization request is unknown, expired or already answered',
    );
  }
  const csrf = params.get('csrf') ?? undefined;
  const cookie = readCookies(request).get('mcp_csrf');
  if (!csrf || csrf !== cookie || !sameHash(csrf, txn.extra['csrfHash'])) {
    return errorPage(
      403,
      'access_denied',
      'the consent form is missing its CSRF token or the token does not match',
    );
  }
  const action = params.get('action');
  if (action === 'deny') {
    await rt.store.takeTransaction(txn.id);
    return redirectTo(txn.redirectUri, {
      error: 'access_denied',
      error_description: 'the user denied the request',
      state: txn.state,
      iss: rt.urls.issuer,
    });
  }
  if (action !== 'approve')
    return errorPage(400, 'invalid_request', 'an explicit "approve" or "deny" is required');
  return approve(rt, request, txn, 303);
}
