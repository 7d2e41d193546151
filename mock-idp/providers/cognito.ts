import type { ProviderDefinition } from '../provider.ts';
// placeholder until the provider lands
export const cognito = undefined as unknown as ProviderDefinition;
