import type { ProviderDefinition } from '../provider.ts';
import { defineFlavour } from './oidc-engine.ts';
import { flavours } from './oidc-flavours.ts';

/**
 * The generic OIDC provider (Keycloak-shaped, id `oidc`) and the flavours built on the same
 * engine for the discovery-based backends: Discord, Clerk, WorkOS AuthKit, Descope, Supabase,
 * Scalekit, PropelAuth and OCI IAM. Each is its own provider id and standalone prefix.
 */
export const oidcFamily: ProviderDefinition[] = flavours.map(defineFlavour);
