import type { ProviderDefinition } from '../provider.ts';
import { auth0 } from './auth0.ts';
import { cognito } from './cognito.ts';
import { entra } from './entra.ts';
import { github } from './github.ts';
import { google } from './google.ts';
import { oidcFamily } from './oidc.ts';

/** Every provider shape the mock serves. */
export const allProviders: ProviderDefinition[] = [github, google, entra, auth0, cognito, ...oidcFamily];
