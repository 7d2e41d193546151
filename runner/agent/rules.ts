/**
 * The declarative browser block: consent and login pages that are not ours (a third-party
 * IdP's sign-in, a server's own consent page the heuristics do not recognise) are driven by
 * rules, each a URL glob and the commands to run on a page whose URL matches it. The same idea
 * as the OpenID conformance suite's `browser` block (URL globs -> fill/click/wait commands).
 *
 * ```yaml
 * browser:
 *   - match: 'https://login.example.com/u/login*'
 *     commands:
 *       - fill: { selector: '#username', value: alice@example.com }
 *       - fill: { selector: '#password', value: not-a-real-password }
 *       - click: 'button[type=submit]'
 *   - match: 'https://mcp.example.com/consent*'
 *     consent: true
 *     commands: [{ click: '#terms' }, { click: 'text=Link account' }]
 *     deny: [{ click: 'text=Not now' }]
 * ```
 */
import type { BrowserCommand, BrowserRule } from '../context.ts';
import { RunnerError } from '../errors.ts';

export type { BrowserCommand, BrowserRule };

/** The few page operations a rule needs (a Playwright `Page` has them). */
export interface RulePage {
  locator(selector: string): {
    fill(value: string, options: { timeout: number }): Promise<void>;
    click(options: { timeout: number }): Promise<void>;
    waitFor(options: { state: 'visible'; timeout: number }): Promise<void>;
  };
}

/** `*` matches any run of characters (`?` and every other character literally). */
export function urlGlob(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** The first rule whose glob matches the whole URL (query and fragment included). */
export function matchRule(rules: readonly BrowserRule[], url: string): BrowserRule | undefined {
  return rules.find((rule) => urlGlob(rule.match).test(url));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readCommands(value: unknown, where: string): BrowserCommand[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RunnerError('ERR_OPTIONS', `${where} must be a non-empty list of commands`);
  }
  return value.map((raw, i) => {
    const at = `${where}[${i}]`;
    if (!isRecord(raw)) throw new RunnerError('ERR_OPTIONS', `${at} must be an object`);
    const keys = Object.keys(raw);
    if (keys.length !== 1) {
      throw new RunnerError('ERR_OPTIONS', `${at} must hold exactly one of fill, click, wait`);
    }
    const key = keys[0]!;
    const arg = raw[key];
    if (key === 'fill') {
      if (!isRecord(arg) || typeof arg['selector'] !== 'string' || typeof arg['value'] !== 'string') {
        throw new RunnerError('ERR_OPTIONS', `${at}.fill needs a string "selector" and "value"`);
      }
      return { fill: { selector: arg['selector'], value: arg['value'] } };
    }
    if (key === 'click' || key === 'wait') {
      if (typeof arg !== 'string' || arg === '') {
        throw new RunnerError('ERR_OPTIONS', `${at}.${key} must be a selector`);
      }
      return key === 'click' ? { click: arg } : { wait: arg };
    }
    throw new RunnerError('ERR_OPTIONS', `${at}: unknown command "${key}" (fill, click or wait)`);
  });
}

/** Validates a browser block read from a config file or flags. */
export function parseRules(value: unknown): BrowserRule[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new RunnerError('ERR_OPTIONS', '"browser" must be a list of rules');
  return value.map((raw, i) => {
    const at = `browser[${i}]`;
    if (!isRecord(raw)) throw new RunnerError('ERR_OPTIONS', `${at} must be an object`);
    const unknown = Object.keys(raw).filter((k) => !['match', 'commands', 'consent', 'deny'].includes(k));
    if (unknown.length) throw new RunnerError('ERR_OPTIONS', `${at}: unknown key "${unknown[0]}"`);
    if (typeof raw['match'] !== 'string' || raw['match'] === '') {
      throw new RunnerError('ERR_OPTIONS', `${at}.match must be a URL glob`);
    }
    if (raw['consent'] !== undefined && typeof raw['consent'] !== 'boolean') {
      throw new RunnerError('ERR_OPTIONS', `${at}.consent must be true or false`);
    }
    return {
      match: raw['match'],
      commands: readCommands(raw['commands'], `${at}.commands`),
      ...(raw['consent'] === true ? { consent: true } : {}),
      ...(raw['deny'] !== undefined ? { deny: readCommands(raw['deny'], `${at}.deny`) } : {}),
    };
  });
}

/** Describes a command for error messages and reports. */
export function describeCommand(command: BrowserCommand): string {
  if (command.fill) return `fill ${command.fill.selector}`;
  if (command.click) return `click ${command.click}`;
  return `wait ${command.wait ?? ''}`;
}

/**
 * Runs commands in order; each waits at most `timeoutMs` (a number, or a function giving the
 * time left) for its element (Playwright's
 * actionability checks: attached, visible, stable, enabled). A command that cannot run ends the
 * step with the rule and the command named; `stop()` ends the rule early.
 */
export async function runCommands(
  page: RulePage,
  rule: BrowserRule,
  commands: readonly BrowserCommand[],
  timeoutMs: number | (() => number),
  stop: () => boolean = () => false,
): Promise<void> {
  for (const command of commands) {
    // A click that already sent the browser to the client's redirect URI ends the rule.
    if (stop()) return;
    const timeout = Math.max(1, typeof timeoutMs === 'number' ? timeoutMs : timeoutMs());
    try {
      if (command.fill) await page.locator(command.fill.selector).fill(command.fill.value, { timeout });
      else if (command.click) await page.locator(command.click).click({ timeout });
      else if (command.wait) await page.locator(command.wait).waitFor({ state: 'visible', timeout });
    } catch (error) {
      const first = (error as Error).message.split('\n')[0];
      throw new RunnerError(
        'ERR_STEP_FAILED',
        `browser rule "${rule.match}": ${describeCommand(command)} failed: ${first}`,
      );
    }
  }
}
