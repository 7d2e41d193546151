// biome-ignore-all lint/suspicious/noTemplateCurlyInString: suite references are literal ${...} strings
import { describe, expect, it } from 'vitest';
import type { CaseContext } from '../context.ts';
import { skipUnless } from './applicability.ts';

const token = (payload: object) =>
  `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

function ctx(vars: Record<string, unknown>): CaseContext {
  return { vars } as unknown as CaseContext;
}

describe('skip_unless', () => {
  it('lets the case go on when the value is set and a JWT', async () => {
    const c = ctx({ tokens: { json: { access_token: token({ sub: 'u' }), refresh_token: 'rt_1' } } });
    await expect(skipUnless(c, { jwt: '${tokens.json.access_token}' })).resolves.toBe(true);
    await expect(
      skipUnless(c, { given: '${tokens.json.access_token}', set: '${tokens.json.refresh_token}' }),
    ).resolves.toBe(true);
  });

  it('skips with the reason when a token is opaque', async () => {
    const c = ctx({ tokens: { json: { access_token: 'opaque-token' } } });
    await expect(
      skipUnless(c, { jwt: '${tokens.json.access_token}', reason: 'opaque' }),
    ).rejects.toMatchObject({
      code: 'ERR_NOT_APPLICABLE',
      message: 'opaque',
    });
    const notJson = ctx({ t: 'a.b.c' });
    await expect(skipUnless(notJson, { jwt: '${t}' })).rejects.toMatchObject({
      code: 'ERR_NOT_APPLICABLE',
      message: '${t} is not a JWT',
    });
  });

  it('skips when an optional value is missing but what it depends on is there', async () => {
    const c = ctx({ tokens: { json: { access_token: 'at' } } });
    await expect(
      skipUnless(c, { given: '${tokens.json.access_token}', set: '${tokens.json.refresh_token}' }),
    ).rejects.toMatchObject({
      code: 'ERR_NOT_APPLICABLE',
      message: '${tokens.json.refresh_token} is not set',
    });
  });

  it('fails (never skips) when the flow did not produce what it should have', async () => {
    const c = ctx({ tokens: { status: 400, json: { error: 'invalid_grant' } } });
    await expect(skipUnless(c, { jwt: '${tokens.json.access_token}' })).rejects.toMatchObject({
      code: 'ERR_STEP_FAILED',
      message: '${tokens.json.access_token} is not set',
    });
    await expect(
      skipUnless(c, { given: '${tokens.json.access_token}', set: '${tokens.json.refresh_token}' }),
    ).rejects.toMatchObject({ code: 'ERR_STEP_FAILED' });
  });
});
