/**
 * User resolution against the shared personas file (mock-idp/personas.yaml). Each persona is
 * presented the way the mock IdP serves it (derived here from the persona data, following the
 * same defaults as the mock's providers), normalised by the provider helper, resolved against a
 * store seeded with the file's `users`, and compared with `expectedUser(persona, provider)`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { block, expectedUser, loadPersonas, type Persona } from '../../mock-idp/personas.ts';
import { MemoryStore } from '../store/memory.ts';
import type { Store } from '../store/types.ts';
import {
  auth0Identity,
  cognitoIdentity,
  discordIdentity,
  entraIdentity,
  type GitHubEmail,
  githubIdentity,
  googleIdentity,
  isVerified,
  oidcIdentity,
  resolveUser,
  type UpstreamIdentity,
  usableEmail,
} from './resolve.ts';

const personas = loadPersonas();
const byId = (id: string): Persona => {
  const p = personas.personas.find((x) => x.id === id);
  if (!p) throw new Error(`no persona ${id}`);
  return p;
};

async function seededStore(): Promise<Store> {
  const store = new MemoryStore();
  for (const u of personas.users) {
    await store.createUser({
      id: u.id,
      ...(u.email !== undefined ? { email: u.email } : {}),
      ...(u.login !== undefined ? { login: u.login } : {}),
      groups: u.groups,
    });
  }
  return store;
}

// The mock's home tenant (mock-idp/providers/entra.ts ENTRA_HOME_TENANT), for personas without a `tid`.
const ENTRA_HOME_TENANT = '7b3c5d1e-2f4a-4b6c-8d9e-0a1b2c3d4e5f';

/** What the upstream shows, or why the sign-in never reaches user resolution. */
type Presented = { identity: UpstreamIdentity } | { refused: string };

function has(b: Record<string, unknown>, key: string): boolean {
  return key in b;
}

/** GitHub: `/user` and `/user/emails` as the mock derives them. */
function presentGitHub(p: Persona): Presented {
  const b = block(p, 'github');
  if (typeof b['token_error'] === 'string') return { refused: `token exchange: ${b['token_error']}` };
  const id = b['id'] as number;
  const login = (b['login'] as string | undefined) ?? p.id;
  const email = has(b, 'email') ? (b['email'] as string | null) : p.email_verified ? p.email : null;
  const noreply: GitHubEmail = {
    email: `${id}+${login}@users.noreply.github.com`,
    primary: p.email === null,
    verified: true,
    visibility: null,
  };
  let emails: GitHubEmail[];
  if (Array.isArray(b['emails'])) emails = b['emails'] as GitHubEmail[];
  else if (p.email !== null)
    emails = [{ email: p.email, primary: true, verified: p.email_verified }, noreply];
  else emails = [noreply];
  return { identity: githubIdentity({ id, login, email }, emails) };
}

/** Google: id_token claims (`email` needs the email scope, granted here). */
function presentGoogle(p: Persona): Presented {
  const b = block(p, 'google');
  const email = has(b, 'email') ? (b['email'] as string | null) : p.email;
  const claims: Record<string, unknown> = { sub: b['sub'], iss: b['iss'] ?? 'https://accounts.google.com' };
  if (email !== null) {
    claims['email'] = email;
    claims['email_verified'] = (b['email_verified'] as boolean | undefined) ?? p.email_verified;
  }
  if (typeof b['hd'] === 'string') claims['hd'] = b['hd'];
  return { identity: googleIdentity(claims) };
}

/** Entra: v2.0 id_token; `email` with `xms_edov` only when the persona has an address. */
function presentEntra(p: Persona): Presented {
  const b = block(p, 'entra');
  // A persona's `token_version: 1` shapes access tokens for a custom API only; the proxy signs in
  // with the v2 id_token, which is valid for every persona.
  const email = has(b, 'email') ? (b['email'] as string | null) : p.email;
  const claims: Record<string, unknown> = {
    oid: String(b['oid']),
    tid: String(b['tid'] ?? ENTRA_HOME_TENANT),
    preferred_username: b['preferred_username'] ?? email ?? `${p.id}@contoso.onmicrosoft.com`,
    upn: b['preferred_username'] ?? email ?? `${p.id}@contoso.onmicrosoft.com`,
  };
  if (email !== null) {
    claims['email'] = email;
    claims['xms_edov'] = (b['xms_edov'] as boolean | undefined) ?? p.email_verified;
  }
  return { identity: entraIdentity(claims) };
}

function presentAuth0(p: Persona): Presented {
  const b = block(p, 'auth0');
  if (b['iss_without_slash'] === true)
    return { refused: 'issuer without the trailing slash is not accepted' };
  const email = has(b, 'email') ? (b['email'] as string | null) : p.email;
  const claims: Record<string, unknown> = { sub: b['sub'] };
  if (email !== null) {
    claims['email'] = email;
    claims['email_verified'] = (b['email_verified'] as boolean | undefined) ?? p.email_verified;
  }
  return { identity: auth0Identity(claims) };
}

/** Cognito, as the id_token shows it (boolean) or as userInfo shows it (string). */
function presentCognito(p: Persona, view: 'id_token' | 'userinfo'): Presented {
  const b = block(p, 'cognito');
  const email = has(b, 'email') ? (b['email'] as string | null) : p.email;
  const verified = (b['email_verified'] as boolean | undefined) ?? p.email_verified;
  const claims: Record<string, unknown> = { sub: b['sub'], 'cognito:username': b['username'] ?? p.id };
  if (email !== null) {
    claims['email'] = email;
    claims['email_verified'] =
      view === 'id_token'
        ? verified
        : ((b['userinfo_email_verified'] as string | undefined) ?? String(verified));
  }
  if (typeof b['phone_number'] === 'string') claims['phone_number'] = b['phone_number'];
  return { identity: cognitoIdentity(claims) };
}

/** Discord `/users/@me` with the email scope. */
function presentDiscord(p: Persona): Presented {
  const b = block(p, 'discord');
  const email = has(b, 'email') ? (b['email'] as string | null) : p.email;
  const verified = email !== null && ((b['verified'] as boolean | undefined) ?? p.email_verified) === true;
  return { identity: discordIdentity({ id: b['id'], username: b['username'] ?? p.id, email, verified }) };
}

const PRESENTERS: Record<string, (p: Persona) => Presented> = {
  github: presentGitHub,
  google: presentGoogle,
  entra: presentEntra,
  auth0: presentAuth0,
  cognito: (p) => presentCognito(p, 'id_token'),
  discord: presentDiscord,
};

async function outcome(store: Store, presented: Presented): Promise<string | null> {
  if ('refused' in presented) return null;
  const result = await resolveUser(store, presented.identity);
  return result.kind === 'user' ? result.user.id : null;
}

const cases = personas.personas.flatMap((p) =>
  Object.keys(p.providers)
    .filter((provider) => provider in PRESENTERS)
    .map((provider) => [p.id, provider, expectedUser(p, provider)] as const),
);

describe('every persona at every provider it has a block for', () => {
  it('covers the personas the brief names', () => {
    const ids = new Set(cases.map(([id]) => id));
    for (const id of [
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
      'frank',
      'grace',
      'heidi',
      'ivan',
      'judy-dots',
    ]) {
      expect(ids.has(id)).toBe(true);
    }
    expect(cases.length).toBeGreaterThan(80);
  });

  it.each(cases)('%s via %s resolves to %s', async (id, provider, expected) => {
    const store = await seededStore();
    const before = (await store.listUsers()).length;
    const persona = byId(id);
    const presented = PRESENTERS[provider]!(persona);
    expect(await outcome(store, presented)).toBe(expected);
    expect((await store.listUsers()).length).toBe(before);
    if ('identity' in presented) {
      const link = await store.findLink(presented.identity.provider, presented.identity.subject);
      if (expected === null) expect(link).toBeUndefined();
      else expect(link?.userId).toBe(expected);
    }
  });

  it.each(
    personas.personas.filter((p) => 'cognito' in p.providers).map((p) => [p.id, expectedUser(p, 'cognito')]),
  )(
    '%s via Cognito userInfo (string email_verified) resolves to %s, as with the id_token',
    async (id, expected) => {
      const store = await seededStore();
      expect(await outcome(store, presentCognito(byId(id), 'userinfo'))).toBe(expected);
    },
  );
});

describe('the named cases', () => {
  let store: Store;
  beforeEach(async () => {
    store = await seededStore();
  });

  it('bob: the email matches ignoring case, and GitHub matches the login ignoring case', async () => {
    const google = await resolveUser(
      store,
      googleIdentity({ sub: 'g-bob', email: 'BOB.SMITH@example.com', email_verified: true }),
    );
    expect(google).toMatchObject({ kind: 'user', via: 'email', user: { id: 'U2' }, linked: true });
    const github = await resolveUser(
      store,
      (presentGitHub(byId('bob')) as { identity: UpstreamIdentity }).identity,
    );
    expect(github).toMatchObject({ kind: 'user', via: 'login', user: { id: 'U2', login: 'bobsmith' } });
  });

  it('judy-dots, judy-nodots, alice-plus: dots and +tags are different addresses', async () => {
    const dots = await resolveUser(
      store,
      googleIdentity({ sub: 'a', email: 'judy.smith@gmail.com', email_verified: true }),
    );
    const nodots = await resolveUser(
      store,
      googleIdentity({ sub: 'b', email: 'judysmith@gmail.com', email_verified: true }),
    );
    const plus = await resolveUser(
      store,
      googleIdentity({ sub: 'c', email: 'alice+test@example.com', email_verified: true }),
    );
    expect(dots).toMatchObject({ kind: 'user', user: { id: 'U8' } });
    expect(nodots).toEqual({ kind: 'unknown_user', provider: 'google', subject: 'b' });
    expect(plus).toEqual({ kind: 'unknown_user', provider: 'google', subject: 'c' });
  });

  it('carol: the Cognito string "false" is false, and so is every other non-true value', async () => {
    const identity = cognitoIdentity({ sub: 'c1', email: 'alice@example.com', email_verified: 'false' });
    expect(identity).toEqual({ provider: 'cognito', subject: 'c1' });
    expect(await resolveUser(store, identity)).toEqual({
      kind: 'unknown_user',
      provider: 'cognito',
      subject: 'c1',
    });
    expect(
      await resolveUser(store, {
        provider: 'x',
        subject: '1',
        email: 'alice@example.com',
        emailVerified: 'false',
      }),
    ).toEqual({
      kind: 'unknown_user',
      provider: 'x',
      subject: '1',
    });
    for (const value of ['false', 'True', 'TRUE', '1', 1, 'yes', null, undefined, {}])
      expect(isVerified(value)).toBe(false);
    expect(isVerified(true)).toBe(true);
    expect(isVerified('true')).toBe(true);
    const verifiedString = cognitoIdentity({ sub: 'c2', email: 'alice@example.com', email_verified: 'true' });
    expect(await resolveUser(store, verifiedString)).toMatchObject({
      kind: 'user',
      user: { id: 'U1' },
      via: 'email',
    });
  });

  it('dave: the private primary address from /user/emails, never the noreply alias', async () => {
    const presented = presentGitHub(byId('dave')) as { identity: UpstreamIdentity };
    expect(presented.identity).toEqual({
      provider: 'github',
      subject: '1004',
      email: 'dave@example.com',
      emailVerified: true,
      login: 'dave-gh',
    });
    expect(await resolveUser(store, presented.identity)).toMatchObject({
      kind: 'user',
      via: 'email',
      user: { id: 'U7' },
    });
  });

  it('dave without the user:email scope: no email at all, so no match', async () => {
    const identity = githubIdentity({ id: 1004, login: 'dave-gh', email: null }, undefined);
    expect(identity).toEqual({ provider: 'github', subject: '1004', login: 'dave-gh' });
    expect((await resolveUser(store, identity)).kind).toBe('unknown_user');
  });

  it('erin: by login (case-insensitive), then by the stored link', async () => {
    const identity = (presentGitHub(byId('erin')) as { identity: UpstreamIdentity }).identity;
    expect(identity.email).toBeUndefined();
    const first = await resolveUser(store, identity);
    expect(first).toMatchObject({ kind: 'user', via: 'login', linked: true, user: { id: 'U3' } });
    const second = await resolveUser(store, identity);
    expect(second).toMatchObject({ kind: 'user', via: 'link', linked: false, user: { id: 'U3' } });
  });

  it('ivan: the renamed login fails; a link stored under the old login would have kept him', async () => {
    const renamed = (presentGitHub(byId('ivan')) as { identity: UpstreamIdentity }).identity;
    expect(await resolveUser(store, renamed)).toEqual({
      kind: 'unknown_user',
      provider: 'github',
      subject: '1009',
    });

    const fresh = await seededStore();
    const before = await resolveUser(fresh, githubIdentity({ id: 1009, login: 'ivan-old' }, []));
    expect(before).toMatchObject({ kind: 'user', via: 'login', user: { id: 'U5' } });
    const after = await resolveUser(fresh, renamed);
    expect(after).toMatchObject({ kind: 'user', via: 'link', user: { id: 'U5' } });
  });

  it('frank: every provider and both unlinked Auth0 identities resolve to U4, with no duplicate user', async () => {
    const presentations: Presented[] = [
      presentGitHub(byId('frank')),
      presentGoogle(byId('frank')),
      presentEntra(byId('frank')),
      presentAuth0(byId('frank')),
      presentAuth0(byId('frank-google')),
      presentGoogle(byId('frank-google')),
      presentCognito(byId('frank'), 'id_token'),
      presentCognito(byId('frank'), 'userinfo'),
      presentDiscord(byId('frank')),
      presentCognito(byId('kim'), 'id_token'),
      presentGoogle(byId('kim')),
    ];
    for (const presented of presentations) expect(await outcome(store, presented)).toBe('U4');
    expect((await store.listUsers()).length).toBe(personas.users.length);
    const links = await store.listLinks('U4');
    expect(links.map((l) => `${l.provider}:${l.subject}`).sort()).toEqual(
      [
        'auth0:github|42',
        'auth0:google-oauth2|G1',
        'cognito:0b7e1a52-0006-4c1f-9f7a-3b2d1c000006',
        'cognito:0b7e1a52-0011-4c1f-9f7a-3b2d1c000011',
        'discord:800000000000000006',
        `entra:${ENTRA_HOME_TENANT}:6f1c2a44-0a1d-4b8e-9c41-0000000000f1`,
        'github:42',
        'google:117700000000000000011',
        'google:G1',
      ].sort(),
    );
    for (const presented of presentations) {
      const again = await resolveUser(store, (presented as { identity: UpstreamIdentity }).identity);
      expect(again).toMatchObject({ kind: 'user', via: 'link', user: { id: 'U4' } });
    }
  });

  it("grace: alice's address where it is not verified never reaches U1", async () => {
    const grace = byId('grace');
    for (const presented of [
      presentEntra(grace),
      presentCognito(grace, 'id_token'),
      presentCognito(grace, 'userinfo'),
      presentAuth0(grace),
      presentDiscord(grace),
    ]) {
      expect(await outcome(store, presented)).toBeNull();
    }
    expect(await store.listLinks('U1')).toEqual([]);
  });

  it('heidi: a UPN in preferred_username is never taken as an email', async () => {
    const identity = (presentEntra(byId('heidi')) as { identity: UpstreamIdentity }).identity;
    expect(identity).toEqual({
      provider: 'entra',
      subject: `${ENTRA_HOME_TENANT}:6f1c2a44-0a1d-4b8e-9c41-000000000008`,
    });
    expect(await resolveUser(store, identity)).toMatchObject({ kind: 'unknown_user' });
    expect(await store.listLinks('U4')).toEqual([]);
  });

  it("keeps the link after the upstream email changes, even to another user's address", async () => {
    const first = await resolveUser(
      store,
      googleIdentity({ sub: 'g-alice', email: 'alice@example.com', email_verified: true }),
    );
    expect(first).toMatchObject({ via: 'email', user: { id: 'U1' } });
    const changed = await resolveUser(
      store,
      googleIdentity({ sub: 'g-alice', email: 'alice.new@example.com', email_verified: true }),
    );
    expect(changed).toMatchObject({
      via: 'link',
      user: { id: 'U1' },
      link: { email: 'alice.new@example.com' },
    });
    const hijack = await resolveUser(
      store,
      googleIdentity({ sub: 'g-alice', email: 'bob.smith@example.com', email_verified: true }),
    );
    expect(hijack).toMatchObject({ via: 'link', user: { id: 'U1' } });
  });

  it('prefers a verified email over the login', async () => {
    const identity = githubIdentity({ id: 77, login: 'bobsmith' }, [
      { email: 'alice@example.com', primary: true, verified: true },
    ]);
    expect(await resolveUser(store, identity)).toMatchObject({ via: 'email', user: { id: 'U1' } });
  });

  it('never matches a users.noreply.github.com address, whoever holds it', async () => {
    await store.createUser({ id: 'NR', email: '1005+Erin-Dev@users.noreply.github.com' });
    const result = await resolveUser(store, {
      provider: 'oidc:x',
      subject: 's',
      email: '1005+erin-dev@users.noreply.github.com',
      emailVerified: true,
    });
    expect(result).toEqual({ kind: 'unknown_user', provider: 'oidc:x', subject: 's' });
    expect(usableEmail('x@USERS.NOREPLY.GITHUB.COM')).toBe(false);
    expect(usableEmail('x@example.com')).toBe(true);
    expect(usableEmail('not-an-email')).toBe(false);
  });

  it('refuses an identity without a provider or subject', async () => {
    await expect(resolveUser(store, { provider: '', subject: 'x' })).rejects.toThrow(
      'identity needs a provider and a subject',
    );
    await expect(resolveUser(store, { provider: 'github', subject: '' })).rejects.toThrow(TypeError);
  });
});

describe('provider normalisation', () => {
  it('github: /user.email alone is never trusted; it counts when /user/emails shows it verified', () => {
    expect(githubIdentity({ id: 1, login: 'a', email: 'alice@example.com' }, [])).toEqual({
      provider: 'github',
      subject: '1',
      login: 'a',
    });
    expect(
      githubIdentity({ id: 1, login: 'a', email: 'Alice@example.com' }, [
        { email: 'x@example.com', primary: true, verified: false },
        { email: 'alice@example.com', primary: false, verified: true },
      ]),
    ).toEqual({
      provider: 'github',
      subject: '1',
      login: 'a',
      email: 'alice@example.com',
      emailVerified: true,
    });
    expect(
      githubIdentity({ id: 1, login: 'a', email: null }, [
        { email: 'x@example.com', primary: true, verified: false },
        { email: 'y@example.com', primary: false, verified: true },
      ]),
    ).toEqual({ provider: 'github', subject: '1', login: 'a' });
  });

  it('github: the numeric id is the subject, and a missing id is refused', () => {
    expect(githubIdentity({ id: 42, login: 'f', name: 'Frank' }, []).subject).toBe('42');
    expect(() => githubIdentity({ id: undefined as unknown as number, login: 'x' }, [])).toThrow(
      'github identity has no immutable id',
    );
  });

  it('google: email_verified boolean, tokeninfo string, legacy verified_email', () => {
    expect(googleIdentity({ sub: '1', email: 'a@example.com', email_verified: true })).toMatchObject({
      email: 'a@example.com',
      emailVerified: true,
    });
    expect(googleIdentity({ sub: '1', email: 'a@example.com', email_verified: 'true' }).email).toBe(
      'a@example.com',
    );
    expect(
      googleIdentity({ sub: '1', email: 'a@example.com', email_verified: 'false' }).email,
    ).toBeUndefined();
    expect(googleIdentity({ id: '9', email: 'a@example.com', verified_email: true })).toEqual({
      provider: 'google',
      subject: '9',
      email: 'a@example.com',
      emailVerified: true,
    });
    expect(googleIdentity({ sub: '1', email: 'a@example.com' }).email).toBeUndefined();
  });

  it('entra: email only with xms_edov true; subject tid:oid; preferred_username and upn ignored', () => {
    const base = { oid: 'o', tid: 't', preferred_username: 'alice@example.com', upn: 'alice@example.com' };
    expect(entraIdentity(base)).toEqual({ provider: 'entra', subject: 't:o' });
    expect(entraIdentity({ ...base, email: 'alice@example.com' })).toEqual({
      provider: 'entra',
      subject: 't:o',
    });
    expect(entraIdentity({ ...base, email: 'alice@example.com', xms_edov: false }).email).toBeUndefined();
    expect(entraIdentity({ ...base, email: 'alice@example.com', xms_edov: true })).toEqual({
      provider: 'entra',
      subject: 't:o',
      email: 'alice@example.com',
      emailVerified: true,
    });
    expect(entraIdentity({ oid: 'o', tid: 'other' }).subject).not.toBe(entraIdentity(base).subject);
    expect(() => entraIdentity({ oid: 'o' })).toThrow('entra identity has no immutable id');
  });

  it('auth0 and discord: their own verification flags', () => {
    expect(auth0Identity({ sub: 'auth0|x', email: 'a@example.com', email_verified: false })).toEqual({
      provider: 'auth0',
      subject: 'auth0|x',
    });
    expect(discordIdentity({ id: '8', username: 'd', email: 'a@example.com', verified: true })).toEqual({
      provider: 'discord',
      subject: '8',
      email: 'a@example.com',
      emailVerified: true,
      name: 'd',
    });
    expect(discordIdentity({ id: '8', email: 'a@example.com', verified: false }).email).toBeUndefined();
    expect(discordIdentity({ id: '8', email: 'a@example.com' }).email).toBeUndefined();
  });

  it('cognito: cognito:username is never a login', () => {
    const identity = cognitoIdentity({
      sub: 's',
      'cognito:username': 'alice-gh',
      email: 'x@example.com',
      email_verified: true,
    });
    expect(identity).toEqual({
      provider: 'cognito',
      subject: 's',
      email: 'x@example.com',
      emailVerified: true,
    });
  });

  it('oidc: the subject is namespaced by issuer unless a provider is given; a custom email claim', () => {
    expect(
      oidcIdentity({ iss: 'https://idp.example/', sub: 's', email: 'a@example.com', email_verified: true }),
    ).toEqual({
      provider: 'oidc:https://idp.example/',
      subject: 's',
      email: 'a@example.com',
      emailVerified: true,
    });
    expect(
      oidcIdentity(
        { sub: 's', mail: 'b@example.com', email_verified: 'true' },
        { provider: 'jwt', emailClaim: 'mail' },
      ),
    ).toEqual({
      provider: 'jwt',
      subject: 's',
      email: 'b@example.com',
      emailVerified: true,
    });
    expect(() => oidcIdentity({ sub: 's' })).toThrow('oidc identity needs "iss" or a provider');
  });
});
