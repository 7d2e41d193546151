/** Reads an application/x-www-form-urlencoded body (RFC 6749 3.2), refusing repeats and oversize. */
export type FormResult =
  | { ok: true; params: URLSearchParams }
  | { ok: false; description: string; status: number };

export async function readForm(request: Request, maxBytes = 64 * 1024): Promise<FormResult> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    return { ok: false, description: 'the body must be application/x-www-form-urlencoded', status: 400 };
  }
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) return { ok: false, description: 'the body is too large', status: 413 };
  const text = await request.text();
  if (text.length > maxBytes) return { ok: false, description: 'the body is too large', status: 413 };
  const params = new URLSearchParams(text);
  const repeated = noRepeats(params);
  if (repeated) return { ok: false, description: `"${repeated}" is repeated`, status: 400 };
  return { ok: true, params };
}

/** The first parameter sent more than once (RFC 6749 3.1, 3.2), or undefined. */
export function noRepeats(params: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return undefined;
}
