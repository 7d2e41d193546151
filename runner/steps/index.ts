import { createHmac, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { type CaseContext, type ResponseResult, toResponseResult } from '../context.ts';
import { RunnerError } from '../errors.ts';
import { expand, expandString, lookup } from '../template.ts';
import { skipUnless } from './applicability.ts';
import { consentForm } from './consent-form.ts';
import { expectedUser } from './expected-user.ts';
import { idpClient, idpIssued } from './idp.ts';
import { authorize, exchange, newPkce, refresh, register, revoke } from './oauth.ts';
import { sharedClient } from './shared-client.ts';
import { upstreamLeg } from './upstream-leg.ts';
import { wellKnown } from './well-known.ts';

export type StepFn = (ctx: CaseContext, args: Record<string, unknown>) => Promise<unknown>;

/** A raw HTTP request (for deliberately malformed input). */
async function http(ctx: CaseContext, args: Record<string, unknown>): Promise<ResponseResult> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const url = expandString(a['url'], ctx.vars, '"url"');
  const headers = { ...ctx.run.headers, ...((a['headers'] as Record<string, string> | undefined) ?? {}) };
  let body: string | URLSearchParams | undefined;
  if (a['form'] !== undefined) {
    body = new URLSearchParams();
    for (const [k, v] of Object.entries(a['form'] as Record<string, unknown>)) {
      for (const item of Array.isArray(v) ? v : [v]) body.append(k, String(item));
    }
  } else if (a['json'] !== undefined) {
    body = JSON.stringify(a['json']);
    headers['content-type'] ??= 'application/json';
  } else if (typeof a['body'] === 'string') body = a['body'];
  const { value, exchanges } = await ctx.recording(() =>
    ctx.agent(typeof a['jar'] === 'string' ? a['jar'] : 'default').request(url, {
      method: typeof a['method'] === 'string' ? a['method'] : 'GET',
      headers,
      ...(body !== undefined ? { body } : {}),
    }),
  );
  return toResponseResult(value, exchanges);
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'mcp-auth-conformance', version: '0.1.0' },
  },
};

function parseRpc(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    // An SSE answer: the last `data:` line holds the JSON-RPC message.
    const data = body
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .pop();
    try {
      return data ? JSON.parse(data) : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * A request to the MCP endpoint: `initialize` by default (POST), the bare method (GET, DELETE),
 * or `call: tool` (initialize, initialized, tools/call). `token` sets a Bearer header;
 * `authorization` sets the raw header.
 */
async function mcp(
  ctx: CaseContext,
  args: Record<string, unknown>,
): Promise<ResponseResult & { tool?: unknown }> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const url = typeof a['url'] === 'string' ? a['url'] : ctx.run.target;
  const method = typeof a['method'] === 'string' ? a['method'] : 'POST';
  const headers: Record<string, string> = {
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
    ...ctx.run.headers,
  };
  if (typeof a['authorization'] === 'string') headers['authorization'] = a['authorization'];
  else if (a['token'] !== undefined && a['token'] !== null)
    headers['authorization'] = `Bearer ${String(a['token'])}`;
  const agent = ctx.agent('mcp');
  const post = (message: unknown, extra: Record<string, string> = {}) =>
    agent.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', ...extra },
      body: JSON.stringify(message),
    });
  const { value, exchanges } = await ctx.recording(async () => {
    if (method !== 'POST') return agent.request(url, { method, headers });
    const init = await post(INITIALIZE);
    if (typeof a['call'] !== 'string' || init.status !== 200) return init;
    const session = init.headers.get('mcp-session-id');
    const extra: Record<string, string> = session ? { 'mcp-session-id': session } : {};
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, extra);
    return post(
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: a['call'], arguments: a['arguments'] ?? {} },
      },
      extra,
    );
  });
  const res = toResponseResult(value, exchanges);
  const rpc = parseRpc(res.body) as
    | { result?: { structuredContent?: unknown; content?: Array<{ text?: string }> } }
    | undefined;
  res.json = rpc ?? res.json;
  if (typeof a['call'] === 'string' && rpc?.result) {
    let tool = rpc.result.structuredContent;
    if (tool === undefined) {
      const text = rpc.result.content?.find((c) => typeof c.text === 'string')?.text;
      try {
        tool = text ? JSON.parse(text) : undefined;
      } catch {
        tool = text;
      }
    }
    return { ...res, tool };
  }
  return res;
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * Makes a token to present: copies the claims of `from` (a token) and applies `claims` (null
 * removes one), then signs it as `signer` says: `idp` (the mock IdP's key for the upstream
 * provider, so a server that trusts the IdP sees a valid signature), `untrusted` (a fresh key),
 * `none` (alg none), `hs256-public-key` (HS256 keyed with the server's published public key:
 * algorithm confusion). `relative` sets time claims to now plus seconds (`{ exp: -600 }`);
 * `embed_jwk` puts an untrusted signer's public key into the header.
 */
async function mintToken(ctx: CaseContext, args: Record<string, unknown>): Promise<string> {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  let claims: Record<string, unknown> = {};
  let header: Record<string, unknown> = {};
  if (typeof a['from'] === 'string') {
    const [h, p] = a['from'].split('.');
    try {
      header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8'));
    } catch {
      throw new RunnerError('ERR_STEP_FAILED', '"from" is not a JWT');
    }
  }
  for (const [k, v] of Object.entries((a['claims'] as Record<string, unknown> | undefined) ?? {})) {
    if (v === null) delete claims[k];
    else claims[k] = v;
  }
  // `relative: { exp: -600 }`: a time claim set to now plus that many seconds.
  const now = Math.floor(Date.now() / 1000);
  for (const [k, v] of Object.entries((a['relative'] as Record<string, unknown> | undefined) ?? {})) {
    if (typeof v !== 'number') throw new RunnerError('ERR_STEP_FAILED', `"relative.${k}" must be a number`);
    claims[k] = now + v;
  }
  const signer = (a['signer'] as string | undefined) ?? 'untrusted';
  let token: string;
  if (signer === 'none') {
    token = `${b64({ alg: 'none', typ: header['typ'] ?? 'JWT' })}.${b64(claims)}.`;
  } else if (signer === 'hs256-public-key') {
    const jwksUri = ctx.run.profile.jwksUri;
    if (!jwksUri)
      throw new RunnerError('ERR_STEP_FAILED', 'the server publishes no JWKS to take a public key from');
    const { value } = await ctx.recording(() => ctx.agent('probe').request(jwksUri));
    const keys = (JSON.parse(value.body) as { keys?: Array<Record<string, unknown>> }).keys ?? [];
    const key = keys.find((k) => !header['kid'] || k['kid'] === header['kid']) ?? keys[0];
    if (!key) throw new RunnerError('ERR_STEP_FAILED', 'the server JWKS holds no key');
    const h = b64({ alg: 'HS256', typ: header['typ'] ?? 'JWT', ...(key['kid'] ? { kid: key['kid'] } : {}) });
    const input = `${h}.${b64(claims)}`;
    token = `${input}.${createHmac('sha256', JSON.stringify(key)).update(input).digest('base64url')}`;
  } else if (signer === 'idp') {
    if (!ctx.run.idpUrl || !ctx.run.upstream)
      throw new RunnerError('ERR_STEP_FAILED', 'no mock IdP is in front of the server');
    const { value } = await ctx.recording(() =>
      ctx.agent('idp').request(`${ctx.run.idpUrl}/_mock/mint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          provider: ctx.run.upstream,
          claims,
          ...(a['kid'] ? { header: { kid: a['kid'] } } : {}),
        }),
      }),
    );
    token = (JSON.parse(value.body) as { token: string }).token;
  } else {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const kid =
      typeof a['kid'] === 'string'
        ? a['kid']
        : ((header['kid'] as string | undefined) ?? `untrusted-${randomUUID()}`);
    // `embed_jwk`: the token carries its own public key (RFC 7515 4.1.3), as in CVE-2018-0114.
    const jwk = a['embed_jwk'] === true ? { jwk: await exportJWK(publicKey) } : {};
    token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid, typ: (header['typ'] as string | undefined) ?? 'JWT', ...jwk })
      .sign(privateKey);
  }
  ctx.run.secrets.add(token);
  return token;
}

/** What the mock IdP journaled since the case began: requests and issued values. */
async function journal(ctx: CaseContext, args: Record<string, unknown>) {
  if (!ctx.run.idpUrl) throw new RunnerError('ERR_STEP_FAILED', 'no mock IdP is in front of the server');
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const since = a['since'] ?? lookup(ctx.vars, 'journal_mark') ?? 0;
  const query = new URLSearchParams({ since: String(since) });
  if (typeof a['provider'] === 'string') query.set('provider', a['provider']);
  const res = await ctx.run.fetch(`${ctx.run.idpUrl}/_mock/journal?${query}`);
  const body = (await res.json()) as { entries: Array<Record<string, unknown>> };
  const requests = body.entries.filter((e) => e['type'] === 'request');
  const issued = body.entries.filter((e) => e['type'] === 'issued');
  return {
    kind: 'journal',
    entries: body.entries,
    requests,
    issued,
    issued_values: issued.map((e) => e['value']),
  };
}

async function idpFault(ctx: CaseContext, args: Record<string, unknown>) {
  if (!ctx.run.idpUrl) throw new RunnerError('ERR_STEP_FAILED', 'no mock IdP is in front of the server');
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const res = await ctx.run.fetch(`${ctx.run.idpUrl}/_mock/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ provider: ctx.run.upstream, times: 1, ...a }),
  });
  if (res.status !== 201)
    throw new RunnerError('ERR_STEP_FAILED', `the mock IdP refused the fault: ${await res.text()}`);
  const body = (await res.json()) as { faults?: Array<{ id: number }> };
  for (const fault of body.faults ?? []) ctx.faultIds.push(fault.id);
  return body;
}

/**
 * The identity probe: calls the configured tool with the token and reads the user's fields
 * from its result (paths from the configuration), and `claims`, the claims it says the server
 * passed through (when the configuration names where). `ok` is false when the call was refused.
 */
async function identity(ctx: CaseContext, args: Record<string, unknown>) {
  const probe = ctx.run.identity;
  if (!probe) throw new RunnerError('ERR_STEP_FAILED', 'no identity probe is configured');
  const call = await mcp(ctx, { token: args['token'], call: probe.tool, arguments: probe.arguments ?? {} });
  const tool = call.tool as Record<string, unknown> | undefined;
  const field = (path: string | undefined) => (path && tool ? lookup({ tool }, `tool.${path}`) : undefined);
  const isError = (call.json as { result?: { isError?: boolean } } | undefined)?.result?.isError === true;
  return {
    ...call,
    kind: 'identity',
    ok: call.status === 200 && tool !== undefined && !isError,
    user: {
      id: field(probe.fields.id),
      email: field(probe.fields.email),
      login: field(probe.fields.login),
      groups: field(probe.fields.groups),
    },
    claims: field(probe.fields.claims),
  };
}

export const STEPS: Record<string, StepFn> = {
  identity,
  http,
  mcp,
  register,
  authorize,
  exchange,
  refresh,
  revoke,
  mint_token: mintToken,
  journal,
  idp_fault: idpFault,
  pkce: async (_ctx, args) => newPkce((args['method'] as 'S256' | 'plain' | undefined) ?? 'S256'),
  set: async (ctx, args) => expand(args, ctx.vars),
  consent_form: consentForm,
  well_known: wellKnown,
  idp_client: idpClient,
  idp_issued: idpIssued,
  skip_unless: skipUnless,
  upstream_leg: upstreamLeg,
  expected_user: expectedUser,
  shared_client: sharedClient,
};
