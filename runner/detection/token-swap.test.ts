import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppParts } from '../../reference-server/app.ts';
import type { ProxyUpstream } from '../../reference-server/backends/types.ts';
import { upstreamEndpoints } from '../../reference-server/config.ts';
import { callback } from '../../reference-server/oauth/callback.ts';
import type { GrantSecrets } from '../../reference-server/oauth/complete.ts';
import { noStoreJson } from '../../reference-server/oauth/responses.ts';
import { token } from '../../reference-server/oauth/token.ts';
import { type Principal, TokenRejected, type TokenVerifier } from '../../reference-server/principal.ts';
import type { Runtime } from '../../reference-server/runtime.ts';
import { ownTokenVerifier } from '../../reference-server/verify.ts';
import type { RunResult } from '../../reports/model.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the token-swap suite (security edge 26): the correct server passes every
 * case with a GitHub and a Google upstream; a server with one broken part (each wraps the real
 * one) fails exactly the cases that part should fail.
 */

const CASES = ['token-swap/*'];

function statuses(result: RunResult): Record<string, string> {
  return Object.fromEntries(result.suites.flatMap((s) => s.cases).map((c) => [c.id, c.status]));
}

/** The callback hands the upstream access token to the client with the code (token passthrough). */
const callbackPassingUpstreamToken: AppParts['callback'] = async (rt, request) => {
  const backend = rt.backend as ProxyUpstream;
  let upstream: string | undefined;
  const spy: ProxyUpstream = {
    kind: 'proxy',
    id: backend.id,
    authorizationUrl: (input) => backend.authorizationUrl(input),
    async exchange(input) {
      const result = await backend.exchange(input);
      upstream = result.tokens.access_token;
      return result;
    },
  };
  const response = await callback({ ...rt, backend: spy }, request);
  const location = response.headers.get('location');
  if (!upstream || !location || !new URL(location).searchParams.has('code')) return response;
  const url = new URL(location);
  url.searchParams.set('access_token', upstream);
  url.searchParams.set('token_type', 'bearer');
  const headers = new Headers(response.headers);
  headers.set('location', url.toString());
  return new Response(null, { status: response.status, headers });
};

/** The token endpoint answers with the upstream's access token instead of its own. */
const tokenReturningUpstreamToken: AppParts['token'] = async (rt, request) => {
  const response = await token(rt, request);
  if (response.status !== 200) return response;
  const body = (await response.json()) as Record<string, unknown>;
  const family = decodeJwt(String(body['access_token']))['sid'];
  const record = await rt.store.getUpstreamTokensForFamily(String(family));
  const upstream = record && rt.sealer.openJson<GrantSecrets>(record.sealed, record.id).tokens;
  return noStoreJson({ ...body, access_token: upstream?.access_token ?? body['access_token'] });
};

/** The principal of an upstream identity already linked to one of our users. */
async function linkedPrincipal(
  rt: Runtime,
  provider: string,
  subject: string,
): Promise<Principal | undefined> {
  const link = await rt.store.findLink(provider, subject);
  const user = link && (await rt.store.getUser(link.userId));
  if (!user) return undefined;
  return {
    user: {
      id: user.id,
      ...(user.email ? { email: user.email } : {}),
      ...(user.login ? { login: user.login } : {}),
      groups: user.groups,
    },
    backend: rt.settings.auth,
    clientId: undefined,
    scopes: [],
    claims: {},
    expiresAt: undefined,
  };
}

/** Our tokens, or else a token the upstream accepts (FastMCP-style `/user` validation). */
const verifierAcceptingGithubTokens: AppParts['verifier'] = (rt): TokenVerifier => {
  const real = ownTokenVerifier(rt);
  return {
    async verify(presented) {
      try {
        return await real.verify(presented);
      } catch (error) {
        const api = upstreamEndpoints(rt.settings, 'github').api_base!.replace(/\/+$/, '');
        const res = await rt.fetch(`${api}/user`, {
          headers: {
            authorization: `Bearer ${presented}`,
            accept: 'application/vnd.github+json',
            'user-agent': 'broken-variant',
          },
        });
        if (res.status !== 200) throw error;
        const user = (await res.json()) as { id: number };
        const principal = await linkedPrincipal(rt, 'github', String(user.id));
        if (!principal) throw new TokenRejected('invalid_token', 'unknown GitHub user');
        return principal;
      }
    },
  };
};

/** Our tokens, or else a valid Google id_token for our upstream client. */
const verifierAcceptingGoogleIdTokens: AppParts['verifier'] = (rt): TokenVerifier => {
  const real = ownTokenVerifier(rt);
  const endpoints = upstreamEndpoints(rt.settings, 'google');
  const jwks = createRemoteJWKSet(new URL(endpoints.jwks_uri!));
  return {
    async verify(presented) {
      try {
        return await real.verify(presented);
      } catch (error) {
        const verified = await jwtVerify(presented, jwks, { audience: rt.settings.oauth.client_id! }).catch(
          () => undefined,
        );
        const principal = verified && (await linkedPrincipal(rt, 'google', String(verified.payload.sub)));
        if (!principal) throw error;
        return principal;
      }
    },
  };
};

describe('token-swap suite', () => {
  let github: Target;
  let google: Target;
  beforeAll(async () => {
    github = await startTarget({ backend: 'github' });
    google = await startTarget({ backend: 'google', mock: github.mock });
  });
  afterAll(async () => {
    await google?.stop();
    await github?.stop();
  });

  async function brokenRun(options: Parameters<typeof startTarget>[0]): Promise<RunResult> {
    const broken = await startTarget({ mock: github.mock, ...options });
    try {
      return await broken.run({ cases: CASES });
    } finally {
      await broken.stop();
    }
  }

  it('passes against the correct reference server (GitHub upstream)', async () => {
    const result = await github.run({ cases: CASES });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(statuses(result)).toEqual({
      'token-swap/access-token-is-own': 'passed',
      'token-swap/no-upstream-token-reaches-client': 'passed',
      'token-swap/no-upstream-token-after-refresh': 'passed',
      'token-swap/upstream-access-token-refused': 'passed',
      // GitHub issues no id_token.
      'token-swap/upstream-id-token-refused': 'skipped',
    });
  });

  it('passes against the correct reference server (Google upstream)', async () => {
    const result = await google.run({ cases: CASES });
    expect(notPassing(result), explain(result)).toEqual([]);
    expect(Object.values(statuses(result))).toEqual(Array(5).fill('passed'));
  });

  it('catches a callback that hands the upstream access token to the client', async () => {
    const result = await brokenRun({ parts: { callback: callbackPassingUpstreamToken } });
    expect(notPassing(result), explain(result)).toEqual([
      'token-swap/no-upstream-token-after-refresh',
      'token-swap/no-upstream-token-reaches-client',
    ]);
  });

  it('catches a token endpoint that returns the upstream access token', async () => {
    const result = await brokenRun({ parts: { token: tokenReturningUpstreamToken } });
    expect(notPassing(result), explain(result)).toEqual([
      'token-swap/access-token-is-own',
      'token-swap/no-upstream-token-after-refresh',
      'token-swap/no-upstream-token-reaches-client',
    ]);
  });

  it('catches an MCP endpoint that accepts the upstream access token', async () => {
    const result = await brokenRun({ parts: { verifier: verifierAcceptingGithubTokens } });
    expect(notPassing(result), explain(result)).toEqual(['token-swap/upstream-access-token-refused']);
  });

  it('catches an MCP endpoint that accepts the upstream id_token', async () => {
    const result = await brokenRun({
      backend: 'google',
      parts: { verifier: verifierAcceptingGoogleIdTokens },
    });
    expect(notPassing(result), explain(result)).toEqual(['token-swap/upstream-id-token-refused']);
  });
});
