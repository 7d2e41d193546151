import { describe, expect, it } from 'vitest';
import { createLogger, redact } from './log.ts';

describe('log redaction', () => {
  it('redacts secret-named fields, credentials and JWTs at any depth', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXZhbHVl';
    expect(
      redact({
        client_id: 'mcp_abc',
        client_secret: 's3cret',
        nested: { refresh_token: 'rt_1', list: [{ code: 'c1' }], cookie: 'mcp_binding=x' },
        message: `got Bearer abc.def-123 and ${jwt}`,
        header: 'Basic dXNlcjpwYXNz',
      }),
    ).toEqual({
      client_id: 'mcp_abc',
      client_secret: '[redacted]',
      nested: { refresh_token: '[redacted]', list: [{ code: '[redacted]' }], cookie: '[redacted]' },
      message: 'got Bearer [redacted] and [redacted-jwt]',
      header: 'Basic [redacted]',
    });
  });

  it('writes one JSON object a line, at or above the level', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) });
    log.log('debug', 'hidden');
    log.log('warn', 'signin.failed', { access_token: 'at_1', user: 'U1' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'warn',
      event: 'signin.failed',
      access_token: '[redacted]',
      user: 'U1',
    });
  });
});
