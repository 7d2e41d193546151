import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureRun, passingRun, RUNNER_SECRETS, SECRETS } from './fixtures/run.ts';
import { childElements, parseXml, textContent, type XmlElement } from './fixtures/xml.ts';
import { JUNIT_FILE, JunitReporter, junitXml, xmlAttr, xmlText } from './junit.ts';

let dir: string;
let xml: string;
let root: XmlElement;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reports-junit-'));
  const files = await new JunitReporter({ outDir: dir, secrets: RUNNER_SECRETS }).onRunEnd(fixtureRun());
  expect(files).toEqual([join(dir, JUNIT_FILE)]);
  xml = await readFile(join(dir, JUNIT_FILE), 'utf8');
  root = parseXml(xml);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function testcase(id: string): XmlElement {
  for (const suite of childElements(root, 'testsuite')) {
    const found = childElements(suite, 'testcase').find((c) => c.attrs['name']!.startsWith(`${id} — `));
    if (found) return found;
  }
  throw new Error(`no testcase ${id}`);
}

describe('junit.xml', () => {
  it('is well-formed XML with the totals on <testsuites>', () => {
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')).toBe(true);
    expect(root.name).toBe('testsuites');
    expect(root.attrs).toMatchObject({
      tests: '11',
      failures: '2',
      errors: '1',
      skipped: '3',
      time: '1.250',
    });
  });

  it('has one <testsuite> per suite with its own counts and time', () => {
    const suites = childElements(root, 'testsuite');
    expect(
      suites.map((s) => [
        s.attrs['name'],
        s.attrs['tests'],
        s.attrs['failures'],
        s.attrs['errors'],
        s.attrs['skipped'],
        s.attrs['time'],
      ]),
    ).toEqual([
      ['discovery', '3', '0', '0', '0', '0.038'],
      ['tokens', '4', '1', '0', '2', '0.080'],
      ['pkce', '2', '1', '1', '0', '0.034'],
      ['consent', '2', '0', '0', '1', '0.027'],
    ]);
    for (const suite of suites) {
      expect(childElements(suite, 'testcase')).toHaveLength(Number(suite.attrs['tests']));
      for (const c of childElements(suite, 'testcase'))
        expect(c.attrs['classname']).toBe(suite.attrs['name']);
    }
  });

  it('gives a failed MUST case a <failure> whose body holds the failing check and its spec links', () => {
    const c = testcase('tokens/audience-bound');
    expect(c.attrs).toMatchObject({
      classname: 'tokens',
      name: 'tokens/audience-bound — A token minted for another resource is refused',
      time: '0.042',
    });
    const [failure] = childElements(c, 'failure');
    expect(failure!.attrs['type']).toBe('MUST');
    expect(failure!.attrs['message']).toMatch(/^1 failing check: status is 200, expected 401/);
    const body = textContent(failure!);
    expect(body).toContain('✗ status: status is 401');
    expect(body).toContain('expected: 401');
    expect(body).toContain('actual:   200');
    expect(body).toContain('see: RFC8707-2 https://www.rfc-editor.org/rfc/rfc8707#section-2');
    expect(body).toContain(
      'see: MCP-authorization-token-audience-binding-and-validation https://modelcontextprotocol.io/specification/2025-06-18/basic/authorization#token-audience-binding-and-validation',
    );
    expect(body).toContain('exchange #3: POST http://127.0.0.1:8000/mcp -> 200');
    // The passing check of the same case is not a failure.
    expect(body).not.toContain('no-body-leak');
    // Markup in the message is text, not elements.
    expect(body).toContain('</script><script>window.__pwned = true</script>');
    expect(c.children.filter((x) => typeof x !== 'string')).toHaveLength(1);
  });

  it('marks skipped cases and expected failures <skipped> with the reason', () => {
    expect(childElements(testcase('tokens/revocation'), 'skipped')[0]!.attrs).toEqual({
      message: 'the server does not advertise a revocation_endpoint',
    });
    const expected = testcase('tokens/client-secret-post');
    expect(childElements(expected, 'skipped')[0]!.attrs['message']).toBe(
      'expected failure: status is 401, expected 200: "error" is invalid_client',
    );
    expect(childElements(expected, 'failure')).toHaveLength(0);
    expect(textContent(childElements(expected, 'system-out')[0]!)).toContain('see: RFC6749-2.3.1');
  });

  it('passes warning and info cases with a <system-out> saying what was found', () => {
    const warning = testcase('discovery/as-metadata-cache');
    expect(childElements(warning, 'failure')).toHaveLength(0);
    expect(childElements(warning, 'skipped')).toHaveLength(0);
    const out = textContent(childElements(warning, 'system-out')[0]!);
    expect(out).toMatch(/^WARNING \(SHOULD\): 1 failing check/);
    expect(out).toContain('"Cache-Control" is missing');
    const info = textContent(childElements(testcase('tokens/refresh-rotation'), 'system-out')[0]!);
    expect(info).toMatch(/^INFO \(MAY\): 1 failing check/);
    // The NUL and ESC of the message survive as visible escapes, not as characters XML forbids.
    expect(info).toContain('is the one sent \\u0000\\u001b[31m (not rotated)');
  });

  it('reports an errored case as <error> and a stale expected failure as <failure>', () => {
    const errored = childElements(testcase('pkce/plain-refused'), 'error')[0]!;
    expect(errored.attrs).toEqual({
      message: 'step "authorize-plain" errored: connect ECONNREFUSED 127.0.0.1:8000',
      type: 'error',
    });
    const stale = childElements(testcase('pkce/verifier-required'), 'failure')[0]!;
    expect(stale.attrs['type']).toBe('stale-expected-failure');
    expect(stale.attrs['message']).toContain('remove it from the expected-failures file');
  });

  it('leaves passed cases empty', () => {
    expect(testcase('discovery/unauthenticated-401').children).toEqual([]);
  });

  it('holds no secret', () => {
    for (const [name, secret] of Object.entries(SECRETS)) expect(xml, name).not.toContain(secret);
    expect(xml).toContain('Bearer [redacted]');
  });

  it('has no failures for a passing run', () => {
    const passing = parseXml(junitXml(passingRun()));
    expect(passing.attrs).toMatchObject({ failures: '0', errors: '0' });
  });
});

describe('XML escaping', () => {
  it('escapes markup and quotes, keeps newlines in attributes as references', () => {
    expect(xmlText('a < b && c > "d"')).toBe('a &lt; b &amp;&amp; c &gt; "d"');
    expect(xmlAttr('say "hi"\n\'there\'\t!')).toBe('say &quot;hi&quot;&#10;&apos;there&apos;&#9;!');
    expect(parseXml(`<a m="${xmlAttr('line1\nline2 <&>')}"/>`).attrs['m']).toBe('line1\nline2 <&>');
  });

  it('turns characters XML forbids into visible escapes, keeping astral characters', () => {
    const text = `nul\u0000 esc\u001b bell\u0007 lone\ud800 fffe\ufffe emoji😀 tab\t`;
    expect(xmlText(text)).toBe('nul\\u0000 esc\\u001b bell\\u0007 lone\\ud800 fffe\\ufffe emoji😀 tab\t');
    expect(textContent(parseXml(`<a>${xmlText(text)}</a>`))).toContain('emoji😀');
  });
});
