import { formPostPage } from '../login-page.ts';

/** How an authorization response travels back to the client (OAuth 2.0 Multiple Response Types 2.1). */
export type ResponseMode = 'query' | 'fragment' | 'form_post';

/**
 * Sends parameters (an error, usually) back to a client's redirect URI, the way the app core
 * sends a code: a 302 with the parameters in the query or fragment, or an auto-posting form.
 * Only call it for a redirect URI already checked against the client's registration
 * (RFC 6749 4.1.2.1: never redirect to an unverified URI).
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 * @see https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html
 */
export function redirectWithParams(
  target: string,
  mode: ResponseMode,
  params: Record<string, string>,
): Response {
  if (mode === 'form_post') return formPostPage(target, params);
  const url = new URL(target);
  if (mode === 'fragment') {
    url.hash = new URLSearchParams(params).toString();
  } else {
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  }
  return new Response(null, {
    status: 302,
    headers: { location: url.toString(), 'cache-control': 'no-store' },
  });
}
