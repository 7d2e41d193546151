import type { Persona } from './personas.ts';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * The mock's sign-in page: one form per persona, each posting the transaction id and the
 * persona id to `action`. Plain HTML without scripts, so a browser and an HTTP client can both
 * use it (`data-persona` marks each form; the transaction id is in `input[name=txn]`).
 */
export function loginPage(input: {
  providerTitle: string;
  clientName: string;
  action: string;
  txn: string;
  personas: Persona[];
}): Response {
  const forms = input.personas
    .map(
      (p) => `<li><form method="post" action="${escapeHtml(input.action)}" data-persona="${escapeHtml(p.id)}">
<input type="hidden" name="txn" value="${escapeHtml(input.txn)}">
<input type="hidden" name="persona" value="${escapeHtml(p.id)}">
<button type="submit" name="action" value="approve">Sign in as ${escapeHtml(p.name)}</button>
<span class="who">${escapeHtml(p.id)}${p.email ? ` &lt;${escapeHtml(p.email)}&gt;` : ''}</span>
<small>${escapeHtml(p.description)}</small>
</form></li>`,
    )
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.providerTitle)} (mock): sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}
li{list-style:none;margin:.5rem 0}form{display:flex;gap:.75rem;align-items:baseline;flex-wrap:wrap}
small{color:#555;flex-basis:100%}</style></head>
<body><h1>${escapeHtml(input.providerTitle)} (mock identity provider)</h1>
<p>Sign in to <strong>${escapeHtml(input.clientName)}</strong> as one of these personas.</p>
<ul id="personas">
${forms}
</ul>
<form method="post" action="${escapeHtml(input.action)}" id="deny">
<input type="hidden" name="txn" value="${escapeHtml(input.txn)}">
<button type="submit" name="action" value="deny">Cancel (access_denied)</button>
</form>
</body></html>`;
  return new Response(html, {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // No form-action: Chromium checks it on every redirect the sign-in form starts, and `*`
      // does not cover a native client's custom scheme (cursor://) at the end of the chain.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    },
  });
}

/** An error page shown instead of redirecting to an untrusted redirect URI. */
export function errorPage(status: number, title: string, detail: string): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p></body></html>`;
  return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8' } });
}

/** RFC 6749 4.1.2 / OAuth 2.0 Form Post Response Mode: an auto-submitting form to the client. */
export function formPostPage(target: string, params: Record<string, string>): Response {
  const inputs = Object.entries(params)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Submit</title></head>
<body onload="document.forms[0].submit()"><form method="post" action="${escapeHtml(target)}">${inputs}
<noscript><button type="submit">Continue</button></noscript></form></body></html>`;
  return new Response(html, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });
}
