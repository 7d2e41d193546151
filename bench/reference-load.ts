/**
 * The load of the reference-server benchmark: MCP `tools/call whoami` requests with a bearer token,
 * and complete authorization flows driven as plain HTTP (a browser's requests, cookies carried by
 * hand, redirects not followed automatically so that each hop is checked). Every answer is
 * checked; an operation that deviates counts as an error with a short reason.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PhaseOutcome } from './reference-report.ts';
import type { ReferenceTargetInfo } from './reference-target.ts';

/** A single request's time limit, so that a stalled server cannot stall the run. */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_ERROR_SAMPLES = 5;
/** The flows' client redirect URI: a loopback native client (RFC 8252 7.3). Never contacted. */
const CALLBACK = 'http://127.0.0.1:9/callback';

/** Runs `count` operations with `concurrency` workers, each starting the next when its last ends. */
export async function runPhase(
  count: number,
  concurrency: number,
  maxSeconds: number,
  operation: () => Promise<unknown>,
): Promise<PhaseOutcome> {
  const result: PhaseOutcome = {
    sent: 0,
    latencies: [],
    errors: 0,
    errorSamples: [],
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
      try {
        await operation();
        result.latencies.push(performance.now() - t0);
      } catch (error) {
        result.errors++;
        const reason = describeFailure(error);
        if (result.errorSamples.length < MAX_ERROR_SAMPLES && !result.errorSamples.includes(reason)) {
          result.errorSamples.push(reason);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(count, 1)) }, worker));
  result.elapsedMs = Math.max(performance.now() - start, 1e-3);
  return result;
}

function describeFailure(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS} ms`;
  if (e.cause) return `request failed: ${e.cause.code ?? e.cause.message}`;
  return e.message ?? String(error);
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(step: string, url: string, init: RequestInit = {}): Promise<Answer & { step: string }> {
  const response = await fetch(url, {
    ...init,
    redirect: 'manual',
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { step, status: response.status, headers: response.headers, text: await response.text() };
}

function expectStatus(answer: Answer & { step: string }, status: number): void {
  if (answer.status !== status) {
    throw new Error(`${answer.step}: HTTP ${answer.status} (wanted ${status}): ${answer.text.slice(0, 120)}`);
  }
}

function location(answer: Answer & { step: string }): string {
  const value = answer.headers.get('location');
  if (!value) throw new Error(`${answer.step}: no Location`);
  return value;
}

function cookie(answer: Answer & { step: string }, name: string): string {
  const line = answer.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  if (!line) throw new Error(`${answer.step}: no ${name} cookie`);
  return line.slice(name.length + 1).split(';')[0]!;
}

const WHOAMI = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {} },
});

/** One MCP `tools/call whoami` with the token; it must name the expected user. */
export async function mcpWhoami(target: ReferenceTargetInfo, token: string, userId: string): Promise<void> {
  const answer = await call('mcp', target.mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: WHOAMI,
  });
  expectStatus(answer, 200);
  const body = JSON.parse(answer.text) as { result?: { structuredContent?: { user?: { id?: string } } } };
  const got = body.result?.structuredContent?.user?.id;
  if (got !== userId) throw new Error(`mcp: whoami named ${got} (wanted ${userId})`);
}

/**
 * One complete authorization flow as a browser and a native client make it: POST /register,
 * GET /authorize (our consent page), POST /_mock/next-login (the harness queues alice, so the
 * mock answers its authorize at once), POST /consent (approve), GET the mock's authorize, GET our
 * /oauth/callback (where our server redeems the upstream code and reads the GitHub user), and
 * POST /token. Returns the access token.
 */
export async function authorizationFlow(target: ReferenceTargetInfo): Promise<string> {
  const registration = await call('register', `${target.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'none',
      client_name: 'bench',
    }),
  });
  expectStatus(registration, 201);
  const clientId = (JSON.parse(registration.text) as { client_id: string }).client_id;

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const consentPage = await call(
    'authorize',
    `${target.url}/authorize?${new URLSearchParams({
      client_id: clientId,
      redirect_uri: CALLBACK,
      response_type: 'code',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'bench',
      resource: target.mcpUrl,
    })}`,
  );
  expectStatus(consentPage, 200);
  const txn = consentPage.text.match(/name="txn" value="([^"]+)"/)?.[1];
  const csrf = consentPage.text.match(/name="csrf" value="([^"]+)"/)?.[1];
  if (!txn || !csrf) throw new Error('authorize: the consent page has no form');
  const csrfCookie = cookie(consentPage, 'mcp_csrf');

  const queued = await call('next-login', `${target.mockOrigin}/_mock/next-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ persona: 'alice', provider: 'github' }),
  });
  expectStatus(queued, 200);

  const approved = await call('consent', `${target.url}/consent`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: new URL(target.url).origin,
      cookie: `mcp_csrf=${csrfCookie}`,
    },
    body: new URLSearchParams({ txn, csrf, action: 'approve' }).toString(),
  });
  expectStatus(approved, 303);
  const binding = cookie(approved, 'mcp_binding');

  const upstream = await call('upstream authorize', location(approved));
  expectStatus(upstream, 302);

  const callback = await call('callback', new URL(location(upstream), target.url).toString(), {
    headers: { cookie: `mcp_binding=${binding}` },
  });
  expectStatus(callback, 302);
  const back = new URL(location(callback));
  const code = back.searchParams.get('code');
  if (!code || !back.href.startsWith(`${CALLBACK}?`))
    throw new Error(`callback: no code in ${back.href.slice(0, 80)}`);

  const issued = await call('token', `${target.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: CALLBACK,
      resource: target.mcpUrl,
    }).toString(),
  });
  expectStatus(issued, 200);
  const token = (JSON.parse(issued.text) as { access_token?: unknown }).access_token;
  if (typeof token !== 'string') throw new Error('token: no access_token');
  return token;
}
