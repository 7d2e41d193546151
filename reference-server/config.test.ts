import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTH_BACKENDS,
  type AuthBackend,
  envName,
  type LoadSettingsOptions,
  loadSettings,
  redirectPolicy,
  type Settings,
  serverUrls,
  upstreamEndpoints,
} from './config.ts';
import { ConfigError, type ConfigErrorCode } from './errors.ts';
import { validateRedirectUri } from './oauth/redirect-uri.ts';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(yaml: string): string {
  const path = join(dir, `settings-${n++}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

function load(options: LoadSettingsOptions = {}): Settings {
  return loadSettings({ env: {}, ...options });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function expectConfigError(fn: () => unknown, code: ConfigErrorCode, message: string): void {
  const e = configError(fn);
  expect(e.code).toBe(code);
  expect(e.message).toBe(message);
}

// The YAML examples of the backend catalogue (seeds/000), verbatim in substance.
const CATALOGUE: Record<string, string> = {
  github: `default:
  auth: "github"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "Ov23li..."
    client_secret: "abc123..."`,
  google: `default:
  auth: "google"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "123456789.apps.googleusercontent.com"
    client_secret: "GOCSPX-..."`,
  azure: `default:
  auth: "azure"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-app-client-id"
    client_secret: "your-app-client-secret"
    tenant_id: "your-tenant-id"`,
  auth0: `default:
  auth: "auth0"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-auth0-client-id"
    client_secret: "your-auth0-client-secret"
    config_url: "https://your-tenant.auth0.com/.well-known/openid-configuration"`,
  clerk: `default:
  auth: "clerk"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-clerk-client-id"
    client_secret: "your-clerk-client-secret"
    domain: "your-app.clerk.accounts.dev"`,
  discord: `default:
  auth: "discord"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-discord-client-id"
    client_secret: "your-discord-client-secret"`,
  workos: `default:
  auth: "workos"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-workos-client-id"
    client_secret: "your-workos-client-secret"
    authkit_domain: "your-app.authkit.app"`,
  aws: `default:
  auth: "aws"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-cognito-app-client-id"
    client_secret: "your-cognito-app-client-secret"
    user_pool_id: "us-east-1_AbCdEfGhI"
    aws_region: "us-east-1"`,
  oci: `default:
  auth: "oci"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    client_id: "your-oci-client-id"
    client_secret: "your-oci-client-secret"
    config_url: "https://idcs-your-tenant.identity.oraclecloud.com/.well-known/openid-configuration"`,
  supabase: `default:
  auth: "supabase"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    project_url: "https://your-project-ref.supabase.co"`,
  scalekit: `default:
  auth: "scalekit"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    environment_url: "https://your-env.scalekit.com"
    resource_id: "your-resource-id"
    client_id: "your-scalekit-client-id"`,
  propelauth: `default:
  auth: "propelauth"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    auth_url: "https://your-tenant.propelauthtest.com"
    introspection_client_id: "your-client-id"
    introspection_client_secret: "your-client-secret"`,
  descope: `default:
  auth: "descope"
  oauth:
    base_url: "https://your-mcc-server.example.com"
    project_id: "P2abc123..."
    config_url: "https://api.descope.com/P2abc123.../.well-known/openid-configuration"`,
  jwt: `default:
  auth: "jwt"
  jwt:
    jwks_uri: "https://your-idp.example.com/.well-known/jwks.json"
    issuer: "https://your-idp.example.com/"
    audience: "your-client-id-or-api-identifier"
    authorization_server: "https://your-idp.example.com/"
    base_url: "https://your-mcc-server.example.com"
    required_scopes: ["openid", "email"]`,
  'dev-admin': 'default:\n  auth: "dev-admin"',
  'dev-public': 'default:\n  auth: "dev-public"',
  'in-memory': 'default:\n  auth: "in-memory"',
};

/**
 * Required fields per backend, written from the catalogue's text (not from config.ts), each as
 * the (path, env var) a message must name.
 */
const NEEDS: Record<string, [string, string][]> = (() => {
  const proxy: [string, string][] = [
    ['oauth.base_url', 'MCC_OAUTH__BASE_URL'],
    ['oauth.client_id', 'MCC_OAUTH__CLIENT_ID'],
    ['oauth.client_secret', 'MCC_OAUTH__CLIENT_SECRET'],
  ];
  return {
    github: proxy,
    google: proxy,
    discord: proxy,
    azure: [...proxy, ['oauth.tenant_id', 'MCC_OAUTH__TENANT_ID']],
    auth0: [...proxy, ['oauth.config_url', 'MCC_OAUTH__CONFIG_URL']],
    clerk: [...proxy, ['oauth.domain', 'MCC_OAUTH__DOMAIN']],
    workos: [...proxy, ['oauth.authkit_domain', 'MCC_OAUTH__AUTHKIT_DOMAIN']],
    aws: [
      ...proxy,
      ['oauth.user_pool_id', 'MCC_OAUTH__USER_POOL_ID'],
      ['oauth.aws_region', 'MCC_OAUTH__AWS_REGION'],
    ],
    oci: [...proxy, ['oauth.config_url', 'MCC_OAUTH__CONFIG_URL']],
    supabase: [
      ['oauth.base_url', 'MCC_OAUTH__BASE_URL'],
      ['oauth.project_url', 'MCC_OAUTH__PROJECT_URL'],
    ],
    scalekit: [
      ['oauth.base_url', 'MCC_OAUTH__BASE_URL'],
      ['oauth.environment_url', 'MCC_OAUTH__ENVIRONMENT_URL'],
      ['oauth.resource_id', 'MCC_OAUTH__RESOURCE_ID'],
      ['oauth.client_id', 'MCC_OAUTH__CLIENT_ID'],
    ],
    propelauth: [
      ['oauth.base_url', 'MCC_OAUTH__BASE_URL'],
      ['oauth.auth_url', 'MCC_OAUTH__AUTH_URL'],
      ['oauth.introspection_client_id', 'MCC_OAUTH__INTROSPECTION_CLIENT_ID'],
      ['oauth.introspection_client_secret', 'MCC_OAUTH__INTROSPECTION_CLIENT_SECRET'],
    ],
    descope: [
      ['oauth.base_url', 'MCC_OAUTH__BASE_URL'],
      ['oauth.project_id', 'MCC_OAUTH__PROJECT_ID'],
      ['oauth.config_url', 'MCC_OAUTH__CONFIG_URL'],
    ],
    jwt: [
      ['jwt.jwks_uri', 'MCC_JWT__JWKS_URI'],
      ['jwt.issuer', 'MCC_JWT__ISSUER'],
      ['jwt.audience', 'MCC_JWT__AUDIENCE'],
      ['jwt.base_url', 'MCC_JWT__BASE_URL'],
    ],
  };
})();

describe('the catalogue examples', () => {
  it('covers every backend', () => {
    expect(Object.keys(CATALOGUE).sort()).toEqual([...AUTH_BACKENDS].sort());
  });

  it.each(Object.entries(CATALOGUE))('loads the %s example', (backend, yaml) => {
    const s = load({ file: file(yaml) });
    expect(s.auth).toBe(backend);
    expect(s.profile).toBe('default');
  });

  it('keeps the values of the azure example', () => {
    const s = load({ file: file(CATALOGUE['azure']!) });
    expect(s.oauth).toEqual({
      base_url: 'https://your-mcc-server.example.com',
      client_id: 'your-app-client-id',
      client_secret: 'your-app-client-secret',
      tenant_id: 'your-tenant-id',
    });
  });

  it('keeps the jwt block with its list of required scopes', () => {
    const s = load({ file: file(CATALOGUE['jwt']!) });
    expect(s.jwt).toEqual({
      jwks_uri: 'https://your-idp.example.com/.well-known/jwks.json',
      issuer: 'https://your-idp.example.com/',
      audience: 'your-client-id-or-api-identifier',
      authorization_server: 'https://your-idp.example.com/',
      base_url: 'https://your-mcc-server.example.com',
      required_scopes: ['openid', 'email'],
    });
  });
});

describe('required fields per backend', () => {
  const cases = Object.entries(NEEDS).flatMap(([backend, fields]) =>
    fields.map(([path, env]) => [backend, path, env] as const),
  );
  it.each(cases)('auth "%s" without %s names the field and %s', (backend, path, env) => {
    const full = load({ file: file(CATALOGUE[backend]!) });
    const [section, key] = path.split('.') as ['oauth' | 'jwt', string];
    const block: Record<string, unknown> = { ...full[section] };
    delete block[key];
    if (section === 'jwt') delete block['required_scopes'];
    const overrides = { auth: backend, [section]: block };
    expectConfigError(
      () => load({ overrides }),
      'ERR_CONFIG_MISSING',
      `auth "${backend}" needs ${path} (${env})`,
    );
  });

  it('names every missing field at once, with its environment variable', () => {
    expectConfigError(
      () => load({ env: { MCC_AUTH: 'azure', MCC_OAUTH__BASE_URL: 'https://mcp.example.com' } }),
      'ERR_CONFIG_MISSING',
      'auth "azure" needs oauth.client_id (MCC_OAUTH__CLIENT_ID), oauth.client_secret (MCC_OAUTH__CLIENT_SECRET), oauth.tenant_id (MCC_OAUTH__TENANT_ID)',
    );
  });

  it.each(['dev-admin', 'dev-public', 'in-memory'])('auth "%s" needs nothing more', (backend) => {
    expect(load({ env: { MCC_AUTH: backend } }).auth).toBe(backend);
  });

  it('requires auth itself and lists the backends', () => {
    expectConfigError(
      () => load(),
      'ERR_CONFIG_MISSING',
      `settings need auth (MCC_AUTH); valid: ${AUTH_BACKENDS.join(', ')}`,
    );
  });

  it('refuses an unknown backend and lists the valid ones', () => {
    expectConfigError(
      () => load({ env: { MCC_AUTH: 'okta' } }),
      'ERR_CONFIG_UNKNOWN_AUTH',
      `auth "okta" is not a backend (from MCC_AUTH); valid: ${AUTH_BACKENDS.join(', ')}`,
    );
  });

  it('accepts the backend name in any case', () => {
    expect(load({ env: { MCC_AUTH: 'Dev-Admin' } }).auth).toBe('dev-admin');
  });
});

describe('sources and precedence', () => {
  const base = {
    MCC_OAUTH__BASE_URL: 'https://mcp.example.com',
    MCC_OAUTH__CLIENT_ID: 'env-id',
    MCC_OAUTH__CLIENT_SECRET: 'env-secret',
  };

  it('fills defaults', () => {
    const s = load({ env: { MCC_AUTH: 'dev-admin' } });
    expect(s.server).toEqual({
      host: '127.0.0.1',
      port: 8000,
      data_dir: './data',
      storage: 'sqlite',
      mcp_path: '/mcp',
    });
    expect(s.tokens).toEqual({
      access_ttl: 3600,
      refresh_ttl: 2_592_000,
      code_ttl: 300,
      transaction_ttl: 600,
      refresh_reuse_grace: 0,
      leeway: 5,
    });
    expect(s.registration).toEqual({
      redirect_uri_patterns: [],
      allow_loopback: true,
      allow_custom_schemes: true,
      client_ttl: 2_592_000,
      max_clients: 10_000,
    });
    expect(s.claims).toEqual({
      passthrough: true,
      allow_list: ['roles', 'groups', 'permissions'],
      block_list: [],
      max_bytes: 2048,
      claim: 'upstream_claims',
      email_claim: 'email',
    });
    expect(s.jwt).toEqual({ required_scopes: [] });
    expect(s.oauth).toEqual({});
    expect(s.upstream).toEqual({});
  });

  it('reads the environment: MCC_ prefix, __ nesting, case-insensitive names', () => {
    const s = load({
      env: {
        mcc_auth: 'github',
        Mcc_Oauth__Base_Url: 'https://mcp.example.com/',
        MCC_OAUTH__CLIENT_ID: 'id',
        MCC_OAUTH__CLIENT_SECRET: 'secret',
        MCC_SERVER__PORT: '9001',
        MCC_SERVER__STORAGE: 'MEMORY',
        MCC_REGISTRATION__ALLOW_LOOPBACK: 'false',
        MCC_CLAIMS__ALLOW_LIST: 'roles, groups',
        MCC_CLAIMS__BLOCK_LIST: '["internal_id","debug"]',
        OTHER_VARIABLE: 'ignored',
      },
    });
    expect(s.auth).toBe('github');
    expect(s.oauth).toEqual({
      base_url: 'https://mcp.example.com',
      client_id: 'id',
      client_secret: 'secret',
    });
    expect(s.server.port).toBe(9001);
    expect(s.server.storage).toBe('memory');
    expect(s.registration.allow_loopback).toBe(false);
    expect(s.claims.allow_list).toEqual(['roles', 'groups']);
    expect(s.claims.block_list).toEqual(['internal_id', 'debug']);
  });

  it('ranks defaults < file < environment < overrides', () => {
    const path = file(`default:
  auth: github
  server: { port: 1111, host: 0.0.0.0 }
  oauth:
    base_url: https://file.example.com
    client_id: file-id
    client_secret: file-secret`);
    const s = load({
      file: path,
      env: { MCC_OAUTH__CLIENT_ID: 'env-id', MCC_SERVER__PORT: '2222' },
      overrides: { 'server.port': 3333, oauth: { client_secret: 'flag-secret' } },
    });
    expect(s.server.port).toBe(3333);
    expect(s.server.host).toBe('0.0.0.0');
    expect(s.oauth).toEqual({
      base_url: 'https://file.example.com',
      client_id: 'env-id',
      client_secret: 'flag-secret',
    });
  });

  it('takes overrides as strings, like CLI flags', () => {
    const s = load({
      env: base,
      overrides: { auth: 'google', 'server.port': '0', 'jwt.required_scopes': 'a,b' },
    });
    expect(s.auth).toBe('google');
    expect(s.server.port).toBe(0);
    expect(s.jwt.required_scopes).toEqual(['a', 'b']);
  });

  it('lets a YAML null leave a field unset', () => {
    const s = load({ file: file('default:\n  auth: dev-admin\n  oauth:\n    client_id:\n'), env: {} });
    expect(s.oauth).toEqual({});
  });
});

describe('profiles', () => {
  const yaml = `default:
  auth: github
  oauth:
    base_url: https://mcp.example.com
    client_id: default-id
    client_secret: default-secret
  server:
    port: 8000
staging:
  oauth:
    client_id: staging-id
  server:
    port: 8100
local:
  auth: dev-admin
`;

  it('uses default when no profile is chosen', () => {
    const s = load({ file: file(yaml) });
    expect(s.profile).toBe('default');
    expect(s.oauth.client_id).toBe('default-id');
  });

  it('merges the profile chosen by MCC_PROFILE over default', () => {
    const s = load({ file: file(yaml), env: { MCC_PROFILE: 'staging' } });
    expect(s.profile).toBe('staging');
    expect(s.oauth).toEqual({
      base_url: 'https://mcp.example.com',
      client_id: 'staging-id',
      client_secret: 'default-secret',
    });
    expect(s.server.port).toBe(8100);
  });

  it('prefers the profile option to MCC_PROFILE', () => {
    const s = load({ file: file(yaml), env: { MCC_PROFILE: 'staging' }, profile: 'local' });
    expect(s.profile).toBe('local');
    expect(s.auth).toBe('dev-admin');
  });

  it('refuses an unknown profile and lists the ones in the file', () => {
    const path = file(yaml);
    expectConfigError(
      () => load({ file: path, profile: 'prod' }),
      'ERR_CONFIG_PROFILE',
      `profile "prod" is not in "${path}" (profiles: default, staging, local)`,
    );
  });

  it('refuses a profile without a settings file', () => {
    expectConfigError(
      () => load({ env: { MCC_PROFILE: 'staging', MCC_AUTH: 'dev-admin' } }),
      'ERR_CONFIG_PROFILE',
      'profile "staging" needs a settings file',
    );
  });
});

describe('unknown keys are reported', () => {
  it('in the file, all at once, with the profile', () => {
    const path = file(`default:
  auth: dev-admin
  oauth:
    clientid: x
  servr:
    port: 1
`);
    expectConfigError(
      () => load({ file: path }),
      'ERR_CONFIG_UNKNOWN_KEY',
      `unknown settings in "${path}" (profile "default"): oauth.clientid, servr.port`,
    );
  });

  it('in the environment, by variable name', () => {
    expectConfigError(
      () => load({ env: { MCC_AUTH: 'dev-admin', MCC_OAUTH__CLIENTID: 'x' } }),
      'ERR_CONFIG_UNKNOWN_KEY',
      'unknown setting in the environment: MCC_OAUTH__CLIENTID',
    );
    expectConfigError(
      () => load({ env: { MCC_AUTH: 'dev-admin', MCC_LOG_LEVEL: 'debug' } }),
      'ERR_CONFIG_UNKNOWN_KEY',
      'unknown setting in the environment: MCC_LOG_LEVEL',
    );
  });

  it('in the overrides', () => {
    expectConfigError(
      () => load({ overrides: { auth: 'dev-admin', 'jwt.jwks': 'x' } }),
      'ERR_CONFIG_UNKNOWN_KEY',
      'unknown setting in overrides: jwt.jwks',
    );
  });

  it('in the upstream block: an unknown backend or an endpoint that backend does not have', () => {
    expectConfigError(
      () =>
        load({
          env: {
            MCC_AUTH: 'dev-admin',
            MCC_UPSTREAM__GITHUB__USERINFO_URL: 'https://x.example',
            MCC_UPSTREAM__OKTA__TOKEN_URL: 'https://x.example',
          },
        }),
      'ERR_CONFIG_UNKNOWN_KEY',
      'unknown settings in the environment: MCC_UPSTREAM__GITHUB__USERINFO_URL, MCC_UPSTREAM__OKTA__TOKEN_URL',
    );
  });

  it('refuses an environment name with an empty segment', () => {
    expectConfigError(
      () => load({ env: { MCC_OAUTH____CLIENT_ID: 'x' } }),
      'ERR_CONFIG_UNKNOWN_KEY',
      'environment variable MCC_OAUTH____CLIENT_ID is not a settings name',
    );
  });
});

describe('invalid values name the field and where it came from', () => {
  const github = { MCC_AUTH: 'github', MCC_OAUTH__CLIENT_ID: 'id', MCC_OAUTH__CLIENT_SECRET: 'secret' };
  it.each([
    [
      'http base_url on a remote host',
      { ...github, MCC_OAUTH__BASE_URL: 'http://mcp.example.com' },
      'oauth.base_url must use https (http only on a loopback host): "http://mcp.example.com" (from MCC_OAUTH__BASE_URL)',
    ],
    [
      'base_url with a query',
      { ...github, MCC_OAUTH__BASE_URL: 'https://mcp.example.com/?x=1' },
      'oauth.base_url must not contain a query: "https://mcp.example.com/?x=1" (from MCC_OAUTH__BASE_URL)',
    ],
    [
      'base_url with userinfo',
      { ...github, MCC_OAUTH__BASE_URL: 'https://a:b@mcp.example.com' },
      'oauth.base_url must not contain userinfo: "https://a:b@mcp.example.com" (from MCC_OAUTH__BASE_URL)',
    ],
    [
      'a relative config_url',
      { MCC_AUTH: 'oci', MCC_OAUTH__CONFIG_URL: '/.well-known/openid-configuration' },
      'oauth.config_url must be an absolute URL: "/.well-known/openid-configuration" (from MCC_OAUTH__CONFIG_URL)',
    ],
    [
      'an ftp jwks_uri',
      { MCC_AUTH: 'jwt', MCC_JWT__JWKS_URI: 'ftp://idp.example/jwks' },
      'jwt.jwks_uri must be an http(s) URL: "ftp://idp.example/jwks" (from MCC_JWT__JWKS_URI)',
    ],
    [
      'a port that is not a number',
      { MCC_AUTH: 'dev-admin', MCC_SERVER__PORT: 'eighty' },
      'server.port must be an integer: "eighty" (from MCC_SERVER__PORT)',
    ],
    [
      'a port out of range',
      { MCC_AUTH: 'dev-admin', MCC_SERVER__PORT: '70000' },
      'server.port must be between 0 and 65535: "70000" (from MCC_SERVER__PORT)',
    ],
    [
      'an unknown storage',
      { MCC_AUTH: 'dev-admin', MCC_SERVER__STORAGE: 'redis' },
      'server.storage must be one of: sqlite, memory: "redis" (from MCC_SERVER__STORAGE)',
    ],
    [
      'a code lifetime over 10 minutes',
      { MCC_AUTH: 'dev-admin', MCC_TOKENS__CODE_TTL: '601' },
      'tokens.code_ttl must be between 10 and 600: "601" (from MCC_TOKENS__CODE_TTL)',
    ],
    [
      'a boolean that is not one',
      { MCC_AUTH: 'dev-admin', MCC_CLAIMS__PASSTHROUGH: 'maybe' },
      'claims.passthrough must be true or false: "maybe" (from MCC_CLAIMS__PASSTHROUGH)',
    ],
    [
      'a tenant id with a slash',
      { MCC_AUTH: 'dev-admin', MCC_OAUTH__TENANT_ID: 'x/../y' },
      'oauth.tenant_id must be a tenant GUID, a domain, "common", "organizations" or "consumers": "x/../y" (from MCC_OAUTH__TENANT_ID)',
    ],
    [
      'an AWS region',
      { MCC_AUTH: 'dev-admin', MCC_OAUTH__AWS_REGION: 'mars' },
      'oauth.aws_region must be an AWS region such as "us-east-1": "mars" (from MCC_OAUTH__AWS_REGION)',
    ],
    [
      'a user pool id',
      { MCC_AUTH: 'dev-admin', MCC_OAUTH__USER_POOL_ID: 'pool' },
      'oauth.user_pool_id must look like "us-east-1_AbCdEfGhI": "pool" (from MCC_OAUTH__USER_POOL_ID)',
    ],
    [
      'a clerk domain with a path but no scheme',
      { MCC_AUTH: 'dev-admin', MCC_OAUTH__DOMAIN: 'clerk.example/x' },
      'oauth.domain must be a host name or an https URL: "clerk.example/x" (from MCC_OAUTH__DOMAIN)',
    ],
    [
      'a reserved claim in the allow-list',
      { MCC_AUTH: 'dev-admin', MCC_CLAIMS__ALLOW_LIST: 'roles,iss' },
      'claims.allow_list may not name "iss" (a reserved or malformed claim): "roles,iss" (from MCC_CLAIMS__ALLOW_LIST)',
    ],
    [
      'a reserved claim as the passthrough claim',
      { MCC_AUTH: 'dev-admin', MCC_CLAIMS__CLAIM: 'scope' },
      'claims.claim must be an unreserved claim name: "scope" (from MCC_CLAIMS__CLAIM)',
    ],
    [
      'a required scope with a space',
      { MCC_AUTH: 'dev-admin', MCC_JWT__REQUIRED_SCOPES: '["openid email"]' },
      'jwt.required_scopes must list scope tokens (RFC 6749 3.3): "[\\"openid email\\"]" (from MCC_JWT__REQUIRED_SCOPES)',
    ],
    [
      'a list that is not valid JSON',
      { MCC_AUTH: 'dev-admin', MCC_CLAIMS__BLOCK_LIST: '[oops' },
      'claims.block_list must be a JSON array or a comma-separated list: "[oops" (from MCC_CLAIMS__BLOCK_LIST)',
    ],
    [
      'an empty string',
      { MCC_AUTH: 'dev-admin', MCC_OAUTH__CLIENT_ID: '  ' },
      'oauth.client_id must not be empty: "  " (from MCC_OAUTH__CLIENT_ID)',
    ],
    [
      'an upstream override that is not a URL',
      { MCC_AUTH: 'dev-admin', MCC_UPSTREAM__GITHUB__TOKEN_URL: 'github.com/token' },
      'upstream.github.token_url must be an absolute URL: "github.com/token" (from MCC_UPSTREAM__GITHUB__TOKEN_URL)',
    ],
  ])('refuses %s', (_what, env, message) => {
    expectConfigError(() => load({ env }), 'ERR_CONFIG_INVALID', message);
  });

  it('never echoes a secret', () => {
    const e = configError(() =>
      load({ env: { MCC_AUTH: 'dev-admin', MCC_SERVER__SECRET: 'short-secret-value' } }),
    );
    expect(e.code).toBe('ERR_CONFIG_INVALID');
    expect(e.message).toBe('server.secret must be at least 32 characters (from MCC_SERVER__SECRET)');
    expect(e.message).not.toContain('short-secret-value');
  });

  it('names the file and profile for a value from the file', () => {
    const path = file('default:\n  auth: dev-admin\n  server:\n    port: [1]\n');
    expectConfigError(
      () => load({ file: path }),
      'ERR_CONFIG_INVALID',
      `server.port must be an integer: [1] (from server.port in "${path}" (profile "default"))`,
    );
  });

  it('refuses a user pool in another region', () => {
    expectConfigError(
      () =>
        load({
          env: {
            MCC_AUTH: 'aws',
            MCC_OAUTH__BASE_URL: 'https://mcp.example.com',
            MCC_OAUTH__CLIENT_ID: 'id',
            MCC_OAUTH__CLIENT_SECRET: 'secret',
            MCC_OAUTH__USER_POOL_ID: 'eu-west-1_abc',
            MCC_OAUTH__AWS_REGION: 'us-east-1',
          },
        }),
      'ERR_CONFIG_INVALID',
      'oauth.user_pool_id "eu-west-1_abc" is not in oauth.aws_region "us-east-1"',
    );
  });

  it('refuses a redirect URI pattern such as https://*', () => {
    expectConfigError(
      () => load({ env: { MCC_AUTH: 'dev-admin', MCC_REGISTRATION__REDIRECT_URI_PATTERNS: 'https://*' } }),
      'ERR_CONFIG_INVALID',
      'registration.redirect_uri_patterns: redirect URI pattern "https://*" must name a host (never "https://*")',
    );
  });

  it('accepts http base_url on a loopback host', () => {
    const s = load({ env: { MCC_AUTH: 'in-memory', MCC_OAUTH__BASE_URL: 'http://127.0.0.1:8000' } });
    expect(s.oauth.base_url).toBe('http://127.0.0.1:8000');
  });
});

describe('settings files', () => {
  it('refuses a file it cannot read', () => {
    const path = join(dir, 'missing.yaml');
    expectConfigError(() => load({ file: path }), 'ERR_CONFIG_FILE', `cannot read settings file "${path}"`);
  });

  it('refuses invalid YAML', () => {
    const path = file('default:\n  auth: [unclosed\n');
    const e = configError(() => load({ file: path }));
    expect(e.code).toBe('ERR_CONFIG_FILE');
    expect(e.message.startsWith(`settings file "${path}" is not valid YAML (`)).toBe(true);
  });

  it('refuses settings at the top level instead of under a profile', () => {
    const path = file('auth: github\n');
    expectConfigError(
      () => load({ file: path }),
      'ERR_CONFIG_FILE',
      `settings file "${path}" has "auth" at the top level; put settings under a profile such as "default:"`,
    );
  });

  it('refuses a profile that is not a mapping, and a document that is not one', () => {
    const a = file('default: 3\n');
    expectConfigError(
      () => load({ file: a }),
      'ERR_CONFIG_FILE',
      `settings file "${a}": profile "default" must be a mapping`,
    );
    const b = file('- a\n- b\n');
    expectConfigError(
      () => load({ file: b }),
      'ERR_CONFIG_FILE',
      `settings file "${b}" must be a mapping of profiles`,
    );
  });

  it('accepts an empty file', () => {
    expect(load({ file: file(''), env: { MCC_AUTH: 'dev-public' } }).auth).toBe('dev-public');
  });
});

describe('derived values', () => {
  it('envName maps a path to its variable', () => {
    expect(envName('oauth.tenant_id')).toBe('MCC_OAUTH__TENANT_ID');
    expect(envName('upstream.github.token_url')).toBe('MCC_UPSTREAM__GITHUB__TOKEN_URL');
  });

  it('serverUrls: issuer is the base URL without a trailing slash; the resource adds mcp_path', () => {
    const s = load({ file: file(CATALOGUE['github']!.replace('example.com"', 'example.com/"')) });
    expect(serverUrls(s)).toEqual({
      baseUrl: 'https://your-mcc-server.example.com',
      issuer: 'https://your-mcc-server.example.com',
      resource: 'https://your-mcc-server.example.com/mcp',
    });
  });

  it('serverUrls: jwt uses jwt.base_url; in-memory falls back to host and port', () => {
    expect(serverUrls(load({ file: file(CATALOGUE['jwt']!) })).resource).toBe(
      'https://your-mcc-server.example.com/mcp',
    );
    const local = load({
      env: { MCC_AUTH: 'in-memory', MCC_SERVER__PORT: '9100', MCC_SERVER__MCP_PATH: '/x/mcp' },
    });
    expect(serverUrls(local)).toEqual({
      baseUrl: 'http://127.0.0.1:9100',
      issuer: 'http://127.0.0.1:9100',
      resource: 'http://127.0.0.1:9100/x/mcp',
    });
  });

  it('redirectPolicy follows the registration block', () => {
    const s = load({
      env: { MCC_AUTH: 'dev-admin', MCC_REGISTRATION__REDIRECT_URI_PATTERNS: 'https://app.example.com/cb' },
    });
    expect(validateRedirectUri('https://app.example.com/cb', redirectPolicy(s)).ok).toBe(true);
    expect(validateRedirectUri('https://evil.example/cb', redirectPolicy(s))).toEqual({
      ok: false,
      reason: 'not_allowed',
    });
  });
});

describe('upstream endpoints', () => {
  const of = (backend: AuthBackend, env: Record<string, string> = {}) =>
    upstreamEndpoints(load({ file: file(CATALOGUE[backend]!), env }));

  it('github: the real endpoints by default', () => {
    expect(of('github')).toEqual({
      authorize_url: 'https://github.com/login/oauth/authorize',
      token_url: 'https://github.com/login/oauth/access_token',
      api_base: 'https://api.github.com',
    });
  });

  it('github: every endpoint can point at the mock IdP', () => {
    const mock = 'http://127.0.0.1:9999/github';
    expect(
      of('github', {
        MCC_UPSTREAM__GITHUB__AUTHORIZE_URL: `${mock}/login/oauth/authorize`,
        MCC_UPSTREAM__GITHUB__TOKEN_URL: `${mock}/login/oauth/access_token`,
        MCC_UPSTREAM__GITHUB__API_BASE: `${mock}/api`,
      }),
    ).toEqual({
      authorize_url: `${mock}/login/oauth/authorize`,
      token_url: `${mock}/login/oauth/access_token`,
      api_base: `${mock}/api`,
    });
  });

  it('google: OIDC endpoints, tokeninfo and revoke', () => {
    expect(of('google')).toMatchObject({
      issuer: 'https://accounts.google.com',
      authorize_url: 'https://accounts.google.com/o/oauth2/v2/auth',
      token_url: 'https://oauth2.googleapis.com/token',
      userinfo_url: 'https://openidconnect.googleapis.com/v1/userinfo',
      jwks_uri: 'https://www.googleapis.com/oauth2/v3/certs',
      tokeninfo_url: 'https://oauth2.googleapis.com/tokeninfo',
    });
  });

  it('azure: tenant-scoped v2.0 endpoints, moved together by an authority override', () => {
    expect(of('azure')).toMatchObject({
      issuer: 'https://login.microsoftonline.com/your-tenant-id/v2.0',
      authorize_url: 'https://login.microsoftonline.com/your-tenant-id/oauth2/v2.0/authorize',
      token_url: 'https://login.microsoftonline.com/your-tenant-id/oauth2/v2.0/token',
      jwks_uri: 'https://login.microsoftonline.com/your-tenant-id/discovery/v2.0/keys',
    });
    expect(of('azure', { MCC_UPSTREAM__AZURE__AUTHORITY: 'http://127.0.0.1:9999/entra/' })).toMatchObject({
      authority: 'http://127.0.0.1:9999/entra/',
      issuer: 'http://127.0.0.1:9999/entra/your-tenant-id/v2.0',
      token_url: 'http://127.0.0.1:9999/entra/your-tenant-id/oauth2/v2.0/token',
    });
  });

  it('aws: the pool issuer, discovery and JWKS; the rest from discovery', () => {
    const issuer = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI';
    expect(of('aws')).toEqual({
      discovery_url: `${issuer}/.well-known/openid-configuration`,
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      authorize_url: undefined,
      token_url: undefined,
      userinfo_url: undefined,
      revoke_url: undefined,
    });
  });

  it('auth0 and oci: discovery from config_url', () => {
    expect(of('auth0').discovery_url).toBe('https://your-tenant.auth0.com/.well-known/openid-configuration');
    expect(of('auth0').token_url).toBeUndefined();
    expect(of('oci').discovery_url).toBe(
      'https://idcs-your-tenant.identity.oraclecloud.com/.well-known/openid-configuration',
    );
  });

  it('clerk and workos: a bare domain becomes https', () => {
    expect(of('clerk')).toMatchObject({
      authorize_url: 'https://your-app.clerk.accounts.dev/oauth/authorize',
      token_info_url: 'https://your-app.clerk.accounts.dev/oauth/token_info',
    });
    expect(of('workos')).toMatchObject({
      authorize_url: 'https://your-app.authkit.app/oauth2/authorize',
      jwks_uri: 'https://your-app.authkit.app/oauth2/jwks',
    });
  });

  it('supabase, scalekit, propelauth, descope: the remote authorization servers', () => {
    expect(of('supabase')).toEqual({
      authorization_server: 'https://your-project-ref.supabase.co/auth/v1',
      issuer: 'https://your-project-ref.supabase.co/auth/v1',
      jwks_uri: 'https://your-project-ref.supabase.co/auth/v1/.well-known/jwks.json',
    });
    expect(of('scalekit').jwks_uri).toBe('https://your-env.scalekit.com/keys');
    expect(of('propelauth').introspection_url).toBe(
      'https://your-tenant.propelauthtest.com/oauth/2.1/introspect',
    );
    expect(of('descope').jwks_uri).toBe('https://api.descope.com/P2abc123.../.well-known/jwks.json');
  });

  it('has none for dev, in-memory and jwt', () => {
    expect(of('dev-admin')).toEqual({});
    expect(of('in-memory')).toEqual({});
    expect(of('jwt')).toEqual({});
  });
});
