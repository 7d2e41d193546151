import { existsSync } from 'node:fs';
import { startMockIdp } from '../mock-idp/server.ts';
import { parseCommand, portOption, UsageError } from './args.ts';

export const mockIdpUsage = `Usage: conformance mock-idp [options]

Serves every mock provider (GitHub, Google, Entra, Auth0, Cognito, generic OIDC and its
flavours) on 127.0.0.1, each under its own path prefix, with the control API at /_mock/.

Options:
  --port N           listen on port N (default 4010; 0 picks a free port)
  --personas FILE    use this personas file instead of the bundled one
  --providers LIST   serve only these providers (comma-separated ids)
  --proxy            also start the intercepting HTTPS proxy for the real hostnames
  --proxy-port N     port of the proxy (default 4011)
  --ca-dir DIR       where the proxy keeps its CA (default ~/.cache/mcp-auth-conformance/ca)
  --json             print the provider table as JSON
  -h, --help         show this help`;

/** `conformance mock-idp`: runs until interrupted. */
export async function mockIdpCommand(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void },
): Promise<number> {
  const { values } = parseCommand(argv, {
    port: { type: 'string' },
    personas: { type: 'string' },
    providers: { type: 'string' },
    proxy: { type: 'boolean' },
    'proxy-port': { type: 'string' },
    'ca-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(mockIdpUsage);
    return 0;
  }
  const port = portOption(values.port, '--port') ?? 4010;
  const proxyPort = portOption(values['proxy-port'], '--proxy-port') ?? 4011;
  if (values.personas && !existsSync(values.personas)) {
    throw new UsageError(`--personas: no such file "${values.personas}"`);
  }
  const providers = values.providers
    ?.split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (providers && providers.length === 0) throw new UsageError('--providers needs at least one provider id');
  const running = await startMockIdp({
    port,
    ...(values.personas ? { personas: values.personas } : {}),
    ...(providers ? { providers } : {}),
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') throw new UsageError(`port ${port} is already in use (try --port 0)`);
    throw error;
  });
  const described = running.idp.describe({ mode: 'path', origin: running.url });
  const stops: Array<() => Promise<void>> = [running.stop];
  let proxyLines: string[] = [];
  let proxyJson: { url: string; ca_cert: string; env: Record<string, string> } | undefined;
  if (values.proxy) {
    const { startInterceptingProxy, formatProxyEnv } = await import('../mock-idp/proxy.ts');
    const proxy = await startInterceptingProxy({
      idp: running.idp,
      port: proxyPort,
      ...(values['ca-dir'] ? { caDir: values['ca-dir'] } : {}),
    }).catch(async (error: NodeJS.ErrnoException) => {
      await running.stop(); // or the process would stay up after the error
      if (error.code === 'EADDRINUSE') {
        throw new UsageError(`proxy port ${proxyPort} is already in use (try --proxy-port 0)`);
      }
      throw error;
    });
    stops.push(proxy.stop);
    proxyLines = [
      '',
      `Intercepting HTTPS proxy on ${proxy.url} (CA ${proxy.caCertPath}); hosts it does not mock are refused.`,
      'Set these in the environment of the server under test:',
      formatProxyEnv(proxy.env),
    ];
    proxyJson = { url: proxy.url, ca_cert: proxy.caCertPath, env: { ...proxy.env } };
  }
  if (values.json) {
    // stdout is exactly one JSON document; the human lines go to stderr.
    io.out(
      JSON.stringify(
        { url: running.url, providers: described, ...(proxyJson ? { proxy: proxyJson } : {}) },
        null,
        2,
      ),
    );
    io.err('Ready. Press Ctrl+C to stop.');
  } else {
    io.out(`Mock IdP listening on ${running.url} (${running.idp.personas.personas.length} personas)`);
    io.out(`Control API: ${running.url}/_mock/providers, /_mock/personas, /_mock/next-login, /_mock/journal`);
    io.out('');
    const width = Math.max(...described.map((p) => p.id.length));
    for (const p of described) {
      io.out(
        `  ${p.id.padEnd(width)}  ${p.issuer ?? Object.values(p.base_urls)[0]}  client_id=${p.client.client_id}`,
      );
    }
    for (const line of proxyLines) io.out(line);
    io.out('Ready. Press Ctrl+C to stop.');
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  for (const stop of stops.reverse()) await stop();
  return 0;
}
