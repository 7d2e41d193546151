import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRejected } from '../../reference-server/principal.ts';
import { ownTokenVerifier } from '../../reference-server/verify.ts';
import { explain, notPassing, startTarget, type Target } from './harness.ts';

/**
 * Detection power of the discovery and bearer suites: a correct server passes every case; a
 * server with one broken part fails exactly the cases that part should fail.
 */
describe('discovery and bearer suites', () => {
  let good: Target;
  beforeAll(async () => {
    good = await startTarget();
  });
  afterAll(() => good.stop());

  it('pass against the correct reference server', async () => {
    const result = await good.run({ cases: ['discovery/*', 'bearer/*'] });
    expect(notPassing(result), explain(result)).toEqual([]);
  });

  it('catch a verifier that accepts unsigned tokens (alg none)', async () => {
    const broken = await startTarget({
      mock: good.mock,
      parts: {
        verifier: (rt) => {
          const real = ownTokenVerifier(rt);
          return {
            async verify(token) {
              const [header, payload] = token.split('.');
              const alg = JSON.parse(Buffer.from(header!, 'base64url').toString()).alg;
              if (alg !== 'none') return real.verify(token);
              const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
              const user = await rt.store.getUser(claims.sub);
              if (!user) throw new TokenRejected('invalid_token', 'no user');
              return {
                user: { id: user.id, groups: user.groups },
                backend: 'github',
                clientId: claims.client_id,
                scopes: [],
                claims: {},
                expiresAt: claims.exp,
              };
            },
          };
        },
      },
    });
    try {
      const result = await broken.run({ cases: ['discovery/*', 'bearer/*'] });
      expect(notPassing(result), explain(result)).toEqual(['bearer/alg-none']);
    } finally {
      await broken.stop();
    }
  });
});
