/**
 * The conformance config file: the options of `conformance <server-url>` in a file, so a project
 * can keep them in its repository. Formats: `conformance.config.json`, `.yaml`, `.yml`, and `.ts`
 * (a module whose default export is the options object, or a function returning it; loaded with
 * a dynamic import, so Node's type stripping runs it and it may read `process.env`).
 *
 * Keys are the flags' long names in camelCase (`--client-id` -> `clientId`, `--start-idp` ->
 * `startIdp`); a repeatable flag takes a list under its singular name (`suite: [discovery]`,
 * `reporter: [console, junit]`); `--color`/`--no-color` is `color: true|false`. `url` is the
 * server URL; `identity` (`{ tool, fields: { email: user.email, ... } }`) is what
 * `--identity-tool`/`--identity-field` set; `browser` is `true` (as `--browser`) or the consent
 * and login automation rules (`[{ match, commands, consent?, deny? }]`, which imply `--browser`).
 * An unknown key is an error that names it. Relative paths are relative to the file's directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { parseRules } from '../runner/agent/rules.ts';
import type { BrowserRule, IdentityProbe } from '../runner/context.ts';

/** The names looked for in the working directory when no `--config` is given, in this order. */
export const CONFIG_FILE_NAMES = [
  'conformance.config.ts',
  'conformance.config.json',
  'conformance.config.yaml',
  'conformance.config.yml',
] as const;

/** The identity fields a probe can name (IdentityProbe.fields). */
export const IDENTITY_FIELDS = ['id', 'email', 'login', 'groups'] as const;

/** Options of a run, from flags or a config file (before defaults). */
export interface RunConfig {
  url?: string;
  idp?: string;
  /** `true`: the default port. */
  startIdp?: number | boolean;
  upstream?: string;
  suite?: string[];
  case?: string[];
  suitesDir?: string[];
  replaceSuites?: boolean;
  header?: Record<string, string>;
  identity?: IdentityProbe;
  userStore?: boolean;
  personas?: string;
  capability?: string[];
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  clientAuth?: string;
  /** A file of globs, or the globs themselves (in a config file). */
  expectedFailures?: string | string[];
  reporter?: string[];
  out?: string;
  concurrency?: number;
  timeout?: number;
  verbose?: boolean;
  color?: boolean;
  /** Chromium for the sign-ins (`true`), with rules for pages that are not ours (a list). */
  browser?: boolean | BrowserRule[];
}

/** A config file that cannot be used: which file, where, which key, and why. */
export class ConfigFileError extends Error {
  readonly code = 'ERR_CONFIG_FILE';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

type Where = (key: Array<string | number>) => string;

type KeyKind = 'string' | 'strings' | 'boolean' | 'count' | 'path' | 'paths';

/** Keys whose values are checked the plain way; the others have their own checks below. */
const SIMPLE: Record<string, KeyKind> = {
  url: 'string',
  idp: 'string',
  upstream: 'string',
  suite: 'strings',
  case: 'strings',
  suitesDir: 'paths',
  replaceSuites: 'boolean',
  userStore: 'boolean',
  personas: 'path',
  capability: 'strings',
  clientId: 'string',
  clientSecret: 'string',
  redirectUri: 'string',
  clientAuth: 'string',
  reporter: 'strings',
  out: 'path',
  concurrency: 'count',
  timeout: 'count',
  verbose: 'boolean',
  color: 'boolean',
};

/** Every key a config file may hold. */
export const CONFIG_KEYS = [
  ...Object.keys(SIMPLE),
  'startIdp',
  'header',
  'identity',
  'expectedFailures',
  'browser',
].sort();

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known key closest to `key`, when it is close enough to be a typo (or a kebab/plural form). */
export function closestKey(key: string, known: readonly string[] = CONFIG_KEYS): string | undefined {
  const camel = key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  if (camel !== key && known.includes(camel)) return camel;
  const prefix = known.find((k) => k.length >= 3 && camel.toLowerCase().startsWith(k.toLowerCase()));
  if (prefix) return prefix;
  let best: string | undefined;
  let score = Infinity;
  for (const k of known) {
    const d = distance(camel.toLowerCase(), k.toLowerCase());
    if (d < score) {
      score = d;
      best = k;
    }
  }
  return best !== undefined && score <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'a mapping' : JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function simple(kind: KeyKind, key: string, value: unknown, where: Where, base: string): unknown {
  const fail = (what: string) => {
    throw new ConfigFileError(`${where([key])}: ${key}: must be ${what}, got ${describeValue(value)}`);
  };
  switch (kind) {
    case 'string':
    case 'path':
      if (typeof value !== 'string' || value === '') fail('a non-empty string');
      return kind === 'path' ? resolve(base, value as string) : value;
    case 'strings':
    case 'paths': {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || list.some((v) => typeof v !== 'string' || v === '')) {
        fail('a string or a list of strings');
      }
      return kind === 'paths' ? (list as string[]).map((p) => resolve(base, p)) : list;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail('true or false');
      return value;
    case 'count':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail('a positive integer');
      return value;
  }
}

function headers(value: unknown, where: Where): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      if (typeof item !== 'string') {
        throw new ConfigFileError(`${where(['header', i])}: header[${i}]: must be "Name: value"`);
      }
      const parsed = parseHeader(item);
      if (!parsed) throw new ConfigFileError(`${where(['header', i])}: header[${i}]: must be "Name: value"`);
      out[parsed[0]] = parsed[1];
    }
    return out;
  }
  if (!isObject(value)) {
    throw new ConfigFileError(
      `${where(['header'])}: header: must be a mapping of names to values, got ${describeValue(value)}`,
    );
  }
  for (const [name, v] of Object.entries(value)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new ConfigFileError(`${where(['header', name])}: header: "${name}" is not a header name`);
    }
    if (typeof v !== 'string') {
      throw new ConfigFileError(`${where(['header', name])}: header.${name}: must be a string`);
    }
    out[name] = v;
  }
  return out;
}

/** `"Name: value"` -> [name, value]; undefined when it is not a header line (RFC 9110 5.1, 5.5). */
export function parseHeader(line: string): [string, string] | undefined {
  const m = line.match(/^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*:\s*(.*?)\s*$/);
  return m ? [m[1]!, m[2]!] : undefined;
}

function identity(value: unknown, where: Where): IdentityProbe {
  if (!isObject(value)) {
    throw new ConfigFileError(
      `${where(['identity'])}: identity: must be { tool, fields }, got ${describeValue(value)}`,
    );
  }
  for (const k of Object.keys(value)) {
    if (!['tool', 'fields', 'arguments'].includes(k)) {
      throw new ConfigFileError(
        `${where(['identity', k])}: identity.${k}: is not a known key (tool, fields, arguments)`,
      );
    }
  }
  const tool = value['tool'];
  if (typeof tool !== 'string' || tool === '') {
    throw new ConfigFileError(
      `${where(['identity', 'tool'])}: identity.tool: must be the name of an MCP tool`,
    );
  }
  const fields = value['fields'] ?? {};
  if (!isObject(fields)) {
    throw new ConfigFileError(`${where(['identity', 'fields'])}: identity.fields: must be a mapping`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (!(IDENTITY_FIELDS as readonly string[]).includes(k)) {
      throw new ConfigFileError(
        `${where(['identity', 'fields', k])}: identity.fields.${k}: is not an identity field (${IDENTITY_FIELDS.join(', ')})`,
      );
    }
    if (typeof v !== 'string' || v === '') {
      throw new ConfigFileError(
        `${where(['identity', 'fields', k])}: identity.fields.${k}: must be a path into the tool result`,
      );
    }
    out[k] = v;
  }
  const args = value['arguments'];
  if (args !== undefined && !isObject(args)) {
    throw new ConfigFileError(`${where(['identity', 'arguments'])}: identity.arguments: must be a mapping`);
  }
  return {
    tool,
    fields: out as unknown as IdentityProbe['fields'],
    ...(args ? { arguments: args } : {}),
  };
}

/**
 * `browser: true` (drive sign-ins in Chromium), or the rules for pages that are not ours (which
 * imply Chromium), checked by the runner's own parser; the message's `browser[i].commands[j]`
 * path is turned into a line.
 */
function browser(value: unknown, where: Where): boolean | BrowserRule[] {
  if (typeof value === 'boolean') return value;
  try {
    return parseRules(value);
  } catch (error) {
    const message = (error as Error).message;
    const m = message.match(/^browser\[(\d+)\](?:\.(commands|deny)\[(\d+)\])?/);
    const path: Array<string | number> = ['browser'];
    if (m) path.push(Number(m[1]));
    if (m?.[2]) path.push(m[2], Number(m[3]));
    const text = message.startsWith('"browser" must be')
      ? `browser: must be true, false or a list of { match, commands }, got ${describeValue(value)}`
      : message;
    throw new ConfigFileError(`${where(path)}: ${text}`);
  }
}

/**
 * Checks a config object and returns it typed, with paths resolved against `base`.
 * @param where names the place of a key path in messages (`file:line`).
 */
export function validateConfig(raw: unknown, base: string, where: Where): RunConfig {
  if (!isObject(raw)) {
    throw new ConfigFileError(
      `${where([])}: the config must be a mapping of options, got ${describeValue(raw)}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const kind = SIMPLE[key];
    if (kind) {
      out[key] = simple(kind, key, value, where, base);
      continue;
    }
    switch (key) {
      case 'startIdp':
        if (
          !(
            typeof value === 'boolean' ||
            (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535)
          )
        ) {
          throw new ConfigFileError(
            `${where([key])}: startIdp: must be true or a port number, got ${describeValue(value)}`,
          );
        }
        out[key] = value;
        break;
      case 'header':
        out[key] = headers(value, where);
        break;
      case 'identity':
        out[key] = identity(value, where);
        break;
      case 'browser':
        out[key] = browser(value, where);
        break;
      case 'expectedFailures':
        if (typeof value === 'string' && value !== '') out[key] = resolve(base, value);
        else if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== ''))
          out[key] = value;
        else {
          throw new ConfigFileError(
            `${where([key])}: expectedFailures: must be a file or a list of case id globs, got ${describeValue(value)}`,
          );
        }
        break;
      default: {
        const hint = closestKey(key);
        throw new ConfigFileError(
          `${where([key])}: unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}`,
        );
      }
    }
  }
  return out as RunConfig;
}

function parseYamlConfig(text: string, file: string): { data: unknown; where: Where } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new ConfigFileError(
      `${file}${line ? `:${line}` : ''}: not valid YAML (${e.message.split('\n')[0]})`,
    );
  }
  const where: Where = (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as
        | { range?: [number, number, number] }
        | null
        | undefined;
      if (node && typeof node === 'object' && node.range) {
        // For a key, point at the key itself (the pair's value may start on a later line).
        if (n === path.length && n > 0 && isMap(doc.getIn(path.slice(0, n - 1), true))) {
          const map = doc.getIn(path.slice(0, n - 1), true) as { items: Array<{ key: unknown }> };
          const pair = map.items.find(
            (p) => String((p.key as { value?: unknown })?.value) === String(path[n - 1]),
          );
          const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
          if (range) return `${file}:${lines.linePos(range[0]).line}`;
        }
        return `${file}:${lines.linePos(node.range[0]).line}`;
      }
    }
    return file;
  };
  return { data: doc.toJS() as unknown, where };
}

/**
 * Loads a config file (.json, .yaml, .yml or .ts). Errors name the file, the line (YAML) and the
 * key at fault.
 */
export async function loadConfigFile(path: string): Promise<RunConfig> {
  const file = resolve(path);
  const ext = extname(file).toLowerCase();
  if (!['.json', '.yaml', '.yml', '.ts', '.mts', '.js', '.mjs'].includes(ext)) {
    throw new ConfigFileError(`${path}: a config file is .json, .yaml, .yml or .ts`);
  }
  if (!existsSync(file)) throw new ConfigFileError(`--config: no such file "${path}"`);
  const base = dirname(file);
  if (ext === '.ts' || ext === '.mts' || ext === '.js' || ext === '.mjs') {
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (error) {
      const e = error as Error;
      throw new ConfigFileError(`${path}: cannot load the module (${e.message.split('\n')[0]})`);
    }
    let value = mod.default;
    if (value === undefined) throw new ConfigFileError(`${path}: the module has no default export`);
    if (typeof value === 'function') value = await (value as () => unknown)();
    return validateConfig(value, base, () => path);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigFileError(`${path}: cannot read the file`);
  }
  if (ext === '.json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new ConfigFileError(`${path}: not valid JSON (${(error as Error).message})`);
    }
    return validateConfig(data, base, () => path);
  }
  const { data, where } = parseYamlConfig(text, path);
  return validateConfig(data ?? {}, base, where);
}

/** The config file of a directory (the first of CONFIG_FILE_NAMES that exists), if any. */
export function findConfigFile(dir: string): string | undefined {
  const found = CONFIG_FILE_NAMES.map((name) => resolve(dir, name)).filter((p) => existsSync(p));
  if (found.length > 1) {
    throw new ConfigFileError(
      `${dir} holds several config files (${found.map((f) => f.slice(dir.length + 1)).join(', ')}); keep one or pass --config`,
    );
  }
  return found[0];
}
