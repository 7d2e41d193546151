import type { ProviderDefinition } from '../provider.ts';
// placeholder until the provider lands
export const github = undefined as unknown as ProviderDefinition;
