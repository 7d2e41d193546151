/**
 * Deliberately broken parts for the consent suite: the real authorization endpoint, consent
 * handler and upstream callback (reference-server/oauth/*.ts), each with one defense taken away
 * (edges 1-5, 35). Never used in production.
 */
import { randomBytes } from 'node:crypto';
import type { AppParts } from '../../../reference-server/app.ts';
import { authorize } from '../../../reference-server/oauth/authorize.ts';
import { callback } from '../../../reference-server/oauth/callback.ts';
import { consent } from '../../../reference-server/oauth/consent.ts';
import { readCookies } from '../../../reference-server/oauth/cookies.ts';
import { hashToken } from '../../../reference-server/tokens/hash.ts';
import { parseForms } from '../../agent/http.ts';
import { rebuild, withForm } from './codes.ts';

/** The request's cookies with one set or replaced. */
function cookieWith(request: Request, name: string, value: string): string {
  const cookies = readCookies(request);
  cookies.set(name, value);
  return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

/** The real consent page with its HTML or headers rewritten. */
function rewritingConsentPage(edit: (html: string, headers: Headers) => string): AppParts['authorize'] {
  return async (rt, request) => {
    const response = await authorize(rt, request);
    if (response.status !== 200 || !(response.headers.get('content-type') ?? '').includes('html')) {
      return response;
    }
    const headers = new Headers(response.headers);
    const html = edit(await response.text(), headers);
    headers.delete('content-length');
    return new Response(html, { status: 200, headers });
  };
}

function replaceOnce(html: string, pattern: RegExp, replacement: (m: RegExpMatchArray) => string): string {
  const m = html.match(pattern);
  if (!m) throw new Error(`the consent page no longer matches ${pattern}`);
  return html.replace(pattern, replacement(m));
}

/**
 * No consent for anyone: the consent page the real endpoint renders is approved on the spot
 * (its form posted to the real consent handler), so the browser goes straight upstream (edge 1).
 */
export const authorizeAutoApprove: AppParts['authorize'] = async (rt, request) => {
  const response = await authorize(rt, request);
  if (response.status !== 200) return response;
  const html = await response.text();
  const form = parseForms(html, request.url)[0];
  if (!form) return new Response(html, { status: response.status, headers: response.headers });
  const csrf = form.fields['csrf'] ?? '';
  const post = new Request(form.action, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: new URL(rt.urls.issuer).origin,
      cookie: cookieWith(request, 'mcp_csrf', csrf),
    },
    body: new URLSearchParams({ ...form.fields, action: 'approve' }).toString(),
  });
  return consent(rt, post);
};

/**
 * The CSRF token is not checked: whatever the POST carries (or nothing) is made to match the
 * transaction before the real handler looks (edge 4). The Origin check stays.
 */
export const consentWithoutCsrfCheck: AppParts['consent'] = async (rt, request) => {
  if (request.method !== 'POST') return consent(rt, request);
  const params = new URLSearchParams(await request.text());
  const txn = await rt.store.getTransaction(params.get('txn') ?? '');
  const csrf = params.get('csrf') || randomBytes(16).toString('base64url');
  if (txn) await rt.store.updateTransaction(txn.id, { extra: { ...txn.extra, csrfHash: hashToken(csrf) } });
  params.set('csrf', csrf);
  return consent(
    rt,
    rebuild(request, { headers: { cookie: cookieWith(request, 'mcp_csrf', csrf) }, body: params.toString() }),
  );
};

/** The Origin (and Sec-Fetch-Site) of a consent POST are not looked at (edge 4). */
export const consentWithoutOriginCheck: AppParts['consent'] = async (rt, request) => {
  if (request.method !== 'POST') return consent(rt, request);
  const body = await request.text();
  return consent(rt, rebuild(request, { headers: { origin: null, 'sec-fetch-site': null }, body }));
};

/** A consent POST without an action counts as approval (edge 4). */
export const consentApprovingWithoutAction: AppParts['consent'] = withForm(consent, (params) => {
  if (!params.has('action')) params.set('action', 'approve');
});

/** Any action approves, Deny included (the handler only asks whether an action was sent). */
export const consentApprovingAnyAction: AppParts['consent'] = withForm(consent, (params) => {
  if (params.has('action')) params.set('action', 'approve');
});

/**
 * The callback does not check that the browser finishing the sign-in is the one that approved
 * it: a missing or foreign binding cookie is made to match before the real callback looks (edge 2).
 */
export const callbackWithoutBinding: AppParts['callback'] = async (rt, request) => {
  const state = new URL(request.url).searchParams.get('state');
  const txn = state ? await rt.store.getTransactionByUpstreamState(state) : undefined;
  if (!txn?.browserBinding) return callback(rt, request);
  const binding = randomBytes(16).toString('base64url');
  await rt.store.updateTransaction(txn.id, { browserBinding: hashToken(binding) });
  return callback(rt, rebuild(request, { headers: { cookie: cookieWith(request, 'mcp_binding', binding) } }));
};

/**
 * A remembered approval honoured for any navigation: the request is treated as one the user
 * started (Sec-Fetch-Site none) whatever it says, or when it says nothing (edge 3).
 */
export const authorizeTrustingAnyNavigation: AppParts['authorize'] = (rt, request) =>
  authorize(rt, rebuild(request, { headers: { 'sec-fetch-site': 'none' } }));

/** The consent page without anti-framing headers (edge 5). */
export const authorizeFramableConsent = rewritingConsentPage((html, headers) => {
  headers.delete('x-frame-options');
  const csp = headers.get('content-security-policy');
  if (csp) headers.set('content-security-policy', csp.replace(/;\s*frame-ancestors[^;]*/, ''));
  return html;
});

/** The consent page names the client but not where the code will go (edge 5). */
export const authorizeHidingRedirectUri = rewritingConsentPage((html) =>
  replaceOnce(html, /<p><code id="redirect-uri">[^<]*<\/code><\/p>/, () => '<p>your application</p>'),
);

/** The consent page shows the client name as HTML (a registered name can inject markup; edge 5). */
export const authorizeUnescapedClientName = rewritingConsentPage((html) =>
  replaceOnce(html, /<strong id="client-name">([^<]*)<\/strong>/, (m) => {
    const raw = m[1]!.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
    return `<strong id="client-name">${raw}</strong>`;
  }),
);

/** The consent page's CSP allows form submissions to itself only (edge 35). */
export const authorizeSelfOnlyFormAction = rewritingConsentPage((html, headers) => {
  const csp = headers.get('content-security-policy') ?? '';
  headers.set('content-security-policy', csp.replace(/form-action[^;]*/, "form-action 'self'"));
  return html;
});
