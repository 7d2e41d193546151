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
    const unknown = (error as Error).message.match(/^Unknown option '(-[^']*)'/);
    if (unknown) {
      // Node adds advice about positionals after '--', which is never what a mistyped flag needs.
      const guess = closestOption(unknown[1]!, Object.keys(options));
      throw new UsageError(`Unknown option '${unknown[1]}'${guess ? `; did you mean --${guess}?` : ''}`);
    }
    const message = (error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '');
    throw new UsageError(message.split('\n')[0]!);
  }
}

/** The known option nearest to a mistyped one (edit distance at most 2), if any. */
function closestOption(flag: string, names: string[]): string | undefined {
  const typed = flag.replace(/^-+/, '').split('=')[0]!;
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance <= 2 && distance < typed.length && (!best || distance < best.distance))
      best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** Parses a TCP port flag; 0 means "any free port". */
export function portOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new UsageError(`${flag} must be a port number (0-65535), got "${value}"`);
  }
  return Number(value);
}
