import type { ProviderDefinition } from '../provider.ts';
export const oidcFamily: ProviderDefinition[] = [];
