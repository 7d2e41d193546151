/**
 * Settings of the reference server.
 *
 * The `auth`, `oauth:` and `jwt:` blocks and their environment variables follow the backend
 * catalogue (shared/seeds/000_da4676632bc5e6ae.txt) exactly; `server:`, `tokens:`,
 * `registration:`, `upstream:` and `claims:` are our own. Sources, lowest first: defaults, a YAML
 * file of profiles (`default:` plus named profiles chosen by `profile` or `MCC_PROFILE`), the
 * environment (`MCC_AUTH`, `MCC_OAUTH__CLIENT_ID`: prefix `MCC_`, `__` nests, names are
 * case-insensitive, lists are JSON or comma-separated), then explicit overrides (CLI flags).
 * Unknown keys are errors, never ignored. Upstream endpoint defaults per backend come from
 * shared/reference/backends.md and provider-shapes.md; every one can be overridden, which is
 * how a backend is pointed at the mock IdP.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, RedirectPolicyError } from './errors.ts';
import { type RedirectUriPolicy, redirectUriPolicy } from './oauth/redirect-uri.ts';
import { RESERVED_CLAIMS } from './tokens/issuer.ts';

/** Every backend of the catalogue, in its order. */
export const AUTH_BACKENDS = [
  'dev-admin',
  'dev-public',
  'github',
  'google',
  'azure',
  'auth0',
  'clerk',
  'discord',
  'workos',
  'aws',
  'oci',
  'supabase',
  'scalekit',
  'propelauth',
  'descope',
  'in-memory',
  'jwt',
] as const;

export type AuthBackend = (typeof AUTH_BACKENDS)[number];

/**
 * How a backend works: `dev` (no authentication), `proxy` (our own authorization server in front
 * of an upstream without DCR), `remote` (the IdP issues tokens; we validate them and advertise it),
 * `in-memory` (our own authorization server with a built-in login), `jwt` (pure resource server).
 */
export type BackendKind = 'dev' | 'proxy' | 'remote' | 'in-memory' | 'jwt';

export const BACKEND_KINDS: Record<AuthBackend, BackendKind> = {
  'dev-admin': 'dev',
  'dev-public': 'dev',
  github: 'proxy',
  google: 'proxy',
  azure: 'proxy',
  auth0: 'proxy',
  clerk: 'proxy',
  discord: 'proxy',
  workos: 'proxy',
  aws: 'proxy',
  oci: 'proxy',
  supabase: 'remote',
  scalekit: 'remote',
  propelauth: 'remote',
  descope: 'remote',
  'in-memory': 'in-memory',
  jwt: 'jwt',
};

export interface ServerSettings {
  host: string;
  /** 0 picks a free port. */
  port: number;
  data_dir: string;
  storage: 'sqlite' | 'memory';
  /** Secret for sealing upstream tokens and keys at rest (at least 32 characters). */
  secret?: string;
  /** Path of the MCP endpoint under the base URL; the resource URL is base_url + mcp_path. */
  mcp_path: string;
}

/** The catalogue's shared `oauth:` block. */
export interface OAuthSettings {
  base_url?: string;
  client_id?: string;
  client_secret?: string;
  tenant_id?: string;
  config_url?: string;
  domain?: string;
  authkit_domain?: string;
  user_pool_id?: string;
  aws_region?: string;
  project_url?: string;
  environment_url?: string;
  resource_id?: string;
  auth_url?: string;
  introspection_client_id?: string;
  introspection_client_secret?: string;
  project_id?: string;
}

/** The catalogue's `jwt:` block (generic OIDC resource server). */
export interface JwtSettings {
  jwks_uri?: string;
  issuer?: string;
  audience?: string;
  authorization_server?: string;
  base_url?: string;
  required_scopes: string[];
}

/** Lifetimes in seconds, and verification leeway. */
export interface TokenSettings {
  access_ttl: number;
  refresh_ttl: number;
  /** At most 600 (RFC 6749 4.1.2: "maximum authorization code lifetime of 10 minutes is RECOMMENDED"). */
  code_ttl: number;
  transaction_ttl: number;
  /** Seconds after a rotation during which replaying the old refresh token fails without revoking the family (0: every replay revokes). */
  refresh_reuse_grace: number;
  /** Clock skew tolerated on exp/nbf/iat. */
  leeway: number;
}

export interface RegistrationSettings {
  /** Extra allowed redirect URIs (see oauth/redirect-uri.ts for the pattern syntax). */
  redirect_uri_patterns: string[];
  allow_loopback: boolean;
  allow_custom_schemes: boolean;
  /** Lifetime of a dynamically registered client, seconds (0: never expires). */
  client_ttl: number;
  /** Upper bound on stored dynamic registrations (edge 15). */
  max_clients: number;
}

export interface ClaimsSettings {
  /** Copy allowed claims of verified upstream tokens into our access tokens. */
  passthrough: boolean;
  allow_list: string[];
  block_list: string[];
  /** Size cap of one claim's JSON encoding, in bytes. */
  max_bytes: number;
  /** The claim that carries the passed-through claims, nested (so they never collide with ours). */
  claim: string;
  /** The claim that holds the email, for the jwt backend. */
  email_claim: string;
}

/** Upstream endpoint names a backend may override. */
export type UpstreamKey =
  | 'authority'
  | 'discovery_url'
  | 'authorization_server'
  | 'issuer'
  | 'authorize_url'
  | 'token_url'
  | 'userinfo_url'
  | 'tokeninfo_url'
  | 'token_info_url'
  | 'introspection_url'
  | 'revoke_url'
  | 'jwks_uri'
  | 'api_base'
  | 'audience';

export type UpstreamOverrides = Partial<Record<AuthBackend, Partial<Record<UpstreamKey, string>>>>;

export interface Settings {
  auth: AuthBackend;
  /** The profile the file contributed ("default" when none was chosen). */
  profile: string;
  server: ServerSettings;
  oauth: OAuthSettings;
  jwt: JwtSettings;
  tokens: TokenSettings;
  registration: RegistrationSettings;
  upstream: UpstreamOverrides;
  claims: ClaimsSettings;
}

export interface LoadSettingsOptions {
  /** A YAML file of profiles. */
  file?: string;
  /** Profile to use; otherwise `MCC_PROFILE`, otherwise `default`. */
  profile?: string;
  /** Environment to read `MCC_*` from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /**
   * `false` skips the per-backend required-field check (for a caller that fills those fields in
   * itself, such as `serve --mock-idp`). Syntax and unknown keys are always checked.
   */
  check?: boolean;
  /** Highest-precedence values: nested (`{ oauth: { client_id } }`) or dotted (`{ 'oauth.client_id': ... }`). */
  overrides?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Schema

type Kind = 'string' | 'secret' | 'url' | 'base_url' | 'host_or_url' | 'int' | 'bool' | 'list' | 'enum';

interface Field {
  kind: Kind;
  default?: unknown;
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Extra syntax check; returns a problem ("must ...") or undefined. */
  check?: (value: unknown) => string | undefined;
}

type Section = Record<string, Field>;

const str = (extra: Partial<Field> = {}): Field => ({ kind: 'string', ...extra });
const url = (): Field => ({ kind: 'url' });
const int = (def: number, min: number, max: number): Field => ({ kind: 'int', default: def, min, max });
const bool = (def: boolean): Field => ({ kind: 'bool', default: def });
const list = (def: string[], check?: Field['check']): Field => ({
  kind: 'list',
  default: def,
  ...(check ? { check } : {}),
});

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const CLAIM_NAME = /^[A-Za-z0-9_.:/-]+$/;
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

const scopeList: Field['check'] = (v) =>
  (v as string[]).every((s) => SCOPE_TOKEN.test(s)) ? undefined : 'must list scope tokens (RFC 6749 3.3)';
const claimList: Field['check'] = (v) =>
  (v as string[]).every((s) => CLAIM_NAME.test(s)) ? undefined : 'must list claim names';

const SERVER: Section = {
  host: str({ default: '127.0.0.1' }),
  port: int(8000, 0, 65535),
  data_dir: str({ default: './data' }),
  storage: { kind: 'enum', values: ['sqlite', 'memory'], default: 'sqlite' },
  secret: {
    kind: 'secret',
    check: (v) => ((v as string).length >= 32 ? undefined : 'must be at least 32 characters'),
  },
  mcp_path: str({
    default: '/mcp',
    check: (v) =>
      /^\/[A-Za-z0-9._~/-]*$/.test(v as string) ? undefined : 'must be a path starting with "/"',
  }),
};

const OAUTH: Section = {
  base_url: { kind: 'base_url' },
  client_id: str(),
  client_secret: { kind: 'secret' },
  tenant_id: str({
    check: (v) =>
      /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(v as string)
        ? undefined
        : 'must be a tenant GUID, a domain, "common", "organizations" or "consumers"',
  }),
  config_url: url(),
  domain: { kind: 'host_or_url' },
  authkit_domain: { kind: 'host_or_url' },
  user_pool_id: str({
    check: (v) =>
      /^[a-z]{2}(-[a-z]+)+-\d+_[A-Za-z0-9]+$/.test(v as string)
        ? undefined
        : 'must look like "us-east-1_AbCdEfGhI"',
  }),
  aws_region: str({
    check: (v) => (AWS_REGION.test(v as string) ? undefined : 'must be an AWS region such as "us-east-1"'),
  }),
  project_url: url(),
  environment_url: url(),
  resource_id: str(),
  auth_url: url(),
  introspection_client_id: str(),
  introspection_client_secret: { kind: 'secret' },
  project_id: str({
    check: (v) => (/^[^\s/?#]+$/.test(v as string) ? undefined : 'must be a Descope project id'),
  }),
};

const JWT: Section = {
  jwks_uri: url(),
  issuer: str(),
  audience: str(),
  authorization_server: url(),
  base_url: { kind: 'base_url' },
  required_scopes: list([], scopeList),
};

const TOKENS: Section = {
  access_ttl: int(3600, 60, 86_400),
  refresh_ttl: int(2_592_000, 60, 31_536_000),
  code_ttl: int(300, 10, 600),
  transaction_ttl: int(600, 60, 3600),
  refresh_reuse_grace: int(0, 0, 60),
  leeway: int(5, 0, 300),
};

const REGISTRATION: Section = {
  redirect_uri_patterns: list([]),
  allow_loopback: bool(true),
  allow_custom_schemes: bool(true),
  client_ttl: int(2_592_000, 0, 31_536_000),
  max_clients: int(10_000, 1, 10_000_000),
};

const CLAIMS: Section = {
  passthrough: bool(true),
  allow_list: list(['roles', 'groups', 'permissions'], (v) => {
    const bad = (v as string[]).find((c) => RESERVED_CLAIMS.includes(c) || !CLAIM_NAME.test(c));
    return bad === undefined ? undefined : `may not name "${bad}" (a reserved or malformed claim)`;
  }),
  block_list: list([], claimList),
  max_bytes: int(2048, 16, 65_536),
  claim: str({
    default: 'upstream_claims',
    check: (v) =>
      RESERVED_CLAIMS.includes(v as string) || !CLAIM_NAME.test(v as string)
        ? 'must be an unreserved claim name'
        : undefined,
  }),
  email_claim: str({ default: 'email' }),
};

/** Upstream endpoints per backend: every key a backend accepts, with its default (undefined: from discovery). */
type UpstreamDefaults = (o: OAuthSettings) => Partial<Record<UpstreamKey, string | undefined>>;

const trimSlash = (u: string): string => u.replace(/\/+$/, '');
const asUrl = (hostOrUrl: string | undefined): string | undefined =>
  hostOrUrl === undefined
    ? undefined
    : trimSlash(/^https?:\/\//i.test(hostOrUrl) ? hostOrUrl : `https://${hostOrUrl}`);
const originOf = (u: string | undefined): string | undefined => {
  if (u === undefined) return undefined;
  try {
    return new URL(u).origin;
  } catch {
    return undefined;
  }
};
const discovered = {
  issuer: undefined,
  authorize_url: undefined,
  token_url: undefined,
  userinfo_url: undefined,
  jwks_uri: undefined,
  revoke_url: undefined,
};

/** @see shared/reference/backends.md and provider-shapes.md for each URL. */
export const UPSTREAM_DEFAULTS: Partial<Record<AuthBackend, UpstreamDefaults>> = {
  github: () => ({
    authorize_url: 'https://github.com/login/oauth/authorize',
    token_url: 'https://github.com/login/oauth/access_token',
    api_base: 'https://api.github.com',
  }),
  google: () => ({
    discovery_url: 'https://accounts.google.com/.well-known/openid-configuration',
    issuer: 'https://accounts.google.com',
    authorize_url: 'https://accounts.google.com/o/oauth2/v2/auth',
    token_url: 'https://oauth2.googleapis.com/token',
    userinfo_url: 'https://openidconnect.googleapis.com/v1/userinfo',
    tokeninfo_url: 'https://oauth2.googleapis.com/tokeninfo',
    jwks_uri: 'https://www.googleapis.com/oauth2/v3/certs',
    revoke_url: 'https://oauth2.googleapis.com/revoke',
  }),
  azure: (o) => {
    const base = `https://login.microsoftonline.com/${o.tenant_id ?? 'common'}`;
    return {
      authority: 'https://login.microsoftonline.com',
      discovery_url: `${base}/v2.0/.well-known/openid-configuration`,
      issuer: `${base}/v2.0`,
      authorize_url: `${base}/oauth2/v2.0/authorize`,
      token_url: `${base}/oauth2/v2.0/token`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      userinfo_url: 'https://graph.microsoft.com/oidc/userinfo',
    };
  },
  auth0: (o) => ({ discovery_url: o.config_url, ...discovered, audience: undefined }),
  clerk: (o) => {
    const base = asUrl(o.domain);
    return {
      discovery_url: base && `${base}/.well-known/openid-configuration`,
      issuer: base,
      authorize_url: base && `${base}/oauth/authorize`,
      token_url: base && `${base}/oauth/token`,
      userinfo_url: base && `${base}/oauth/userinfo`,
      token_info_url: base && `${base}/oauth/token_info`,
      jwks_uri: base && `${base}/.well-known/jwks.json`,
    };
  },
  discord: () => ({
    authorize_url: 'https://discord.com/oauth2/authorize',
    token_url: 'https://discord.com/api/oauth2/token',
    revoke_url: 'https://discord.com/api/oauth2/token/revoke',
    api_base: 'https://discord.com/api',
  }),
  workos: (o) => {
    const base = asUrl(o.authkit_domain);
    return {
      issuer: base,
      authorize_url: base && `${base}/oauth2/authorize`,
      token_url: base && `${base}/oauth2/token`,
      userinfo_url: base && `${base}/oauth2/userinfo`,
      jwks_uri: base && `${base}/oauth2/jwks`,
    };
  },
  aws: (o) => {
    const issuer =
      o.aws_region && o.user_pool_id
        ? `https://cognito-idp.${o.aws_region}.amazonaws.com/${o.user_pool_id}`
        : undefined;
    return {
      ...discovered,
      discovery_url: issuer && `${issuer}/.well-known/openid-configuration`,
      issuer,
      jwks_uri: issuer && `${issuer}/.well-known/jwks.json`,
    };
  },
  oci: (o) => ({ discovery_url: o.config_url, ...discovered }),
  supabase: (o) => {
    const as = o.project_url && `${trimSlash(o.project_url)}/auth/v1`;
    return { authorization_server: as, issuer: as, jwks_uri: as && `${as}/.well-known/jwks.json` };
  },
  scalekit: (o) => {
    const env = o.environment_url && trimSlash(o.environment_url);
    return { authorization_server: env, issuer: env, jwks_uri: env && `${env}/keys` };
  },
  propelauth: (o) => {
    const as = o.auth_url && `${trimSlash(o.auth_url)}/oauth/2.1`;
    return { authorization_server: as, issuer: as, introspection_url: as && `${as}/introspect` };
  },
  descope: (o) => {
    const origin = originOf(o.config_url);
    return {
      discovery_url: o.config_url,
      authorization_server: o.config_url?.replace(/\/\.well-known\/openid-configuration$/, ''),
      issuer: undefined,
      jwks_uri: origin && o.project_id ? `${origin}/${o.project_id}/.well-known/jwks.json` : undefined,
    };
  },
};

const SECTIONS: Record<string, Section> = {
  server: SERVER,
  oauth: OAUTH,
  jwt: JWT,
  tokens: TOKENS,
  registration: REGISTRATION,
  claims: CLAIMS,
};

/** Fields each backend needs, exactly as the catalogue lists them. */
export const REQUIRED_FIELDS: Record<AuthBackend, readonly string[]> = (() => {
  const proxy = ['oauth.base_url', 'oauth.client_id', 'oauth.client_secret'];
  return {
    'dev-admin': [],
    'dev-public': [],
    github: proxy,
    google: proxy,
    discord: proxy,
    azure: [...proxy, 'oauth.tenant_id'],
    auth0: [...proxy, 'oauth.config_url'],
    clerk: [...proxy, 'oauth.domain'],
    workos: [...proxy, 'oauth.authkit_domain'],
    aws: [...proxy, 'oauth.user_pool_id', 'oauth.aws_region'],
    oci: [...proxy, 'oauth.config_url'],
    supabase: ['oauth.base_url', 'oauth.project_url'],
    scalekit: ['oauth.base_url', 'oauth.environment_url', 'oauth.resource_id', 'oauth.client_id'],
    propelauth: [
      'oauth.base_url',
      'oauth.auth_url',
      'oauth.introspection_client_id',
      'oauth.introspection_client_secret',
    ],
    descope: ['oauth.base_url', 'oauth.project_id', 'oauth.config_url'],
    'in-memory': [],
    jwt: ['jwt.jwks_uri', 'jwt.issuer', 'jwt.audience', 'jwt.base_url'],
  };
})();

/** The environment variable for a settings path: `oauth.tenant_id` -> `MCC_OAUTH__TENANT_ID`. */
export function envName(path: string): string {
  return `MCC_${path.split('.').join('__').toUpperCase()}`;
}

// ---------------------------------------------------------------------------------------------
// Loading

type Tree = Record<string, unknown>;

interface Layer {
  /** Where the values came from, for messages: a file, "the environment", "overrides". */
  source: string;
  values: Tree;
  /** For env values: the variable name of each path. */
  names: Map<string, string>;
}

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTree(v) && isTree(out[k]) ? deepMerge(out[k] as Tree, v) : v;
  }
  return out;
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function readFileLayer(file: string, profile: string): { layer: Layer; profile: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError('ERR_CONFIG_FILE', `cannot read settings file "${file}"`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false });
  } catch (error) {
    throw new ConfigError(
      'ERR_CONFIG_FILE',
      `settings file "${file}" is not valid YAML (${(error as Error).message.split('\n')[0]})`,
    );
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isTree(doc))
    throw new ConfigError('ERR_CONFIG_FILE', `settings file "${file}" must be a mapping of profiles`);
  for (const [name, value] of Object.entries(doc)) {
    if (name in SECTIONS || name === 'auth') {
      throw new ConfigError(
        'ERR_CONFIG_FILE',
        `settings file "${file}" has "${name}" at the top level; put settings under a profile such as "default:"`,
      );
    }
    if (value !== null && !isTree(value)) {
      throw new ConfigError(
        'ERR_CONFIG_FILE',
        `settings file "${file}": profile "${name}" must be a mapping`,
      );
    }
  }
  if (profile !== 'default' && !(profile in doc)) {
    const names = Object.keys(doc);
    throw new ConfigError(
      'ERR_CONFIG_PROFILE',
      `profile "${profile}" is not in "${file}" (profiles: ${names.length ? names.join(', ') : 'none'})`,
    );
  }
  const base = (doc['default'] as Tree | null | undefined) ?? {};
  const chosen = profile === 'default' ? {} : ((doc[profile] as Tree | null | undefined) ?? {});
  return {
    layer: { source: `"${file}" (profile "${profile}")`, values: deepMerge(base, chosen), names: new Map() },
    profile,
  };
}

function readEnvLayer(env: Record<string, string | undefined>): Layer {
  const values: Tree = {};
  const names = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !/^mcc_/i.test(name)) continue;
    if (/^mcc_profile$/i.test(name)) continue;
    const path = name
      .slice(4)
      .toLowerCase()
      .split('__')
      .map((p) => p.trim());
    if (path.some((p) => p === '')) {
      throw new ConfigError('ERR_CONFIG_UNKNOWN_KEY', `environment variable ${name} is not a settings name`);
    }
    setPath(values, path, value);
    names.set(path.join('.'), name);
  }
  return { source: 'the environment', values, names };
}

function readOverrideLayer(overrides: Record<string, unknown>): Layer {
  let values: Tree = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (key.includes('.')) {
      const nested: Tree = {};
      setPath(nested, key.split('.'), value);
      values = deepMerge(values, nested);
    } else {
      values = deepMerge(values, { [key]: value });
    }
  }
  return { source: 'overrides', values, names: new Map() };
}

function where(layer: Layer, path: string): string {
  return layer.names.get(path) ?? `${path} in ${layer.source}`;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === '[::1]' || hostname === 'localhost';
}

function checkUrl(value: string, base: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (!/^https?:\/\//i.test(value)) return 'must be an http(s) URL';
  if (u.username || u.password) return 'must not contain userinfo';
  if (value.includes('#')) return 'must not contain a fragment';
  if (base) {
    if (u.search) return 'must not contain a query';
    if (u.protocol === 'http:' && !isLoopbackHost(u.hostname))
      return 'must use https (http only on a loopback host)';
  }
  return undefined;
}

function coerce(field: Field, raw: unknown): { ok: true; value: unknown } | { ok: false; problem: string } {
  const fail = (problem: string) => ({ ok: false as const, problem });
  switch (field.kind) {
    case 'string':
    case 'secret':
    case 'url':
    case 'base_url':
    case 'host_or_url': {
      if (typeof raw === 'number') raw = String(raw);
      if (typeof raw !== 'string') return fail('must be a string');
      const value = raw.trim();
      if (value === '') return fail('must not be empty');
      if (field.kind === 'url' || field.kind === 'base_url') {
        const problem = checkUrl(value, field.kind === 'base_url');
        if (problem) return fail(problem);
        return { ok: true, value: field.kind === 'base_url' ? value.replace(/\/+$/, '') : value };
      }
      if (field.kind === 'host_or_url') {
        if (/^https?:\/\//i.test(value)) {
          const problem = checkUrl(value, false);
          if (problem) return fail(problem);
        } else if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(value)) {
          return fail('must be a host name or an https URL');
        }
      }
      return { ok: true, value };
    }
    case 'int': {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return fail('must be an integer');
      if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max)) {
        return fail(`must be between ${field.min} and ${field.max}`);
      }
      return { ok: true, value: n };
    }
    case 'bool': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      const s = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      if (['true', '1', 'yes', 'on'].includes(s)) return { ok: true, value: true };
      if (['false', '0', 'no', 'off'].includes(s)) return { ok: true, value: false };
      return fail('must be true or false');
    }
    case 'list': {
      let items: unknown = raw;
      if (typeof raw === 'string') {
        const s = raw.trim();
        if (s.startsWith('[')) {
          try {
            items = JSON.parse(s);
          } catch {
            return fail('must be a JSON array or a comma-separated list');
          }
        } else {
          items = s === '' ? [] : s.split(',').map((x) => x.trim());
        }
      }
      if (!Array.isArray(items) || !items.every((x) => typeof x === 'string'))
        return fail('must be a list of strings');
      return { ok: true, value: (items as string[]).filter((x) => x !== '') };
    }
    case 'enum': {
      const s = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (typeof s !== 'string' || !field.values!.includes(s))
        return fail(`must be one of: ${field.values!.join(', ')}`);
      return { ok: true, value: s };
    }
  }
}

const UPSTREAM_KEYS: Record<string, Set<string>> = Object.fromEntries(
  Object.entries(UPSTREAM_DEFAULTS).map(([backend, fn]) => [backend, new Set(Object.keys(fn!({})))]),
);

/** The leaf paths under `prefix` (so an unknown block reports each of its keys, by env name when from env). */
function leaves(prefix: string, value: unknown): string[] {
  if (!isTree(value) || Object.keys(value).length === 0) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leaves(`${prefix}.${k}`, v));
}

/** Checks one layer's keys and coerces its values; returns the typed values. */
function validateLayer(layer: Layer): Tree {
  const unknown: string[] = [];
  const out: Tree = {};
  const problem = (path: string, text: string, field?: Field, raw?: unknown): never => {
    const shown = field?.kind === 'secret' || raw === undefined ? '' : `: ${JSON.stringify(raw)}`;
    throw new ConfigError('ERR_CONFIG_INVALID', `${path} ${text}${shown} (from ${where(layer, path)})`);
  };
  for (const [key, value] of Object.entries(layer.values)) {
    if (key === 'auth') {
      const s = typeof value === 'string' ? value.trim().toLowerCase() : value;
      if (typeof s !== 'string' || !(AUTH_BACKENDS as readonly string[]).includes(s)) {
        throw new ConfigError(
          'ERR_CONFIG_UNKNOWN_AUTH',
          `auth ${JSON.stringify(value)} is not a backend (from ${where(layer, 'auth')}); valid: ${AUTH_BACKENDS.join(', ')}`,
        );
      }
      out['auth'] = s;
      continue;
    }
    if (key === 'upstream') {
      if (!isTree(value)) problem('upstream', 'must be a mapping of backends');
      const up: Tree = {};
      for (const [backend, entries] of Object.entries(value as Tree)) {
        const allowed = UPSTREAM_KEYS[backend];
        if (!allowed) {
          unknown.push(...leaves(`upstream.${backend}`, entries));
          continue;
        }
        if (!isTree(entries)) problem(`upstream.${backend}`, 'must be a mapping of endpoints');
        const block: Tree = {};
        for (const [name, raw] of Object.entries(entries as Tree)) {
          const path = `upstream.${backend}.${name}`;
          if (!allowed.has(name)) {
            unknown.push(path);
            continue;
          }
          const field: Field = name === 'audience' ? { kind: 'string' } : { kind: 'url' };
          const result = coerce(field, raw);
          if (!result.ok) problem(path, result.problem, field, raw);
          block[name] = (result as { value: unknown }).value;
        }
        up[backend] = block;
      }
      out['upstream'] = up;
      continue;
    }
    const section = SECTIONS[key];
    if (!section) {
      unknown.push(...leaves(key, value));
      continue;
    }
    if (!isTree(value)) problem(key, 'must be a mapping');
    const block: Tree = {};
    for (const [name, raw] of Object.entries(value as Tree)) {
      const path = `${key}.${name}`;
      const field = section[name];
      if (!field) {
        unknown.push(path);
        continue;
      }
      if (raw === null) continue;
      const result = coerce(field, raw);
      if (!result.ok) problem(path, result.problem, field, raw);
      const coerced = (result as { value: unknown }).value;
      const extra = field.check?.(coerced);
      if (extra) problem(path, extra, field, raw);
      block[name] = coerced;
    }
    out[key] = block;
  }
  if (unknown.length > 0) {
    const shown = unknown.map((p) => (layer.names.has(p) ? layer.names.get(p)! : p));
    throw new ConfigError(
      'ERR_CONFIG_UNKNOWN_KEY',
      `unknown setting${unknown.length > 1 ? 's' : ''} in ${layer.source}: ${shown.join(', ')}`,
    );
  }
  return out;
}

function defaults(): Tree {
  const out: Tree = { upstream: {} };
  for (const [key, section] of Object.entries(SECTIONS)) {
    const block: Tree = {};
    for (const [name, field] of Object.entries(section)) {
      if (field.default !== undefined) {
        block[name] = Array.isArray(field.default) ? [...field.default] : field.default;
      }
    }
    out[key] = block;
  }
  return out;
}

function get(tree: Tree, path: string): unknown {
  let node: unknown = tree;
  for (const key of path.split('.')) node = isTree(node) ? node[key] : undefined;
  return node;
}

function crossCheck(s: Settings): void {
  const required = REQUIRED_FIELDS[s.auth];
  const missing = required.filter((path) => get(s as unknown as Tree, path) === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      'ERR_CONFIG_MISSING',
      `auth "${s.auth}" needs ${missing.map((p) => `${p} (${envName(p)})`).join(', ')}`,
    );
  }
  const o = s.oauth;
  if (s.auth === 'aws' && o.user_pool_id && o.aws_region && !o.user_pool_id.startsWith(`${o.aws_region}_`)) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      `oauth.user_pool_id "${o.user_pool_id}" is not in oauth.aws_region "${o.aws_region}"`,
    );
  }
  try {
    redirectPolicy(s);
  } catch (error) {
    if (error instanceof RedirectPolicyError) {
      throw new ConfigError('ERR_CONFIG_INVALID', `registration.redirect_uri_patterns: ${error.message}`);
    }
    throw error;
  }
}

/**
 * Loads settings from defaults, a YAML profile file, `MCC_*` environment variables and overrides
 * (lowest to highest), then checks the fields the chosen backend needs.
 * @throws ConfigError naming the backend, the field and its environment variable.
 */
export function loadSettings(options: LoadSettingsOptions = {}): Settings {
  const env = options.env ?? process.env;
  const envProfile = Object.entries(env).find(([k]) => /^mcc_profile$/i.test(k))?.[1];
  const profile = (options.profile ?? envProfile ?? 'default').trim() || 'default';
  const layers: Layer[] = [];
  if (options.file !== undefined) {
    layers.push(readFileLayer(options.file, profile).layer);
  } else if (profile !== 'default') {
    throw new ConfigError('ERR_CONFIG_PROFILE', `profile "${profile}" needs a settings file`);
  }
  layers.push(readEnvLayer(env));
  if (options.overrides) layers.push(readOverrideLayer(options.overrides));
  let merged = defaults();
  for (const layer of layers) merged = deepMerge(merged, validateLayer(layer));
  if (merged['auth'] === undefined) {
    throw new ConfigError(
      'ERR_CONFIG_MISSING',
      `settings need auth (MCC_AUTH); valid: ${AUTH_BACKENDS.join(', ')}`,
    );
  }
  const settings = { ...merged, profile } as unknown as Settings;
  if (options.check !== false) crossCheck(settings);
  return settings;
}

// ---------------------------------------------------------------------------------------------
// Derived values

export interface ServerUrls {
  /** The public base URL (no trailing slash). */
  baseUrl: string;
  /** Our issuer (RFC 8414 2): the base URL. */
  issuer: string;
  /** The MCP resource URL (RFC 8707, RFC 9728): base URL + mcp_path; the `aud` of our tokens. */
  resource: string;
}

/** Public URLs of this server; in-memory and dev backends fall back to http://host:port. */
export function serverUrls(s: Settings): ServerUrls {
  const configured = s.auth === 'jwt' ? s.jwt.base_url : s.oauth.base_url;
  const host = s.server.host.includes(':') ? `[${s.server.host}]` : s.server.host;
  const baseUrl = configured ?? `http://${host}:${s.server.port}`;
  return { baseUrl, issuer: baseUrl, resource: `${baseUrl}${s.server.mcp_path}` };
}

/**
 * The upstream endpoints of a backend: defaults derived from the `oauth:` block, replaced by any
 * `upstream.<backend>.*` override. `undefined` means "read it from the discovery document".
 */
export function upstreamEndpoints(
  s: Settings,
  backend: AuthBackend = s.auth,
): Partial<Record<UpstreamKey, string | undefined>> {
  const fn = UPSTREAM_DEFAULTS[backend];
  if (!fn) return {};
  const out = fn(s.oauth);
  const overrides = s.upstream[backend] ?? {};
  if (backend === 'azure' && overrides.authority) {
    // A new authority moves every tenant-scoped endpoint with it.
    const base = `${trimSlash(overrides.authority)}/${s.oauth.tenant_id ?? 'common'}`;
    Object.assign(out, {
      discovery_url: `${base}/v2.0/.well-known/openid-configuration`,
      issuer: `${base}/v2.0`,
      authorize_url: `${base}/oauth2/v2.0/authorize`,
      token_url: `${base}/oauth2/v2.0/token`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
    });
  }
  return { ...out, ...overrides };
}

/** The redirect URI policy the settings describe. */
export function redirectPolicy(s: Settings): RedirectUriPolicy {
  return redirectUriPolicy({
    patterns: s.registration.redirect_uri_patterns,
    allowLoopback: s.registration.allow_loopback,
    allowCustomSchemes: s.registration.allow_custom_schemes,
  });
}
