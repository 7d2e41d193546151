import { type CaseContext, type ResponseResult, toResponseResult } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expand } from '../template.ts';

/** The well-known documents a client looks up (RFC 8615 registrations). */
const NAMES = ['oauth-protected-resource', 'oauth-authorization-server', 'openid-configuration'] as const;

/**
 * The well-known URL of a document for an identifier (a resource or an issuer URL).
 * `insert` puts `/.well-known/<name>` between the origin and the path (RFC 8414 3.1, RFC 9728
 * 3.1); `append` adds it after the path (OpenID Connect Discovery 1.0 section 4).
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.1
 */
export function wellKnownUrl(identifier: string, name: string, placement: 'insert' | 'append'): string {
  let url: URL;
  try {
    url = new URL(identifier);
  } catch {
    throw new RunnerError('ERR_STEP_FAILED', `"url" ${JSON.stringify(identifier)} is not a URL`);
  }
  const path = url.pathname.replace(/\/$/, '');
  return placement === 'insert'
    ? `${url.origin}/.well-known/${name}${path}`
    : `${url.origin}${path}/.well-known/${name}`;
}

/**
 * GETs a well-known metadata document for an identifier (`url`, the MCP URL by default):
 * `name` is one of oauth-protected-resource (default), oauth-authorization-server,
 * openid-configuration; `placement` insert (default) or append. The result is the response plus
 * `requested`: the URL the document was fetched from (what RFC 8414 3.3 compares `issuer` with).
 */
export async function wellKnown(
  ctx: CaseContext,
  args: Record<string, unknown>,
): Promise<ResponseResult & { requested: string }> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const identifier = typeof a['url'] === 'string' ? a['url'] : ctx.run.target;
  const name = (a['name'] as string | undefined) ?? 'oauth-protected-resource';
  if (!(NAMES as readonly string[]).includes(name)) {
    throw new RunnerError('ERR_STEP_FAILED', `"name" must be one of ${NAMES.join(', ')}`);
  }
  const placement = a['placement'] === 'append' ? 'append' : 'insert';
  const requested = wellKnownUrl(identifier, name, placement);
  const { value, exchanges } = await ctx.recording(() =>
    ctx.agent('discovery').request(requested, {
      headers: { accept: 'application/json', ...ctx.run.headers },
    }),
  );
  return { ...toResponseResult(value, exchanges), requested };
}
