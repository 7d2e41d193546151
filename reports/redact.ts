/**
 * Redaction of secrets before anything is written or printed. Every reporter passes its data
 * through here; the runner may redact at the source too, so every function is idempotent
 * (redact(redact(x)) === redact(x)).
 *
 * What counts as a secret:
 * - the credentials of an `Authorization` (and `Proxy-Authorization`) header: the scheme is kept,
 *   no part of the credentials is (RFC 9110 11.6.2; RFC 6750 2.1);
 * - cookie values in `Cookie` and `Set-Cookie` (names and attributes are kept; RFC 6265 4.1, 4.2);
 * - the values of secret parameters in form bodies, query strings, fragments and JSON bodies:
 *   `code`, `client_secret`, `code_verifier`, `password`, `assertion`, `client_assertion`, and any
 *   name ending in `token`, `secret`, `password`, `verifier` or `assertion` (RFC 6749 4.1.2, 4.1.3,
 *   2.3.1, 5.1, 6; RFC 7636 4.5; RFC 7521 4.2; RFC 7009 2.1; RFC 8693 2.1; RFC 7591 3.2.1);
 * - JWT-looking strings anywhere (RFC 7519 3: base64url of `{"` starts every JOSE header);
 * - well-known opaque token formats (GitHub `gho_`/`ghu_`/`ghp_`/`ghs_`/`ghr_`, Google `ya29.`
 *   and `1//` refresh tokens);
 * - the password in a URL's userinfo (`https://user:password@host/`);
 * - literal values the runner knows (values of `--header` flags, client secrets, tokens).
 */
import type { CaseResult, CheckResult, Exchange, RunResult } from './model.ts';

/** What replaces a secret. Never carries any part of it. */
export const REDACTED = '[redacted]';
/** What replaces a JWT-looking string. */
export const REDACTED_JWT = '[redacted-jwt]';

/** Literal secrets shorter than this are not replaced (they would wreck unrelated text). */
export const MIN_LITERAL_SECRET_LENGTH = 4;

export interface RedactOptions {
  /** Literal values to remove wherever they appear (and their URL-encoded form). */
  secrets?: readonly string[];
}

/** Authorization schemes kept in front of the marker (IANA HTTP Authentication Scheme Registry). */
const AUTH_SCHEMES = new Set([
  'basic',
  'bearer',
  'digest',
  'dpop',
  'hoba',
  'mutual',
  'negotiate',
  'ntlm',
  'oauth',
  'privatetoken',
  'scram-sha-1',
  'scram-sha-256',
  'vapid',
  'aws4-hmac-sha256',
  'gnap',
  'mac',
]);

/** Headers whose whole value (after a scheme) is a credential. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization']);
/** Headers that are an opaque secret as a whole. */
const SECRET_HEADERS = new Set([
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
  'x-amz-security-token',
]);

/** Whether a parameter or JSON member of this name holds a secret. */
export function isSecretName(name: string): boolean {
  const n = name.toLowerCase();
  if (n === 'code' || n === 'device_code' || n === 'user_code') return true;
  return /(?:^|[_-])(?:token|secret|password|passwd|verifier|assertion|api[_-]?key)$/.test(n);
}

// A JOSE header is JSON and starts with `{`: base64url `eyJ` ({"), `eyA` ({ ), `ewo` ({\n), `ew0` ({\r).
// Three parts (JWS, the signature may be empty for alg none) or five (JWE).
const JWT_PATTERN =
  /(?<![A-Za-z0-9_-])(?:eyJ|eyA|ewo|ew0)[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;

// Provider token formats (GitHub token prefixes; Google OAuth access and refresh tokens).
const OPAQUE_TOKEN_PATTERN =
  /(?<![A-Za-z0-9_])(?:gh[opusr]_[A-Za-z0-9]{16,}|ya29\.[A-Za-z0-9_.-]{10,}|1\/\/[A-Za-z0-9_-]{20,})/g;

// `Bearer <token68>` (RFC 9110 11.2) in free text. A token68 may end in `=`, so `Bearer realm="x"`
// reads like one: a credential followed by `"` whose text before the `=` is a known auth-param name
// is an auth-param (RFC 6750 3, RFC 9728 5.1, RFC 7617 2), not a credential. A sentence's full stop
// is not part of the credential.
const SCHEME_CREDENTIAL_PATTERN =
  /\b(Bearer|Basic|DPoP)[ \t]+([A-Za-z0-9\-._~+/]*[A-Za-z0-9\-_~+/]=*)(?![A-Za-z0-9\-_~+/=]|\.[A-Za-z0-9\-_~+/])(.?)/gi;
const AUTH_PARAM_NAMES =
  /^(?:realm|scope|error|error_description|error_uri|resource_metadata|charset|algs|nonce|algorithm|domain|opaque|qop|stale|userhash|max_age)=$/i;

/** Prose says "Bearer challenge"; a credential is long and has a digit, a symbol or inner capitals. */
function looksLikeCredential(value: string): boolean {
  return value.length >= 8 && /[0-9\-._~+/=]|.[A-Z]/.test(value);
}

// The password of a URL's userinfo (RFC 3986 3.2.1: `user:password@` is deprecated but still sent).
const USERINFO_PATTERN = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@?#]*):([^/\s@?#]+)@/gi;

// name=value in form bodies, query strings, fragments and free text.
const PARAM_PATTERN = /(^|[?&#;\s,"'(<>{[])([A-Za-z][A-Za-z0-9_.-]*)=([^&\s#"',;<>)}]+)/g;

// "name": "value" inside text that is not parseable JSON (SSE data lines, messages quoting JSON).
const JSON_MEMBER_PATTERN = /"([A-Za-z][A-Za-z0-9_.-]*)"(\s*:\s*)"((?:[^"\\]|\\.)*)"/g;

function isMarker(value: string): boolean {
  return value.startsWith('[redacted');
}

/** A redactor bound to a list of literal secrets. */
export interface Redactor {
  /** Secrets in free text: messages, URLs, header values of no special kind. */
  text(value: string): string;
  /** An HTTP body: JSON is redacted inside the parsed value and re-serialised; anything else as text. */
  body(value: string): string;
  headers(headers: Record<string, string>): Record<string, string>;
  /** Any JSON-like value: object members by name, strings as text. */
  value<T>(value: T): T;
}

export function createRedactor(options: RedactOptions = {}): Redactor {
  const literals = literalPatterns(options.secrets ?? []);

  const text = (input: string): string => {
    let out = input;
    for (const literal of literals) out = out.split(literal).join(REDACTED);
    out = out.replace(JWT_PATTERN, REDACTED_JWT);
    out = out.replace(OPAQUE_TOKEN_PATTERN, REDACTED);
    out = out.replace(USERINFO_PATTERN, (match, head: string, password: string) =>
      isMarker(password) ? match : `${head}:${REDACTED}@`,
    );
    out = out.replace(SCHEME_CREDENTIAL_PATTERN, (match, scheme: string, credential: string, next: string) =>
      (next === '"' && AUTH_PARAM_NAMES.test(credential)) || !looksLikeCredential(credential)
        ? match
        : `${scheme} ${REDACTED}${next}`,
    );
    out = out.replace(PARAM_PATTERN, (match, lead: string, name: string, value: string) =>
      isSecretName(name) && !isMarker(value) ? `${lead}${name}=${REDACTED}` : match,
    );
    out = out.replace(JSON_MEMBER_PATTERN, (match, name: string, colon: string, value: string) =>
      isSecretName(name) && !isMarker(value) ? `"${name}"${colon}"${REDACTED}"` : match,
    );
    return out;
  };

  const value = <T>(input: T): T => redactValue(input, text) as T;

  const body = (input: string): string => {
    const trimmed = input.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(trimmed);
      } catch {
        return text(input);
      }
      const redacted = value(parsed);
      if (JSON.stringify(redacted) === JSON.stringify(parsed)) return input;
      return JSON.stringify(redacted, null, jsonIndent(input));
    }
    return text(input);
  };

  const headers = (input: Record<string, string>): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [name, raw] of Object.entries(input)) out[name] = headerValue(name, String(raw), text);
    return out;
  };

  return { text, body, headers, value };
}

function literalPatterns(secrets: readonly string[]): string[] {
  const out = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length < MIN_LITERAL_SECRET_LENGTH) continue;
    // A secret inside the markers themselves would make redaction non-idempotent.
    if (REDACTED.includes(secret) || REDACTED_JWT.includes(secret)) continue;
    out.add(secret);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out.add(encoded);
    const jsonEscaped = JSON.stringify(secret).slice(1, -1);
    if (jsonEscaped !== secret) out.add(jsonEscaped);
  }
  // Longest first, so a secret that contains another is removed whole.
  return [...out].sort((a, b) => b.length - a.length);
}

function jsonIndent(source: string): string | number | undefined {
  const match = /\n([ \t]+)\S/.exec(source);
  if (!match) return undefined;
  return match[1]!.includes('\t') ? '\t' : match[1]!.length;
}

function redactValue(input: unknown, text: (s: string) => string): unknown {
  if (typeof input === 'string') return text(input);
  if (Array.isArray(input)) return input.map((item) => redactValue(item, text));
  if (input && typeof input === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(input)) {
      out[key] = redactMember(key, member, text);
    }
    return out;
  }
  return input;
}

function redactMember(key: string, member: unknown, text: (s: string) => string): unknown {
  const name = key.toLowerCase();
  if (typeof member === 'string') {
    if (
      CREDENTIAL_HEADERS.has(name) ||
      name === 'cookie' ||
      name === 'set-cookie' ||
      SECRET_HEADERS.has(name)
    ) {
      return headerValue(name, member, text);
    }
    if (isSecretName(name)) return member === '' ? member : REDACTED;
  }
  return redactValue(member, text);
}

function headerValue(name: string, value: string, text: (s: string) => string): string {
  const n = name.toLowerCase();
  if (CREDENTIAL_HEADERS.has(n)) return credentials(value);
  if (SECRET_HEADERS.has(n)) return value === '' ? value : REDACTED;
  if (n === 'cookie') return cookieHeader(value);
  if (n === 'set-cookie') return setCookieHeader(value);
  return text(value);
}

/** `Bearer abc` -> `Bearer [redacted]`; a lone scheme (a malformed header under test) stays as it is. */
function credentials(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '') return value;
  const [first, ...rest] = trimmed.split(/\s+/);
  const isScheme = AUTH_SCHEMES.has(first!.toLowerCase());
  if (rest.length === 0) return isScheme ? value : REDACTED;
  return isScheme ? `${first} ${REDACTED}` : REDACTED;
}

/** `a=1; b=2` -> `a=[redacted]; b=[redacted]` (RFC 6265 4.2.1). */
function cookieHeader(value: string): string {
  return value
    .split(';')
    .map((pair) => redactCookiePair(pair))
    .join(';');
}

/**
 * `sid=abc; Path=/; HttpOnly` -> `sid=[redacted]; Path=/; HttpOnly` (RFC 6265 4.1.1). Several
 * Set-Cookie headers joined with `, ` are split where a new `name=` begins, so the comma inside an
 * `Expires` date does not split a cookie.
 */
function setCookieHeader(value: string): string {
  return value
    .split(/,(?=\s*[^;,=\s]+=)/)
    .map((cookie) => {
      const semi = cookie.indexOf(';');
      const pair = semi === -1 ? cookie : cookie.slice(0, semi);
      return redactCookiePair(pair) + (semi === -1 ? '' : cookie.slice(semi));
    })
    .join(',');
}

function redactCookiePair(pair: string): string {
  const eq = pair.indexOf('=');
  if (eq === -1) return pair.trim() === '' ? pair : REDACTED;
  const value = pair.slice(eq + 1).trim();
  if (value === '' || value === '""') return pair;
  return `${pair.slice(0, eq)}=${REDACTED}`;
}

/** An exchange with its URL, headers, bodies and error redacted. */
export function redactExchange(exchange: Exchange, redactor: Redactor): Exchange {
  const { request, response } = exchange;
  const out: Exchange = {
    ...exchange,
    request: {
      ...request,
      url: redactor.text(request.url),
      headers: redactor.headers(request.headers),
      ...(request.body === undefined ? {} : { body: redactor.body(request.body) }),
    },
  };
  if (response) {
    out.response = {
      ...response,
      headers: redactor.headers(response.headers),
      ...(response.body === undefined ? {} : { body: redactor.body(response.body) }),
    };
  }
  if (exchange.error !== undefined) out.error = redactor.text(exchange.error);
  return out;
}

/** A case with its messages, checked values and exchanges redacted. */
export function redactCase(result: CaseResult, redactor: Redactor): CaseResult {
  const out: CaseResult = {
    ...result,
    steps: result.steps.map((step) =>
      step.message === undefined ? step : { ...step, message: redactor.text(step.message) },
    ),
    checks: result.checks.map((check) => redactCheck(check, redactor)),
    exchanges: result.exchanges.map((exchange) => redactExchange(exchange, redactor)),
  };
  if (result.reason !== undefined) out.reason = redactor.text(result.reason);
  return out;
}

function redactCheck(check: CheckResult, redactor: Redactor): CheckResult {
  const out: CheckResult = { ...check, description: redactor.text(check.description) };
  if ('expected' in check) out.expected = redactor.value(check.expected);
  if ('actual' in check) out.actual = redactor.value(check.actual);
  if (check.message !== undefined) out.message = redactor.text(check.message);
  return out;
}

/** A whole run, redacted: what every file reporter writes. */
export function redactRun(run: RunResult, redactor: Redactor): RunResult {
  return {
    ...run,
    target: redactor.text(run.target),
    profile: redactor.value(run.profile),
    suites: run.suites.map((suite) => ({
      ...suite,
      cases: suite.cases.map((result) => redactCase(result, redactor)),
    })),
  };
}
