import type { CaseContext } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expand, lookup } from '../template.ts';

/**
 * Reads from the mock IdP's control API what the server under test must never hand to its
 * clients. These requests go to the control origin directly (never through an agent), so they
 * are not among the responses the client side saw (the `no_leak` check reads those).
 */

function idpUrl(ctx: CaseContext): string {
  if (!ctx.run.idpUrl) throw new RunnerError('ERR_STEP_FAILED', 'no mock IdP is in front of the server');
  return ctx.run.idpUrl;
}

async function getJson(ctx: CaseContext, url: string): Promise<unknown> {
  const res = await ctx.run.fetch(url, { signal: AbortSignal.timeout(ctx.run.stepTimeoutMs) });
  if (res.status !== 200) throw new RunnerError('ERR_STEP_FAILED', `${url} answered HTTP ${res.status}`);
  return res.json();
}

/**
 * The default client the mock IdP keeps for a provider (the server's upstream by default): the
 * credentials a proxy uses toward its upstream (security edge 6 checks they never leak).
 * Result: `{ provider, client_id, client_secret }` (`client_secret` null for a public client).
 */
export async function idpClient(ctx: CaseContext, args: Record<string, unknown>) {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const provider = typeof a['provider'] === 'string' ? a['provider'] : ctx.run.upstream;
  if (!provider) throw new RunnerError('ERR_STEP_FAILED', 'no upstream provider is configured (--upstream)');
  const body = (await getJson(ctx, `${idpUrl(ctx)}/_mock/providers`)) as {
    providers?: Array<{ id: string; client?: { client_id?: string; client_secret?: string } }>;
  };
  const found = body.providers?.find((p) => p.id === provider);
  if (!found?.client?.client_id)
    throw new RunnerError('ERR_STEP_FAILED', `the mock IdP has no provider "${provider}"`);
  for (const value of [found.client.client_id, found.client.client_secret]) {
    if (value) ctx.run.secrets.add(value);
  }
  return {
    kind: 'idp_client',
    provider,
    client_id: found.client.client_id,
    client_secret: found.client.client_secret ?? null,
  };
}

/**
 * Codes and tokens the mock IdP issued since the case began (the journal's `issued` entries),
 * of one `kind` (access_token by default), for the upstream provider, optionally one `persona`.
 * Result: `{ values: [...] }`, oldest first.
 */
export async function idpIssued(ctx: CaseContext, args: Record<string, unknown>) {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const query = new URLSearchParams({
    since: String(a['since'] ?? lookup(ctx.vars, 'journal_mark') ?? 0),
    type: 'issued',
  });
  const provider = typeof a['provider'] === 'string' ? a['provider'] : ctx.run.upstream;
  if (provider) query.set('provider', provider);
  const kind = typeof a['kind'] === 'string' ? a['kind'] : 'access_token';
  const body = (await getJson(ctx, `${idpUrl(ctx)}/_mock/journal?${query}`)) as {
    entries?: Array<{ kind?: string; persona?: string; value?: string }>;
  };
  const values = (body.entries ?? [])
    .filter((e) => e.kind === kind && (a['persona'] === undefined || e.persona === a['persona']))
    .map((e) => e.value)
    .filter((v): v is string => typeof v === 'string');
  for (const v of values) ctx.run.secrets.add(v);
  return { kind: 'idp_issued', token_kind: kind, values };
}
