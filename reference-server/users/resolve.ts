/**
 * User resolution: which application user an upstream sign-in belongs to.
 *
 * The catalogue (seeds/000) resolves "from the token's email claim first, then login (GitHub
 * handle)"; users must exist before they connect. With the security edges (32, 33) that becomes:
 * 1. an existing link (provider, immutable upstream id) wins;
 * 2. else a *verified* email (boolean `true`, or the exact string `"true"` of Cognito userInfo
 *    and Google tokeninfo; `"false"` is false), compared case-insensitively with nothing else
 *    folded (no dot stripping, no `+tag` removal), never a `users.noreply.github.com` address;
 * 3. else the login (a GitHub handle, case-insensitive);
 * and the first match is stored as a link by the immutable id, so a later change of email or
 * login cannot move the account. No match: a typed "unknown user" result; no user is created.
 *
 * The per-provider helpers below turn each upstream's *verified* data into the normalized
 * identity; they are the only place provider quirks live:
 * - GitHub: `/user` + `/user/emails`; the primary verified address (`/user.email` alone is never
 *   trusted: it is the public, unverified profile field) [provider-shapes GitHub; R docs].
 * - Google: `email_verified` (id_token, OIDC userinfo; string "true" from tokeninfo) or
 *   `verified_email` (legacy oauth2/v2/userinfo).
 * - Entra: an email only with the optional claim `xms_edov` true ("email domain owner verified",
 *   Microsoft optional-claims reference, checked with the search tool); never `preferred_username`
 *   or `upn`; subject `tid:oid` (oid is stable across apps, `sub` is pairwise per app).
 * - Auth0, generic OIDC: `email_verified`. Cognito: the same claim, boolean in the id_token and a
 *   string in userInfo. Discord: `verified` on /users/@me.
 */
import type { IdentityLink, Store, UserRecord } from '../store/types.ts';

export type EmailVerified = boolean | 'true' | 'false' | undefined;

/** A normalized upstream identity. Only the provider helpers below should build one. */
export interface UpstreamIdentity {
  /** Namespace of `subject`: a provider id, or `oidc:<issuer>` for generic OIDC. */
  provider: string;
  /** The upstream's immutable id for the account. */
  subject: string;
  email?: string | null;
  emailVerified?: EmailVerified;
  /** A handle usable for lookup (GitHub login only). */
  login?: string | null;
  name?: string | null;
}

export type Resolution =
  | {
      kind: 'user';
      user: UserRecord;
      /** How the user was found. */
      via: 'link' | 'email' | 'login';
      link: IdentityLink;
      /** True when this sign-in created the link. */
      linked: boolean;
    }
  | { kind: 'unknown_user'; provider: string; subject: string };

const NOREPLY = /@users\.noreply\.github\.com$/i;

/** `true` or the exact string `"true"`; everything else (including `"false"`, `"True"`, 1) is false. */
export function isVerified(value: unknown): boolean {
  return value === true || value === 'true';
}

/** An email fit for matching: a non-empty string with one `@`, not a GitHub noreply alias. */
export function usableEmail(email: unknown): email is string {
  return typeof email === 'string' && /^[^@\s]+@[^@\s]+$/.test(email) && !NOREPLY.test(email);
}

/**
 * Resolves the application user for an upstream identity (see the module comment for the order).
 * @see reference/security-edges.md items 32, 33
 */
export async function resolveUser(store: Store, identity: UpstreamIdentity): Promise<Resolution> {
  const { provider, subject } = identity;
  if (typeof provider !== 'string' || provider === '' || typeof subject !== 'string' || subject === '') {
    throw new TypeError('identity needs a provider and a subject');
  }
  const seen = {
    ...(usableEmail(identity.email) && isVerified(identity.emailVerified) ? { email: identity.email } : {}),
    ...(typeof identity.login === 'string' && identity.login !== '' ? { login: identity.login } : {}),
  };
  const existing = await store.findLink(provider, subject);
  if (existing) {
    const user = await store.getUser(existing.userId);
    if (user) {
      const link = await store.linkIdentity({ provider, subject, userId: user.id, ...seen });
      return { kind: 'user', user, via: 'link', link, linked: false };
    }
  }
  let user: UserRecord | undefined;
  let via: 'email' | 'login' = 'email';
  if (seen.email !== undefined) user = await store.findUserByEmail(seen.email);
  if (!user && seen.login !== undefined) {
    user = await store.findUserByLogin(seen.login);
    via = 'login';
  }
  if (!user) return { kind: 'unknown_user', provider, subject };
  const link = await store.linkIdentity({ provider, subject, userId: user.id, ...seen });
  return { kind: 'user', user, via, link, linked: true };
}

// ---------------------------------------------------------------------------------------------
// Provider normalisation

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function requireSubject(provider: string, value: unknown): string {
  const s = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : str(value);
  if (s === undefined) throw new TypeError(`${provider} identity has no immutable id`);
  return s;
}

function verifiedIdentity(
  provider: string,
  subject: string,
  email: unknown,
  verified: unknown,
  extra: { login?: string | undefined; name?: unknown } = {},
): UpstreamIdentity {
  const ok = usableEmail(email) && isVerified(verified);
  return {
    provider,
    subject,
    ...(ok ? { email: email as string, emailVerified: true as const } : {}),
    ...(extra.login !== undefined ? { login: extra.login } : {}),
    ...(str(extra.name) !== undefined ? { name: str(extra.name)! } : {}),
  };
}

/** GitHub `GET /user` (the fields used). */
export interface GitHubUser {
  id: number;
  login: string;
  email?: string | null;
  name?: string | null;
}

/** One entry of GitHub `GET /user/emails`. */
export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility?: string | null;
}

/**
 * GitHub: subject = numeric id; login = handle; email = the primary verified address of
 * `/user/emails`, or `/user.email` when that list shows it verified. `emails` undefined (the
 * `user:email` scope was not granted) means no email at all.
 * @see https://docs.github.com/en/rest/users/emails
 */
export function githubIdentity(
  user: GitHubUser,
  emails: readonly GitHubEmail[] | undefined,
): UpstreamIdentity {
  const subject = requireSubject('github', user.id);
  const verified = (emails ?? []).filter((e) => e.verified === true && usableEmail(e.email));
  const primary = verified.find((e) => e.primary === true);
  const publicOne =
    typeof user.email === 'string'
      ? verified.find((e) => e.email.toLowerCase() === user.email!.toLowerCase())
      : undefined;
  const chosen = primary ?? publicOne;
  return verifiedIdentity('github', subject, chosen?.email, chosen !== undefined, {
    login: str(user.login),
    name: user.name,
  });
}

/**
 * Google: id_token / OIDC userinfo (`sub`, `email_verified` boolean), tokeninfo (string "true"),
 * or the legacy v2 userinfo (`id`, `verified_email`).
 */
export function googleIdentity(claims: Record<string, unknown>): UpstreamIdentity {
  const subject = requireSubject('google', claims['sub'] ?? claims['id']);
  const verified = 'email_verified' in claims ? claims['email_verified'] : claims['verified_email'];
  return verifiedIdentity('google', subject, claims['email'], verified, { name: claims['name'] });
}

/**
 * Microsoft Entra ID: subject `tid:oid`; the email only when `xms_edov` is true. Never
 * `preferred_username` or `upn` ("can't be used to make authorization decisions").
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 * @see https://learn.microsoft.com/entra/identity-platform/optional-claims-reference (xms_edov)
 */
export function entraIdentity(claims: Record<string, unknown>): UpstreamIdentity {
  const oid = requireSubject('entra', claims['oid']);
  const tid = requireSubject('entra', claims['tid']);
  return verifiedIdentity('entra', `${tid}:${oid}`, claims['email'], claims['xms_edov'], {
    name: claims['name'],
  });
}

/** Auth0: `sub` (`connection|id`), `email_verified`. */
export function auth0Identity(claims: Record<string, unknown>): UpstreamIdentity {
  const subject = requireSubject('auth0', claims['sub']);
  return verifiedIdentity('auth0', subject, claims['email'], claims['email_verified'], {
    name: claims['name'],
  });
}

/**
 * AWS Cognito: `sub`; `email_verified` is a boolean in the id_token and a string in userInfo.
 * `cognito:username` is not a handle (federated users get `Google_...`), so no login.
 */
export function cognitoIdentity(claims: Record<string, unknown>): UpstreamIdentity {
  const subject = requireSubject('cognito', claims['sub']);
  return verifiedIdentity('cognito', subject, claims['email'], claims['email_verified'], {
    name: claims['name'],
  });
}

/** Discord `GET /users/@me`: `id`; `email` counts only with `verified: true`. */
export function discordIdentity(user: Record<string, unknown>): UpstreamIdentity {
  const subject = requireSubject('discord', user['id']);
  return verifiedIdentity('discord', subject, user['email'], user['verified'], {
    name: user['global_name'] ?? user['username'],
  });
}

/**
 * Generic OIDC (id_token, userinfo, a verified access token): `sub` is unique only per issuer,
 * so the provider is namespaced by it (`oidc:https://idp.example/`) unless the caller gives one.
 */
export function oidcIdentity(
  claims: Record<string, unknown>,
  options: { provider?: string; emailClaim?: string } = {},
): UpstreamIdentity {
  const issuer = str(claims['iss']);
  const provider = options.provider ?? (issuer !== undefined ? `oidc:${issuer}` : undefined);
  if (provider === undefined) throw new TypeError('oidc identity needs "iss" or a provider');
  const subject = requireSubject(provider, claims['sub']);
  return verifiedIdentity(
    provider,
    subject,
    claims[options.emailClaim ?? 'email'],
    claims['email_verified'],
    {
      name: claims['name'],
    },
  );
}
