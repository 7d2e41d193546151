/**
 * Drives the mock IdP's login page with plain HTTP, as a browser would: GET the authorization
 * URL, pick the persona's form, POST it, and return where the IdP redirected (the client's
 * redirect URI with `code` and `state`, or an error).
 */
export interface PageLoginResult {
  /** Status of the final answer (302 for a redirect, 200 for a form_post page). */
  status: number;
  /** The Location header of the redirect back to the client, when there is one. */
  location: string | undefined;
  /** For form_post answers: the fields the page would post to the client. */
  formPost?: { action: string; fields: Record<string, string> };
  /** The HTML of the login page that was used. */
  page: string;
}

function decodeEntities(value: string): string {
  return value.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&');
}

export async function loginThroughPage(
  authorizationUrl: string | URL,
  persona: string,
  options: { action?: 'approve' | 'deny'; fetch?: typeof fetch; headers?: Record<string, string> } = {},
): Promise<PageLoginResult> {
  const doFetch = options.fetch ?? fetch;
  const pageResponse = await doFetch(authorizationUrl, {
    redirect: 'manual',
    headers: options.headers ?? {},
  });
  const page = await pageResponse.text();
  if (pageResponse.status !== 200 || !page.includes('data-persona')) {
    throw new Error(
      `expected the mock login page, got HTTP ${pageResponse.status}${
        pageResponse.headers.get('location') ? ` to ${pageResponse.headers.get('location')}` : ''
      }`,
    );
  }
  const action = options.action ?? 'approve';
  const formRe =
    action === 'deny'
      ? /<form method="post" action="([^"]+)" id="deny">/
      : new RegExp(
          `<form method="post" action="([^"]+)" data-persona="${persona.replace(/[^a-z0-9-]/g, '')}">`,
        );
  const form = page.match(formRe);
  if (!form) throw new Error(`the login page offers no persona "${persona}"`);
  const txn = page.match(/name="txn" value="([^"]+)"/)?.[1];
  if (!txn) throw new Error('the login page carries no transaction id');
  const body = new URLSearchParams({ txn: decodeEntities(txn), action });
  if (action === 'approve') body.set('persona', persona);
  const response = await doFetch(decodeEntities(form[1]!), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(options.headers ?? {}) },
    body,
  });
  const text = await response.text();
  const result: PageLoginResult = {
    status: response.status,
    location: response.headers.get('location') ?? undefined,
    page,
  };
  const post = text.match(/<form method="post" action="([^"]+)">/);
  if (response.status === 200 && post) {
    const fields: Record<string, string> = {};
    for (const m of text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[decodeEntities(m[1]!)] = decodeEntities(m[2]!);
    }
    result.formPost = { action: decodeEntities(post[1]!), fields };
  }
  return result;
}
