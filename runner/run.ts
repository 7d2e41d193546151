import { readFileSync } from 'node:fs';
import { loadPersonas } from '../mock-idp/personas.ts';
import type { CaseResult, RunResult, SuiteResult } from '../reports/model.ts';
import { exitCodeOf, RESULT_SCHEMA_VERSION, summarize } from '../reports/model.ts';
import type { Reporter } from '../reports/reporter.ts';
import { ChromiumAgent } from './agent/browser.ts';
import type { BrowserRule, IdentityProbe, RunContext, StaticClient } from './context.ts';
import { runSuites } from './engine.ts';
import { RunnerError } from './errors.ts';
import { loadSuites, suitesDir } from './load.ts';
import { probe } from './probe.ts';
import type { Capability, SuiteDef } from './suite.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};
export const TOOL = { name: pkg.name, version: pkg.version };

/** The identity probe of the reference server (its `whoami` tool). */
export const WHOAMI_PROBE: IdentityProbe = {
  tool: 'whoami',
  fields: {
    id: 'user.id',
    email: 'user.email',
    login: 'user.login',
    groups: 'user.groups',
    claims: 'claims',
  },
};

export interface ConformanceOptions {
  /** The MCP endpoint under test. */
  target: string;
  /** A mock IdP already running in front of the server (its control origin). */
  idpUrl?: string;
  /** The mock provider the server uses upstream (`github`, `google`, `entra`...). */
  upstream?: string;
  /** Suite files or directories (the bundled suites by default). */
  suites?: string[];
  /** Case id globs to run (`*` any run of characters); all by default. */
  cases?: string[];
  /** Fixed headers for every request to the server (redacted in every output). */
  headers?: Record<string, string>;
  identity?: IdentityProbe;
  /** The server's store holds the personas file's users. */
  userStore?: boolean;
  /** Capabilities the probe cannot see (required-scopes, claims-passthrough). */
  capabilities?: Capability[];
  staticClient?: StaticClient;
  /** Browser mode (`--browser`): the `authorize` step runs in real Chromium through Playwright. */
  browser?: boolean;
  /** Consent and login automation for pages that are not ours (browser mode): URL glob -> commands. */
  browserRules?: BrowserRule[];
  /** Globs over case ids that are known to fail. */
  expectedFailures?: string[];
  personasFile?: string;
  concurrency?: number;
  stepTimeoutMs?: number;
  reporters?: Reporter[];
  fetch?: typeof fetch;
  /** The redirect URI the runner's clients register (never requested). */
  redirectUri?: string;
}

/** `*` matches any run of characters; everything else literally. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

function selectCases(suites: SuiteDef[], globs: string[] | undefined): SuiteDef[] {
  if (!globs?.length) return suites;
  const res = globs.map(globToRegExp);
  return suites
    .map((s) => ({ ...s, cases: s.cases.filter((c) => res.some((r) => r.test(c.id))) }))
    .filter((s) => s.cases.length > 0);
}

/** Marks a case listed as an expected failure: matched when it failed, stale when it passed. */
function markExpected(c: CaseResult, patterns: RegExp[]): void {
  if (!patterns.some((r) => r.test(c.id))) return;
  if (c.status === 'failed') c.expectedFailure = 'matched';
  else if (c.status === 'passed') c.expectedFailure = 'stale';
}

async function idpProviders(
  idpUrl: string,
  fetchImpl: typeof fetch,
): Promise<Array<{ id: string; issuer?: string }>> {
  try {
    const res = await fetchImpl(`${idpUrl}/_mock/providers`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { providers: Array<{ id: string; issuer?: string }> };
    return body.providers;
  } catch {
    throw new RunnerError('ERR_OPTIONS', `the mock IdP at ${idpUrl} does not answer /_mock/providers`);
  }
}

/**
 * Runs the suites against a server and returns the result model. Throws RunnerError when the
 * run cannot be made (unreachable server, not MCP, bad options); failures of the server are
 * results, not exceptions.
 */
export async function runConformance(options: ConformanceOptions): Promise<RunResult> {
  const startedAt = new Date();
  const fetchImpl = options.fetch ?? fetch;
  let target: URL;
  try {
    target = new URL(options.target);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new RunnerError('ERR_OPTIONS', `"${options.target}" is not an http(s) URL`);
  }
  const personas = loadPersonas(options.personasFile);
  const suites = selectCases(
    loadSuites(
      options.suites ?? [suitesDir],
      personas.personas.map((p) => p.id),
    ),
    options.cases,
  );
  if (suites.length === 0) throw new RunnerError('ERR_OPTIONS', 'no case matches the --case patterns');
  const headers = options.headers ?? {};
  const stepTimeoutMs = options.stepTimeoutMs ?? 10_000;
  const providers = options.idpUrl ? await idpProviders(options.idpUrl, fetchImpl) : undefined;
  const profile = await probe(target.toString(), {
    fetch: fetchImpl,
    headers,
    timeoutMs: stepTimeoutMs,
    idpUrl: options.idpUrl,
    upstream: options.upstream,
    ...(providers
      ? {
          idpIssuers: providers.flatMap((p) => (p.issuer ? [p.issuer] : [])),
          upstreamOidc: providers.some((p) => p.id === options.upstream && p.issuer !== undefined),
        }
      : {}),
    identityProbe: options.identity !== undefined,
    userStore: options.userStore === true,
    declared: options.capabilities ?? [],
  });
  // The plain-HTTP agent controls every request header; a real browser always sends fetch metadata.
  if (options.browser) {
    profile.missing['raw-navigation-headers'] =
      'a real browser always sends Sec-Fetch-Site (run without --browser)';
  } else profile.capabilities.push('raw-navigation-headers');
  const secrets = new Set<string>(Object.values(headers));
  // One Chromium per run; each page wait stays inside the step's own timeout.
  const browserAgent = options.browser
    ? await ChromiumAgent.launch({ timeoutMs: Math.max(1_000, Math.round(stepTimeoutMs * 0.75)) })
    : undefined;
  const run: RunContext = {
    target: target.toString(),
    profile,
    idpUrl: options.idpUrl,
    upstream: options.upstream,
    headers,
    redirectUri: options.redirectUri ?? 'http://127.0.0.1:33418/callback',
    identity: options.identity,
    staticClient: options.staticClient,
    browser: options.browser === true,
    ...(browserAgent ? { browserAgent } : {}),
    browserRules: options.browserRules ?? [],
    stepTimeoutMs,
    fetch: fetchImpl,
    secrets,
    users: personas.users,
    personas: personas.personas,
  };
  const reporters = options.reporters ?? [];
  const expected = (options.expectedFailures ?? []).map(globToRegExp);
  let results: SuiteResult[];
  try {
    for (const r of reporters) {
      r.onRunStart({
        target: run.target,
        startedAt: startedAt.toISOString(),
        tool: TOOL,
        suites: suites.map((s) => ({ id: s.id, title: s.title, cases: s.cases.length })),
      });
    }
    results = await runSuites(suites, run, {
      concurrency: options.concurrency ?? 4,
      events: {
        onCaseStart: (suite, def) => {
          for (const r of reporters)
            r.onCaseStart({ id: suite.id, title: suite.title, file: suite.file }, def);
        },
        onCaseEnd: (suite, result) => {
          markExpected(result, expected);
          for (const r of reporters)
            r.onCaseEnd({ id: suite.id, title: suite.title, file: suite.file }, result);
        },
      },
    });
  } finally {
    await browserAgent?.close();
  }
  const summary = summarize(results);
  const finishedAt = new Date();
  const result: RunResult = {
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: TOOL,
    target: run.target,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    profile: {
      resource: profile.resource,
      issuer: profile.issuer,
      capabilities: profile.capabilities,
      missing: profile.missing,
      notes: profile.notes,
      ...(options.upstream ? { upstream: options.upstream } : {}),
    },
    suites: results,
    summary,
    exitCode: exitCodeOf(summary),
  };
  for (const r of reporters) await r.onRunEnd(result);
  return result;
}
