import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A problem with the command line; printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with readable errors (an unknown flag or missing value becomes a UsageError). */
export function parseCommand<const T extends Options>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true as const });
  } catch (error) {
    const message = (error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '');
    throw new UsageError(message.split('\n')[0]!);
  }
}

/** Parses a TCP port flag; 0 means "any free port". */
export function portOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new UsageError(`${flag} must be a port number (0-65535), got "${value}"`);
  }
  return Number(value);
}
