import { describe, expect, it } from 'vitest';
import {
  linkRequirement,
  MCP_SPEC_REVISION,
  requirementUrl,
  SECURITY_EDGES_URL,
  withUrls,
} from './requirements.ts';

const MCP = `https://modelcontextprotocol.io/specification/${MCP_SPEC_REVISION}/basic`;

describe('requirementUrl', () => {
  it.each([
    ['RFC7636-4.6', 'https://www.rfc-editor.org/rfc/rfc7636#section-4.6'],
    ['RFC9700-2.1.1', 'https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1'],
    ['RFC6749-10.12', 'https://www.rfc-editor.org/rfc/rfc6749#section-10.12'],
    ['RFC6749-A.1', 'https://www.rfc-editor.org/rfc/rfc6749#appendix-A.1'],
    ['RFC8707', 'https://www.rfc-editor.org/rfc/rfc8707'],
    ['RFC793-3.1', 'https://www.rfc-editor.org/rfc/rfc793#section-3.1'],
    ['OIDCC-3.1.2.1', 'https://openid.net/specs/openid-connect-core-1_0.html#section-3.1.2.1'],
    ['OIDCD-4', 'https://openid.net/specs/openid-connect-discovery-1_0.html#section-4'],
    ['OIDCR-2', 'https://openid.net/specs/openid-connect-registration-1_0.html#section-2'],
    ['OAUTH21-4.1.1', 'https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-4.1.1'],
    ['MCP-authorization', `${MCP}/authorization`],
    [
      'MCP-authorization-token-audience-binding-and-validation',
      `${MCP}/authorization#token-audience-binding-and-validation`,
    ],
    ['MCP-security', `${MCP}/security_best_practices`],
    ['MCP-security-token-passthrough', `${MCP}/security_best_practices#token-passthrough`],
  ])('%s -> %s', (tag, url) => {
    expect(requirementUrl(tag)).toBe(url);
  });

  it('links EDGE-n to the security-edges section of the README', () => {
    expect(requirementUrl('EDGE-12')).toBe(SECURITY_EDGES_URL);
    expect(SECURITY_EDGES_URL).toMatch(/^https:\/\/[^#]+#security-edges$/);
  });

  it.each(['FOO-1', 'MCP-nosuchpage', 'RFC-4.6', 'rfc7636-4.6', 'EDGE-', 'EDGE-x', 'RFC7636-', ''])(
    'gives no URL for the unknown tag "%s"',
    (tag) => {
      expect(requirementUrl(tag)).toBeUndefined();
    },
  );
});

describe('linkRequirement and withUrls', () => {
  it('links a known tag and leaves an unknown one without url', () => {
    expect(linkRequirement('RFC7636-4.6')).toEqual({
      tag: 'RFC7636-4.6',
      url: 'https://www.rfc-editor.org/rfc/rfc7636#section-4.6',
    });
    expect(linkRequirement('LOCAL-1')).toEqual({ tag: 'LOCAL-1' });
    expect('url' in linkRequirement('LOCAL-1')).toBe(false);
  });

  it('fills missing URLs and keeps the ones given', () => {
    const out = withUrls([
      { tag: 'RFC6750-3' },
      { tag: 'RFC6750-3.1', url: 'https://example.test/own' },
      { tag: 'X-1' },
    ]);
    expect(out).toEqual([
      { tag: 'RFC6750-3', url: 'https://www.rfc-editor.org/rfc/rfc6750#section-3' },
      { tag: 'RFC6750-3.1', url: 'https://example.test/own' },
      { tag: 'X-1' },
    ]);
  });
});
