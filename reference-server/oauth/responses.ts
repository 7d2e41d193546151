/** Response helpers of the authorization server: RFC 6749 5.2 errors, error pages, redirects. */

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** Removes characters RFC 6749 5.2 excludes from error_description (and CR/LF/TAB; edge 27). */
export function cleanDescription(text: string): string {
  return text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ').slice(0, 300);
}

/** A JSON error of the token, registration or revocation endpoint (RFC 6749 5.2, RFC 7591 3.2.2). */
export function oauthError(
  error: string,
  description: string,
  status = 400,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error, error_description: cleanDescription(description) }), {
    status,
    headers: { 'content-type': 'application/json', ...NO_STORE, ...headers },
  });
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** JSON with `Cache-Control: no-store` (token responses, RFC 6749 5.1). */
export function noStoreJson(body: unknown, status = 200): Response {
  return jsonResponse(body, status, NO_STORE);
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * Headers every HTML page of ours carries: no framing, no caching, no referrer to other origins.
 * `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with the
 * page's own form POST (Fetch, "serializing a request origin"), which the Origin check of
 * /consent and /login must refuse; other origins (upstream, client) still get no Referer.
 * @see https://fetch.spec.whatwg.org/#serializing-a-request-origin
 */
export function pageHeaders(formAction = "'self'"): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    ...NO_STORE,
  };
}

export function page(
  title: string,
  body: string,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}</style>
</head><body>${body}</body></html>`;
  return new Response(html, { status, headers: { ...pageHeaders(), ...headers } });
}

/**
 * An error page: what the authorization endpoint shows when it cannot trust the redirect URI
 * (unknown client, unregistered redirect_uri), and what the callback shows when the sign-in
 * cannot finish. Never a redirect (RFC 6749 4.1.2.1; edge 12).
 */
export function errorPage(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): Response {
  return page(
    'Sign-in error',
    `<h1>Sign-in error</h1><p><strong id="error">${escapeHtml(error)}</strong></p><p id="error_description">${escapeHtml(description)}</p>`,
    status,
    headers,
  );
}

/**
 * A 302 to the client's redirect URI with parameters in the query (RFC 6749 4.1.2); an
 * `error_description` keeps to the characters RFC 6749 4.1.2.1 allows (no `"` or `\`).
 */
export function redirectTo(uri: string, params: Record<string, string | undefined>): Response {
  const target = new URL(uri);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) target.searchParams.set(k, k === 'error_description' ? cleanDescription(v) : v);
  }
  return new Response(null, { status: 302, headers: { location: target.toString(), ...NO_STORE } });
}
