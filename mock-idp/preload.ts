/**
 * Puts the mock IdP in front of an unmodified Node server:
 *
 *   node --import mcp-auth-conformance/mock-idp/preload server.js
 *
 * The server's calls to the providers' real hostnames are answered in-process by msw handlers
 * (every other request passes through untouched), and a control listener on 127.0.0.1 serves
 * the same MockIdp standalone, so a test or the runner can queue logins, read the journal and
 * follow the login page.
 *
 * Environment:
 * - `MOCK_IDP_PORT`: port of the control listener (default 0, a free port).
 * - `MOCK_IDP_URL_FILE`: a file to write the control URL to.
 * - `MOCK_IDP_PERSONAS`: a personas YAML file (the bundled personas otherwise).
 * - `MOCK_IDP_PROVIDERS`: a comma list of provider ids to mock (all otherwise).
 *
 * @see https://nodejs.org/api/cli.html#--importmodule
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { MockIdp } from './app.ts';
import { MockIdpError } from './errors.ts';
import { setupMockIdp } from './msw.ts';

function fromEnv(): { port: number; urlFile?: string; personas?: string; providers?: string[] } {
  const env = process.env;
  const rawPort = env['MOCK_IDP_PORT'] ?? '0';
  if (!/^\d+$/.test(rawPort) || Number(rawPort) > 65535) {
    throw new MockIdpError('ERR_NOT_STARTED', `MOCK_IDP_PORT "${rawPort}" is not a port number`);
  }
  const providers = env['MOCK_IDP_PROVIDERS']
    ?.split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return {
    port: Number(rawPort),
    ...(env['MOCK_IDP_URL_FILE'] ? { urlFile: env['MOCK_IDP_URL_FILE'] } : {}),
    ...(env['MOCK_IDP_PERSONAS'] ? { personas: env['MOCK_IDP_PERSONAS'] } : {}),
    ...(providers?.length ? { providers } : {}),
  };
}

const config = fromEnv();
const idp = new MockIdp({
  ...(config.personas ? { personas: config.personas } : {}),
  ...(config.providers ? { providers: config.providers } : {}),
});
// The server's own traffic (its database, other APIs, its listeners) flows as before.
setupMockIdp({ idp, onUnhandledRequest: 'bypass' });

const control = createServer(getRequestListener(idp.fetch, { overrideGlobalObjects: false }));
control.keepAliveTimeout = 5_000;
control.requestTimeout = 30_000;
await new Promise<void>((resolve, reject) => {
  control.once('error', reject);
  control.listen(config.port, '127.0.0.1', () => {
    control.off('error', reject);
    resolve();
  });
});
// The listener lives as long as the server does; it never keeps a finished program running.
control.unref();

const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
if (config.urlFile) {
  // Written whole, then renamed, so a reader polling for the file never sees half a URL.
  writeFileSync(`${config.urlFile}.tmp`, `${controlUrl}\n`);
  renameSync(`${config.urlFile}.tmp`, config.urlFile);
}
process.stderr.write(`mock-idp: intercepting ${idp.hostPatterns().join(', ')} ; control ${controlUrl}\n`);

export { controlUrl, idp };
