import { describe, expect, it } from 'vitest';
import { directiveLists, expressionAllows, listAllows } from './csp.ts';

/** CSP Level 3 6.7.2 matching, as far as form-action lists go (https://www.w3.org/TR/CSP3/#match-url-to-source-list). */
describe('csp_allows matching', () => {
  const self = new URL('http://127.0.0.1:8000/authorize?x=1');
  const allows = (expression: string, url: string) => expressionAllows(expression, new URL(url), self);

  it("'self' matches the page's origin only", () => {
    expect(allows("'self'", 'http://127.0.0.1:8000/consent')).toBe(true);
    expect(allows("'self'", 'http://127.0.0.1:8001/consent')).toBe(false);
    expect(allows("'SELF'", 'http://127.0.0.1:8000/')).toBe(true);
  });

  it('scheme sources match the scheme, and http: also its secure upgrade', () => {
    expect(allows('cursor:', 'cursor://anysphere.cursor-mcp/oauth/callback')).toBe(true);
    expect(allows('https:', 'http://127.0.0.1:33418/callback')).toBe(false);
    expect(allows('http:', 'https://idp.example/authorize')).toBe(true);
    expect(allows('https:', 'cursor://x/cb')).toBe(false);
  });

  it('host sources compare scheme, host and port, and ignore the path of a redirect target', () => {
    expect(allows('http://127.0.0.1:33418', 'http://127.0.0.1:33418/callback')).toBe(true);
    expect(allows('http://127.0.0.1:33418/other/', 'http://127.0.0.1:33418/callback')).toBe(true);
    expect(allows('http://127.0.0.1:33419', 'http://127.0.0.1:33418/callback')).toBe(false);
    expect(allows('http://127.0.0.1:*', 'http://127.0.0.1:33418/callback')).toBe(true);
    expect(allows('https://*.example.com', 'https://login.example.com/a')).toBe(true);
    expect(allows('https://*.example.com', 'https://example.com/a')).toBe(false);
    expect(allows('example.com', 'http://example.com/a')).toBe(true);
    expect(allows('example.com', 'https://example.com/a')).toBe(true);
    expect(allows('https://example.com', 'https://example.com:8443/a')).toBe(false);
  });

  it("'none', keywords and * do not match a custom scheme", () => {
    expect(allows("'none'", 'http://127.0.0.1:8000/')).toBe(false);
    expect(allows("'unsafe-inline'", 'http://127.0.0.1:8000/')).toBe(false);
    expect(allows('*', 'https://anywhere.example/')).toBe(true);
    expect(allows('*', 'cursor://x/cb')).toBe(false);
  });

  it('reads one source list per policy; a policy without the directive allows everything', () => {
    const header =
      "default-src 'none'; form-action 'self' cursor:; frame-ancestors 'none', script-src 'self'";
    const lists = directiveLists(header, 'form-action');
    expect(lists).toEqual([["'self'", 'cursor:'], undefined]);
    expect(listAllows(lists[0]!, new URL('cursor://x/cb'), self)).toBe(true);
    expect(listAllows([], new URL('http://127.0.0.1:8000/'), self)).toBe(false);
    expect(directiveLists(undefined, 'form-action')).toEqual([]);
  });
});
