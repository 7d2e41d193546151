import type { AuthBackend, Settings } from '../config.ts';
import type { Backend, BackendFactory } from './types.ts';

/** Every backend that talks to an IdP, loaded on demand. dev-* and in-memory have none. */
const LOADERS: Partial<Record<AuthBackend, () => Promise<BackendFactory>>> = {
  github: async () => (await import('./github.ts')).githubBackend,
  google: async () => (await import('./google.ts')).googleBackend,
  azure: async () => (await import('./azure.ts')).azureBackend,
  discord: async () => (await import('./discord.ts')).discordBackend,
  clerk: async () => (await import('./clerk.ts')).clerkBackend,
  workos: async () => (await import('./workos.ts')).workosBackend,
  auth0: async () => (await import('./auth0.ts')).auth0Backend,
  aws: async () => (await import('./aws.ts')).awsBackend,
  oci: async () => (await import('./oci.ts')).ociBackend,
  supabase: async () => (await import('./supabase.ts')).supabaseBackend,
  scalekit: async () => (await import('./scalekit.ts')).scalekitBackend,
  propelauth: async () => (await import('./propelauth.ts')).propelauthBackend,
  descope: async () => (await import('./descope.ts')).descopeBackend,
  jwt: async () => (await import('./jwt.ts')).jwtBackend,
};

/** The backend the settings select, or undefined for dev-admin, dev-public and in-memory. */
export async function createBackend(
  settings: Settings,
  deps: { fetch: typeof fetch },
): Promise<Backend | undefined> {
  const load = LOADERS[settings.auth];
  if (!load) return undefined;
  const factory = await load();
  return factory(settings, deps);
}
