import { describe, expect, it } from 'vitest';
import { fixtureRun, RUNNER_SECRETS, SECRETS } from './fixtures/run.ts';
import type { Exchange } from './model.ts';
import { createRedactor, isSecretName, REDACTED, REDACTED_JWT, redactExchange, redactRun } from './redact.ts';

const r = createRedactor();
const JWT = SECRETS.jwt;

describe('Authorization headers', () => {
  it.each([
    ['Bearer mcp_at_9f8e7d6c5b4a39281706', 'Bearer [redacted]'],
    ['bearer abc', 'bearer [redacted]'],
    ['Basic Y2xpZW50LTE6c2VjcmV0LXZhbHVl', 'Basic [redacted]'],
    ['DPoP eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.sig', 'DPoP [redacted]'],
    ['Bearer  two  parts here', 'Bearer [redacted]'],
    ['opaque-token-without-scheme', '[redacted]'],
    ['Custom-Scheme secretvalue', '[redacted]'],
  ])('%s -> %s', (value, expected) => {
    expect(r.headers({ Authorization: value })).toEqual({ Authorization: expected });
    expect(r.headers({ 'proxy-authorization': value })).toEqual({ 'proxy-authorization': expected });
  });

  it('keeps a lone scheme and an empty value (malformed headers under test carry no secret)', () => {
    expect(r.headers({ authorization: 'Bearer' })).toEqual({ authorization: 'Bearer' });
    expect(r.headers({ authorization: '' })).toEqual({ authorization: '' });
    expect(r.headers({ authorization: 'garbage' })).toEqual({ authorization: REDACTED });
  });

  it('keeps no part of the credential', () => {
    const out = r.headers({ authorization: `Bearer ${SECRETS.bearer}` }).authorization!;
    expect(out).toBe('Bearer [redacted]');
    expect(out).not.toContain(SECRETS.bearer.slice(0, 6));
  });

  it('redacts API key headers whole and leaves ordinary headers alone', () => {
    expect(
      r.headers({ 'X-Api-Key': 'k-123456789', 'content-type': 'application/json', accept: '*/*' }),
    ).toEqual({
      'X-Api-Key': REDACTED,
      'content-type': 'application/json',
      accept: '*/*',
    });
  });

  it('leaves a WWW-Authenticate challenge readable', () => {
    const challenge =
      'Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource", error="invalid_token"';
    expect(r.headers({ 'www-authenticate': challenge })).toEqual({ 'www-authenticate': challenge });
    expect(r.headers({ 'WWW-Authenticate': 'Basic realm="token"' })).toEqual({
      'WWW-Authenticate': 'Basic realm="token"',
    });
  });
});

describe('cookies', () => {
  it('redacts every Cookie value and keeps the names', () => {
    expect(r.headers({ cookie: 'session=abc123; theme=dark;csrf=x9' })).toEqual({
      cookie: 'session=[redacted]; theme=[redacted];csrf=[redacted]',
    });
  });

  it('redacts Set-Cookie values and keeps attributes, including an Expires date with a comma', () => {
    const value =
      'sid=s3cr3t-v4lue; Path=/; HttpOnly; Expires=Wed, 21 Oct 2026 07:28:00 GMT, pref=p-v4lue; Max-Age=60';
    expect(r.headers({ 'Set-Cookie': value })).toEqual({
      'Set-Cookie':
        'sid=[redacted]; Path=/; HttpOnly; Expires=Wed, 21 Oct 2026 07:28:00 GMT, pref=[redacted]; Max-Age=60',
    });
  });

  it('keeps an empty cookie (a deletion) as it is', () => {
    expect(r.headers({ 'set-cookie': 'sid=; Max-Age=0' })).toEqual({ 'set-cookie': 'sid=; Max-Age=0' });
  });
});

describe('form bodies and query strings', () => {
  it('redacts every secret parameter and nothing else', () => {
    const body =
      'grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&code_verifier=dBjftJeZ4CVP&client_id=c1' +
      '&client_secret=cs_live_1&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&password=hunter2&assertion=a1' +
      '&client_assertion=a2&client_assertion_type=urn%3Aietf%3Aparams&refresh_token=rt1&access_token=at1' +
      '&id_token=it1&token=t1&subject_token=st1&code_challenge=E9M&response_type=code&state=xyz';
    expect(r.body(body)).toBe(
      'grant_type=authorization_code&code=[redacted]&code_verifier=[redacted]&client_id=c1' +
        '&client_secret=[redacted]&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&password=[redacted]&assertion=[redacted]' +
        '&client_assertion=[redacted]&client_assertion_type=urn%3Aietf%3Aparams&refresh_token=[redacted]&access_token=[redacted]' +
        '&id_token=[redacted]&token=[redacted]&subject_token=[redacted]&code_challenge=E9M&response_type=code&state=xyz',
    );
  });

  it('redacts codes and tokens in query strings and fragments', () => {
    expect(r.text('http://127.0.0.1:9000/cb?code=abc123&state=s1')).toBe(
      'http://127.0.0.1:9000/cb?code=[redacted]&state=s1',
    );
    expect(r.text('http://127.0.0.1:9000/cb#access_token=at-1&token_type=Bearer&expires_in=60')).toBe(
      'http://127.0.0.1:9000/cb#access_token=[redacted]&token_type=Bearer&expires_in=60',
    );
  });

  it('redacts the password of a URL userinfo and keeps the user and host', () => {
    expect(r.text('fetch https://client-1:s3cret-pw@as.example/token failed')).toBe(
      'fetch https://client-1:[redacted]@as.example/token failed',
    );
    const plain = 'http://127.0.0.1:8000/mcp and mailto:a@b.example and http://host:8080/x@y';
    expect(r.text(plain)).toBe(plain);
  });

  it('names secrets by the OAuth parameter names and their suffixes', () => {
    for (const name of [
      'code',
      'client_secret',
      'code_verifier',
      'password',
      'assertion',
      'client_assertion',
      'registration_access_token',
      'provider_token',
      'X-Refresh-Token',
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of [
      'code_challenge',
      'token_type',
      'token_endpoint',
      'client_secret_expires_at',
      'state',
      'grant_type',
      'client_id',
      'error',
    ]) {
      expect(isSecretName(name), name).toBe(false);
    }
  });
});

describe('JSON bodies', () => {
  it('redacts inside the parsed JSON and stays valid JSON', () => {
    const body = JSON.stringify({
      access_token: 'at-1',
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: 'rt-1',
      nested: { id_token: 'it-1', list: [{ client_secret: 'cs-1' }], code: 400, note: 'see ?code=abc' },
    });
    const out = r.body(body);
    expect(JSON.parse(out)).toEqual({
      access_token: REDACTED,
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: REDACTED,
      nested: {
        id_token: REDACTED,
        list: [{ client_secret: REDACTED }],
        code: 400,
        note: 'see ?code=[redacted]',
      },
    });
  });

  it('keeps the indentation of a pretty-printed body, and a body with nothing to redact byte for byte', () => {
    const pretty = JSON.stringify({ refresh_token: 'rt-1', scope: 'a b' }, null, 4);
    expect(r.body(pretty)).toBe(JSON.stringify({ refresh_token: REDACTED, scope: 'a b' }, null, 4));
    const untouched = '{ "error" : "invalid_grant" }';
    expect(r.body(untouched)).toBe(untouched);
  });

  it('redacts JSON members in text that is not JSON (an SSE stream)', () => {
    const sse =
      'event: message\ndata: {"jsonrpc":"2.0","result":{"access_token":"at-xyz","user":"alice"}}\n\n';
    expect(r.body(sse)).toBe(
      'event: message\ndata: {"jsonrpc":"2.0","result":{"access_token":"[redacted]","user":"alice"}}\n\n',
    );
  });

  it('treats broken JSON as text', () => {
    expect(r.body('{"refresh_token":"rt-1", oops')).toBe('{"refresh_token":"[redacted]", oops');
  });
});

describe('JWTs and provider tokens anywhere', () => {
  it('replaces a JWT in a URL, a header and prose', () => {
    expect(r.text(`http://127.0.0.1/cb?request=${JWT}&x=1`)).toBe(
      `http://127.0.0.1/cb?request=${REDACTED_JWT}&x=1`,
    );
    expect(r.headers({ dpop: JWT })).toEqual({ dpop: REDACTED_JWT });
    expect(r.text(`the id_token was ${JWT}.`)).toBe(`the id_token was ${REDACTED_JWT}.`);
  });

  it('catches unsigned JWTs (alg none) and five-part JWEs', () => {
    expect(r.text(`token ${SECRETS.unsignedJwt} end`)).toBe(`token ${REDACTED_JWT} end`);
    const jwe =
      'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2oj.48V1_ALb6US04U3b.5eym8TW_c8SuK0l.XFBoMYUZodetZdvT';
    expect(r.text(`jwe ${jwe}`)).toBe(`jwe ${REDACTED_JWT}`);
  });

  it('leaves dotted names that are not JWTs alone', () => {
    const text = 'see www.rfc-editor.org/rfc/rfc7636 and openid-connect-core-1_0.html, version 1.2.3';
    expect(r.text(text)).toBe(text);
  });

  it('replaces GitHub and Google token formats', () => {
    expect(
      r.text(
        `got ${SECRETS.githubToken} and ya29.a0AfH6SMBx-abcdefghijkl and 1//0gLongRefreshTokenValue_abc-XYZ`,
      ),
    ).toBe('got [redacted] and [redacted] and [redacted]');
  });
});

describe('credentials in free text', () => {
  it('redacts a bearer credential quoted in a message', () => {
    expect(r.text(`accepted "Authorization: Bearer ${SECRETS.bearer}" for B`)).toBe(
      'accepted "Authorization: Bearer [redacted]" for B',
    );
    expect(r.text('sent Basic Y2xpZW50OnNlY3JldA== to /token')).toBe('sent Basic [redacted] to /token');
  });

  it('leaves challenges and prose alone', () => {
    for (const text of [
      'WWW-Authenticate: Bearer error="invalid_token", error_description="expired"',
      'Bearer realm="mcp"',
      'expected a Bearer challenge.',
      'Bearer authentication is required',
      'Bearer error=invalid_token',
    ]) {
      expect(r.text(text)).toBe(text);
    }
  });
});

describe('literal secrets', () => {
  const lit = createRedactor({ secrets: ['tenant-key-5d41402abc4b2a76', 'p@ss word/1', 'ab'] });

  it('replaces them in text, headers, JSON strings and their URL-encoded form', () => {
    expect(lit.text('x-tenant-key was tenant-key-5d41402abc4b2a76!')).toBe('x-tenant-key was [redacted]!');
    expect(lit.headers({ 'x-tenant-key': 'tenant-key-5d41402abc4b2a76' })).toEqual({
      'x-tenant-key': REDACTED,
    });
    expect(lit.text(`q=${encodeURIComponent('p@ss word/1')}&k=1`)).toBe('q=[redacted]&k=1');
    const json = lit.body(JSON.stringify({ note: 'key tenant-key-5d41402abc4b2a76 used', n: 1 }));
    expect(JSON.parse(json)).toEqual({ note: 'key [redacted] used', n: 1 });
  });

  it('ignores secrets too short to replace safely', () => {
    expect(lit.text('table absent')).toBe('table absent');
  });
});

describe('idempotence and immutability', () => {
  it('redacting twice equals redacting once, for every string kind', () => {
    const samples = [
      `Bearer ${SECRETS.bearer}`,
      `code=${SECRETS.code}&state=1`,
      JSON.stringify({ refresh_token: SECRETS.refreshToken }, null, 2),
      `url?request=${JWT}`,
      'session=abc; Path=/',
      `"access_token": "x" and Basic Y2xpZW50OnNlY3JldA==`,
    ];
    const red = createRedactor({ secrets: RUNNER_SECRETS });
    for (const s of samples) {
      expect(red.text(red.text(s))).toBe(red.text(s));
      expect(red.body(red.body(s))).toBe(red.body(s));
      const h = { authorization: s, cookie: s, 'set-cookie': s, location: s };
      expect(red.headers(red.headers(h))).toEqual(red.headers(h));
    }
  });

  it('redacting a whole run twice equals once, and leaves the input untouched', () => {
    const run = fixtureRun();
    const before = JSON.stringify(run);
    const red = createRedactor({ secrets: RUNNER_SECRETS });
    const once = redactRun(run, red);
    expect(redactRun(once, red)).toEqual(once);
    expect(JSON.stringify(run)).toBe(before);
  });

  it('removes every fixture secret from a run', () => {
    const out = JSON.stringify(redactRun(fixtureRun(), createRedactor({ secrets: RUNNER_SECRETS })));
    for (const [name, secret] of Object.entries(SECRETS)) expect(out, name).not.toContain(secret);
    // What must survive: the structure a reader needs.
    expect(out).toContain('Bearer [redacted]');
    expect(out).toContain('client_secret=[redacted]');
    expect(out).toContain(REDACTED_JWT);
  });

  it('redacts an exchange that has no response', () => {
    const exchange: Exchange = {
      id: 1,
      step: 's',
      durationMs: 1,
      request: { method: 'GET', url: `http://x/?access_token=${SECRETS.accessToken}`, headers: {} },
      error: `refused for Bearer ${SECRETS.bearer}`,
    };
    expect(redactExchange(exchange, r)).toEqual({
      ...exchange,
      request: { method: 'GET', url: 'http://x/?access_token=[redacted]', headers: {} },
      error: 'refused for Bearer [redacted]',
    });
  });
});
