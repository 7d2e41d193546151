import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.ts';
import { mockIdpCommand } from './mock-idp-command.ts';

const usage = `Usage: conformance <server-url> [options]
       conformance <command> [options]

Check a server:
  <server-url>       run the conformance suites against this MCP endpoint (http:// or https://);
                     "conformance run --help" lists the options
  run [<server-url>] the same; the URL may come from the config file, and a bare "conformance"
                     runs too when conformance.config.{ts,json,yaml,yml} is in the working directory
  demo               run every suite against the reference server, for each backend
  list               list the suites and cases (level, requirement tags, capabilities needed)
  personas           the users a server's store must hold, and who each persona resolves to

Tools:
  mock-idp           serve the mock multi-provider identity provider on 127.0.0.1
  serve              start the reference MCP server (any backend; --mock-idp for local use)
  users              list, add or seed the reference server's users
  help               show this help

Run "conformance <command> --help" for the options of a command.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Whether `out` is a terminal (colour); false when absent. */
  isTTY?: boolean;
  /** Where relative paths start; process.cwd() when absent. */
  cwd?: string;
}

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  isTTY: process.stdout.isTTY === true,
};

/** `conformance <url>` and `conformance --idp ... <url>`: the first argument is a URL or a flag. */
function isRunInvocation(command: string): boolean {
  return (
    /^https?:\/\//i.test(command) ||
    (command.startsWith('-') && !['-h', '--help', '-v', '--version'].includes(command))
  );
}

/** Parses the command line, runs the command, returns the exit code. Never throws. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      // A bare `conformance` in a directory with a config file runs it, as the docs promise.
      const { CONFIG_FILE_NAMES } = await import('./config-file.ts');
      const cwd = io.cwd ?? process.cwd();
      if (CONFIG_FILE_NAMES.some((name) => existsSync(join(cwd, name)))) {
        return await (await import('./run-command.ts')).runCommand([], io);
      }
    }
    switch (command) {
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        io.out(usage);
        return command === undefined ? 2 : 0;
      case '--version':
      case '-v':
        io.out(version());
        return 0;
      case 'mock-idp':
        return await mockIdpCommand(rest, io);
      case 'serve':
        return await (await import('./serve-command.ts')).serveCommand(rest, io);
      case 'users':
        return await (await import('./users-command.ts')).usersCommand(rest, io);
      case 'run':
        return await (await import('./run-command.ts')).runCommand(rest, io);
      case 'demo':
        return await (await import('./demo-command.ts')).demoCommand(rest, io);
      case 'list':
        return await (await import('./list-command.ts')).listCommand(rest, io);
      case 'personas':
        return await (await import('./personas-command.ts')).personasCommand(rest, io);
      default:
        if (isRunInvocation(command)) {
          return await (await import('./run-command.ts')).runCommand(argv, io);
        }
        throw Object.assign(new UsageError(`unknown command "${command}"`), {
          hint:
            /^[\w.-]+(:\d+)?(\/|$)/.test(command) && /[.:]/.test(command)
              ? `hint: a server URL starts with http:// or https:// (conformance http://${command})`
              : undefined,
        });
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`conformance: ${error.message}`);
      const hint = (error as { hint?: unknown }).hint;
      if (typeof hint === 'string') io.err(hint);
      io.err(
        command === 'run' || isRunInvocation(command ?? '')
          ? 'Run "conformance run --help" for usage.'
          : ['demo', 'list', 'personas', 'mock-idp', 'serve', 'users'].includes(command ?? '')
            ? `Run "conformance ${command} --help" for usage.`
            : 'Run "conformance help" for usage.',
      );
      return 2;
    }
    const e = error as { code?: string; message?: string; hint?: unknown };
    io.err(`conformance: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`);
    if (typeof e.hint === 'string') io.err(e.hint);
    return 2;
  }
}
