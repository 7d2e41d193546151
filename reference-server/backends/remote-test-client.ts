/**
 * Test support for the remote backends (the IdP issues the tokens, we validate them): settings
 * pointing a backend at the mock IdP on loopback, real tokens from the mock (authorization code
 * with PKCE, or client_credentials), defective tokens through the mock's token faults, forged
 * tokens (HS256 signed with the published public key, an unknown `kid`), and the rejection a
 * verify must end in.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, exportSPKI, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { expect, it } from 'vitest';
import type { RunningMockIdp } from '../../mock-idp/server.ts';
import { type AuthBackend, loadSettings, type Settings } from '../config.ts';
import { TokenRejected } from '../principal.ts';
import type { Backend, RemoteBackend } from './types.ts';
import { CALLBACK, control, describeProvider, loginQueued, requests } from './upstream-test-client.ts';

/** Our public base URL in these tests, and the MCP resource URL under it. */
export const BASE_URL = 'http://127.0.0.1:8000';
export const RESOURCE = `${BASE_URL}/mcp`;

export type TokenDefect =
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-iss'
  | 'wrong-aud'
  | 'bad-signature'
  | 'alg-none';

/** Settings for a remote backend: `auth`, base URL, memory storage and the given dotted overrides. */
export function remoteSettings(auth: AuthBackend, overrides: Record<string, unknown>): Settings {
  return loadSettings({
    env: {},
    overrides: { auth, 'server.storage': 'memory', 'oauth.base_url': BASE_URL, ...overrides },
  });
}

/** The backend as a RemoteBackend (fails the test otherwise). */
export function asRemote(backend: Backend): RemoteBackend {
  if (backend.kind !== 'remote') throw new Error(`${backend.id} must be a remote backend`);
  return backend;
}

function basic(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function tokenRequest(
  idp: RunningMockIdp,
  provider: string,
  form: Record<string, string>,
): Promise<Record<string, unknown>> {
  const d = describeProvider(idp, provider);
  const response = await fetch(d.endpoints['token']!, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic(d.client.client_id, d.client.client_secret!),
    },
    body: new URLSearchParams(form),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200)
    throw new Error(`${provider} token: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * A user's tokens from the mock: the authorization code flow with S256 PKCE for `persona`, with
 * the mock's default client, `scope` and (optionally) an RFC 8707 `resource`.
 */
export async function userTokens(
  idp: RunningMockIdp,
  provider: string,
  persona: string,
  options: { scope?: string; resource?: string } = {},
): Promise<Record<string, unknown>> {
  const d = describeProvider(idp, provider);
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(d.endpoints['authorize']!);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: d.client.client_id,
    redirect_uri: CALLBACK,
    scope: options.scope ?? 'openid email profile',
    state: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...(options.resource ? { resource: options.resource } : {}),
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const back = await loginQueued(idp, provider, url, persona);
  if (!back.code) throw new Error(`${provider} authorization failed: ${back.error ?? back.url.href}`);
  return tokenRequest(idp, provider, {
    grant_type: 'authorization_code',
    code: back.code,
    redirect_uri: CALLBACK,
    code_verifier: verifier,
    ...(options.resource ? { resource: options.resource } : {}),
  });
}

/** A user's access token (see userTokens). */
export async function userAccessToken(
  idp: RunningMockIdp,
  provider: string,
  persona: string,
  options: { scope?: string; resource?: string } = {},
): Promise<string> {
  return (await userTokens(idp, provider, persona, options))['access_token'] as string;
}

/** A client_credentials access token of the mock's default client. */
export async function clientToken(
  idp: RunningMockIdp,
  provider: string,
  options: { scope?: string; resource?: string } = {},
): Promise<string> {
  const body = await tokenRequest(idp, provider, {
    grant_type: 'client_credentials',
    ...(options.scope ? { scope: options.scope } : {}),
    ...(options.resource ? { resource: options.resource } : {}),
  });
  return body['access_token'] as string;
}

/** Makes the next token the provider's token endpoint signs defective, then obtains it. */
export async function defective(
  idp: RunningMockIdp,
  provider: string,
  defect: TokenDefect,
  obtain: () => Promise<string>,
): Promise<string> {
  await control(idp, 'POST', '/_mock/faults', {
    provider,
    endpoint: 'token',
    action: { kind: 'token', defect },
    times: 1,
  });
  return obtain();
}

/** The provider's published signing keys. */
export async function publishedKeys(idp: RunningMockIdp, provider: string): Promise<JWK[]> {
  const response = await fetch(describeProvider(idp, provider).endpoints['jwks']!);
  return ((await response.json()) as { keys: JWK[] }).keys;
}

/**
 * The algorithm-confusion forgery: `claims` signed with HS256, the HMAC key being the provider's
 * published RSA public key in PEM form, under that key's `kid`.
 */
export async function hs256WithPublicKey(
  idp: RunningMockIdp,
  provider: string,
  claims: JWTPayload,
): Promise<string> {
  const [jwk] = await publishedKeys(idp, provider);
  const pem = await exportSPKI((await importJWK(jwk!, 'RS256')) as CryptoKey);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwk!.kid! })
    .sign(new TextEncoder().encode(pem));
}

/** `claims` signed by a key of our own (RS256) under a `kid` the provider never published. */
export async function unknownKidToken(claims: JWTPayload, kid = `unknown-${randomBytes(6).toString('hex')}`) {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey);
}

/** A genuine token's claims, with a fresh `exp`, for forgeries that must fail on their key alone. */
export function claimsOf(token: string): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { ...decodeJwt(token), iat: now, exp: now + 600 };
}

/** The rejection `promise` must end in: a TokenRejected, checked for `invalid_token` and `message`. */
export async function expectRejected(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  const error = await promise.then(
    (value) => {
      throw new Error(`verify accepted the token: ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenRejected);
  const rejected = error as TokenRejected;
  expect(rejected.code).toBe('invalid_token');
  if (typeof message === 'string') expect(rejected.message).toBe(message);
  else expect(rejected.message).toMatch(message);
}

/** How often the mock served the provider's JWKS. */
export async function jwksFetches(idp: RunningMockIdp, provider: string): Promise<number> {
  return (await requests(idp, provider, 'jwks')).length;
}

/** A persona's identity at a provider, as the mock serves it. */
export function mockIdentity(
  idp: RunningMockIdp,
  provider: string,
  persona: string,
): Record<string, unknown> {
  const personas = idp.idp.describePersonas()['personas'] as Array<{
    id: string;
    identities: Record<string, Record<string, unknown>>;
  }>;
  const found = personas.find((p) => p.id === persona);
  if (!found) throw new Error(`no persona ${persona}`);
  return found.identities[provider]!;
}

/** What the shared JWT rejection tests need from one backend's test file. */
export interface JwtRejectionSubject {
  /** The mock provider that issues the tokens. */
  provider: string;
  /** How messages name the IdP (`Supabase`, `the IdP`). */
  name: string;
  idp: () => RunningMockIdp;
  /** A fresh backend (fresh key cache). */
  backend: () => Promise<RemoteBackend>;
  /** A genuine access token the backend accepts. */
  token: () => Promise<string>;
  /** A genuine access token of another provider (flavour). */
  foreignToken: () => Promise<string>;
}

/**
 * One test per rejection of security edge 29, each with its own token: the mock's token faults
 * (expired, not yet valid, wrong iss, wrong aud, bad signature, alg none), HS256 signed with the
 * public key, an unknown kid (one refetch, then none within the cooldown), garbage, and another
 * provider's token.
 */
export function jwtRejectionTests(s: JwtRejectionSubject): void {
  const cases: Array<[TokenDefect, string]> = [
    ['expired', '"exp": the access token has expired'],
    ['not-yet-valid', '"nbf": the access token is not yet valid'],
    ['wrong-iss', `"iss" is not ${s.name}'s issuer`],
    ['wrong-aud', '"aud" does not name this resource server'],
    ['bad-signature', 'the signature is invalid'],
    ['alg-none', '"alg" none is not accepted'],
  ];
  for (const [defect, message] of cases) {
    it(`refuses a token with the "${defect}" defect: ${message}`, async () => {
      const token = await defective(s.idp(), s.provider, defect, s.token);
      await expectRejected((await s.backend()).verify(token), message);
    });
  }

  it('refuses HS256 signed with the published public key (algorithm confusion)', async () => {
    const forged = await hs256WithPublicKey(s.idp(), s.provider, claimsOf(await s.token()));
    await expectRejected((await s.backend()).verify(forged), '"alg" HS256 is not accepted');
  });

  it('refuses an unknown kid after one JWKS refetch, and refetches no more within the cooldown', async () => {
    const backend = await s.backend();
    const claims = claimsOf(await s.token());
    const before = await jwksFetches(s.idp(), s.provider);
    await expectRejected(
      backend.verify(await unknownKidToken(claims)),
      `"kid" names no signing key of ${s.name}`,
    );
    // The first fetch fills the cache; the unknown kid forces exactly one more.
    expect((await jwksFetches(s.idp(), s.provider)) - before).toBe(2);
    await expectRejected(
      backend.verify(await unknownKidToken(claims)),
      `"kid" names no signing key of ${s.name}`,
    );
    expect((await jwksFetches(s.idp(), s.provider)) - before).toBe(2);
  });

  it('refuses a token signed by an untrusted key under a genuine kid', async () => {
    const genuine = await s.token();
    const [header, payload] = genuine.split('.');
    const { privateKey } = await generateKeyPair('RS256');
    const kid = JSON.parse(Buffer.from(header!, 'base64url').toString())['kid'] as string;
    const forged = await new SignJWT(JSON.parse(Buffer.from(payload!, 'base64url').toString()) as JWTPayload)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
      .sign(privateKey);
    await expectRejected((await s.backend()).verify(forged), 'the signature is invalid');
  });

  it('refuses garbage and a malformed header', async () => {
    const backend = await s.backend();
    await expectRejected(backend.verify('not-a-token'), 'the access token is not a JWT');
    await expectRejected(backend.verify('a.b.c'), 'the access token header is malformed');
    await expectRejected(backend.verify('x'.repeat(20_000)), 'the access token is too long');
  });

  it("refuses another provider's access token", async () => {
    await expectRejected(
      (await s.backend()).verify(await s.foreignToken()),
      `"kid" names no signing key of ${s.name}`,
    );
  });
}
