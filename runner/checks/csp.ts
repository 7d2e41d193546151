/**
 * `csp_allows`: the Content-Security-Policy of a page lets a navigation reach the given URLs under
 * one directive (`form-action` by default). Chromium applies `form-action` to every redirect
 * that follows a form submission, so a consent page whose policy omits the client's scheme or
 * origin (`cursor:`, `http://127.0.0.1:33418`) strands the user on the redirect (edge 35).
 *
 * Matching follows CSP Level 3 section 6.7.2 ("Does url match source list in origin with redirect
 * count?") for the expressions a form-action list holds: `'none'`, `'self'`, `*`, scheme sources
 * (`https:`, `cursor:`) and host sources (`[scheme://]host[:port][/path]`). The URLs are judged as
 * redirect targets, so paths are ignored (6.7.2.13: path matching is skipped after a redirect).
 * A directive the policy does not hold allows everything: form-action has no fallback.
 * @see https://www.w3.org/TR/CSP3/#match-url-to-source-list
 */
import type { ResponseResult } from '../context.ts';
import { RunnerError } from '../errors.ts';
import type { AuthorizeResult } from '../steps/oauth.ts';
import { expand, lookup } from '../template.ts';
import type { CheckFn } from './index.ts';

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

/** A source scheme matches a URL scheme: equal, or the secure upgrade of it (CSP3 6.7.2.9). */
function schemeMatches(source: string, scheme: string): boolean {
  const s = source.toLowerCase();
  if (s === scheme) return true;
  return (
    (s === 'http:' && scheme === 'https:') || (s === 'ws:' && (scheme === 'wss:' || scheme === 'https:'))
  );
}

function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return h.endsWith(p.slice(1));
  return p === h;
}

function portMatches(source: string | undefined, url: URL): boolean {
  if (source === '*') return true;
  const actual = url.port || DEFAULT_PORTS[url.protocol] || '';
  if (source === undefined || source === '') return url.port === '' || actual === DEFAULT_PORTS[url.protocol];
  return source === actual || (source === '80' && actual === '443' && url.protocol === 'https:');
}

/** Whether one source expression allows `url` for a page at `self`. */
export function expressionAllows(expression: string, url: URL, self: URL): boolean {
  const e = expression.trim();
  const lower = e.toLowerCase();
  if (lower === "'self'") {
    if (url.origin !== 'null' && url.origin === self.origin) return true;
    return (
      url.hostname === self.hostname &&
      self.protocol === 'http:' &&
      url.protocol === 'https:' &&
      url.port === ''
    );
  }
  if (e.startsWith("'")) return false; // 'none', nonces, hashes, keywords: no URL matches them
  if (e === '*')
    return (
      ['http:', 'https:', 'ws:', 'wss:', 'ftp:'].includes(url.protocol) || url.protocol === self.protocol
    );
  const scheme = e.match(/^([a-zA-Z][a-zA-Z0-9+.-]*:)$/);
  if (scheme) return schemeMatches(scheme[1]!, url.protocol);
  const host = e.match(/^(?:([a-zA-Z][a-zA-Z0-9+.-]*:)\/\/)?(\*|(?:\*\.)?[^/:]+)(?::(\d+|\*))?(\/.*)?$/);
  if (!host) return false;
  if (!url.hostname) return false;
  const [, sourceScheme, sourceHost, sourcePort] = host;
  if (
    sourceScheme ? !schemeMatches(sourceScheme, url.protocol) : !schemeMatches(self.protocol, url.protocol)
  ) {
    return false;
  }
  return hostMatches(sourceHost!, url.hostname.replace(/^\[|\]$/g, '')) && portMatches(sourcePort, url);
}

/** The source list of `directive` in each enforced policy of a (possibly combined) CSP header. */
export function directiveLists(header: string | undefined, directive: string): Array<string[] | undefined> {
  if (!header) return [];
  return header.split(',').map((policy) => {
    for (const part of policy.split(';')) {
      const tokens = part.trim().split(/\s+/).filter(Boolean);
      if (tokens[0]?.toLowerCase() === directive) return tokens.slice(1);
    }
    return undefined;
  });
}

/** Whether a source list allows `url` (an empty list, or `'none'`, allows nothing). */
export function listAllows(list: string[], url: URL, self: URL): boolean {
  return list.some((expression) => expressionAllows(expression, url, self));
}

export const cspAllows: CheckFn = (ctx, args) => {
  const of = args['of'];
  if (typeof of !== 'string')
    throw new RunnerError('ERR_UNKNOWN_CHECK', 'a check needs "of": the result it judges');
  const value = lookup(ctx.vars, of) as AuthorizeResult | ResponseResult | undefined;
  const page = value?.kind === 'authorize' ? (value.consent_page ?? value.final) : value;
  if (page?.kind !== 'response') throw new RunnerError('ERR_UNKNOWN_CHECK', `${of} holds no page`);
  const directive = typeof args['directive'] === 'string' ? args['directive'].toLowerCase() : 'form-action';
  const urls = ([] as unknown[]).concat(expand(args['urls'] ?? args['url'], ctx.vars)).map(String);
  const header = page.headers['content-security-policy'];
  const lists = directiveLists(header, directive);
  const self = new URL(page.url);
  const refused: string[] = [];
  for (const raw of urls) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      refused.push(`${raw} (not a URL)`);
      continue;
    }
    const blocking = lists.find((list) => list !== undefined && !listAllows(list, url, self));
    if (blocking) refused.push(`${raw} (${directive} ${blocking.join(' ') || "'none'"})`);
  }
  return {
    pass: refused.length === 0,
    description: `the CSP ${directive} of ${of} allows ${urls.join(', ')}`,
    expected: { allows: urls },
    actual: lists.length
      ? lists.map((l) => (l ? l.join(' ') : `no ${directive}`))
      : 'no Content-Security-Policy',
    ...(refused.length ? { message: `${directive} refuses ${refused.join('; ')}` } : {}),
    exchanges: page.exchanges,
  };
};
