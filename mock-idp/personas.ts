import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { MockIdpError } from './errors.ts';

/** An application user a server's store must hold for the user-resolution suite. */
export interface StoreUser {
  id: string;
  email?: string;
  login?: string;
  groups: string[];
}

/** Per-provider overrides; the provider derives everything not given from the top-level fields. */
export type ProviderBlock = Record<string, unknown>;

export interface Persona {
  id: string;
  name: string;
  description: string;
  /** The address the persona presents; `null` when it has none. */
  email: string | null;
  email_verified: boolean;
  /** Custom claims (roles, groups, nested and oversized values) for passthrough checks. */
  claims: Record<string, unknown>;
  /** Expected resolution per provider id (`default` for the rest); `null` means "refuse". */
  expect: Record<string, string | null>;
  /** Provider blocks keyed by provider id (github, google, entra, auth0, cognito, discord, oidc...). */
  providers: Record<string, ProviderBlock>;
}

export interface PersonaSet {
  users: StoreUser[];
  personas: Persona[];
}

const TOP_LEVEL = new Set(['id', 'name', 'description', 'email', 'email_verified', 'claims', 'expect']);

/** The personas file shipped with the package. */
export const defaultPersonasPath = fileURLToPath(new URL('./personas.yaml', import.meta.url));

function expand(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expand);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj['$repeat'] === 'string' && typeof obj['times'] === 'number') {
      return obj['$repeat'].repeat(Math.min(obj['times'], 100_000));
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, expand(v)]));
  }
  return value;
}

function fail(source: string, message: string): never {
  throw new MockIdpError('ERR_PERSONAS_INVALID', `${source}: ${message}`);
}

/** Parses and validates a personas document. `source` names it in error messages. */
export function parsePersonas(text: string, source = 'personas'): PersonaSet {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    fail(source, `not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (!doc || typeof doc !== 'object') fail(source, 'expected a mapping with "personas"');
  const root = doc as Record<string, unknown>;
  if (!Array.isArray(root['personas'])) fail(source, '"personas" must be a list');
  const users: StoreUser[] = [];
  for (const [i, raw] of ((root['users'] as unknown[] | undefined) ?? []).entries()) {
    const u = raw as Record<string, unknown>;
    if (!u || typeof u['id'] !== 'string') fail(source, `users[${i}].id must be a string`);
    users.push({
      id: u['id'],
      ...(typeof u['email'] === 'string' ? { email: u['email'] } : {}),
      ...(typeof u['login'] === 'string' ? { login: u['login'] } : {}),
      groups: Array.isArray(u['groups']) ? (u['groups'] as string[]) : [],
    });
  }
  const seen = new Set<string>();
  const personas: Persona[] = (root['personas'] as unknown[]).map((raw, i) => {
    const p = expand(raw) as Record<string, unknown>;
    if (!p || typeof p['id'] !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(p['id'])) {
      fail(source, `personas[${i}].id must be a lowercase identifier`);
    }
    if (seen.has(p['id'])) fail(source, `personas[${i}].id "${p['id']}" is repeated`);
    seen.add(p['id']);
    const email = p['email'] === undefined ? null : p['email'];
    if (email !== null && typeof email !== 'string')
      fail(source, `personas[${i}].email must be a string or null`);
    const providers: Record<string, ProviderBlock> = {};
    for (const [key, value] of Object.entries(p)) {
      if (TOP_LEVEL.has(key)) continue;
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        fail(source, `personas[${i}].${key} must be a mapping (a provider block)`);
      }
      providers[key] = value as ProviderBlock;
    }
    return {
      id: p['id'],
      name: typeof p['name'] === 'string' ? p['name'] : p['id'],
      description: typeof p['description'] === 'string' ? p['description'] : '',
      email,
      email_verified: p['email_verified'] === true,
      claims: (p['claims'] as Record<string, unknown> | undefined) ?? {},
      expect: (p['expect'] as Record<string, string | null> | undefined) ?? { default: null },
      providers,
    };
  });
  return { users, personas };
}

export function loadPersonas(path: string = defaultPersonasPath): PersonaSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new MockIdpError('ERR_PERSONAS_INVALID', `cannot read personas file "${path}"`);
  }
  return parsePersonas(text, path);
}

/** The user a correct server resolves `persona` to when it signs in through `provider`. */
export function expectedUser(persona: Persona, provider: string): string | null {
  if (provider in persona.expect) return persona.expect[provider] ?? null;
  return persona.expect['default'] ?? null;
}

/** A persona's block for one provider, or an empty block. */
export function block(persona: Persona, provider: string): ProviderBlock {
  return persona.providers[provider] ?? {};
}

/** Reads a field from the provider block, falling back to `fallback` when the block omits it. */
export function field<T>(persona: Persona, provider: string, key: string, fallback: T): T {
  const b = block(persona, provider);
  return key in b ? (b[key] as T) : fallback;
}
