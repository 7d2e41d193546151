import { describe, expect, it } from 'vitest';
import { RunnerError } from '../errors.ts';
import { chromiumLaunchOptions } from './browser.ts';
import { describeCommand, matchRule, parseRules, runCommands, urlGlob } from './rules.ts';

/**
 * The declarative browser block without a browser: validation, URL globs and the command runner
 * over a recording page. The browser itself is proven in e2e/browser-agent.spec.ts.
 */
describe('browser rules', () => {
  it('parses a block with fill, click, wait, consent and deny', () => {
    const rules = parseRules([
      {
        match: 'https://login.example.com/*',
        commands: [{ fill: { selector: '#user', value: 'alice' } }, { click: 'button[type=submit]' }],
      },
      {
        match: 'https://mcp.example.com/consent*',
        consent: true,
        commands: [{ wait: '#terms' }],
        deny: [{ click: '#no' }],
      },
    ]);
    expect(rules).toEqual([
      {
        match: 'https://login.example.com/*',
        commands: [{ fill: { selector: '#user', value: 'alice' } }, { click: 'button[type=submit]' }],
      },
      {
        match: 'https://mcp.example.com/consent*',
        consent: true,
        commands: [{ wait: '#terms' }],
        deny: [{ click: '#no' }],
      },
    ]);
    expect(parseRules(undefined)).toEqual([]);
  });

  it.each([
    [{}, '"browser" must be a list of rules'],
    [[{ commands: [{ click: 'a' }] }], 'browser[0].match must be a URL glob'],
    [[{ match: 'x', commands: [] }], 'browser[0].commands must be a non-empty list of commands'],
    [
      [{ match: 'x', commands: [{ type: 'a' }] }],
      'browser[0].commands[0]: unknown command "type" (fill, click or wait)',
    ],
    [
      [{ match: 'x', commands: [{ click: 'a', wait: 'b' }] }],
      'browser[0].commands[0] must hold exactly one of fill, click, wait',
    ],
    [
      [{ match: 'x', commands: [{ fill: { selector: '#a' } }] }],
      'browser[0].commands[0].fill needs a string "selector" and "value"',
    ],
    [[{ match: 'x', commands: [{ click: '' }] }], 'browser[0].commands[0].click must be a selector'],
    [
      [{ match: 'x', commands: [{ click: 'a' }], consent: 'yes' }],
      'browser[0].consent must be true or false',
    ],
    [
      [{ match: 'x', commands: [{ click: 'a' }], deny: [] }],
      'browser[0].deny must be a non-empty list of commands',
    ],
    [[{ match: 'x', commands: [{ click: 'a' }], url: 'y' }], 'browser[0]: unknown key "url"'],
  ])('refuses %j with a message naming the value at fault', (value, message) => {
    let error: unknown;
    try {
      parseRules(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RunnerError);
    expect((error as RunnerError).code).toBe('ERR_OPTIONS');
    expect((error as RunnerError).message).toBe(message);
  });

  it('matches the whole URL with `*` as any run of characters, everything else literally', () => {
    expect(urlGlob('https://idp.example.com/login?*').test('https://idp.example.com/login?next=%2F')).toBe(
      true,
    );
    expect(urlGlob('https://idp.example.com/login?*').test('https://idp.example.com/loginXnext')).toBe(false);
    expect(urlGlob('https://idp.example.com/*').test('https://idp.example.com.evil.test/')).toBe(false);
    expect(urlGlob('https://*.example.com/u/*').test('https://tenant.example.com/u/login')).toBe(true);
    const rules = parseRules([
      { match: 'https://a.test/*', commands: [{ click: '#first' }] },
      { match: 'https://a.test/consent*', commands: [{ click: '#second' }] },
    ]);
    expect(matchRule(rules, 'https://a.test/consent?x=1')?.commands).toEqual([{ click: '#first' }]);
    expect(matchRule(rules, 'https://b.test/consent')).toBeUndefined();
  });

  it('runs commands in order with the time left, and stops when told', async () => {
    const calls: string[] = [];
    const page = {
      locator: (selector: string) => ({
        fill: async (value: string, o: { timeout: number }) =>
          void calls.push(`fill ${selector}=${value} ${o.timeout}`),
        click: async (o: { timeout: number }) => void calls.push(`click ${selector} ${o.timeout}`),
        waitFor: async (o: { state: 'visible'; timeout: number }) =>
          void calls.push(`wait ${selector} ${o.state} ${o.timeout}`),
      }),
    };
    const [rule] = parseRules([
      {
        match: '*',
        commands: [
          { wait: '#a' },
          { fill: { selector: '#b', value: 'v' } },
          { click: '#c' },
          { click: '#d' },
        ],
      },
    ]);
    await runCommands(page, rule!, rule!.commands, 500, () => calls.length >= 3);
    expect(calls).toEqual(['wait #a visible 500', 'fill #b=v 500', 'click #c 500']);
  });

  it('names the rule and the command when one fails', async () => {
    const page = {
      locator: (selector: string) => ({
        fill: async () => undefined,
        click: async () => {
          throw new Error(`locator.click: Timeout 5ms exceeded.\nwaiting for ${selector}`);
        },
        waitFor: async () => undefined,
      }),
    };
    const [rule] = parseRules([{ match: 'https://a.test/*', commands: [{ click: '#missing' }] }]);
    await expect(runCommands(page, rule!, rule!.commands, () => 5)).rejects.toMatchObject({
      code: 'ERR_STEP_FAILED',
      message: 'browser rule "https://a.test/*": click #missing failed: locator.click: Timeout 5ms exceeded.',
    });
    expect(describeCommand({ fill: { selector: '#x', value: 'secret' } })).toBe('fill #x');
  });

  it('shares one Chromium definition with the e2e tests', () => {
    expect(chromiumLaunchOptions.executablePath).toBe(process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium');
    expect(chromiumLaunchOptions.args).toContain('--no-sandbox');
  });
});
