/**
 * The mock identity provider, for use in your own tests.
 *
 * - `startMockIdp()`: a standalone listener on 127.0.0.1 (every provider under a path prefix,
 *   the control API under /_mock/).
 * - `setupMockIdp()`: msw interception of the real hostnames (github.com, *.auth0.com...) in
 *   this process; `mockIdpHandlers(idp)` for your own msw server.
 * - `startInterceptingProxy()`: an HTTPS proxy with a local CA, for a server in any language.
 * - `node --import mcp-auth-conformance/mock-idp/preload server.js`: the msw interception in an
 *   unmodified Node server, plus a control listener.
 *
 * The MockIdp itself queues logins (`nextLogin`), records what it saw and issued
 * (`journalEntries`), injects faults (`addFault`) and forgets everything (`reset`).
 */

export type { MockIdpOptions, NextLogin, ProviderDescription } from './app.ts';
export { createMockIdp, MockIdp } from './app.ts';
export type { CertificateAuthority, LeafCertificate } from './certificates.ts';
export { defaultCaDir, loadOrCreateCa } from './certificates.ts';
export type { RegisteredClient } from './clients.ts';
export type { MockIdpErrorCode } from './errors.ts';
export { MockIdpError } from './errors.ts';
export type { Fault, FaultAction, FaultInput, TokenDefect } from './faults.ts';
export { TOKEN_DEFECTS } from './faults.ts';
export type { IssuedEntry, JournalEntry, RequestEntry } from './journal.ts';
export { mockedHost, toLocalUrl } from './local-url.ts';
export type { PageLoginResult } from './login-client.ts';
export { loginThroughPage } from './login-client.ts';
export type { MockIdpInterception, SetupMockIdpOptions } from './msw.ts';
export { mockIdpHandlers, setupMockIdp } from './msw.ts';
export type { Persona, PersonaSet, ProviderBlock, StoreUser } from './personas.ts';
export { defaultPersonasPath, expectedUser, loadPersonas, parsePersonas } from './personas.ts';
export type { HostSpec, ProviderDefinition, UrlView } from './provider.ts';
export type {
  InterceptedIdp,
  InterceptingProxy,
  InterceptingProxyOptions,
  ProxyEnv,
  ProxyRefusal,
} from './proxy.ts';
export { formatProxyEnv, startInterceptingProxy } from './proxy.ts';
export type { RunningMockIdp } from './server.ts';
export { startMockIdp } from './server.ts';
