/**
 * Maps a URL at a provider's real hostname to the same endpoint on a standalone listener
 * (`https://github.com/login/oauth/authorize?...` -> `http://127.0.0.1:PORT/github/login/oauth/authorize?...`),
 * so a test can follow a redirect to the real hostname through the mock's control listener.
 */
import { MockIdpError } from './errors.ts';
import type { HostSpec } from './provider.ts';
import { allProviders } from './providers/index.ts';

/** The same rule MockIdp uses: a leading `*` spans one or more labels, an inner `*` exactly one. */
function hostMatcher(host: string): RegExp {
  const escaped = host
    .split('.')
    .map((label, i) => (label === '*' ? (i === 0 ? '(?:[a-z0-9-]+\\.)*[a-z0-9-]+' : '[a-z0-9-]+') : label))
    .join('\\.');
  return new RegExp(`^${escaped}$`, 'i');
}

let hosts: Array<{ spec: HostSpec; pattern: RegExp }> | undefined;

/** The host spec (and so the standalone prefix) serving `hostname`, if any provider mocks it. */
export function mockedHost(hostname: string): HostSpec | undefined {
  hosts ??= allProviders.flatMap((p) => p.hosts.map((spec) => ({ spec, pattern: hostMatcher(spec.host) })));
  return hosts.find((h) => h.pattern.test(hostname))?.spec;
}

/**
 * The standalone URL of the endpoint `realUrl` names. `controlOrigin` is the listener's origin
 * (`http://127.0.0.1:PORT`, as printed by the preload or returned by startMockIdp).
 */
export function toLocalUrl(realUrl: string | URL, controlOrigin: string | URL): string {
  const url = new URL(realUrl);
  const spec = mockedHost(url.hostname);
  if (!spec) throw new MockIdpError('ERR_UNKNOWN_PROVIDER', `"${url.hostname}" is not a mocked host`);
  const origin = new URL(controlOrigin).origin;
  return `${origin}/${spec.prefix}${url.pathname}${url.search}${url.hash}`;
}
