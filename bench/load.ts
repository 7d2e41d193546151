/**
 * The load generator: client_credentials token requests (RFC 6749 4.4.2) sent with fetch over
 * keep-alive connections at a fixed concurrency, a warm-up first, every answer checked.
 */
import { performance } from 'node:perf_hooks';
import { type ServerResult, summarize } from './stats.ts';
import type { TargetInfo } from './target-server.ts';

export interface LoadPlan {
  requests: number;
  warmup: number;
  concurrency: number;
  /** Measured rounds per server, interleaved with the other servers' rounds. */
  rounds: number;
  /** Bound on one server's measured rounds together, in seconds. */
  maxSeconds: number;
}

/** Bound on the warm-up, in seconds. */
const WARMUP_MAX_SECONDS = 3;

/** A single request's time limit, so that a stalled server cannot stall the run. */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_ERROR_SAMPLES = 5;

/** The fetch arguments of one token request for the target's client authentication method. */
export function tokenRequest(target: TargetInfo): { url: string; init: RequestInit } {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (target.authMethod === 'client_secret_basic') {
    // RFC 6749 2.3.1: each part form-urlencoded, then base64 of id:secret.
    const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
    headers['authorization'] =
      `Basic ${Buffer.from(`${enc(target.clientId)}:${enc(target.clientSecret ?? '')}`).toString('base64')}`;
  } else {
    body.set('client_id', target.clientId);
    if (target.authMethod === 'client_secret_post' && target.clientSecret !== undefined) {
      body.set('client_secret', target.clientSecret);
    }
  }
  return { url: target.tokenEndpoint, init: { method: 'POST', headers, body: body.toString() } };
}

/** `JWT (RS256)` for a JWS compact serialization with a readable header, `opaque` otherwise. */
export function describeToken(token: string): string {
  const parts = token.split('.');
  if (parts.length === 3) {
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: unknown };
      if (typeof header.alg === 'string') return `JWT (${header.alg})`;
    } catch {
      // not a JWT
    }
  }
  return 'opaque';
}

type Outcome = { ok: true; token: string } | { ok: false; reason: string };

async function oneRequest(request: { url: string; init: RequestInit }): Promise<Outcome> {
  let response: Response;
  try {
    response = await fetch(request.url, { ...request.init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    // fetch rejects with a TypeError whose cause says why (ECONNREFUSED...); a timeout is a TimeoutError.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, reason: `request failed: ${cause?.code ?? cause?.message ?? (error as Error).name}` };
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    return { ok: false, reason: `body unreadable: ${(error as Error).name}` };
  }
  if (response.status !== 200) return { ok: false, reason: `HTTP ${response.status}: ${text.slice(0, 160)}` };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, reason: `HTTP 200 without JSON: ${text.slice(0, 80)}` };
  }
  const token = (body as { access_token?: unknown } | null)?.access_token;
  if (typeof token !== 'string' || token.length === 0) {
    return { ok: false, reason: `HTTP 200 without access_token: ${text.slice(0, 80)}` };
  }
  return { ok: true, token };
}

/** What one phase (warm-up or a measured round) of one server gave. */
export interface PhaseResult {
  sent: number;
  /** Latencies of the successful requests, in milliseconds. */
  latencies: number[];
  errors: number;
  errorSamples: string[];
  firstToken: string | undefined;
  elapsedMs: number;
  /** Whether the phase stopped at its time limit before sending every request. */
  truncated: boolean;
}

/** Sends `count` requests with `concurrency` workers, each taking the next request when its last is answered. */
export async function phase(
  target: TargetInfo,
  count: number,
  concurrency: number,
  maxSeconds: number,
): Promise<PhaseResult> {
  const request = tokenRequest(target);
  const result: PhaseResult = {
    sent: 0,
    latencies: [],
    errors: 0,
    errorSamples: [],
    firstToken: undefined,
    elapsedMs: 0,
    truncated: false,
  };
  const start = performance.now();
  const deadline = start + maxSeconds * 1000;
  const worker = async () => {
    while (result.sent < count) {
      if (performance.now() >= deadline) {
        result.truncated = true;
        return;
      }
      result.sent++;
      const t0 = performance.now();
      const outcome = await oneRequest(request);
      const took = performance.now() - t0;
      if (outcome.ok) {
        result.latencies.push(took);
        result.firstToken ??= outcome.token;
      } else {
        result.errors++;
        if (result.errorSamples.length < MAX_ERROR_SAMPLES && !result.errorSamples.includes(outcome.reason)) {
          result.errorSamples.push(outcome.reason);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(count, 1)) }, worker));
  result.elapsedMs = Math.max(performance.now() - start, 1e-3);
  return result;
}

/** The unmeasured requests before a server's first round (at most WARMUP_MAX_SECONDS). */
export function warmUp(target: TargetInfo, plan: LoadPlan): Promise<PhaseResult> {
  return phase(target, plan.warmup, plan.concurrency, Math.min(plan.maxSeconds, WARMUP_MAX_SECONDS));
}

/**
 * One server's result from its warm-up and its measured rounds: throughput is every successful
 * measured request over the rounds' summed time, the percentiles are over every round's latencies.
 */
export function combine(
  target: TargetInfo,
  warm: PhaseResult | undefined,
  rounds: PhaseResult[],
): ServerResult {
  const token = rounds.find((r) => r.firstToken)?.firstToken ?? warm?.firstToken;
  const errorSamples = [
    ...(warm?.errorSamples.map((e) => `warm-up: ${e}`) ?? []),
    ...rounds.flatMap((r) => r.errorSamples),
  ];
  const elapsedMs = rounds.reduce((sum, r) => sum + r.elapsedMs, 0);
  return {
    id: target.id,
    label: target.label,
    version: target.version,
    tokenFormat: token ? describeToken(token) : 'none',
    sent: rounds.reduce((sum, r) => sum + r.sent, 0),
    // A warm-up error makes the run as invalid as a measured one.
    errors: rounds.reduce((sum, r) => sum + r.errors, warm?.errors ?? 0),
    errorSamples: [...new Set(errorSamples)].slice(0, MAX_ERROR_SAMPLES),
    truncated: rounds.some((r) => r.truncated),
    elapsedMs,
    roundRps: rounds.map((r) => Math.round((r.latencies.length / r.elapsedMs) * 1000)),
    latency: summarize(
      rounds.flatMap((r) => r.latencies),
      Math.max(elapsedMs, 1e-3),
    ),
  };
}
