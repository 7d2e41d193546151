import { describe, expect, it } from 'vitest';

describe('the public entry', () => {
  it('exports the runner, reports and mock IdP', async () => {
    const api = await import('./index.ts');
    expect(typeof api.runConformance).toBe('function');
    expect(typeof api.createReporters).toBe('function');
    expect(typeof api.startMockIdp).toBe('function');
    expect(api.REPORTER_NAMES).toEqual(['console', 'json', 'junit', 'markdown', 'html']);
    const mock = await import('./mock-idp/index.ts');
    expect(typeof mock.setupMockIdp).toBe('function');
  });

  it('refuses a target that is not an http(s) URL with a RunnerError', async () => {
    const { runConformance, RunnerError } = await import('./index.ts');
    await expect(runConformance({ target: 'ftp://example.test/mcp' })).rejects.toBeInstanceOf(RunnerError);
  });
});
