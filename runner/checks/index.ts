import type { CaseContext, ResponseResult } from '../context.ts';
import { RunnerError } from '../errors.ts';
import type { AuthorizeResult } from '../steps/oauth.ts';
import { expand, lookup } from '../template.ts';
import { cspAllows } from './csp.ts';
import { pkcePair } from './pkce-pair.ts';

/** The verdict of one check: pass or fail, what was expected and seen, which exchanges it judged. */
export interface CheckOutcome {
  pass: boolean;
  description: string;
  expected?: unknown;
  actual?: unknown;
  message?: string;
  exchanges: number[];
}

export type CheckFn = (ctx: CaseContext, args: Record<string, unknown>) => CheckOutcome;

/** RFC 6749 5.2 and its extensions (RFC 7591 3.2.2, RFC 8707, RFC 6750, RFC 7009). */
export const REGISTERED_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
  'invalid_target',
  'invalid_token',
  'insufficient_scope',
  'unsupported_token_type',
  'too_many_requests',
]);

function subject(ctx: CaseContext, args: Record<string, unknown>): unknown {
  const of = args['of'];
  if (typeof of !== 'string')
    throw new RunnerError('ERR_UNKNOWN_CHECK', 'a check needs "of": the result it judges');
  return lookup(ctx.vars, of);
}

function exchangesOf(value: unknown): number[] {
  if (Array.isArray(value)) return value.flatMap(exchangesOf);
  const ex = (value as { exchanges?: unknown } | undefined)?.exchanges;
  return Array.isArray(ex) ? (ex as number[]) : [];
}

function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 120 ? `${value.slice(0, 117)}...` : value);
  const text = JSON.stringify(value);
  return text === undefined ? 'nothing' : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Compares one value against the matchers of a check (`equals`, `not_equals`, `in`, `matches`,
 * `present`, `type`, `contains`, `min`, `max`); all given matchers must hold.
 */
export function compare(
  actual: unknown,
  args: Record<string, unknown>,
): { pass: boolean; expected: unknown; message?: string } {
  const fails: string[] = [];
  const expected: Record<string, unknown> = {};
  if ('present' in args) {
    expected['present'] = args['present'];
    const present = actual !== undefined && actual !== null;
    if (present !== args['present'])
      fails.push(args['present'] ? 'is absent' : `is present (${show(actual)})`);
  }
  if ('equals' in args) {
    expected['equals'] = args['equals'];
    if (JSON.stringify(actual) !== JSON.stringify(args['equals']))
      fails.push(`is ${show(actual)}, not ${show(args['equals'])}`);
  }
  if ('not_equals' in args) {
    expected['not_equals'] = args['not_equals'];
    if (JSON.stringify(actual) === JSON.stringify(args['not_equals'])) fails.push(`is ${show(actual)}`);
  }
  if ('in' in args) {
    expected['in'] = args['in'];
    const list = args['in'] as unknown[];
    if (!list.some((v) => JSON.stringify(v) === JSON.stringify(actual)))
      fails.push(`is ${show(actual)}, not one of ${show(list)}`);
  }
  if ('matches' in args) {
    expected['matches'] = args['matches'];
    if (typeof actual !== 'string' || !new RegExp(String(args['matches'])).test(actual)) {
      fails.push(`${show(actual)} does not match /${args['matches']}/`);
    }
  }
  if ('not_matches' in args) {
    expected['not_matches'] = args['not_matches'];
    if (typeof actual === 'string' && new RegExp(String(args['not_matches'])).test(actual)) {
      fails.push(`${show(actual)} matches /${args['not_matches']}/`);
    }
  }
  if ('contains' in args) {
    expected['contains'] = args['contains'];
    const needle = args['contains'];
    const ok = Array.isArray(actual)
      ? actual.some((v) => JSON.stringify(v) === JSON.stringify(needle))
      : typeof actual === 'string' && actual.includes(String(needle));
    if (!ok)
      fails.push(
        actual === undefined
          ? `is absent (expected to contain ${show(needle)})`
          : `${show(actual)} does not contain ${show(needle)}`,
      );
  }
  if ('not_contains' in args) {
    expected['not_contains'] = args['not_contains'];
    const needle = args['not_contains'];
    const hit = Array.isArray(actual)
      ? actual.some((v) => JSON.stringify(v) === JSON.stringify(needle))
      : typeof actual === 'string' && actual.includes(String(needle));
    if (hit) fails.push(`${show(actual)} contains ${show(needle)}`);
  }
  if ('type' in args) {
    expected['type'] = args['type'];
    const kind = Array.isArray(actual) ? 'array' : actual === null ? 'null' : typeof actual;
    const a = (word: string) => `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
    if (kind !== args['type'])
      fails.push(
        actual === undefined
          ? `is absent, not ${a(String(args['type']))}`
          : `is ${a(kind)}, not ${a(String(args['type']))}`,
      );
  }
  if ('min' in args) {
    expected['min'] = args['min'];
    if (typeof actual !== 'number' || actual < Number(args['min']))
      fails.push(`${show(actual)} is below ${args['min']}`);
  }
  if ('max' in args) {
    expected['max'] = args['max'];
    if (typeof actual !== 'number' || actual > Number(args['max']))
      fails.push(`${show(actual)} is above ${args['max']}`);
  }
  return { pass: fails.length === 0, expected, ...(fails.length ? { message: fails.join('; ') } : {}) };
}

function matchers(args: Record<string, unknown>): Record<string, unknown> {
  const { of: _of, path: _path, name: _name, claim: _claim, ...rest } = args;
  return rest;
}

function asResponse(value: unknown, what: string): ResponseResult {
  const r = value as ResponseResult | undefined;
  if (r?.kind !== 'response') throw new RunnerError('ERR_UNKNOWN_CHECK', `${what} is not an HTTP response`);
  return r;
}

function decodeJwt(
  token: unknown,
): { header: Record<string, unknown>; claims: Record<string, unknown> } | undefined {
  if (typeof token !== 'string') return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')),
      claims: JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')),
    };
  } catch {
    return undefined;
  }
}

const status: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const res = value as ResponseResult | AuthorizeResult;
  const actual = res?.kind === 'authorize' ? res.final?.status : (res as ResponseResult | undefined)?.status;
  let m: Record<string, unknown> = matchers(args);
  if (typeof args['range'] === 'string') {
    const base = Number(String(args['range'])[0]) * 100;
    m = { min: base, max: base + 99 };
  }
  const r = compare(actual, m);
  return {
    pass: r.pass,
    description: `status of ${args['of']} ${describeMatchers(m)}`,
    expected: r.expected,
    actual,
    ...(r.message ? { message: `HTTP status ${r.message}` } : {}),
    exchanges: exchangesOf(value),
  };
};

function describeMatchers(m: Record<string, unknown>): string {
  const parts = Object.entries(m).map(([k, v]) => `${k.replace('_', ' ')} ${show(v)}`);
  return parts.join(', ') || 'holds';
}

const header: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const res = value as ResponseResult | AuthorizeResult;
  const response =
    res?.kind === 'authorize' ? (res.consent_page ?? res.final) : asResponse(value, String(args['of']));
  const name = String(args['name']).toLowerCase();
  const actual = response?.headers[name];
  const m = matchers(args);
  const r = compare(actual, m);
  return {
    pass: r.pass,
    description: `header ${name} of ${args['of']} ${describeMatchers(m)}`,
    expected: r.expected,
    actual,
    ...(r.message ? { message: `${name}: ${r.message}` } : {}),
    exchanges: exchangesOf(value),
  };
};

const json: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const body = (value as { json?: unknown; tool?: unknown } | undefined) ?? {};
  const root = 'tool' in body && String(args['path'] ?? '').startsWith('tool.') ? body : body.json;
  const path = String(args['path'] ?? '');
  const actual = path ? lookup({ root }, `root.${path}`) : root;
  const m = matchers(args);
  const r = compare(actual, m);
  return {
    pass: r.pass,
    description: `${args['of']}${path ? `.${path}` : ''} ${describeMatchers(m)}`,
    expected: r.expected,
    actual,
    ...(r.message ? { message: `"${path}" ${r.message}` } : {}),
    exchanges: exchangesOf(value),
  };
};

const redirect: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const res = value as AuthorizeResult | ResponseResult;
  let location: string | undefined;
  let redirected: boolean;
  if (res?.kind === 'authorize') {
    redirected = res.redirected;
    location = res.location;
  } else {
    const r = asResponse(value, String(args['of']));
    redirected = r.status >= 300 && r.status < 400 && r.location !== undefined;
    location = r.location;
  }
  const to = typeof args['to'] === 'string' ? String(expand(args['to'], ctx.vars)) : undefined;
  const fails: string[] = [];
  if (!redirected) fails.push('no redirect to the client');
  if (to && !(location ?? '').startsWith(to)) fails.push(`redirected to ${show(location)}, not ${show(to)}`);
  let actual: unknown = location;
  if (redirected && typeof args['param'] === 'string') {
    const url = new URL(location!);
    const params = new URLSearchParams(url.hash ? url.hash.slice(1) : '');
    for (const [k, v] of url.searchParams) params.set(k, v);
    actual = params.get(String(args['param'])) ?? undefined;
    const { of: _o, to: _t, param: _p, ...m } = args;
    const r = compare(actual, expand(m, ctx.vars) as Record<string, unknown>);
    if (!r.pass) fails.push(`parameter "${args['param']}" ${r.message}`);
  }
  return {
    pass: fails.length === 0,
    description: `${args['of']} redirects to the client${to ? ` at ${to}` : ''}${args['param'] ? ` with "${args['param']}"` : ''}`,
    expected: { redirect: true, ...(to ? { to } : {}) },
    actual,
    ...(fails.length ? { message: fails.join('; ') } : {}),
    exchanges: exchangesOf(value),
  };
};

const noRedirect: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const res = value as AuthorizeResult | ResponseResult;
  const to = typeof args['to'] === 'string' ? String(expand(args['to'], ctx.vars)) : undefined;
  let location: string | undefined;
  let redirected: boolean;
  if (res?.kind === 'authorize') {
    redirected = res.redirected || (res.location !== undefined && (!to || res.location.startsWith(to)));
    location = res.location;
    if (to) redirected = (location ?? '').startsWith(to);
  } else {
    const r = asResponse(value, String(args['of']));
    location = r.location;
    redirected =
      r.status >= 300 && r.status < 400 && location !== undefined && (!to || location.startsWith(to));
  }
  return {
    pass: !redirected,
    description: `${args['of']} does not redirect${to ? ` to ${to}` : ' to the client'}`,
    expected: { redirect: false },
    actual: location ?? null,
    ...(redirected ? { message: `redirected to ${show(location)}` } : {}),
    exchanges: exchangesOf(value),
  };
};

const jwt: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const decoded = decodeJwt(value);
  const claim = typeof args['claim'] === 'string' ? args['claim'] : undefined;
  const inHeader = args['header'] === true;
  if (!decoded) {
    return {
      pass: false,
      description: `${args['of']} is a JWT${claim ? ` with "${claim}"` : ''}`,
      expected: 'a JWT',
      actual: typeof value === 'string' ? `${value.slice(0, 12)}...` : value,
      message: `${args['of']} is not a JWT`,
      exchanges: [],
    };
  }
  const { header: _h, ...rest } = matchers(args);
  const m = expand(rest, ctx.vars) as Record<string, unknown>;
  const actual = claim ? (inHeader ? decoded.header : decoded.claims)[claim] : decoded.claims;
  const r = compare(actual, m);
  return {
    pass: r.pass,
    description: `${inHeader ? 'header' : 'claim'} "${claim}" of ${args['of']} ${describeMatchers(m)}`,
    expected: r.expected,
    actual,
    ...(r.message ? { message: `"${claim}" ${r.message}` } : {}),
    exchanges: [],
  };
};

/** An RFC 6749 5.2 error response: JSON, a registered `error`, a clean error_description. */
const error: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const res = asResponse(value, String(args['of']));
  const fails: string[] = [];
  const body = res.json as Record<string, unknown> | undefined;
  const code = body?.['error'];
  const codes = args['code'] === undefined ? undefined : ([] as unknown[]).concat(args['code']);
  if (!(res.headers['content-type'] ?? '').includes('json'))
    fails.push(`content-type is ${show(res.headers['content-type'])}, not JSON`);
  if (typeof code !== 'string') fails.push('the body has no "error"');
  else if (!REGISTERED_ERRORS.has(code) && codes === undefined)
    fails.push(`"error" ${show(code)} is not a registered code`);
  if (codes && !codes.includes(code))
    fails.push(`"error" is ${show(code)}, not ${codes.map(show).join(' or ')}`);
  const description = body?.['error_description'];
  if (
    description !== undefined &&
    (typeof description !== 'string' || /[^\x20-\x21\x23-\x5b\x5d-\x7e]/.test(description))
  ) {
    fails.push(
      '"error_description" holds characters RFC 6749 5.2 excludes (CR, LF, TAB, quote, backslash...)',
    );
  }
  return {
    pass: fails.length === 0,
    description: `${args['of']} is an RFC 6749 error${codes ? ` ${codes.join(' or ')}` : ''}`,
    expected: { error: codes ?? 'a registered code' },
    actual: body ?? res.body.slice(0, 200),
    ...(fails.length ? { message: fails.join('; ') } : {}),
    exchanges: exchangesOf(value),
  };
};

const html: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const res = value as AuthorizeResult | ResponseResult;
  const body =
    res?.kind === 'authorize'
      ? (res.consent_page ?? res.final)?.body
      : (res as ResponseResult | undefined)?.body;
  const m = expand(matchers(args), ctx.vars) as Record<string, unknown>;
  const r = compare(body ?? '', m);
  return {
    pass: r.pass,
    description: `page of ${args['of']} ${describeMatchers(m)}`,
    expected: r.expected,
    actual: (body ?? '').slice(0, 200),
    ...(r.message ? { message: `the page ${r.message.replace(/^"[^"]*"/, '')}` } : {}),
    exchanges: exchangesOf(value),
  };
};

/** Facts from the mock IdP's journal: a matching request (or none), a parameter's value. */
const journalCheck: CheckFn = (ctx, args) => {
  const value = subject(ctx, args) as { requests?: Array<Record<string, unknown>> } | undefined;
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const requests = (value?.requests ?? []).filter(
    (e) =>
      (!a['provider'] || e['provider'] === a['provider']) &&
      (!a['endpoint'] || e['endpoint'] === a['endpoint']),
  );
  const where = [a['provider'], a['endpoint'], 'request']
    .filter((w) => w !== undefined && w !== '')
    .join(' ');
  if (typeof a['count'] === 'number' || a['param'] === undefined) {
    const m =
      typeof a['count'] === 'number'
        ? { equals: a['count'] }
        : { min: typeof a['min'] === 'number' ? a['min'] : 1 };
    const r = compare(requests.length, m);
    return {
      pass: r.pass,
      description: `the IdP journal holds ${typeof a['count'] === 'number' ? a['count'] : 'at least one'} ${where}(s)`,
      expected: r.expected,
      actual: requests.length,
      ...(r.message ? { message: `request count ${r.message}` } : {}),
      exchanges: [],
    };
  }
  const param = String(a['param']);
  const values = requests.map((e) => (e['params'] as Record<string, unknown> | undefined)?.[param]);
  const { of: _o, provider: _p, endpoint: _e, param: _q, ...m } = a;
  const results = values.map((v) => compare(v, m));
  const pass = results.length > 0 && results.every((r) => r.pass);
  return {
    pass,
    description: `every ${where}'s "${param}" ${describeMatchers(m)}`,
    expected: m,
    actual: values,
    ...(pass
      ? {}
      : {
          message:
            results.length === 0
              ? `no ${where} was journaled`
              : `"${param}" ${results.find((r) => !r.pass)?.message}`,
        }),
    exchanges: [],
  };
};

/** None of the values appears in anything the client side received (token passthrough, edge 26). */
const noLeak: CheckFn = (ctx, args) => {
  const values = (expand(args['values'], ctx.vars) as unknown[] | undefined) ?? [];
  const seen = ctx.seenByClient();
  const leaked = values.filter(
    (v) => typeof v === 'string' && v.length >= 8 && seen.some((s) => s.includes(v)),
  );
  return {
    pass: leaked.length === 0,
    description: 'no value the upstream issued reaches the client',
    expected: 'none of the upstream values',
    actual: `${leaked.length} of ${values.length} found in responses`,
    ...(leaked.length
      ? { message: `${leaked.length} upstream-issued value(s) appear in responses the client received` }
      : {}),
    exchanges: [],
  };
};

/** How many items of a list satisfy a condition (parallel results). */
const count: CheckFn = (ctx, args) => {
  const list = subject(ctx, args);
  if (!Array.isArray(list)) throw new RunnerError('ERR_UNKNOWN_CHECK', `${args['of']} is not a list`);
  const where = (args['where'] ?? {}) as Record<string, unknown>;
  const path = typeof where['path'] === 'string' ? where['path'] : 'status';
  const { path: _p, ...m } = where;
  const hits = list.filter((item) => compare(lookup({ item }, `item.${path}`), m).pass).length;
  const r = compare(hits, matchers(args));
  return {
    pass: r.pass,
    description: `items of ${args['of']} whose ${path} ${describeMatchers(m)}: ${describeMatchers(matchers(args))}`,
    expected: r.expected,
    actual: hits,
    ...(r.message ? { message: `count ${r.message}` } : {}),
    exchanges: exchangesOf(list),
  };
};

const valueCheck: CheckFn = (ctx, args) => {
  const value = subject(ctx, args);
  const m = expand(matchers(args), ctx.vars) as Record<string, unknown>;
  const r = compare(value, m);
  return {
    pass: r.pass,
    description: `${args['of']} ${describeMatchers(m)}`,
    expected: r.expected,
    actual: value,
    ...(r.message ? { message: `${args['of']} ${r.message}` } : {}),
    exchanges: exchangesOf(value),
  };
};

/**
 * The user the server resolved (through the identity probe) is the one the personas file expects
 * for this persona at the upstream provider; `null` expected means the sign-in must be refused
 * (no code, or no identity). Emails compare ignoring case only; logins ignoring case.
 */
const identityCheck: CheckFn = (ctx, args) => {
  const a = expand(args, ctx.vars) as Record<string, unknown>;
  const who = (typeof args['of'] === 'string' ? lookup(ctx.vars, args['of']) : undefined) as
    | { ok?: boolean; user?: { email?: unknown; login?: unknown }; exchanges?: number[] }
    | undefined;
  const expectedId = a['expect'] as string | null | undefined;
  const expectedUser = expectedId ? ctx.run.users.find((u) => u.id === expectedId) : undefined;
  const got = who?.ok ? who.user : undefined;
  const actual = got ? { email: got.email ?? null, login: got.login ?? null } : 'refused';
  let pass: boolean;
  let message: string | undefined;
  if (expectedId === null || expectedId === undefined) {
    pass = got === undefined;
    if (!pass) message = `the sign-in should be refused, but the server resolved ${show(actual)}`;
  } else if (!expectedUser) {
    pass = false;
    message = `the personas file has no user ${expectedId}`;
  } else if (!got) {
    pass = false;
    message = `expected ${expectedId} (${expectedUser.email ?? expectedUser.login}), but the sign-in was refused`;
  } else {
    const emailOk =
      expectedUser.email !== undefined &&
      typeof got.email === 'string' &&
      got.email.toLowerCase() === expectedUser.email.toLowerCase();
    const loginOk =
      expectedUser.login !== undefined &&
      typeof got.login === 'string' &&
      got.login.toLowerCase() === expectedUser.login.toLowerCase();
    pass = emailOk || loginOk;
    if (!pass)
      message = `expected ${expectedId} (${expectedUser.email ?? expectedUser.login}), got ${show(actual)}`;
  }
  return {
    pass,
    description: `the server resolves the persona to ${expectedId ?? 'nobody (refused)'}`,
    expected: expectedUser
      ? { id: expectedUser.id, email: expectedUser.email, login: expectedUser.login }
      : 'refused',
    actual,
    ...(message ? { message } : {}),
    exchanges: who?.exchanges ?? [],
  };
};

export const CHECKS: Record<string, CheckFn> = {
  identity: identityCheck,
  status,
  header,
  json,
  redirect,
  no_redirect: noRedirect,
  jwt,
  error,
  html,
  journal: journalCheck,
  no_leak: noLeak,
  count,
  value: valueCheck,
  csp_allows: cspAllows,
  pkce_pair: pkcePair,
};
