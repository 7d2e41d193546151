import { describe, expect, it } from 'vitest';
import { RunnerError } from '../errors.ts';
import { wellKnownUrl } from './well-known.ts';

describe('wellKnownUrl', () => {
  it('inserts the well-known segment before the path (RFC 8414 3.1, RFC 9728 3.1)', () => {
    expect(wellKnownUrl('https://mcp.example/mcp', 'oauth-protected-resource', 'insert')).toBe(
      'https://mcp.example/.well-known/oauth-protected-resource/mcp',
    );
    expect(wellKnownUrl('https://as.example/tenant/a', 'oauth-authorization-server', 'insert')).toBe(
      'https://as.example/.well-known/oauth-authorization-server/tenant/a',
    );
  });

  it('drops a terminating slash of the path and has no path segment for an origin', () => {
    expect(wellKnownUrl('https://as.example/realm/', 'oauth-authorization-server', 'insert')).toBe(
      'https://as.example/.well-known/oauth-authorization-server/realm',
    );
    expect(wellKnownUrl('https://as.example', 'oauth-authorization-server', 'insert')).toBe(
      'https://as.example/.well-known/oauth-authorization-server',
    );
  });

  it('appends the segment for OpenID Connect Discovery 4', () => {
    expect(wellKnownUrl('https://idp.example/realms/mock', 'openid-configuration', 'append')).toBe(
      'https://idp.example/realms/mock/.well-known/openid-configuration',
    );
  });

  it('refuses an identifier that is not a URL', () => {
    expect(() => wellKnownUrl('not a url', 'openid-configuration', 'insert')).toThrow(
      expect.objectContaining({ code: 'ERR_STEP_FAILED', message: '"url" "not a url" is not a URL' }),
    );
    expect(() => wellKnownUrl('', 'openid-configuration', 'insert')).toThrow(RunnerError);
  });
});
