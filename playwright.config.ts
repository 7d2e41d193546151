import { defineConfig } from '@playwright/test';
// Debian's Chromium (Playwright's own browser download is not available on these machines): one
// definition for the e2e tests and the runner's browser mode.
import { chromiumLaunchOptions } from './runner/agent/browser.ts';

export { chromiumLaunchOptions };

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  timeout: 30_000,
  workers: 2,
  reporter: process.env['CI'] ? 'list' : 'line',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: chromiumLaunchOptions,
  },
});
