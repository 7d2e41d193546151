/**
 * `conformance <server-url> [options]`: runs the suites against one MCP server and reports.
 * Options come from the flags, then a config file (--config, or conformance.config.* in the
 * working directory), then defaults (DESIGN.md, "One run, as data flows", step 1).
 * Exit codes: 0 no unexpected failure; 1 unexpected failures or stale expected failures; 2 the
 * run could not be made (never a stack trace: `conformance: <message>` and a hint).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MockIdpError } from '../mock-idp/errors.ts';
import { loadPersonas } from '../mock-idp/personas.ts';
import { allProviders } from '../mock-idp/providers/index.ts';
import type { RunningMockIdp } from '../mock-idp/server.ts';
import { createReporters, REPORTER_NAMES, ReportError } from '../reports/index.ts';
import type { RunResult } from '../reports/model.ts';
import type { OutputStream, Reporter } from '../reports/reporter.ts';
import type { IdentityProbe, StaticClient } from '../runner/context.ts';
import { RunnerError } from '../runner/errors.ts';
import {
  type ExpectedFailures,
  ExpectedFailuresError,
  loadExpectedFailures,
  staleEntries,
  unmatchedEntries,
} from '../runner/expected-failures.ts';
import { loadSuites, SuiteError, suitesDir } from '../runner/load.ts';
import { type ConformanceOptions, globToRegExp, runConformance, WHOAMI_PROBE } from '../runner/run.ts';
import type { Capability, SuiteDef } from '../runner/suite.ts';
import { parseCommand, portOption, UsageError } from './args.ts';
import {
  ConfigFileError,
  findConfigFile,
  IDENTITY_FIELDS,
  loadConfigFile,
  parseHeader,
  type RunConfig,
} from './config-file.ts';

export const DEFAULT_IDP_PORT = 4010;
export const DEFAULT_OUT_DIR = 'conformance-report';
export const DEFAULT_REDIRECT_URI = 'http://127.0.0.1:33418/callback';
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_CONCURRENCY = 4;
/** Capabilities a server can declare (the probe finds the others). */
export const DECLARABLE_CAPABILITIES = ['required-scopes', 'claims-passthrough'] as const;
export const CLIENT_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;

export const runUsage = `Usage: conformance <server-url> [options]
       conformance --config FILE [options]

Runs the conformance suites against the MCP endpoint at <server-url> (for example
http://127.0.0.1:8000/mcp) and reports every case. Cases the server cannot be checked for are
skipped with the reason.

Mock identity provider (for the cases about the upstream leg):
  --idp URL                 origin of a mock IdP that is already running in front of the server
  --start-idp [PORT]        start the mock IdP on 127.0.0.1:PORT for this run (default ${DEFAULT_IDP_PORT});
                            the server must already use it as its upstream
  --upstream PROVIDER       the mock provider the server signs users in with: github, google,
                            entra, auth0, cognito, oidc, discord, clerk, workos, ...
Which cases:
  --suite ID                run only this suite (repeatable; "conformance list" shows them)
  --case GLOB               run only the cases whose id matches (repeatable; * matches anything)
  --suites-dir DIR          also load the suite files in DIR, or one file (repeatable)
  --replace-suites          load only the --suites-dir suites, not the bundled ones
The server:
  --header "Name: value"    send this header with every request to the server (repeatable;
                            its value is redacted in every report)
  --identity-tool NAME      the MCP tool that names the signed-in user (reference server: whoami)
  --identity-field F=PATH   where field F (id, email, login, groups) is in that tool's result
                            (repeatable; a field not given keeps its default: id=user.id
                            email=user.email login=user.login groups=user.groups)
  --user-store              the server's user store holds the users of the personas file
  --personas FILE           the personas file (default: the bundled one)
  --capability NAME         a capability the probe cannot see: required-scopes,
                            claims-passthrough (repeatable)
  --client-id ID            a pre-registered client, for a server without dynamic registration
  --client-secret SECRET    that client's secret (redacted in every report)
  --redirect-uri URI        that client's registered redirect URI
                            (default ${DEFAULT_REDIRECT_URI})
  --client-auth METHOD      its token endpoint authentication: none, client_secret_basic or
                            client_secret_post (default: client_secret_basic with a secret)
Results:
  --expected-failures FILE  case id globs known to fail (one a line, # comments; or a YAML list);
                            a listed case that passes fails the run (stale entry)
  --reporter NAMES          ${REPORTER_NAMES.join(', ')} (repeatable or comma-separated;
                            default console)
  --out DIR                 where file reports are written (default ./${DEFAULT_OUT_DIR})
  --verbose                 print every check, and the HTTP exchanges of failing ones
  --color, --no-color       force colour on or off (default: on a terminal, unless NO_COLOR)
Running:
  --browser                 sign in through real Chromium (Playwright) instead of plain HTTP;
                            pages that are not ours need "browser" rules in the config file
  --no-browser              plain HTTP even when the config file has browser rules
  --concurrency N           cases run at once (default ${DEFAULT_CONCURRENCY})
  --timeout MS              time limit of each step and of each probe request (default ${DEFAULT_TIMEOUT_MS})
  --config FILE             read options from FILE (.json, .yaml, .yml or .ts); flags win over it.
                            Without --config, conformance.config.{ts,json,yaml,yml} in the
                            working directory is read when present.
  -h, --help                show this help

Exit code: 0 no unexpected failure; 1 unexpected failures, or expected failures that no longer
happen; 2 the run could not be made (bad options, server unreachable, not an MCP server).`;

/** A run that could not be made: printed as `conformance: <message>` and the hint, exit 2. */
export class RunFailure extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'RunFailure';
    this.hint = hint;
  }
}

export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Whether `out` is a terminal (colour detection); false when absent. */
  isTTY?: boolean;
  /** Where relative paths start; process.cwd() when absent. */
  cwd?: string;
}

const RUN_OPTIONS = {
  idp: { type: 'string' },
  'start-idp': { type: 'string' },
  upstream: { type: 'string' },
  suite: { type: 'string', multiple: true },
  case: { type: 'string', multiple: true },
  'suites-dir': { type: 'string', multiple: true },
  'replace-suites': { type: 'boolean' },
  header: { type: 'string', multiple: true },
  'identity-tool': { type: 'string' },
  'identity-field': { type: 'string', multiple: true },
  'user-store': { type: 'boolean' },
  personas: { type: 'string' },
  capability: { type: 'string', multiple: true },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'redirect-uri': { type: 'string' },
  'client-auth': { type: 'string' },
  'expected-failures': { type: 'string' },
  reporter: { type: 'string', multiple: true },
  out: { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
  verbose: { type: 'boolean' },
  color: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  browser: { type: 'boolean' },
  'no-browser': { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `--start-idp` takes an optional port: give the bare flag its default so parseArgs accepts it. */
function normalizeStartIdp(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--start-idp') {
      const next = argv[i + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        out.push(`--start-idp=${next}`);
        i++;
      } else out.push(`--start-idp=${DEFAULT_IDP_PORT}`);
    } else out.push(arg);
  }
  return out;
}

/** A comma list, split and trimmed, empty items dropped. */
export function commaList(values: readonly string[] | undefined): string[] | undefined {
  return values
    ?.flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** A comma list broken into lines of at most 96 characters, continued at `indent` spaces. */
export function wrapList(items: readonly string[], indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    if (line && indent + line.length + item.length + 2 > 96) {
      lines.push(`${line},`);
      line = item;
    } else line = line ? `${line}, ${item}` : item;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** A positive integer flag. */
export function countOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) <= 0 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  }
  return Number(value);
}

type RunValues = ReturnType<typeof parseRun>['values'];

function parseRun(argv: string[]) {
  return parseCommand(normalizeStartIdp(argv), RUN_OPTIONS, true);
}

/** The flags as a RunConfig (only what was given), paths resolved against `cwd`. */
export function flagsToConfig(values: RunValues, url: string | undefined, cwd: string): RunConfig {
  const config: RunConfig = {};
  if (url !== undefined) config.url = url;
  if (values.idp !== undefined) config.idp = values.idp;
  if (values['start-idp'] !== undefined) config.startIdp = portOption(values['start-idp'], '--start-idp')!;
  if (values.upstream !== undefined) config.upstream = values.upstream;
  if (values.suite) config.suite = commaList(values.suite)!;
  if (values.case) config.case = values.case;
  if (values['suites-dir']) config.suitesDir = values['suites-dir'].map((d) => resolve(cwd, d));
  if (values['replace-suites']) config.replaceSuites = true;
  if (values.header) {
    config.header = {};
    for (const line of values.header) {
      const parsed = parseHeader(line);
      if (!parsed) throw new UsageError(`--header must be "Name: value", got "${line}"`);
      config.header[parsed[0]] = parsed[1];
    }
  }
  if (values['identity-tool'] !== undefined || values['identity-field']) {
    const fields: Record<string, string> = {};
    for (const spec of values['identity-field'] ?? []) {
      const m = spec.match(/^([a-z]+)=(.+)$/);
      if (!m)
        throw new UsageError(`--identity-field must be FIELD=PATH (e.g. email=user.email), got "${spec}"`);
      if (!(IDENTITY_FIELDS as readonly string[]).includes(m[1]!)) {
        throw new UsageError(
          `--identity-field: "${m[1]}" is not an identity field (${IDENTITY_FIELDS.join(', ')})`,
        );
      }
      fields[m[1]!] = m[2]!;
    }
    config.identity = {
      tool: values['identity-tool'] ?? '',
      fields: fields as unknown as IdentityProbe['fields'],
    };
  }
  if (values['user-store']) config.userStore = true;
  if (values.personas !== undefined) config.personas = resolve(cwd, values.personas);
  if (values.capability) config.capability = commaList(values.capability)!;
  if (values['client-id'] !== undefined) config.clientId = values['client-id'];
  if (values['client-secret'] !== undefined) config.clientSecret = values['client-secret'];
  if (values['redirect-uri'] !== undefined) config.redirectUri = values['redirect-uri'];
  if (values['client-auth'] !== undefined) config.clientAuth = values['client-auth'];
  if (values['expected-failures'] !== undefined) {
    config.expectedFailures = resolve(cwd, values['expected-failures']);
  }
  if (values.reporter) config.reporter = commaList(values.reporter)!;
  if (values.out !== undefined) config.out = resolve(cwd, values.out);
  const concurrency = countOption(values.concurrency, '--concurrency');
  if (concurrency !== undefined) config.concurrency = concurrency;
  const timeout = countOption(values.timeout, '--timeout');
  if (timeout !== undefined) config.timeout = timeout;
  if (values.verbose) config.verbose = true;
  if (values.color && values['no-color']) throw new UsageError('use either --color or --no-color');
  if (values.color) config.color = true;
  if (values['no-color']) config.color = false;
  if (values.browser && values['no-browser']) throw new UsageError('use either --browser or --no-browser');
  if (values.browser) config.browser = true;
  if (values['no-browser']) config.browser = false;
  return config;
}

/** Flags win over the file; the identity probe merges field by field. */
export function mergeConfig(file: RunConfig, flags: RunConfig): RunConfig {
  const merged: RunConfig = { ...file, ...flags };
  if (file.identity && flags.identity) {
    merged.identity = {
      tool: flags.identity.tool || file.identity.tool,
      fields: { ...file.identity.fields, ...flags.identity.fields },
      ...(file.identity.arguments ? { arguments: file.identity.arguments } : {}),
    };
  }
  // --browser turns Chromium on and keeps the file's rules; --no-browser turns it off.
  if (flags.browser === true && Array.isArray(file.browser)) merged.browser = file.browser;
  return merged;
}

/** What a run needs, checked: the runner's options plus the command's own. */
export interface ResolvedRun {
  options: ConformanceOptions;
  reporterNames: string[];
  outDir: string;
  verbose: boolean;
  color: boolean | undefined;
  startIdpPort: number | undefined;
  expected: ExpectedFailures | undefined;
  /** Literal values every report must leave out. */
  secrets: string[];
  configFile: string | undefined;
  /** --suite ids and --case globs, checked against the suites before the run starts. */
  suiteIds: string[] | undefined;
  caseGlobs: string[] | undefined;
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const PROVIDER_IDS = allProviders.map((p) => p.id);

/** Checks the merged options and builds the runner's. Throws UsageError naming the value at fault. */
export function resolveRun(config: RunConfig, cwd: string, configFile?: string): ResolvedRun {
  const url = config.url;
  if (url === undefined) {
    throw new UsageError('missing the server URL: conformance <server-url> (or "url" in the config file)');
  }
  if (!isHttpUrl(url)) throw new UsageError(`"${url}" is not an http(s) URL`);
  if (config.idp !== undefined && config.startIdp !== undefined && config.startIdp !== false) {
    throw new UsageError('use either --idp (a mock IdP already running) or --start-idp, not both');
  }
  if (config.idp !== undefined && !isHttpUrl(config.idp)) {
    throw new UsageError(`--idp must be the http(s) origin of a mock IdP, got "${config.idp}"`);
  }
  const startIdpPort =
    config.startIdp === true ? DEFAULT_IDP_PORT : config.startIdp === false ? undefined : config.startIdp;
  if (config.upstream !== undefined) {
    if (config.idp === undefined && startIdpPort === undefined) {
      throw new UsageError('--upstream needs a mock IdP: add --idp URL or --start-idp');
    }
    if (config.idp === undefined && !PROVIDER_IDS.includes(config.upstream)) {
      throw new UsageError(
        `--upstream "${config.upstream}" is not a mock provider (valid: ${PROVIDER_IDS.join(', ')})`,
      );
    }
  }
  for (const c of config.capability ?? []) {
    if (!(DECLARABLE_CAPABILITIES as readonly string[]).includes(c)) {
      throw new UsageError(
        `--capability "${c}" cannot be declared (valid: ${DECLARABLE_CAPABILITIES.join(', ')}; the probe finds the others)`,
      );
    }
  }
  if (config.identity && !config.identity.tool) {
    throw new UsageError('--identity-field needs --identity-tool NAME');
  }
  const identity: IdentityProbe | undefined = config.identity
    ? {
        ...config.identity,
        // A field given replaces only that field's default (the others, and claims, stay).
        fields: { ...WHOAMI_PROBE.fields, ...config.identity.fields },
      }
    : undefined;

  let staticClient: StaticClient | undefined;
  if (config.clientId === undefined) {
    for (const [key, flag] of [
      ['clientSecret', '--client-secret'],
      ['clientAuth', '--client-auth'],
    ] as const) {
      if (config[key] !== undefined) throw new UsageError(`${flag} needs --client-id`);
    }
  } else {
    const auth = config.clientAuth ?? (config.clientSecret ? 'client_secret_basic' : 'none');
    if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(auth)) {
      throw new UsageError(`--client-auth must be one of ${CLIENT_AUTH_METHODS.join(', ')}, got "${auth}"`);
    }
    if (auth !== 'none' && !config.clientSecret) {
      throw new UsageError(`--client-auth ${auth} needs --client-secret`);
    }
    staticClient = {
      client_id: config.clientId,
      ...(config.clientSecret ? { client_secret: config.clientSecret } : {}),
      redirect_uri: config.redirectUri ?? DEFAULT_REDIRECT_URI,
      token_endpoint_auth_method: auth as StaticClient['token_endpoint_auth_method'],
    };
  }
  if (
    config.redirectUri !== undefined &&
    !isHttpUrl(config.redirectUri) &&
    !/^[a-z][a-z0-9+.-]*:/i.test(config.redirectUri)
  ) {
    throw new UsageError(`--redirect-uri must be an absolute URI, got "${config.redirectUri}"`);
  }

  const reporterNames = config.reporter?.length ? config.reporter : ['console'];
  const unknown = reporterNames.filter((n) => !(REPORTER_NAMES as readonly string[]).includes(n));
  if (unknown.length) {
    throw new UsageError(
      `--reporter: unknown reporter ${unknown.map((n) => `"${n}"`).join(', ')} (valid: ${REPORTER_NAMES.join(', ')})`,
    );
  }

  let expected: ExpectedFailures | undefined;
  if (typeof config.expectedFailures === 'string') expected = loadExpectedFailures(config.expectedFailures);
  else if (Array.isArray(config.expectedFailures)) {
    expected = {
      file: configFile ?? 'config',
      entries: config.expectedFailures.map((pattern) => ({ pattern, line: 0 })),
    };
  }

  const headers = config.header ?? {};
  const secrets = [...Object.values(headers), ...(config.clientSecret ? [config.clientSecret] : [])].filter(
    (s) => s !== '',
  );
  const suitePaths = [...(config.replaceSuites ? [] : [undefined]), ...(config.suitesDir ?? [])];
  if (config.replaceSuites && !config.suitesDir?.length) {
    throw new UsageError('--replace-suites needs --suites-dir DIR');
  }
  const options: ConformanceOptions = {
    target: url,
    ...(config.idp !== undefined ? { idpUrl: config.idp.replace(/\/+$/, '') } : {}),
    ...(config.upstream !== undefined ? { upstream: config.upstream } : {}),
    ...(config.suitesDir?.length ? { suites: suitePaths.map((p) => p ?? suitesDir) } : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(identity ? { identity } : {}),
    ...(config.userStore ? { userStore: true } : {}),
    ...(config.capability?.length ? { capabilities: config.capability as Capability[] } : {}),
    ...(staticClient ? { staticClient, redirectUri: staticClient.redirect_uri } : {}),
    ...(config.redirectUri && !staticClient ? { redirectUri: config.redirectUri } : {}),
    ...(config.browser === true || Array.isArray(config.browser) ? { browser: true } : {}),
    ...(Array.isArray(config.browser) && config.browser.length ? { browserRules: config.browser } : {}),
    ...(expected ? { expectedFailures: expected.entries.map((e) => e.pattern) } : {}),
    ...(config.personas ? { personasFile: config.personas } : {}),
    concurrency: config.concurrency ?? DEFAULT_CONCURRENCY,
    stepTimeoutMs: config.timeout ?? DEFAULT_TIMEOUT_MS,
  };
  return {
    options,
    reporterNames,
    outDir: config.out ?? resolve(cwd, DEFAULT_OUT_DIR),
    verbose: config.verbose === true,
    color: config.color,
    startIdpPort,
    expected,
    secrets,
    configFile,
    suiteIds: config.suite,
    caseGlobs: config.case,
  };
}

/** A stream that writes into `io.out`, one call per line. */
export function ioStream(io: CommandIo): OutputStream {
  return {
    write(chunk: string) {
      for (const line of chunk.replace(/\n$/, '').split('\n')) io.out(line);
      return true;
    },
    isTTY: io.isTTY === true,
  };
}

/** Wraps reporters to collect the files they write. */
export function collectingReporters(reporters: Reporter[], written: string[]): Reporter[] {
  return reporters.map((r) => ({
    name: r.name,
    onRunStart: (info) => r.onRunStart(info),
    onCaseStart: (suite, c) => r.onCaseStart(suite, c),
    onCaseEnd: (suite, result) => r.onCaseEnd(suite, result),
    onRunEnd: async (run) => {
      const files = await r.onRunEnd(run);
      written.push(...files);
      return files;
    },
  }));
}

/** Hints for the errors of a run that could not be made. */
export function toRunFailure(error: unknown, options?: { timeoutMs?: number }): unknown {
  if (error instanceof RunnerError) {
    switch (error.code) {
      case 'ERR_SERVER_UNREACHABLE':
        return new RunFailure(
          error.message,
          / did not answer within /.test(error.message)
            ? `hint: the server accepted the connection but sent no answer; check it is healthy, or raise --timeout (now ${options?.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)`
            : 'hint: is the server running, and is the URL (host, port, path) right?',
        );
      case 'ERR_NOT_MCP':
        return new RunFailure(
          error.message,
          'hint: <server-url> is the MCP endpoint itself (often ending in /mcp), not the site or the metadata URL',
        );
      default:
        return new RunFailure(error.message);
    }
  }
  if (error instanceof SuiteError) {
    return new RunFailure(
      `invalid suite: ${error.message}`,
      'hint: suites are checked against suites/suite.schema.json',
    );
  }
  if (
    error instanceof ConfigFileError ||
    error instanceof ExpectedFailuresError ||
    error instanceof ReportError ||
    error instanceof MockIdpError
  ) {
    return new RunFailure(error.message);
  }
  return error;
}

async function startIdp(port: number, personas: string | undefined): Promise<RunningMockIdp> {
  const { startMockIdp } = await import('../mock-idp/server.ts');
  try {
    return await startMockIdp({ port, ...(personas ? { personas } : {}) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new RunFailure(
        `port ${port} is already in use, so the mock IdP cannot start there`,
        `hint: if a mock IdP already runs there, use --idp http://127.0.0.1:${port} instead of --start-idp`,
      );
    }
    throw error;
  }
}

async function checkIdp(idpUrl: string, upstream: string | undefined): Promise<void> {
  let ids: string[];
  try {
    const res = await fetch(`${idpUrl}/_mock/providers`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { providers: Array<{ id: string }> };
    ids = body.providers.map((p) => p.id);
  } catch {
    throw new RunFailure(
      `the mock IdP at ${idpUrl} does not answer GET /_mock/providers`,
      'hint: start one with "conformance mock-idp", or let this run start it with --start-idp',
    );
  }
  if (upstream !== undefined && !ids.includes(upstream)) {
    throw new UsageError(
      `--upstream "${upstream}" is not a provider of the mock IdP at ${idpUrl} (valid: ${ids.join(', ')})`,
    );
  }
}

/** Reads the config file (given or found) and the flags, and checks the result. */
export async function readRunOptions(argv: string[], cwd: string): Promise<ResolvedRun | 'help'> {
  const { values, positionals } = parseRun(argv);
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const url = positionals[0];
  if (url !== undefined && !isHttpUrl(url)) {
    throw new UsageError(`"${url}" is not an http(s) URL`);
  }
  const configFile = values.config !== undefined ? resolve(cwd, values.config) : findConfigFile(cwd);
  if (values.config !== undefined && configFile && !existsSync(configFile)) {
    throw new UsageError(`--config: no such file "${values.config}"`);
  }
  const fromFile = configFile ? await loadConfigFile(configFile) : {};
  const flags = flagsToConfig(values, url, cwd);
  return resolveRun(mergeConfig(fromFile, flags), cwd, configFile);
}

export interface SuiteSelection {
  /** Suite files or directories (the bundled suites by default). */
  paths?: string[];
  personasFile?: string;
  suiteIds?: string[];
  caseGlobs?: string[];
}

/**
 * Loads the suites and keeps the selected ones. Every --suite id must name a suite and every
 * --case glob must match a case of the selected suites; otherwise a UsageError says which.
 */
export function selectSuites(selection: SuiteSelection = {}): SuiteDef[] {
  const personas = loadPersonas(selection.personasFile);
  const all = loadSuites(
    selection.paths ?? [suitesDir],
    personas.personas.map((p) => p.id),
  );
  let suites = all;
  if (selection.suiteIds?.length) {
    const known = all.map((s) => s.id);
    for (const id of selection.suiteIds) {
      if (!known.includes(id)) {
        throw new UsageError(`--suite "${id}" is not a suite (valid: ${known.join(', ')})`);
      }
    }
    suites = all.filter((s) => selection.suiteIds!.includes(s.id));
  }
  if (selection.caseGlobs?.length) {
    const ids = suites.flatMap((s) => s.cases.map((c) => c.id));
    for (const glob of selection.caseGlobs) {
      const re = globToRegExp(glob);
      if (!ids.some((id) => re.test(id))) {
        throw new UsageError(
          `--case "${glob}" matches no case${selection.suiteIds?.length ? ' of the selected suites' : ''} (case ids are suite/case; see "conformance list")`,
        );
      }
    }
    const res = selection.caseGlobs.map(globToRegExp);
    suites = suites
      .map((s) => ({ ...s, cases: s.cases.filter((c) => res.some((r) => r.test(c.id))) }))
      .filter((s) => s.cases.length > 0);
  }
  return suites;
}

/** Checks --suite ids and --case globs against the loaded suites; returns the ids of the cases to run. */
function caseSelection(run: ResolvedRun): string[] | undefined {
  if (!run.suiteIds?.length && !run.caseGlobs?.length) return undefined;
  const selected = selectSuites({
    ...(run.options.suites ? { paths: run.options.suites } : {}),
    ...(run.options.personasFile ? { personasFile: run.options.personasFile } : {}),
    ...(run.suiteIds?.length ? { suiteIds: run.suiteIds } : {}),
    ...(run.caseGlobs?.length ? { caseGlobs: run.caseGlobs } : {}),
  });
  return selected.flatMap((s) => s.cases.map((c) => c.id));
}

/** `conformance <server-url> [options]`. */
export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  let resolved: ResolvedRun | 'help';
  try {
    resolved = await readRunOptions(argv, cwd);
  } catch (error) {
    throw toRunFailure(error);
  }
  if (resolved === 'help') {
    io.out(runUsage);
    return 0;
  }
  const run = resolved;
  let idp: RunningMockIdp | undefined;
  try {
    // Suite and case selection is checked before anything starts, so a typo costs nothing.
    const cases = caseSelection(run);
    if (cases) run.options.cases = cases;

    const reporters = createReporters(run.reporterNames, {
      outDir: run.outDir,
      stream: ioStream(io),
      verbose: run.verbose,
      ...(run.color !== undefined ? { color: run.color } : {}),
      secrets: run.secrets,
    });
    const written: string[] = [];
    run.options.reporters = collectingReporters(reporters, written);

    if (run.startIdpPort !== undefined) {
      idp = await startIdp(run.startIdpPort, run.options.personasFile);
      run.options.idpUrl = idp.url;
      io.err(
        `Mock IdP started on ${idp.url}${run.options.upstream ? ` (the server under test must use its "${run.options.upstream}" provider)` : ''}; providers: ${idp.url}/_mock/providers`,
      );
    } else if (run.options.idpUrl) {
      await checkIdp(run.options.idpUrl, run.options.upstream);
    }

    const result = await runConformance(run.options);
    report(io, run, result, written);
    return result.exitCode;
  } catch (error) {
    throw toRunFailure(error, { timeoutMs: run.options.stepTimeoutMs ?? DEFAULT_TIMEOUT_MS });
  } finally {
    await idp?.stop();
  }
}

/** What the reporters do not say: expected-failures entries by line, and where the files are. */
function report(io: CommandIo, run: ResolvedRun, result: RunResult, written: string[]): void {
  const lines: string[] = [];
  if (run.expected) {
    const ids = result.suites.flatMap((s) => s.cases.map((c) => c.id));
    const where = (line: number) => `${run.expected!.file}${line ? `:${line}` : ''}`;
    for (const e of staleEntries(run.expected, result.summary.staleExpectedFailures)) {
      lines.push(`stale expected failure: ${where(e.line)}: "${e.pattern}" passed; remove it from the list`);
    }
    for (const e of unmatchedEntries(run.expected, ids)) {
      lines.push(`note: ${where(e.line)}: "${e.pattern}" matches no case of this run`);
    }
  }
  if (!run.reporterNames.includes('console')) {
    const s = result.summary;
    lines.push(
      `${result.exitCode === 0 ? 'PASSED' : 'FAILED'}: ${s.total} cases: ${s.passed} passed, ${s.failed} failed${
        s.expectedFailures ? ` (${s.expectedFailures} expected)` : ''
      }, ${s.warnings} warnings, ${s.info} info, ${s.skipped} skipped`,
    );
  }
  if (written.length) lines.push(`Reports: ${written.join(', ')}`);
  for (const line of lines) io.out(line);
}
