import { describe, expect, it } from 'vitest';
import { combine, describeToken, type PhaseResult, tokenRequest } from './load.ts';
import {
  BenchUsageError,
  markdownTable,
  parseBenchArgs,
  percentile,
  ratio,
  requestsInRound,
  SERVER_IDS,
  type ServerResult,
  summarize,
} from './stats.ts';

describe('parseBenchArgs', () => {
  it('has defaults for every option', () => {
    expect(parseBenchArgs([])).toEqual({
      requests: 6000,
      rounds: 3,
      concurrency: 32,
      warmup: 1000,
      maxSeconds: 15,
      json: undefined,
      servers: [...SERVER_IDS],
      help: false,
    });
  });

  it('reads every option', () => {
    expect(
      parseBenchArgs([
        '--requests',
        '500',
        '--rounds',
        '2',
        '--concurrency=8',
        '--warmup',
        '0',
        '--max-seconds',
        '5',
        '--servers',
        'oidc-provider, mock-idp,oidc-provider',
        '--json',
        'out.json',
      ]),
    ).toEqual({
      requests: 500,
      rounds: 2,
      concurrency: 8,
      warmup: 0,
      maxSeconds: 5,
      json: 'out.json',
      servers: ['oidc-provider', 'mock-idp'],
      help: false,
    });
    expect(parseBenchArgs(['-h']).help).toBe(true);
  });

  it.each([
    [['--requests', '0'], '--requests must be an integer of at least 1, got "0"'],
    [['--concurrency=-3'], '--concurrency must be an integer of at least 1, got "-3"'],
    [['--requests', '1.5'], '--requests must be an integer of at least 1, got "1.5"'],
    [['--warmup', 'many'], '--warmup must be an integer of at least 0, got "many"'],
    [
      ['--servers', 'keycloak'],
      '--servers: unknown server "keycloak" (known: mock-idp, oauth2-mock-server, oidc-provider)',
    ],
    [['--servers', ' , '], '--servers names no server'],
    [['--rounds', '0'], '--rounds must be an integer of at least 1, got "0"'],
    [['--requests', '2', '--rounds', '3'], '--rounds (3) must not exceed --requests (2)'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(new BenchUsageError(message));
  });

  it('refuses unknown flags and positionals as usage errors', () => {
    expect(() => parseBenchArgs(['--fast'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['extra'])).toThrow(BenchUsageError);
  });
});

describe('requestsInRound', () => {
  it('splits the requests evenly, the first rounds taking the remainder', () => {
    expect([0, 1, 2].map((i) => requestsInRound(6000, 3, i))).toEqual([2000, 2000, 2000]);
    expect([0, 1, 2].map((i) => requestsInRound(7, 3, i))).toEqual([3, 2, 2]);
    expect([0, 1, 2].map((i) => requestsInRound(3, 3, i))).toEqual([1, 1, 1]);
  });
});

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks the smallest value with at least p% at or below it', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 90)).toBe(90);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0.5)).toBe(1);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
  });

  it('answers the only value of a one-element list', () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('refuses an empty list and percentiles outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(new RangeError('percentile of an empty list'));
    expect(() => percentile([1], 0)).toThrow(new RangeError('percentile must be in (0, 100], got 0'));
    expect(() => percentile([1], 101)).toThrow(new RangeError('percentile must be in (0, 100], got 101'));
  });
});

describe('summarize', () => {
  it('sorts the latencies and derives throughput from the elapsed time', () => {
    const latencies = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(summarize(latencies, 2000)).toEqual({
      count: 10,
      rps: 5,
      p50: 5,
      p90: 9,
      p99: 10,
      max: 10,
      mean: 5.5,
    });
    // the input is left as it was
    expect(latencies[0]).toBe(5);
  });

  it('gives zeros when nothing succeeded', () => {
    expect(summarize([], 1000)).toEqual({ count: 0, rps: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
  });

  it('refuses a non-positive elapsed time', () => {
    expect(() => summarize([1], 0)).toThrow(new RangeError('elapsed time must be positive, got 0'));
  });
});

function result(partial: Partial<ServerResult> & Pick<ServerResult, 'id' | 'label'>): ServerResult {
  return {
    version: '1.0.0',
    tokenFormat: 'opaque',
    sent: 100,
    errors: 0,
    errorSamples: [],
    truncated: false,
    elapsedMs: 1000,
    roundRps: [4],
    latency: summarize([1, 2, 3, 4], 1000),
    ...partial,
  };
}

describe('markdownTable', () => {
  it('has one row per server and the mock IdP throughput ratio', () => {
    const ours = result({ id: 'mock-idp', label: 'mock-idp', latency: { ...summarize([2], 1), rps: 3000 } });
    const other = result({
      id: 'oidc-provider',
      label: 'oidc-provider',
      tokenFormat: 'JWT (RS256)',
      latency: { count: 100, rps: 1500, p50: 12.345, p90: 20, p99: 150.4, max: 200, mean: 13 },
    });
    const lines = markdownTable([ours, other]).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\| Server \| Version \| Access token \| Requests \| Errors \| req\/s \|/);
    expect(lines[1]).toBe('|---|---|---|--:|--:|--:|--:|--:|--:|--:|');
    expect(lines[2]).toBe('| mock-idp | 1.0.0 | opaque | 100 | 0 | 3000 | 2.00 | 2.00 | 2.00 | 1.00× |');
    expect(lines[3]).toBe(
      '| oidc-provider | 1.0.0 | JWT (RS256) | 100 | 0 | 1500 | 12.3 | 20.0 | 150 | 2.00× |',
    );
  });

  it('shows no figures for a server with errors, and marks a truncated run', () => {
    const ours = result({ id: 'mock-idp', label: 'mock-idp', errors: 3, truncated: true });
    const other = result({ id: 'oauth2-mock-server', label: 'oauth2-mock-server' });
    const lines = markdownTable([ours, other]).split('\n');
    expect(lines[2]).toBe('| mock-idp | 1.0.0 | opaque | 100 (time limit) | 3 | — | — | — | — | n/a |');
    // ours failed, so no ratio can be given for the other row either
    expect(lines[3]).toBe('| oauth2-mock-server | 1.0.0 | opaque | 100 | 0 | 4 | 2.00 | 4.00 | 4.00 | n/a |');
  });

  it('formats ratios and refuses to divide by zero', () => {
    expect(ratio(300, 100)).toBe('3.00×');
    expect(ratio(100, 0)).toBe('n/a');
    expect(ratio(0, 100)).toBe('n/a');
  });
});

describe('load request helpers', () => {
  const target = {
    id: 'mock-idp' as const,
    label: 'x',
    version: '1',
    tokenEndpoint: 'http://127.0.0.1:1/token',
    clientId: 'my client',
    clientSecret: 's:e/cret',
  };

  it('sends client_secret_basic credentials form-encoded inside base64 (RFC 6749 2.3.1)', () => {
    const { url, init } = tokenRequest({ ...target, authMethod: 'client_secret_basic' });
    expect(url).toBe('http://127.0.0.1:1/token');
    expect(init.method).toBe('POST');
    const headers = init.headers as Record<string, string>;
    expect(headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Buffer.from(headers['authorization']!.slice(6), 'base64').toString()).toBe(
      'my+client:s%3Ae%2Fcret',
    );
    expect(init.body).toBe('grant_type=client_credentials');
  });

  it('sends client_secret_post credentials in the body', () => {
    const { init } = tokenRequest({ ...target, authMethod: 'client_secret_post' });
    expect((init.headers as Record<string, string>)['authorization']).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(init.body as string))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'my client',
      client_secret: 's:e/cret',
    });
  });

  it('names the token format', () => {
    const header = Buffer.from('{"alg":"ES256","typ":"at+jwt"}').toString('base64url');
    expect(describeToken(`${header}.e30.sig`)).toBe('JWT (ES256)');
    expect(describeToken('gho_abcdef')).toBe('opaque');
    expect(describeToken('a.b.c')).toBe('opaque');
  });
});

describe('combine', () => {
  const target = {
    id: 'oidc-provider' as const,
    label: 'oidc-provider',
    version: '9',
    tokenEndpoint: 'http://127.0.0.1:1/token',
    clientId: 'c',
    clientSecret: 's',
    authMethod: 'client_secret_basic' as const,
  };
  const round = (partial: Partial<PhaseResult>): PhaseResult => ({
    sent: 0,
    latencies: [],
    errors: 0,
    errorSamples: [],
    firstToken: undefined,
    elapsedMs: 1000,
    truncated: false,
    ...partial,
  });

  it('pools the rounds: throughput over the summed time, percentiles over every latency', () => {
    const result = combine(target, round({ sent: 2, latencies: [9, 9], firstToken: 'opaque-token' }), [
      round({ sent: 4, latencies: [1, 2, 3, 4], elapsedMs: 1000 }),
      round({ sent: 2, latencies: [5, 6], elapsedMs: 2000 }),
    ]);
    expect(result).toMatchObject({
      id: 'oidc-provider',
      tokenFormat: 'opaque',
      sent: 6,
      errors: 0,
      errorSamples: [],
      truncated: false,
      elapsedMs: 3000,
      roundRps: [4, 1],
    });
    // the warm-up's latencies are not measured
    expect(result.latency).toEqual({ count: 6, rps: 2, p50: 3, p90: 6, p99: 6, max: 6, mean: 3.5 });
  });

  it('counts warm-up errors and keeps distinct samples', () => {
    const result = combine(target, round({ errors: 1, errorSamples: ['HTTP 500: x'] }), [
      round({ sent: 2, latencies: [1], errors: 1, errorSamples: ['HTTP 401: y'], truncated: true }),
      round({ sent: 1, errors: 1, errorSamples: ['HTTP 401: y'] }),
    ]);
    expect(result.errors).toBe(3);
    expect(result.errorSamples).toEqual(['warm-up: HTTP 500: x', 'HTTP 401: y']);
    expect(result.truncated).toBe(true);
    expect(result.tokenFormat).toBe('none');
  });
});
