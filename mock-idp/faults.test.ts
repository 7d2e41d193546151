import { describe, expect, it } from 'vitest';
import { MockIdpError } from './errors.ts';
import { FaultRegistry, parseFault } from './faults.ts';

describe('parseFault', () => {
  it('accepts each kind', () => {
    expect(
      parseFault({
        provider: 'github',
        endpoint: 'token',
        action: { kind: 'error', error: 'bad_verification_code' },
      }),
    ).toEqual({
      provider: 'github',
      endpoint: 'token',
      action: { kind: 'error', error: 'bad_verification_code' },
    });
    expect(parseFault({ provider: 'google', kind: 'token', defect: 'expired', times: 2 })).toEqual({
      provider: 'google',
      endpoint: '*',
      action: { kind: 'token', defect: 'expired' },
      times: 2,
    });
    expect(parseFault({ provider: 'x', action: { kind: 'rotate-key' } }).action).toEqual({
      kind: 'rotate-key',
    });
    expect(parseFault({ provider: 'x', action: { kind: 'delay', ms: 50 } }).action).toEqual({
      kind: 'delay',
      ms: 50,
    });
    expect(parseFault({ provider: 'x', action: { kind: 'status', status: 503 } }).action).toEqual({
      kind: 'status',
      status: 503,
    });
  });

  const bad: Array<[unknown, string]> = [
    [null, 'a fault must be a JSON object'],
    [{}, '"provider" must be a string'],
    [{ provider: 'x', endpoint: 3, kind: 'rotate-key' }, '"endpoint" must be a string'],
    [{ provider: 'x', kind: 'nope' }, '"kind" must be one of error, token, rotate-key, delay, status'],
    [{ provider: 'x', kind: 'error' }, '"error" must name the error code'],
    [{ provider: 'x', kind: 'token', defect: 'weird' }, '"defect" must be one of'],
    [{ provider: 'x', kind: 'delay', ms: -1 }, '"ms" must be 0..120000'],
    [{ provider: 'x', kind: 'status', status: 404 }, '"status" must be a 5xx status'],
    [{ provider: 'x', kind: 'rotate-key', times: 0 }, '"times" must be a positive integer'],
  ];
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      try {
        parseFault(input);
        expect.unreachable('parseFault accepted invalid input');
      } catch (error) {
        expect(error).toBeInstanceOf(MockIdpError);
        expect((error as MockIdpError).code).toBe('ERR_FAULT_INVALID');
        expect((error as MockIdpError).message).toContain(message);
      }
    });
  }
});

describe('FaultRegistry', () => {
  it('matches by provider and endpoint, counts down, and filters by kind', () => {
    const faults = new FaultRegistry();
    faults.add({ provider: 'github', endpoint: 'token', action: { kind: 'delay', ms: 1 }, times: 1 });
    faults.add({ provider: 'github', action: { kind: 'status', status: 502 } });
    expect(faults.take('google', 'token')).toEqual([]);
    expect(faults.take('github', 'token', ['token'])).toEqual([]);
    expect(faults.take('github', 'token')).toEqual([
      { kind: 'delay', ms: 1 },
      { kind: 'status', status: 502 },
    ]);
    expect(faults.take('github', 'token')).toEqual([{ kind: 'status', status: 502 }]);
    expect(faults.list()).toHaveLength(1);
    expect(faults.remove(faults.list()[0]!.id)).toBe(true);
    expect(faults.take('github', 'user')).toEqual([]);
  });
});
