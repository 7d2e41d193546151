/**
 * The upstream leg of this case's sign-in, as the mock IdP saw it (security edges 19, 26).
 *
 * Cases run in parallel against one IdP, so the journal since the case began holds other cases'
 * requests too. This step keeps the ones that belong to the case: the authorization requests its
 * own browser sent to the IdP (same URL, or the same `state`), and the token requests that
 * redeemed a code its browser carried back to the server's callback (the callback URL holds the
 * upstream `state` and the code). Tokens are matched to their token request by persona and order.
 *
 * The result has the journal step's shape (`requests`, `issued`), so the `journal` check judges
 * it, plus `authorize` and `token` (the first such request's parameters), `tokens` (what the IdP
 * issued in answer), `token_values` (every token, not code, the IdP issued since the case began:
 * none may reach the client; codes do pass through the user's browser by design) and the
 * origins of the upstream `redirect_uri` and of our issuer.
 */
import type { CaseContext } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expand } from '../template.ts';

interface RequestEntry {
  seq: number;
  type: 'request';
  provider: string;
  endpoint: string;
  url: string;
  params: Record<string, string | string[]>;
}

interface IssuedEntry {
  seq: number;
  type: 'issued';
  provider: string;
  kind: 'code' | 'access_token' | 'refresh_token' | 'id_token';
  persona: string;
  value: string;
}

type Entry = RequestEntry | IssuedEntry;

const TOKEN_KINDS = ['access_token', 'id_token', 'refresh_token'] as const;

function param(params: Record<string, string | string[]> | undefined, name: string): string | undefined {
  const value = params?.[name];
  return Array.isArray(value) ? value[0] : value;
}

function originOf(url: string | undefined): string | undefined {
  try {
    return url ? new URL(url).origin : undefined;
  } catch {
    return undefined;
  }
}

export async function upstreamLeg(ctx: CaseContext, args: Record<string, unknown>) {
  const { idpUrl, upstream } = ctx.run;
  if (!idpUrl) throw new RunnerError('ERR_STEP_FAILED', 'no mock IdP is in front of the server');
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  // `of`: one authorize step's result; its exchanges only. Default: every exchange of the case.
  const only = (a['of'] as { exchanges?: number[] } | undefined)?.exchanges;
  const exchanges = ctx.exchanges().filter((e) => !only || only.includes(e.id));
  const urls = exchanges.map((e) => e.request.url);
  const idpUrls = new Set(urls.filter((u) => u.startsWith(idpUrl)));
  const browserStates = new Set(
    [...idpUrls].flatMap((u) => {
      const state = new URL(u).searchParams.get('state');
      return state ? [state] : [];
    }),
  );

  const mark = ctx.vars['journal_mark'] ?? 0;
  const res = await ctx.run.fetch(`${idpUrl}/_mock/journal?since=${encodeURIComponent(String(mark))}`);
  if (res.status !== 200) throw new RunnerError('ERR_STEP_FAILED', `the IdP journal answered ${res.status}`);
  const entries = ((await res.json()) as { entries: Entry[] }).entries;
  const ofUpstream = (e: Entry) => !upstream || e.provider === upstream;
  const requests = entries.filter((e): e is RequestEntry => e.type === 'request' && ofUpstream(e));
  const issued = entries.filter((e): e is IssuedEntry => e.type === 'issued');
  // Upstream codes and tokens are secrets: redacted in every report.
  for (const e of issued) ctx.run.secrets.add(e.value);

  const authorizations = requests.filter(
    (e) =>
      e.endpoint === 'authorize' &&
      (idpUrls.has(e.url) || browserStates.has(param(e.params, 'state') ?? '\u0000')),
  );
  const upstreamStates = new Set(authorizations.flatMap((e) => param(e.params, 'state') ?? []));
  // Codes the browser carried back from the IdP: on a URL outside the IdP with our upstream state.
  const codes = new Set(
    urls.flatMap((u) => {
      if (u.startsWith(idpUrl)) return [];
      const q = new URL(u).searchParams;
      const code = q.get('code');
      return code && upstreamStates.has(q.get('state') ?? '') ? [code] : [];
    }),
  );
  const tokenRequests = requests.filter(
    (e) => e.endpoint === 'token' && codes.has(param(e.params, 'code') ?? ''),
  );
  const codeEntries = issued.filter((e) => e.kind === 'code' && codes.has(e.value));
  const mine: IssuedEntry[] = [...codeEntries];
  for (const request of tokenRequests) {
    const persona = codeEntries.find((c) => c.value === param(request.params, 'code'))?.persona;
    for (const kind of TOKEN_KINDS) {
      const hit = issued.find(
        (e) => e.seq > request.seq && e.kind === kind && e.persona === persona && ofUpstream(e),
      );
      if (hit && !mine.includes(hit)) mine.push(hit);
    }
  }
  const tokens: Partial<Record<(typeof TOKEN_KINDS)[number], string>> = {};
  for (const kind of TOKEN_KINDS) {
    const hit = mine.find((e) => e.kind === kind);
    if (hit) tokens[kind] = hit.value;
  }
  const authorize = authorizations[0]?.params;
  return {
    kind: 'journal',
    entries,
    requests: [...authorizations, ...tokenRequests],
    issued: mine,
    issued_values: mine.map((e) => e.value),
    authorize,
    token: tokenRequests[0]?.params,
    tokens,
    token_values: issued.filter((e) => e.kind !== 'code').map((e) => e.value),
    callback_origin: originOf(param(authorize, 'redirect_uri')),
    issuer_origin: originOf(ctx.run.profile.issuer ?? ctx.run.target),
  };
}
