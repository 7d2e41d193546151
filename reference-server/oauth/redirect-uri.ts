/**
 * Redirect URI validation (at registration) and matching (at /authorize and /token).
 *
 * Rules, with the security edges they close (reference/security-edges.md items 7-13):
 * - absolute URI, at most 2048 characters, printable ASCII only: no whitespace or control
 *   characters anywhere (RFC 3986 2, 3; edge 10);
 * - no fragment (RFC 6749 3.1.2; edge 11), no userinfo (RFC 9700 4.1.3; edge 8), no `*`;
 * - no dot segments, raw (`..`) or percent-encoded (`%2e%2e`), and no encoded `/` or `\` (edge 9);
 * - never `javascript:`, `data:`, `vbscript:`, `file:` and the like, whatever the case (edge 10);
 * - `https`, or `http` only for the loopback hosts 127.0.0.1, [::1] and localhost
 *   (RFC 8252 7.3, 8.3; OAuth 2.1 draft 2.3.1; edge 10);
 * - custom schemes (`cursor://...`, `com.example.app:/cb`) allowed (RFC 8252 7.1);
 * - any other https host only when it matches a configured pattern; the default allows none and
 *   no pattern may be `https://*` (edge 7).
 * Matching is an exact string comparison, except that a loopback `http` URI may differ in its
 * port only (RFC 8252 7.3; RFC 9700 4.1.3; edge 13).
 */
import { RedirectPolicyError } from '../errors.ts';

/** Why a redirect URI was refused; the HTTP layer maps every reason to `invalid_redirect_uri`. */
export type RedirectUriRejection =
  | 'not_a_string'
  | 'empty'
  | 'too_long'
  | 'whitespace_or_control'
  | 'non_ascii'
  | 'not_absolute'
  | 'malformed'
  | 'dangerous_scheme'
  | 'fragment'
  | 'wildcard'
  | 'userinfo'
  | 'dot_segment'
  | 'encoded_separator'
  | 'http_not_loopback'
  | 'not_allowed';

/** Why a requested redirect URI does not match the client's registration. */
export type RedirectUriMismatch = 'missing' | 'not_registered';

export type RedirectUriKind = 'loopback' | 'https' | 'custom';

export type RedirectUriCheck =
  | { ok: true; uri: string; kind: RedirectUriKind; scheme: string }
  | { ok: false; reason: RedirectUriRejection };

export type RedirectUriMatch =
  | { ok: true; uri: string; registered: string; via: 'exact' | 'loopback_port' }
  | { ok: false; reason: RedirectUriRejection | RedirectUriMismatch };

export const MAX_REDIRECT_URI_LENGTH = 2048;

/** The loopback host names a native client may listen on (RFC 8252 7.3; `localhost` per 8.3 tolerated). */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '[::1]', 'localhost'];

/** Schemes never acceptable as a redirect target, whatever the configuration. */
export const REFUSED_SCHEMES: readonly string[] = [
  'javascript',
  'vbscript',
  'data',
  'file',
  'blob',
  'filesystem',
  'about',
  'view-source',
  'jar',
  'mhtml',
  'ws',
  'wss',
  'ftp',
];

interface Pattern {
  source: string;
  scheme: string;
  /** `undefined`: any URI of the scheme (`myapp:*`). */
  host?: string;
  /** `*.example.com` patterns: the required suffix (`.example.com`). */
  hostSuffix?: string;
  /** `undefined`: the default port only; `'*'`: any port. */
  port?: string;
  /** Exact path, or a prefix when `pathPrefix` is set. */
  path?: string;
  pathPrefix?: boolean;
  query?: string;
  /** Exact opaque URI (a custom scheme without an authority). */
  exact?: string;
}

/** A compiled redirect URI policy; build one with `redirectUriPolicy`. */
export interface RedirectUriPolicy {
  readonly allowLoopback: boolean;
  readonly allowCustomSchemes: boolean;
  readonly patterns: readonly Pattern[];
}

export interface RedirectUriPolicyOptions {
  /** Extra allowed URIs; `*.` may open a host name, `:*` any port, `/*` ends a path; `myapp:*` any URI of a custom scheme. */
  patterns?: readonly string[];
  /** Allow http(s) on 127.0.0.1, [::1] and localhost with any path (default true). */
  allowLoopback?: boolean;
  /** Allow custom (private-use) schemes (default true). */
  allowCustomSchemes?: boolean;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// Unicode white space beyond ASCII (Zs, line/paragraph separators, BOM, NEL).
const UNICODE_SPACE = /[\u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]/;

interface RawParts {
  scheme: string;
  /** The authority without userinfo checks applied; undefined when the URI has none. */
  authority: string | undefined;
  path: string;
  query: string | undefined;
}

function splitRaw(uri: string, scheme: string): RawParts {
  let rest = uri.slice(scheme.length + 1);
  const q = rest.indexOf('?');
  const query = q === -1 ? undefined : rest.slice(q + 1);
  if (q !== -1) rest = rest.slice(0, q);
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    return { scheme, authority, path: slash === -1 ? '' : rest.slice(slash), query };
  }
  return { scheme, authority: undefined, path: rest, query };
}

/** Splits a raw authority `host[:port]` (IPv6 literals in brackets). */
function hostAndPort(authority: string): { host: string; port: string | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority);
  return { host: (m?.[1] ?? '').toLowerCase(), port: m?.[2] };
}

function hasDotSegment(path: string): boolean {
  return path.split('/').some((segment) => {
    const decoded = segment.replace(/%2e/gi, '.');
    return decoded === '.' || decoded === '..';
  });
}

function characterProblem(uri: string): RedirectUriRejection | undefined {
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f)) return 'whitespace_or_control';
  }
  if (UNICODE_SPACE.test(uri)) return 'whitespace_or_control';
  for (let i = 0; i < uri.length; i++) {
    if (uri.charCodeAt(i) > 0x7e) return 'non_ascii';
  }
  return undefined;
}

function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.includes(host);
}

/** Syntax checks shared by URIs and patterns; returns the parts or the reason for refusal. */
function parseChecked(
  uri: string,
  allowWildcard: boolean,
): { ok: true; parts: RawParts } | { ok: false; reason: RedirectUriRejection } {
  if (uri.length === 0) return { ok: false, reason: 'empty' };
  if (uri.length > MAX_REDIRECT_URI_LENGTH) return { ok: false, reason: 'too_long' };
  const chars = characterProblem(uri);
  if (chars) return { ok: false, reason: chars };
  const m = SCHEME.exec(uri);
  if (!m) return { ok: false, reason: 'not_absolute' };
  const scheme = m[1]!.toLowerCase();
  if (REFUSED_SCHEMES.includes(scheme)) return { ok: false, reason: 'dangerous_scheme' };
  if (uri.includes('#')) return { ok: false, reason: 'fragment' };
  if (!allowWildcard && uri.includes('*')) return { ok: false, reason: 'wildcard' };
  if (uri.includes('\\')) return { ok: false, reason: 'malformed' };
  const parts = splitRaw(uri, m[1]!);
  // `localhost:3000/cb` parses as scheme "localhost"; it is a host and port without a scheme.
  if (parts.authority === undefined && /^\d+(\/|$)/.test(parts.path))
    return { ok: false, reason: 'not_absolute' };
  if (parts.authority?.includes('@')) return { ok: false, reason: 'userinfo' };
  if (hasDotSegment(parts.path)) return { ok: false, reason: 'dot_segment' };
  if (/%2f|%5c/i.test(parts.path)) return { ok: false, reason: 'encoded_separator' };
  let url: URL;
  try {
    url = new URL(allowWildcard ? uri.replaceAll('*', '0') : uri);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'userinfo' };
  if (scheme === 'http' || scheme === 'https') {
    if (parts.authority === undefined || hostAndPort(parts.authority).host === '') {
      return { ok: false, reason: 'malformed' };
    }
  } else if (parts.authority === undefined && parts.path === '' && parts.query === undefined) {
    return { ok: false, reason: 'malformed' };
  }
  return { ok: true, parts };
}

function compilePattern(source: string): Pattern {
  const fail = (why: string): never => {
    throw new RedirectPolicyError('ERR_REDIRECT_PATTERN', `redirect URI pattern "${source}" ${why}`);
  };
  const checked = parseChecked(source, true);
  if (!checked.ok) fail(`is refused (${checked.reason})`);
  const { parts } = checked as { parts: RawParts };
  const scheme = parts.scheme.toLowerCase();
  const web = scheme === 'http' || scheme === 'https';
  if (!web) {
    const rest = source.slice(parts.scheme.length + 1);
    if (rest === '*') return { source, scheme };
    if (rest.includes('*')) fail('may use "*" only as "scheme:*"');
    return { source, scheme, exact: source };
  }
  const { host, port } = hostAndPort(parts.authority!);
  if (host === '*' || host === '') fail('must name a host (never "https://*")');
  let hostSuffix: string | undefined;
  if (host.includes('*')) {
    if (!host.startsWith('*.') || host.slice(2).includes('*'))
      fail('may use "*" only as the first host label');
    if (host.split('.').length < 3) fail('must keep at least two host labels after "*."');
    hostSuffix = host.slice(1);
  }
  if (scheme === 'http' && !isLoopbackHost(host)) fail('uses http for a host that is not loopback');
  if (port !== undefined && port !== '*' && !/^\d{1,5}$/.test(port)) fail('has an invalid port');
  let path = parts.path === '' ? '/' : parts.path;
  let pathPrefix = false;
  if (path.endsWith('/*')) {
    pathPrefix = true;
    path = path.slice(0, -1);
  }
  if (path.includes('*')) fail('may use "*" in the path only as a final "/*"');
  if (parts.query?.includes('*')) fail('may not use "*" in the query');
  return {
    source,
    scheme,
    ...(hostSuffix ? { hostSuffix } : { host }),
    ...(port !== undefined ? { port } : {}),
    path,
    pathPrefix,
    ...(parts.query !== undefined ? { query: parts.query } : {}),
  };
}

/**
 * Builds a policy. The default allows loopback and custom schemes and no https host at all.
 * @throws RedirectPolicyError when a pattern is unusable (`https://*`, userinfo, http to a remote host...).
 */
export function redirectUriPolicy(options: RedirectUriPolicyOptions = {}): RedirectUriPolicy {
  return {
    allowLoopback: options.allowLoopback ?? true,
    allowCustomSchemes: options.allowCustomSchemes ?? true,
    patterns: (options.patterns ?? []).map(compilePattern),
  };
}

export const defaultRedirectUriPolicy: RedirectUriPolicy = redirectUriPolicy();

function defaultPort(scheme: string): string {
  return scheme === 'https' ? '443' : scheme === 'http' ? '80' : '';
}

function matchesPattern(p: Pattern, uri: string, parts: RawParts): boolean {
  const scheme = parts.scheme.toLowerCase();
  if (scheme !== p.scheme) return false;
  if (p.exact !== undefined) return uri === p.exact;
  if (p.path === undefined) return true; // scheme:*
  if (parts.authority === undefined) return false;
  const { host, port } = hostAndPort(parts.authority);
  if (p.host !== undefined && host !== p.host) return false;
  if (p.hostSuffix !== undefined && !(host.endsWith(p.hostSuffix) && host.length > p.hostSuffix.length)) {
    return false;
  }
  if (p.port !== '*') {
    const want = p.port ?? defaultPort(scheme);
    const have = port === undefined || port === '' ? defaultPort(scheme) : port;
    if (want !== have) return false;
  }
  const path = parts.path === '' ? '/' : parts.path;
  if (p.pathPrefix) {
    if (!path.startsWith(p.path!)) return false;
  } else {
    if (path !== p.path) return false;
    if (parts.query !== p.query) return false;
  }
  return true;
}

/**
 * Validates a redirect URI a client registers (RFC 7591 2; RFC 6749 3.1.2; RFC 8252 7-8).
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.1.3
 */
export function validateRedirectUri(
  value: unknown,
  policy: RedirectUriPolicy = defaultRedirectUriPolicy,
): RedirectUriCheck {
  if (typeof value !== 'string') return { ok: false, reason: 'not_a_string' };
  const checked = parseChecked(value, false);
  if (!checked.ok) return checked;
  const { parts } = checked;
  const scheme = parts.scheme.toLowerCase();
  const byPattern = policy.patterns.some((p) => matchesPattern(p, value, parts));
  if (scheme === 'http' || scheme === 'https') {
    const { host } = hostAndPort(parts.authority!);
    const loopback = isLoopbackHost(host);
    if (scheme === 'http' && !loopback) return { ok: false, reason: 'http_not_loopback' };
    if (loopback && policy.allowLoopback) return { ok: true, uri: value, kind: 'loopback', scheme };
    if (byPattern) return { ok: true, uri: value, kind: loopback ? 'loopback' : 'https', scheme };
    return { ok: false, reason: 'not_allowed' };
  }
  if (policy.allowCustomSchemes || byPattern) return { ok: true, uri: value, kind: 'custom', scheme };
  return { ok: false, reason: 'not_allowed' };
}

const LOOPBACK_HTTP = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(?::(\d{1,5}))?([/?].*)?$/;

function loopbackParts(uri: string): { host: string; rest: string } | undefined {
  const m = LOOPBACK_HTTP.exec(uri);
  if (!m) return undefined;
  if (m[2] !== undefined) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host: m[1]!, rest: m[3] ?? '' };
}

/**
 * Matches a requested redirect URI against a client's registered ones: exact string comparison
 * (no case folding, no trailing-slash or query normalisation), except that a loopback `http` URI
 * may use any port (RFC 8252 7.3). Does not apply the policy; `checkRedirectUri` does both.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2.3
 */
export function matchRedirectUri(requested: string, registered: readonly string[]): RedirectUriMatch {
  if (registered.includes(requested))
    return { ok: true, uri: requested, registered: requested, via: 'exact' };
  const req = loopbackParts(requested);
  if (req) {
    for (const candidate of registered) {
      const reg = loopbackParts(candidate);
      if (reg && reg.host === req.host && reg.rest === req.rest) {
        return { ok: true, uri: requested, registered: candidate, via: 'loopback_port' };
      }
    }
  }
  return { ok: false, reason: 'not_registered' };
}

/**
 * The check for /authorize and /token: the requested URI must pass the policy again (so a URI
 * registered before a policy change is refused everywhere, edge 12) and match a registered one.
 * When the request names no redirect_uri, the single registered URI is used (RFC 6749 3.1.2.3);
 * with several registered, a missing one is refused.
 */
export function checkRedirectUri(
  requested: unknown,
  registered: readonly string[],
  policy: RedirectUriPolicy = defaultRedirectUriPolicy,
): RedirectUriMatch {
  let uri = requested;
  if (requested === undefined) {
    if (registered.length !== 1) return { ok: false, reason: 'missing' };
    uri = registered[0];
  }
  const valid = validateRedirectUri(uri, policy);
  if (!valid.ok) return valid;
  return matchRedirectUri(valid.uri, registered);
}

const MESSAGES: Record<RedirectUriRejection | RedirectUriMismatch, string> = {
  not_a_string: 'must be a string',
  empty: 'is empty',
  too_long: `is longer than ${MAX_REDIRECT_URI_LENGTH} characters`,
  whitespace_or_control: 'contains whitespace or a control character',
  non_ascii: 'contains a character outside printable ASCII',
  not_absolute: 'is not an absolute URI',
  malformed: 'is not a well-formed URI',
  dangerous_scheme: 'uses a scheme that is never allowed',
  fragment: 'has a fragment',
  wildcard: 'contains a wildcard',
  userinfo: 'has userinfo',
  dot_segment: 'has a dot segment',
  encoded_separator: 'has an encoded "/" or "\\" in its path',
  http_not_loopback: 'uses http for a host that is not loopback',
  not_allowed: 'is not allowed by this server',
  missing: 'is required when a client registered several',
  not_registered: 'is not registered for this client',
};

/** A short message for an `error_description`: `"redirect_uri" has a fragment`. */
export function describeRedirectUriProblem(reason: RedirectUriRejection | RedirectUriMismatch): string {
  return `"redirect_uri" ${MESSAGES[reason]}`;
}
