import type { ProviderDescription } from '../mock-idp/app.ts';
import { COGNITO_POOL_ID } from '../mock-idp/providers/cognito.ts';
import { ENTRA_HOME_TENANT } from '../mock-idp/providers/entra.ts';
import {
  DESCOPE_PROJECT,
  PROPELAUTH_INTROSPECTION,
  SCALEKIT_RESOURCE,
} from '../mock-idp/providers/oidc-flavours.ts';
import type { AuthBackend } from './config.ts';

/** The mock IdP provider that stands in for each backend's upstream. */
export const MOCK_PROVIDER: Partial<Record<AuthBackend, string>> = {
  github: 'github',
  google: 'google',
  azure: 'entra',
  auth0: 'auth0',
  aws: 'cognito',
  clerk: 'clerk',
  discord: 'discord',
  workos: 'workos',
  oci: 'oci',
  supabase: 'supabase',
  scalekit: 'scalekit',
  propelauth: 'propelauth',
  descope: 'descope',
  jwt: 'oidc',
};

/**
 * Settings overrides that point a backend at a running mock IdP (its standalone URLs and its
 * default client), as `conformance serve --mock-idp` and the end-to-end tests use them. The
 * result is passed to `loadSettings({ overrides })`.
 */
export function mockIdpOverrides(
  backend: AuthBackend,
  providers: ProviderDescription[],
  server: { baseUrl: string; mcpPath?: string },
): Record<string, unknown> {
  const id = MOCK_PROVIDER[backend];
  const p = id ? providers.find((d) => d.id === id) : undefined;
  if (id && !p) throw new Error(`the mock IdP does not serve "${id}", needed by auth "${backend}"`);
  if (!p) return { auth: backend, oauth: { base_url: server.baseUrl } };
  const e = p.endpoints;
  const client = { client_id: p.client.client_id, client_secret: p.client.client_secret };
  const base = (hostId: string) => p.base_urls[hostId] ?? Object.values(p.base_urls)[0]!;
  const oauth = (extra: Record<string, unknown>) => ({ base_url: server.baseUrl, ...client, ...extra });
  switch (backend) {
    case 'github':
      return {
        auth: backend,
        oauth: oauth({}),
        upstream: { github: { authorize_url: e['authorize'], token_url: e['token'], api_base: base('api') } },
      };
    case 'google':
      return {
        auth: backend,
        oauth: oauth({}),
        upstream: {
          google: {
            discovery_url: e['discovery'],
            issuer: p.issuer,
            authorize_url: e['authorize'],
            token_url: e['token'],
            userinfo_url: e['userinfo'],
            tokeninfo_url: e['tokeninfo'],
            jwks_uri: e['jwks'],
            revoke_url: e['revoke'],
          },
        },
      };
    case 'azure':
      return {
        auth: backend,
        oauth: oauth({ tenant_id: ENTRA_HOME_TENANT }),
        upstream: { azure: { authority: base('login'), userinfo_url: e['userinfo'] } },
      };
    case 'auth0':
      return { auth: backend, oauth: oauth({ config_url: e['discovery'] }) };
    case 'aws':
      return {
        auth: backend,
        oauth: oauth({ user_pool_id: COGNITO_POOL_ID, aws_region: COGNITO_POOL_ID.split('_')[0] }),
        upstream: { aws: { discovery_url: e['discovery'], issuer: p.issuer, jwks_uri: e['jwks'] } },
      };
    case 'clerk':
      return { auth: backend, oauth: oauth({ domain: Object.values(p.base_urls)[0] }) };
    case 'discord':
      return {
        auth: backend,
        oauth: oauth({}),
        upstream: {
          discord: {
            authorize_url: e['authorize'],
            token_url: e['token'],
            revoke_url: e['revoke'],
            api_base: e['token']!.replace(/\/oauth2\/token$/, ''),
          },
        },
      };
    case 'workos':
      return { auth: backend, oauth: oauth({ authkit_domain: Object.values(p.base_urls)[0] }) };
    case 'oci':
      return { auth: backend, oauth: oauth({ config_url: e['discovery'] }) };
    case 'supabase':
      return {
        auth: backend,
        oauth: { base_url: server.baseUrl, project_url: Object.values(p.base_urls)[0] },
      };
    case 'scalekit':
      return {
        auth: backend,
        oauth: {
          base_url: server.baseUrl,
          environment_url: Object.values(p.base_urls)[0],
          resource_id: SCALEKIT_RESOURCE,
          client_id: p.client.client_id,
        },
      };
    case 'propelauth':
      return {
        auth: backend,
        oauth: {
          base_url: server.baseUrl,
          auth_url: Object.values(p.base_urls)[0],
          introspection_client_id: PROPELAUTH_INTROSPECTION.id,
          introspection_client_secret: PROPELAUTH_INTROSPECTION.secret,
        },
      };
    case 'descope':
      return {
        auth: backend,
        oauth: { base_url: server.baseUrl, project_id: DESCOPE_PROJECT, config_url: e['discovery'] },
        // The JWKS sits at {origin}/{project}/...; standalone, the mock serves it under its prefix.
        upstream: { descope: { jwks_uri: e['jwks'] } },
      };
    case 'jwt':
      return {
        auth: backend,
        jwt: {
          base_url: server.baseUrl,
          jwks_uri: e['jwks'],
          issuer: p.issuer,
          audience: `${server.baseUrl}${server.mcpPath ?? '/mcp'}`,
          authorization_server: p.issuer,
        },
      };
    default:
      return { auth: backend, oauth: { base_url: server.baseUrl } };
  }
}
