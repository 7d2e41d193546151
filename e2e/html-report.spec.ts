/**
 * The HTML report in real Chromium: generated from the reports' fixture run into a temporary
 * directory and opened through a file:// URL. Proves that the page works offline under its own
 * Content-Security-Policy (no request leaves the file, no CSP violation), that the counts and the
 * status filter agree with the run, that a failing case expands (by click and by keyboard) to its
 * check message, expected/actual values, spec link and redacted exchange, and that the page is
 * readable with JavaScript off.
 * @see https://www.w3.org/TR/wai-aria-1.2/#aria-pressed
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, type Page, test } from '@playwright/test';
import { fixtureRun, RUNNER_SECRETS, SECRETS } from '../reports/fixtures/run.ts';
import { HtmlReporter } from '../reports/html.ts';

let dir: string;
let url: string;

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'html-report-e2e-'));
  const [file] = await new HtmlReporter({ outDir: dir, secrets: RUNNER_SECRETS }).onRunEnd(fixtureRun());
  url = pathToFileURL(file!).href;
});

test.afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens the report, recording every request and every console error (CSP violations land there). */
async function open(page: Page): Promise<{ requests: string[]; errors: string[] }> {
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  return { requests, errors };
}

const visibleCases = (page: Page) => page.locator('details.case:visible');

test('shows the verdict and counts, and loads nothing but itself', async ({ page }) => {
  const { requests, errors } = await open(page);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('mcp-auth-conformance report');
  await expect(page.locator('#verdict')).toHaveText(
    'FAILED 2 unexpected failures and 1 stale expected failure',
  );
  await expect(page.locator('#target')).toHaveText('http://127.0.0.1:8000/mcp');
  for (const [status, n] of [
    ['total', 11],
    ['failed', 3],
    ['warning', 1],
    ['info', 1],
    ['skipped', 2],
    ['passed', 4],
  ] as const) {
    await expect(page.locator(`[data-total="${status}"]`)).toHaveText(String(n));
  }
  // The script ran (under the page's CSP): the toolbar is shown and counts every case.
  await expect(page.getByRole('navigation', { name: 'Filter cases' })).toBeVisible();
  await expect(page.locator('#visible-count')).toHaveText('11 of 11 cases shown');
  await expect(visibleCases(page)).toHaveCount(11);
  expect(requests).toEqual([url]);
  expect(errors).toEqual([]);
  expect(await page.evaluate(() => (window as { __pwned?: boolean }).__pwned)).toBeUndefined();
});

test('the failed filter shows only failed cases', async ({ page }) => {
  await open(page);
  const group = page.getByRole('group', { name: 'Show cases by status' });
  const all = group.getByRole('button', { name: /^All/ });
  const failed = group.getByRole('button', { name: /^Failed/ });
  await expect(failed).toHaveText('Failed 3');
  await expect(all).toHaveAttribute('aria-pressed', 'true');
  await expect(failed).toHaveAttribute('aria-pressed', 'false');

  await failed.click();
  await expect(failed).toHaveAttribute('aria-pressed', 'true');
  await expect(all).toHaveAttribute('aria-pressed', 'false');
  await expect(visibleCases(page)).toHaveCount(3);
  for (const status of await visibleCases(page).evaluateAll((els) =>
    els.map((e) => e.getAttribute('data-status')),
  )) {
    expect(status).toBe('failed');
  }
  await expect(visibleCases(page).locator('.case-id')).toHaveText([
    'tokens/audience-bound',
    'tokens/client-secret-post',
    'pkce/plain-refused',
  ]);
  // Suites with no failed case are hidden with their cases.
  await expect(page.locator('section.suite:visible h2 code')).toHaveText(['tokens', 'pkce']);
  await expect(page.locator('#visible-count')).toHaveText('3 of 11 cases shown');

  // The search narrows within the filter; a search that matches nothing says so.
  await page.getByLabel('Search').fill('econnrefused');
  await expect(visibleCases(page).locator('.case-id')).toHaveText(['pkce/plain-refused']);
  await page.getByLabel('Search').fill('no-such-thing');
  await expect(visibleCases(page)).toHaveCount(0);
  await expect(page.locator('#no-match')).toBeVisible();

  await page.getByLabel('Search').fill('');
  await all.click();
  await expect(visibleCases(page)).toHaveCount(11);
  await expect(page.locator('#no-match')).toBeHidden();
});

test('a failing case expands to its check, expected/actual, spec link and redacted exchange', async ({
  page,
}) => {
  await open(page);
  await page
    .getByRole('group', { name: 'Show cases by status' })
    .getByRole('button', { name: /^Failed/ })
    .click();
  const failing = page.locator('details.case', {
    has: page.locator('.case-id', { hasText: 'tokens/audience-bound' }),
  });
  const check = failing.locator('li.check-fail');
  await expect(check).toBeHidden();

  await failing.locator('summary').first().click();
  await expect(failing).toHaveAttribute('open', '');
  await expect(check.locator('.message')).toContainText(
    'status is 200, expected 401: the server accepted "Authorization: Bearer [redacted]" minted for another resource',
  );
  await expect(check.locator('pre.expected')).toHaveText('401');
  await expect(check.locator('pre.actual')).toHaveText('200');
  const link = check.getByRole('link', { name: 'RFC8707-2' });
  await expect(link).toHaveAttribute('href', 'https://www.rfc-editor.org/rfc/rfc8707#section-2');
  await expect(
    check.getByRole('link', { name: 'MCP-authorization-token-audience-binding-and-validation' }),
  ).toHaveAttribute(
    'href',
    'https://modelcontextprotocol.io/specification/2025-06-18/basic/authorization#token-audience-binding-and-validation',
  );

  const request = check.locator('pre.request');
  await expect(request).toBeVisible();
  await expect(request).toContainText('POST http://127.0.0.1:8000/mcp');
  await expect(request).toContainText('authorization: Bearer [redacted]');
  await expect(check.locator('pre.response')).toContainText('HTTP 200');
  // The body's </script> is shown as text; nothing ran.
  await expect(check.locator('pre.response')).toContainText(
    '</script><script>window.__pwned = true</script>',
  );
  const pageHtml = await page.content();
  for (const [name, secret] of Object.entries(SECRETS)) expect(pageHtml, name).not.toContain(secret);
});

test('cases expand from the keyboard', async ({ page }) => {
  await open(page);
  const errored = page.locator('details.case', {
    has: page.locator('.case-id', { hasText: 'pkce/plain-refused' }),
  });
  await errored.locator('summary').first().focus();
  await page.keyboard.press('Enter');
  await expect(errored).toHaveAttribute('open', '');
  await expect(errored.locator('.reason')).toHaveText(
    'Error: step "authorize-plain" errored: connect ECONNREFUSED 127.0.0.1:8000',
  );
  await page.keyboard.press('Space');
  await expect(errored).not.toHaveAttribute('open', '');
});

test('is readable without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(url);
  await expect(page.getByRole('navigation', { name: 'Filter cases' })).toBeHidden();
  await expect(page.locator('details.case:visible')).toHaveCount(11);
  await expect(page.getByRole('heading', { level: 2 })).toHaveCount(4);
  const skipped = page.locator('details.case', {
    has: page.locator('.case-id', { hasText: 'tokens/revocation' }),
  });
  await skipped.locator('summary').first().click();
  await expect(skipped.locator('.reason')).toHaveText(
    'Skipped: the server does not advertise a revocation_endpoint',
  );
  await context.close();
});
