import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureRun, passingRun, RUNNER_SECRETS, SECRETS } from './fixtures/run.ts';
import { MARKDOWN_FILE, MarkdownReporter, markdownSummary, mdCode, mdText } from './markdown.ts';

let dir: string;
let md: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reports-md-'));
  const files = await new MarkdownReporter({ outDir: dir, secrets: RUNNER_SECRETS }).onRunEnd(fixtureRun());
  expect(files).toEqual([join(dir, MARKDOWN_FILE)]);
  md = await readFile(join(dir, MARKDOWN_FILE), 'utf8');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The text between a heading line starting with `start` and the next heading of the same level or higher. */
function sectionOf(start: string): string {
  const from = md.indexOf(`\n${start}`);
  expect(from, start).toBeGreaterThan(-1);
  const level = start.match(/^#+/)![0].length;
  const rest = md.slice(from + 1);
  const next = rest.slice(1).search(new RegExp(`\\n#{1,${level}} |\\n<details>`));
  return next === -1 ? rest : rest.slice(0, next + 1);
}

describe('summary.md', () => {
  it('opens with the verdict and the run', () => {
    const [headline, , meta] = md.split('\n');
    expect(headline).toBe('## ❌ mcp-auth-conformance: FAILED');
    expect(meta).toBe(
      '**2 unexpected failures and 1 stale expected failure** · target `http://127.0.0.1:8000/mcp` · 2025-06-30T10:00:00.000Z · 1.3 s · mcp-auth-conformance 0.1.0',
    );
  });

  it('has a per-suite table with a total row', () => {
    const table = md.split('\n').filter((l) => l.startsWith('|'));
    expect(table).toEqual([
      '| Suite | Cases | ✅ Passed | ❌ Failed | ⚠️ Warnings | ℹ️ Info | ⏭️ Skipped |',
      '| --- | --: | --: | --: | --: | --: | --: |',
      '| `discovery` Discovery and the bearer challenge | 3 | 2 | 0 | 1 | 0 | 0 |',
      '| `tokens` Tokens: audience, refresh and client authentication | 4 | 0 | 2 | 0 | 1 | 1 |',
      '| `pkce` PKCE | 2 | 1 | 1 | 0 | 0 | 0 |',
      '| `consent` Consent | 2 | 1 | 0 | 0 | 0 | 1 |',
      '| **Total** | **11** | **4** | **3** | **1** | **1** | **2** |',
    ]);
    expect(md).toContain('Exit code 1: unexpected failures, or expected failures that no longer happen.');
  });

  it('lists the unexpected failures with their checks, expected vs actual and spec links', () => {
    const failures = sectionOf('### ❌ Failures (2)');
    expect(failures).toContain(
      '#### ❌ `tokens/audience-bound` A token minted for another resource is refused',
    );
    expect(failures).toContain('- ❌ **status is 401** (`status`)');
    expect(failures).toContain('  - expected: `401`\n  - actual: `200`');
    expect(failures).toContain('[RFC8707-2](https://www.rfc-editor.org/rfc/rfc8707#section-2)');
    expect(failures).toContain(
      '[MCP-authorization-token-audience-binding-and-validation](https://modelcontextprotocol.io/specification/2025-06-18/basic/authorization#token-audience-binding-and-validation)',
    );
    expect(failures).toContain('  - exchange: `POST http://127.0.0.1:8000/mcp → 200`');
    expect(failures).toContain(
      '- ❌ **error**: step "authorize-plain" errored: connect ECONNREFUSED 127.0.0.1:8000',
    );
    // The expected failure is not among the failures.
    expect(failures).not.toContain('tokens/client-secret-post');
  });

  it('lists warnings, info findings and stale expected failures', () => {
    const warnings = sectionOf('### ⚠️ Warnings (1)');
    expect(warnings).toContain('`discovery/as-metadata-cache`');
    expect(warnings).toContain('  - expected: `"max-age > 0"`\n  - actual: `null`');
    expect(warnings).toContain('[RFC8414-3](https://www.rfc-editor.org/rfc/rfc8414#section-3)');
    expect(sectionOf('### ℹ️ Info (1)')).toContain(
      '[OIDCC-12.2](https://openid.net/specs/openid-connect-core-1_0.html#section-12.2)',
    );
    expect(sectionOf('### ❌ Stale expected failures (1)')).toContain(
      '- `pkce/verifier-required` A wrong code\\_verifier is refused with invalid\\_grant (passed)',
    );
  });

  it('folds expected failures and skipped cases, with reasons, in <details>', () => {
    expect(md).toMatch(
      /<details><summary>Expected failures \(1\)<\/summary>\n\n#### ❌ `tokens\/client-secret-post`/,
    );
    const skipped = md.slice(md.indexOf('<details><summary>Skipped (2 cases)</summary>'));
    expect(skipped).toContain(
      '- `tokens/revocation` Revoked refresh tokens stop working: the server does not advertise a revocation\\_endpoint',
    );
    expect(skipped).toContain(
      '- `consent/csrf` Consent POST without the CSRF token is refused: the server shows no consent page',
    );
    expect(skipped.trimEnd().endsWith('</details>')).toBe(true);
  });

  it('lets no HTML from the data through and holds no secret', () => {
    expect(md).not.toContain('<script>');
    expect(md).toContain('&lt;/script&gt;&lt;script&gt;');
    for (const [name, secret] of Object.entries(SECRETS)) expect(md, name).not.toContain(secret);
  });

  it('says PASSED for a passing run, with no failure section', () => {
    const passing = markdownSummary(passingRun());
    expect(passing.split('\n')[0]).toBe('## ✅ mcp-auth-conformance: PASSED');
    expect(passing).toContain('**no unexpected failure \\(1 warning\\)**');
    expect(passing).not.toContain('### ❌ Failures');
  });
});

describe('Markdown escaping', () => {
  it('escapes emphasis, links, pipes and HTML in text', () => {
    expect(mdText('a_b *c* [x](y) | <b> & `d`')).toBe(
      'a\\_b \\*c\\* \\[x\\]\\(y\\) \\| &lt;b&gt; &amp; \\`d\\`',
    );
  });

  it('fences code spans around backticks and escapes pipes only inside tables', () => {
    expect(mdCode('a`b')).toBe('``a`b``');
    expect(mdCode('`x`')).toBe('`` `x` ``');
    expect(mdCode('a|b')).toBe('`a|b`');
    expect(mdCode('a|b', true)).toBe('`a\\|b`');
    expect(mdCode('line1\nline2')).toBe('`line1 line2`');
  });
});
