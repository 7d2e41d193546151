import { describe, expect, it } from 'vitest';
import { compare } from './index.ts';

describe('compare: failure messages read as sentences', () => {
  it('says a missing value is absent rather than "a undefined" or "nothing does not contain"', () => {
    expect(compare(undefined, { type: 'object' }).message).toBe('is absent, not an object');
    expect(compare('x', { type: 'array' }).message).toBe('is a string, not an array');
    expect(compare(1, { type: 'object' }).message).toBe('is a number, not an object');
    expect(compare(undefined, { contains: 'auditor' }).message).toBe(
      'is absent (expected to contain "auditor")',
    );
    expect(compare(['a'], { contains: 'auditor' }).message).toBe('["a"] does not contain "auditor"');
    expect(compare({}, { type: 'object' }).pass).toBe(true);
  });
});
