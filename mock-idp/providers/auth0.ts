import type { ProviderDefinition } from '../provider.ts';
// placeholder until the provider lands
export const auth0 = undefined as unknown as ProviderDefinition;
