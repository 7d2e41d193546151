import type { ProviderDefinition } from '../provider.ts';
// placeholder until the provider lands
export const google = undefined as unknown as ProviderDefinition;
