/**
 * The mock IdP inside a Node process, at the real hostnames: msw handlers that answer every
 * request to github.com, api.github.com, login.microsoftonline.com, *.auth0.com... with the
 * MockIdp (host mode), and leave every other request alone.
 *
 * msw 3 names the unhandled-request option `onUnhandledFrame` (it was `onUnhandledRequest` in
 * msw 2); `setupMockIdp` takes `onUnhandledRequest` and passes it on under the new name.
 *
 * @see https://mswjs.io/docs/api/setup-server
 * @see https://mswjs.io/docs/http/intercepting-requests (custom predicates)
 */
import { syncBuiltinESMExports } from 'node:module';
import { type HttpHandler, http, type UnhandledFrameHandle } from 'msw';
import { type SetupServer, setupServer } from 'msw/node';
import { MockIdp, type MockIdpOptions } from './app.ts';

/** Whether `url` names a mocked host on its default port (https is served, http redirected). */
function isMocked(idp: Pick<MockIdp, 'handlesHost'>, url: URL): boolean {
  return (
    url.port === '' &&
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    idp.handlesHost(url.hostname)
  );
}

/**
 * msw request handlers for every hostname `idp` mocks (wildcard tenants included). An https
 * request is answered by `idp.fetch`; plain http to a mocked host gets a 301 to https, as the
 * real hosts answer. Nothing else is matched.
 */
export function mockIdpHandlers(idp: Pick<MockIdp, 'fetch' | 'handlesHost'>): HttpHandler[] {
  return [
    http.all(
      ({ request }) => isMocked(idp, new URL(request.url)),
      ({ request }) => {
        const url = new URL(request.url);
        if (url.protocol === 'http:') {
          url.protocol = 'https:';
          return new Response(null, { status: 301, headers: { location: url.toString() } });
        }
        return idp.fetch(request);
      },
    ),
  ];
}

export interface SetupMockIdpOptions extends MockIdpOptions {
  /** An existing MockIdp to serve (a new one is made from the other options otherwise). */
  idp?: MockIdp;
  /**
   * What msw does with a request to a host the mock does not answer: `'error'` (default; a test
   * never reaches the network by accident), `'warn'`, `'bypass'` or a callback.
   */
  onUnhandledRequest?: UnhandledFrameHandle;
}

export interface MockIdpInterception {
  idp: MockIdp;
  /** The msw server, already listening; add your own handlers with `server.use(...)`. */
  server: SetupServer;
  /** Stops the interception. */
  close(): void;
}

/**
 * Intercepts the mocked hostnames in this process (`fetch`, `http.request`, `https.request`)
 * and serves them from a MockIdp. Call `close()` in `afterAll`.
 */
export function setupMockIdp(options: SetupMockIdpOptions = {}): MockIdpInterception {
  const { idp: given, onUnhandledRequest = 'error', ...idpOptions } = options;
  const idp = given ?? new MockIdp(idpOptions);
  const server = setupServer(...mockIdpHandlers(idp));
  server.listen({ onUnhandledFrame: onUnhandledRequest });
  // msw patches `http.request`/`https.request` on the CommonJS module objects; without a sync,
  // `import { request } from 'node:https'` keeps the unpatched function and reaches the network.
  // @see https://nodejs.org/api/module.html#modulesyncbuiltinesmexports
  syncBuiltinESMExports();
  return {
    idp,
    server,
    close: () => {
      server.close();
      syncBuiltinESMExports();
    },
  };
}
