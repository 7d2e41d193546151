import type { ProviderDefinition } from '../provider.ts';
// placeholder until the provider lands
export const entra = undefined as unknown as ProviderDefinition;
