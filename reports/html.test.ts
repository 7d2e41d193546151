import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureRun, passingRun, RUNNER_SECRETS, SCRIPT_BREAKOUT, SECRETS } from './fixtures/run.ts';
import { DATA_ELEMENT_ID, escapeHtml, HTML_FILE, HtmlReporter, htmlReport, scriptSafeJson } from './html.ts';
import { createRedactor, redactRun } from './redact.ts';

let dir: string;
let html: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reports-html-'));
  const files = await new HtmlReporter({ outDir: dir, secrets: RUNNER_SECRETS }).onRunEnd(fixtureRun());
  expect(files).toEqual([join(dir, HTML_FILE)]);
  html = await readFile(join(dir, HTML_FILE), 'utf8');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function embeddedJson(page: string): string {
  const open = `<script type="application/json" id="${DATA_ELEMENT_ID}">`;
  const start = page.indexOf(open);
  expect(start).toBeGreaterThan(-1);
  // What an HTML parser does: the element ends at the first "</script".
  const end = page.indexOf('</script', start);
  return page.slice(start + open.length, end);
}

describe('report.html', () => {
  it('embeds the redacted run as JSON that no body can break out of', () => {
    const json = embeddedJson(html);
    expect(JSON.parse(json)).toEqual(redactRun(fixtureRun(), createRedactor({ secrets: RUNNER_SECRETS })));
    expect(json).not.toMatch(/[<>]/);
    // Exactly two script elements end in the page: the data and the page's own script.
    expect(html.match(/<\/script/gi)).toHaveLength(2);
    expect(html.match(/<script/gi)).toHaveLength(2);
    expect(html).not.toContain(SCRIPT_BREAKOUT);
    expect(html).toContain(escapeHtml(SCRIPT_BREAKOUT));
  });

  it('is self-contained: no external resource, and a CSP whose hashes match the inline style and script', () => {
    expect(html).not.toMatch(/\ssrc=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/url\(|@import/);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/
      .exec(html)![1]!
      .replace(/&#39;/g, "'");
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
    expect(csp).toBe(
      `default-src 'none'; style-src ${hash(style)}; script-src ${hash(script)}; img-src 'none'; base-uri 'none'; form-action 'none'`,
    );
    // Every link goes to a specification and opens without a referrer.
    const hrefs = [...html.matchAll(/<a href="([^"]+)" rel="noopener noreferrer" target="_blank">/g)].map(
      (m) => m[1]!,
    );
    expect(hrefs.length).toBe((html.match(/<a /g) ?? []).length);
    for (const href of hrefs) {
      expect(href).toMatch(
        /^https:\/\/(www\.rfc-editor\.org|modelcontextprotocol\.io|openid\.net|datatracker\.ietf\.org|www\.npmjs\.com)\//,
      );
    }
  });

  it('has a header with the target, time, verdict and counts', () => {
    expect(html).toContain(
      '<title>FAILED: mcp-auth-conformance report for http://127.0.0.1:8000/mcp</title>',
    );
    expect(html).toContain('<code id="target">http://127.0.0.1:8000/mcp</code>');
    expect(html).toContain('<time datetime="2025-06-30T10:00:00.000Z">');
    expect(html).toContain(
      '<p class="verdict verdict-FAILED" id="verdict"><strong>FAILED</strong> 2 unexpected failures and 1 stale expected failure</p>',
    );
    for (const [status, n] of [
      ['total', 11],
      ['failed', 3],
      ['warning', 1],
      ['info', 1],
      ['skipped', 2],
      ['passed', 4],
      ['expected', 1],
      ['stale', 1],
    ] as const) {
      expect(html).toContain(`data-total="${status}">${n}<`);
    }
  });

  it('has filter buttons with aria-pressed and counts, a search box, hidden until the script runs', () => {
    expect(html).toMatch(/<nav class="toolbar" id="toolbar" aria-label="Filter cases" hidden>/);
    const buttons = [
      ...html.matchAll(
        /<button type="button" data-filter="(\w+)" aria-pressed="(true|false)">(\w+) <span class="badge" data-count="\w+">(\d+)<\/span><\/button>/g,
      ),
    ].map((m) => [m[1], m[2], m[3], Number(m[4])]);
    expect(buttons).toEqual([
      ['all', 'true', 'All', 11],
      ['failed', 'false', 'Failed', 3],
      ['warning', 'false', 'Warning', 1],
      ['info', 'false', 'Info', 1],
      ['skipped', 'false', 'Skipped', 2],
      ['passed', 'false', 'Passed', 4],
    ]);
    expect(html).toContain('<label for="search">Search</label>');
    expect(html).toContain('<input id="search" type="search"');
  });

  it('renders every suite as a section with a heading and every case as <details> with its status', () => {
    expect(html.match(/<section class="suite"/g)).toHaveLength(4);
    expect(html).toContain(
      '<h2 id="suite-tokens-h">Tokens: audience, refresh and client authentication <code>tokens</code>',
    );
    const statuses = [
      ...html.matchAll(/<details class="case st-(\w+)" id="([^"]+)" data-status="(\w+)"/g),
    ].map((m) => [m[2], m[3]]);
    expect(statuses).toEqual([
      ['case-discovery-discovery-unauthenticated-401', 'passed'],
      ['case-discovery-discovery-as-metadata-fields', 'passed'],
      ['case-discovery-discovery-as-metadata-cache', 'warning'],
      ['case-tokens-tokens-audience-bound', 'failed'],
      ['case-tokens-tokens-refresh-rotation', 'info'],
      ['case-tokens-tokens-client-secret-post', 'failed'],
      ['case-tokens-tokens-revocation', 'skipped'],
      ['case-pkce-pkce-verifier-required', 'passed'],
      ['case-pkce-pkce-plain-refused', 'failed'],
      ['case-consent-consent-cookie-flags', 'passed'],
      ['case-consent-consent-csrf', 'skipped'],
    ]);
  });

  it("shows a failing case's checks with expected/actual, spec links and the redacted exchange, open", () => {
    const start = html.indexOf('id="case-tokens-tokens-audience-bound"');
    const body = html.slice(start, html.indexOf('</details>\n<details class="case', start));
    expect(body).toContain(
      '<p class="message">status is 200, expected 401: the server accepted &quot;Authorization: Bearer [redacted]&quot;',
    );
    expect(body).toContain(
      '<dt>Expected</dt><dd><pre class="expected">401</pre></dd>\n<dt>Actual</dt><dd><pre class="actual">200</pre></dd>',
    );
    expect(body).toContain(
      '<a href="https://www.rfc-editor.org/rfc/rfc8707#section-2" rel="noopener noreferrer" target="_blank">RFC8707-2</a>',
    );
    expect(body).toMatch(/<details class="exchange" data-exchange="3" open>/);
    expect(body).toContain(
      '<pre class="request">POST http://127.0.0.1:8000/mcp\nauthorization: Bearer [redacted]\nx-tenant-key: [redacted]',
    );
    expect(body).toContain('content-type: application/json\n\n{\n  &quot;jsonrpc&quot;: &quot;2.0&quot;,');
    expect(body).toContain('<pre class="response">HTTP 200\ncontent-type: text/html\n\n&lt;html&gt;');
    // The passing check's exchange is listed closed.
    expect(body).toMatch(
      /<li class="check check-pass" data-check="no-body-leak">[\s\S]*<details class="exchange" data-exchange="3">/,
    );
  });

  it('shows skip reasons, errors and expected-failure tags', () => {
    expect(html).toContain(
      '<p class="reason"><strong>Skipped:</strong> the server does not advertise a revocation_endpoint</p>',
    );
    expect(html).toContain(
      '<p class="reason"><strong>Error:</strong> step &quot;authorize-plain&quot; errored: connect ECONNREFUSED 127.0.0.1:8000</p>',
    );
    expect(html).toContain('<span class="tag tag-expected">expected failure</span>');
    expect(html).toContain('<span class="tag tag-stale">stale expected failure</span>');
  });

  it('holds no secret', () => {
    for (const [name, secret] of Object.entries(SECRETS)) expect(html, name).not.toContain(secret);
  });

  it('says PASSED for a passing run', () => {
    expect(htmlReport(passingRun())).toContain('<strong>PASSED</strong> no unexpected failure (1 warning)');
  });
});

describe('scriptSafeJson', () => {
  it('escapes everything that could end a script element or a comment, and stays the same JSON', () => {
    const value = { a: '</script><!-- <script>', b: 'x & y', c: '\u2028\u2029' };
    const out = scriptSafeJson(value);
    expect(out).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(out)).toEqual(value);
  });
});
