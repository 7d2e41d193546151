import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';
import { mockIdpCommand } from './mock-idp-command.ts';

const usage = `Usage: conformance <command> [options]

Commands:
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
}

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Parses the command line, runs the command, returns the exit code. Never throws. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
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
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`conformance: ${error.message}`);
      io.err('Run "conformance help" for usage.');
      return 2;
    }
    const e = error as { code?: string; message?: string };
    io.err(`conformance: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`);
    return 2;
  }
}
