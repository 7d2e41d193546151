import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { z } from 'zod';
import type { Principal } from './principal.ts';

export const SERVER_INFO = { name: 'mcp-auth-reference-server', version: '0.1.0' };

const whoamiOutput = {
  user: z.object({
    id: z.string(),
    email: z.string().nullable(),
    login: z.string().nullable(),
    groups: z.array(z.string()),
  }),
  backend: z.string(),
  client_id: z.string().nullable(),
  scopes: z.array(z.string()),
  claims: z.record(z.string(), z.unknown()),
};

/** What the `whoami` tool returns: the identity probe of the conformance suites. */
export function whoami(principal: Principal) {
  return {
    user: {
      id: principal.user.id,
      email: principal.user.email ?? null,
      login: principal.user.login ?? null,
      groups: principal.user.groups,
    },
    backend: principal.backend,
    client_id: principal.clientId ?? null,
    scopes: principal.scopes,
    claims: principal.claims,
  };
}

function buildServer(principal: Principal): McpServer {
  const server = new McpServer(SERVER_INFO, { capabilities: { tools: {} } });
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description:
        'The application user this request is resolved to, the auth backend, and the passed-through claims.',
      outputSchema: whoamiOutput,
    },
    async () => {
      const result = whoami(principal);
      return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
    },
  );
  return server;
}

/**
 * Answers one Streamable HTTP request at /mcp for an authenticated principal. Stateless: every
 * request gets its own server and transport, so no session outlives the token that opened it.
 * @see https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#streamable-http
 */
export async function handleMcp(request: Request, principal: Principal): Promise<Response> {
  // Stateless: no standalone SSE stream to GET and no session to DELETE, so both are 405 (the
  // transport spec allows it); the SDK would otherwise answer GET with a stream that ends at once.
  if (request.method !== 'POST') {
    return new Response(
      JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }),
      { status: 405, headers: { 'content-type': 'application/json', allow: 'POST' } },
    );
  }
  const server = buildServer(principal);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    maxRequestBodySize: 1024 * 1024,
  });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request, {
      authInfo: {
        token: '',
        clientId: principal.clientId ?? '',
        scopes: principal.scopes,
        ...(principal.expiresAt ? { expiresAt: principal.expiresAt } : {}),
      },
    });
  } finally {
    // The JSON response is complete once handleRequest resolves.
    void transport.close();
    void server.close();
  }
}
