import { describe, expect, it } from 'vitest';
import { RedirectPolicyError } from '../errors.ts';
import {
  checkRedirectUri,
  defaultRedirectUriPolicy,
  describeRedirectUriProblem,
  MAX_REDIRECT_URI_LENGTH,
  matchRedirectUri,
  type RedirectUriRejection,
  redirectUriPolicy,
  validateRedirectUri,
} from './redirect-uri.ts';

const refused = (uri: unknown, reason: RedirectUriRejection, policy = defaultRedirectUriPolicy) => {
  const result = validateRedirectUri(uri, policy);
  expect(result).toEqual({ ok: false, reason });
};

describe('validateRedirectUri: accepted under the default policy', () => {
  it.each([
    ['http://127.0.0.1:3000/callback', 'loopback', 'http'],
    ['http://127.0.0.1/callback', 'loopback', 'http'],
    ['http://[::1]:8080/cb', 'loopback', 'http'],
    ['http://localhost:6274/oauth/callback', 'loopback', 'http'],
    ['https://localhost:8443/cb', 'loopback', 'https'],
    ['http://127.0.0.1:3000/cb?client=cli', 'loopback', 'http'],
    ['cursor://anysphere.cursor-retrieval/oauth/user-mcp/callback', 'custom', 'cursor'],
    ['vscode://vscode.github-authentication/did-authenticate', 'custom', 'vscode'],
    ['com.example.app:/oauth2redirect', 'custom', 'com.example.app'],
  ])('%s -> %s', (uri, kind, scheme) => {
    expect(validateRedirectUri(uri)).toEqual({ ok: true, uri, kind, scheme });
  });
});

describe('validateRedirectUri: security edge 7 (no arbitrary https host by default)', () => {
  it('refuses https://evil.example/cb under the default configuration', () => {
    refused('https://evil.example/cb', 'not_allowed');
  });
  it('refuses any remote https host by default, even a plausible one', () => {
    refused('https://app.example.com/callback', 'not_allowed');
  });
  it('accepts a remote https host only when a pattern allows it', () => {
    const policy = redirectUriPolicy({ patterns: ['https://app.example.com/callback'] });
    expect(validateRedirectUri('https://app.example.com/callback', policy)).toEqual({
      ok: true,
      uri: 'https://app.example.com/callback',
      kind: 'https',
      scheme: 'https',
    });
    refused('https://evil.example/cb', 'not_allowed', policy);
    refused('https://app.example.com/other', 'not_allowed', policy);
  });
  it.each(['https://*', 'https://*/*', 'http://*', 'https://*.com/cb', 'https://a*.example.com/cb'])(
    'refuses the pattern %s when the policy is built',
    (pattern) => {
      expect(() => redirectUriPolicy({ patterns: [pattern] })).toThrow(RedirectPolicyError);
      try {
        redirectUriPolicy({ patterns: [pattern] });
      } catch (error) {
        expect((error as RedirectPolicyError).code).toBe('ERR_REDIRECT_PATTERN');
        expect((error as RedirectPolicyError).message).toContain(`"${pattern}"`);
      }
    },
  );
  it('refuses a wildcard in a URI a client registers', () => {
    refused('https://*.example.com/cb', 'wildcard');
    refused('http://127.0.0.1:3000/*', 'wildcard');
  });
});

describe('validateRedirectUri: security edge 8 (userinfo)', () => {
  it.each([
    'http://localhost:1@evil.example/cb',
    'http://localhost@evil.example/cb',
    'https://user:pass@app.example.com/cb',
    'http://@127.0.0.1/cb',
    'cursor://user@host/cb',
  ])('refuses %s', (uri) => {
    refused(uri, 'userinfo');
  });
  it('refuses userinfo even when a pattern would match the real host', () => {
    const policy = redirectUriPolicy({ patterns: ['https://evil.example/*'] });
    refused('https://localhost:1@evil.example/cb', 'userinfo', policy);
  });
});

describe('validateRedirectUri: security edge 9 (dot segments)', () => {
  const policy = redirectUriPolicy({ patterns: ['https://app.example.com/cb/*'] });
  it.each([
    'https://app.example.com/cb/%2e%2e/steal',
    'https://app.example.com/cb/%2E%2E/steal',
    'https://app.example.com/cb/.%2e/steal',
    'https://app.example.com/cb/%2e./steal',
    'https://app.example.com/cb/../steal',
    'https://app.example.com/cb/./x',
    'https://app.example.com/cb/%2e',
    'http://127.0.0.1:3000/cb/../x',
  ])('refuses %s', (uri) => {
    refused(uri, 'dot_segment', policy);
  });
  it.each(['https://app.example.com/cb/%2f..%2fsteal', 'https://app.example.com/cb/a%5Cb'])(
    'refuses an encoded separator in %s',
    (uri) => {
      refused(uri, 'encoded_separator', policy);
    },
  );
  it('refuses a backslash, which browsers treat as a slash', () => {
    refused('https://app.example.com/cb\\..\\steal', 'malformed', policy);
  });
  it('still accepts a path under the pattern without dot segments', () => {
    expect(validateRedirectUri('https://app.example.com/cb/done', policy).ok).toBe(true);
    expect(validateRedirectUri('https://app.example.com/cb/..done', policy).ok).toBe(true);
  });
});

describe('validateRedirectUri: security edge 10 (dangerous schemes, whitespace, plain http)', () => {
  it.each([
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'DATA:text/html;base64,PHNjcmlwdD4=',
    'vbscript:msgbox(1)',
    'VBScript:msgbox(1)',
    'file:///etc/passwd',
    'blob:https://app.example.com/uuid',
  ])('refuses %s', (uri) => {
    refused(uri, 'dangerous_scheme');
  });
  it.each([
    [' JavaScript:alert(1)'],
    ['\tjavascript:alert(1)'],
    ['java\tscript:alert(1)'],
    ['java\nscript:alert(1)'],
    ['javascript:alert(1)\r\n'],
    ['\u0000javascript:alert(1)'],
    ['http://127.0.0.1:3000/cb '],
    ['http://127.0.0.1:3000/c b'],
    ['https://app.example.com/\u0085cb'],
    ['cursor://host/cb\u00a0'],
    ['cursor://host/\u2028cb'],
    ['\ufeffcursor://host/cb'],
  ])('refuses %j (whitespace or control characters)', (uri) => {
    refused(uri, 'whitespace_or_control');
  });
  it('refuses characters outside printable ASCII', () => {
    refused('https://app.example.com/caf\u00e9', 'non_ascii');
  });
  it.each([
    'http://evil.example/cb',
    'http://app.example.com:80/cb',
    'http://10.0.0.1/cb',
    'http://127.1/cb',
    'http://0x7f.0.0.1/cb',
    'http://localhost.evil.example/cb',
    'http://127.0.0.1.nip.io/cb',
  ])('refuses plain http to a host that is not literally loopback: %s', (uri) => {
    refused(uri, 'http_not_loopback');
  });
  it('refuses plain http to a remote host even when a pattern lists it', () => {
    expect(() => redirectUriPolicy({ patterns: ['http://app.example.com/cb'] })).toThrow(
      'redirect URI pattern "http://app.example.com/cb" uses http for a host that is not loopback',
    );
  });
});

describe('validateRedirectUri: security edge 11 (fragments)', () => {
  it.each([
    'http://127.0.0.1:3000/cb#frag',
    'http://127.0.0.1:3000/cb#',
    'cursor://host/cb#x',
    'com.example.app:/cb#x',
  ])('refuses %s', (uri) => {
    refused(uri, 'fragment');
  });
});

describe('validateRedirectUri: other malformed input', () => {
  it.each([
    [42, 'not_a_string'],
    [undefined, 'not_a_string'],
    [['http://127.0.0.1/cb'], 'not_a_string'],
    ['', 'empty'],
    ['/relative/cb', 'not_absolute'],
    ['//127.0.0.1/cb', 'not_absolute'],
    ['127.0.0.1:3000/cb', 'not_absolute'],
    ['localhost:3000/cb', 'not_absolute'],
    ['app.example.com:443', 'not_absolute'],
    ['https:app.example.com/cb', 'malformed'],
    ['http:/127.0.0.1/cb', 'malformed'],
    ['https://', 'malformed'],
    ['http://127.0.0.1:99999/cb', 'malformed'],
    ['myapp:', 'malformed'],
  ] as const)('%j -> %s', (uri, reason) => {
    refused(uri, reason);
  });
  it('refuses a URI longer than the cap', () => {
    refused(`http://127.0.0.1/${'a'.repeat(MAX_REDIRECT_URI_LENGTH)}`, 'too_long');
  });
});

describe('redirectUriPolicy options', () => {
  it('with loopback disabled, a loopback URI needs a pattern', () => {
    const policy = redirectUriPolicy({ allowLoopback: false, patterns: ['http://127.0.0.1:*/callback'] });
    refused('http://localhost:3000/callback', 'not_allowed', policy);
    refused('http://127.0.0.1:3000/other', 'not_allowed', policy);
    expect(validateRedirectUri('http://127.0.0.1:3000/callback', policy)).toMatchObject({
      ok: true,
      kind: 'loopback',
    });
  });
  it('with custom schemes disabled, a custom scheme needs a pattern', () => {
    const policy = redirectUriPolicy({
      allowCustomSchemes: false,
      patterns: ['cursor:*', 'com.example.app:/cb'],
    });
    refused('vscode://vscode.github-authentication/did-authenticate', 'not_allowed', policy);
    expect(validateRedirectUri('cursor://anysphere.cursor-retrieval/cb', policy)).toMatchObject({ ok: true });
    expect(validateRedirectUri('com.example.app:/cb', policy)).toMatchObject({ ok: true });
    refused('com.example.app:/other', 'not_allowed', policy);
  });
  it('a *. pattern matches subdomains only, never the bare domain or a look-alike', () => {
    const policy = redirectUriPolicy({ patterns: ['https://*.example.com/oauth/*'] });
    expect(validateRedirectUri('https://a.example.com/oauth/cb', policy).ok).toBe(true);
    expect(validateRedirectUri('https://a.b.example.com/oauth/cb?x=1', policy).ok).toBe(true);
    refused('https://example.com/oauth/cb', 'not_allowed', policy);
    refused('https://evilexample.com/oauth/cb', 'not_allowed', policy);
    refused('https://example.com.evil.example/oauth/cb', 'not_allowed', policy);
    refused('https://a.example.com/oauthx', 'not_allowed', policy);
    refused('https://a.example.com:8443/oauth/cb', 'not_allowed', policy);
  });
  it('an exact pattern matches the port and query exactly', () => {
    const policy = redirectUriPolicy({ patterns: ['https://app.example.com:8443/cb?x=1'] });
    expect(validateRedirectUri('https://app.example.com:8443/cb?x=1', policy).ok).toBe(true);
    refused('https://app.example.com:8443/cb', 'not_allowed', policy);
    refused('https://app.example.com:8443/cb?x=2', 'not_allowed', policy);
    refused('https://app.example.com/cb?x=1', 'not_allowed', policy);
  });
  it.each([
    ['https://user@app.example.com/cb', 'is refused (userinfo)'],
    ['https://app.example.com/cb#x', 'is refused (fragment)'],
    ['javascript:*', 'is refused (dangerous_scheme)'],
    ['https://app.example.com/a*b', 'may use "*" in the path only as a final "/*"'],
    ['myapp:/cb*', 'may use "*" only as "scheme:*"'],
  ])('refuses the pattern %s', (pattern, why) => {
    expect(() => redirectUriPolicy({ patterns: [pattern] })).toThrow(
      `redirect URI pattern "${pattern}" ${why}`,
    );
  });
});

describe('matchRedirectUri: security edge 13 (exact match, loopback port only)', () => {
  const registered = [
    'https://app.example.com/callback',
    'http://127.0.0.1:3000/callback',
    'http://[::1]/cb',
    'http://localhost:4000/cb?x=1',
    'cursor://host/cb',
  ];
  it('accepts the exact registered string', () => {
    expect(matchRedirectUri('https://app.example.com/callback', registered)).toEqual({
      ok: true,
      uri: 'https://app.example.com/callback',
      registered: 'https://app.example.com/callback',
      via: 'exact',
    });
  });
  it.each([
    ['http://127.0.0.1:51234/callback', 'http://127.0.0.1:3000/callback'],
    ['http://127.0.0.1/callback', 'http://127.0.0.1:3000/callback'],
    ['http://[::1]:9999/cb', 'http://[::1]/cb'],
    ['http://localhost:1/cb?x=1', 'http://localhost:4000/cb?x=1'],
  ])('accepts a loopback URI that differs only in port: %s', (uri, reg) => {
    expect(matchRedirectUri(uri, registered)).toEqual({
      ok: true,
      uri,
      registered: reg,
      via: 'loopback_port',
    });
  });
  it.each([
    ['path', 'https://app.example.com/callback2'],
    ['path prefix', 'https://app.example.com/callback/x'],
    ['trailing slash', 'https://app.example.com/callback/'],
    ['query added', 'https://app.example.com/callback?x=1'],
    ['case of path', 'https://app.example.com/Callback'],
    ['case of host', 'https://APP.example.com/callback'],
    ['case of scheme', 'HTTPS://app.example.com/callback'],
    ['scheme', 'http://app.example.com/callback'],
    ['port on https', 'https://app.example.com:443/callback'],
    ['loopback path', 'http://127.0.0.1:3000/callback/'],
    ['loopback query', 'http://127.0.0.1:3000/callback?x=1'],
    ['loopback host swap', 'http://localhost:3000/callback'],
    ['loopback to https', 'https://127.0.0.1:3000/callback'],
    ['loopback query changed', 'http://localhost:4000/cb?x=2'],
    ['custom scheme path', 'cursor://host/cb2'],
    ['custom scheme port', 'cursor://host:1/cb'],
  ])('refuses a mutated %s', (_what, uri) => {
    expect(matchRedirectUri(uri, registered)).toEqual({ ok: false, reason: 'not_registered' });
  });
  it('does not extend the port exception to https loopback', () => {
    expect(matchRedirectUri('https://localhost:9/cb', ['https://localhost:8443/cb'])).toEqual({
      ok: false,
      reason: 'not_registered',
    });
  });
});

describe('checkRedirectUri: security edge 12 (the allow-list at /authorize and /token too)', () => {
  it('refuses a registered URI that the current policy no longer allows', () => {
    const registered = ['https://app.example.com/cb'];
    const before = redirectUriPolicy({ patterns: ['https://app.example.com/cb'] });
    expect(checkRedirectUri('https://app.example.com/cb', registered, before)).toMatchObject({ ok: true });
    expect(checkRedirectUri('https://app.example.com/cb', registered)).toEqual({
      ok: false,
      reason: 'not_allowed',
    });
  });
  it('refuses a dangerous URI even if it were somehow registered', () => {
    expect(checkRedirectUri('javascript:alert(1)', ['javascript:alert(1)'])).toEqual({
      ok: false,
      reason: 'dangerous_scheme',
    });
  });
  it('uses the single registered URI when none is requested, and refuses when several are registered', () => {
    expect(checkRedirectUri(undefined, ['http://127.0.0.1:3000/cb'])).toEqual({
      ok: true,
      uri: 'http://127.0.0.1:3000/cb',
      registered: 'http://127.0.0.1:3000/cb',
      via: 'exact',
    });
    expect(checkRedirectUri(undefined, ['http://127.0.0.1:3000/cb', 'cursor://h/cb'])).toEqual({
      ok: false,
      reason: 'missing',
    });
  });
  it('refuses a valid URI that is not registered', () => {
    expect(checkRedirectUri('http://127.0.0.1:3000/other', ['http://127.0.0.1:3000/cb'])).toEqual({
      ok: false,
      reason: 'not_registered',
    });
  });
});

describe('describeRedirectUriProblem', () => {
  it('names the parameter and the fault', () => {
    expect(describeRedirectUriProblem('fragment')).toBe('"redirect_uri" has a fragment');
    expect(describeRedirectUriProblem('not_registered')).toBe(
      '"redirect_uri" is not registered for this client',
    );
    expect(describeRedirectUriProblem('whitespace_or_control')).toBe(
      '"redirect_uri" contains whitespace or a control character',
    );
  });
});
