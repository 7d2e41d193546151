import { randomBytes } from 'node:crypto';
import { loadPersonas, type Persona } from '../../mock-idp/personas.ts';
import type { UpstreamIdentity } from '../backends/types.ts';
import type { Runtime } from '../runtime.ts';
import { hashToken } from '../tokens/hash.ts';
import { takeBoundTransaction } from './callback.ts';
import { completeAuthorization } from './complete.ts';
import { formActionSources } from './consent.ts';
import { readCookies, setCookie } from './cookies.ts';
import { readForm } from './form.ts';
import { endpoints } from './metadata.ts';
import { errorPage, escapeHtml, page, pageHeaders } from './responses.ts';

let personasCache: Persona[] | undefined;
function personas(): Persona[] {
  personasCache ??= loadPersonas().personas;
  return personasCache;
}

/** The identity a persona presents to the in-memory backend: a verified email only, no login. */
export function personaIdentity(persona: Persona): UpstreamIdentity {
  return {
    provider: 'in-memory',
    subject: persona.id,
    ...(persona.email && persona.email_verified
      ? { email: persona.email, emailVerified: true as const }
      : {}),
    name: persona.name,
    claims: { ...persona.claims },
  };
}

/**
 * The in-memory backend's own sign-in page over the personas (no upstream): reachable only by
 * the browser that approved consent (the binding cookie), with its own CSRF token.
 */
export async function login(rt: Runtime, request: Request): Promise<Response> {
  if (rt.kind !== 'in-memory')
    return errorPage(404, 'not_found', 'this server has no sign-in page of its own');
  if (request.method === 'GET') {
    const id = new URL(request.url).searchParams.get('txn') ?? '';
    const txn = await rt.store.getTransaction(id);
    const binding = readCookies(request).get('mcp_binding');
    if (!txn?.browserBinding || !binding || hashToken(binding) !== txn.browserBinding) {
      return errorPage(
        400,
        'invalid_request',
        'this sign-in is unknown, expired or belongs to another browser',
      );
    }
    const csrf = randomBytes(24).toString('base64url');
    await rt.store.updateTransaction(txn.id, { extra: { ...txn.extra, loginCsrfHash: hashToken(csrf) } });
    const items = personas()
      .map(
        (p) =>
          `<li><button type="submit" name="persona" value="${escapeHtml(p.id)}" data-persona="${escapeHtml(p.id)}">Sign in as ${escapeHtml(p.name)}</button> <small>${escapeHtml(p.email ?? 'no email')}</small></li>`,
      )
      .join('\n');
    return page(
      'Sign in',
      `<h1>Sign in</h1><p>Choose who you are (in-memory backend, for testing only).</p>
<form method="post" action="${escapeHtml(endpoints(rt).login)}">
<input type="hidden" name="txn" value="${escapeHtml(txn.id)}"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<ul>${items}</ul></form>`,
      200,
      {
        // The POST ends in a redirect to the client, which form-action must allow (edge 35).
        ...pageHeaders(formActionSources(rt, txn)),
        'set-cookie': setCookie('mcp_login_csrf', csrf, { secure: false, sameSite: 'Strict', maxAge: 600 }),
      },
    );
  }
  if (request.method !== 'POST')
    return errorPage(405, 'invalid_request', 'use GET or POST', { allow: 'GET, POST' });
  const origin = request.headers.get('origin');
  if (origin !== null && origin !== new URL(rt.urls.issuer).origin) {
    return errorPage(403, 'access_denied', 'the sign-in form was posted from another site');
  }
  const form = await readForm(request, 8 * 1024);
  if (!form.ok) return errorPage(form.status, 'invalid_request', form.description);
  const found = await rt.store.getTransaction(form.params.get('txn') ?? '');
  const csrf = form.params.get('csrf') ?? '';
  if (
    !found ||
    csrf !== readCookies(request).get('mcp_login_csrf') ||
    hashToken(csrf) !== found.extra['loginCsrfHash']
  ) {
    return errorPage(
      403,
      'access_denied',
      'the sign-in form is missing its CSRF token or the token does not match',
    );
  }
  const persona = personas().find((p) => p.id === form.params.get('persona'));
  if (!persona) return errorPage(400, 'invalid_request', 'choose one of the listed personas');
  const txn = await takeBoundTransaction(rt, request, found);
  if (txn instanceof Response) return txn;
  return completeAuthorization(rt, txn, personaIdentity(persona), undefined);
}
