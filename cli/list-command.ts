/**
 * `conformance list`: the suites and their cases, with the level, the requirement tags and the
 * capabilities each case needs (a case is skipped on a server that lacks one).
 */
import { resolve } from 'node:path';
import { suitesDir } from '../runner/load.ts';
import type { SuiteDef } from '../runner/suite.ts';
import { parseCommand, UsageError } from './args.ts';
import { selectSuites, toRunFailure } from './run-command.ts';

export const listUsage = `Usage: conformance list [options]

Lists the suites and their cases: level (MUST, SHOULD, MAY), requirement tags, security edges
and the capabilities a case needs (without them it is skipped, with the reason).

Options:
  --suite ID         only this suite (repeatable)
  --case GLOB        only the cases whose id matches (repeatable; * matches anything)
  --suites-dir DIR   also list the suite files in DIR, or one file (repeatable)
  --replace-suites   list only the --suites-dir suites, not the bundled ones
  --personas FILE    the personas file that expands per-persona cases (default: the bundled one)
  --json             print JSON: [{ id, title, file, cases: [{ id, title, level, tags, edges,
                     requires }] }]
  -h, --help         show this help`;

/** The JSON form of `conformance list`. */
export function describeSuites(suites: SuiteDef[]) {
  return suites.map((s) => ({
    id: s.id,
    title: s.title,
    ...(s.description ? { description: s.description } : {}),
    file: s.file,
    cases: s.cases.map((c) => ({
      id: c.id,
      title: c.title,
      level: c.level,
      tags: c.tags,
      edges: c.edges,
      requires: c.requires,
    })),
  }));
}

export async function listCommand(
  argv: string[],
  io: { out: (s: string) => void; cwd?: string },
): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      suite: { type: 'string', multiple: true },
      case: { type: 'string', multiple: true },
      'suites-dir': { type: 'string', multiple: true },
      'replace-suites': { type: 'boolean' },
      personas: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.out(listUsage);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const cwd = io.cwd ?? process.cwd();
  if (values['replace-suites'] && !values['suites-dir']) {
    throw new UsageError('--replace-suites needs --suites-dir DIR');
  }
  const extra = (values['suites-dir'] ?? []).map((d) => resolve(cwd, d));
  let suites: SuiteDef[];
  try {
    suites = selectSuites({
      paths: [...(values['replace-suites'] ? [] : [suitesDir]), ...extra],
      ...(values.personas ? { personasFile: resolve(cwd, values.personas) } : {}),
      ...(values.suite ? { suiteIds: values.suite.flatMap((s) => s.split(',')).filter(Boolean) } : {}),
      ...(values.case ? { caseGlobs: values.case } : {}),
    });
  } catch (error) {
    throw toRunFailure(error);
  }
  if (values.json) {
    io.out(JSON.stringify(describeSuites(suites), null, 2));
    return 0;
  }
  const total = suites.reduce((n, s) => n + s.cases.length, 0);
  for (const suite of suites) {
    io.out(`${suite.id}  ${suite.title}  (${suite.cases.length} case${suite.cases.length === 1 ? '' : 's'})`);
    for (const c of suite.cases) {
      io.out(`  ${c.level.padEnd(6)} ${c.id}  ${c.title}`);
      const details = [`tags: ${c.tags.join(', ') || '-'}`];
      if (c.edges.length) details.push(`edges: ${c.edges.join(', ')}`);
      details.push(`requires: ${c.requires.join(', ') || '-'}`);
      io.out(`         ${details.join('  ·  ')}`);
    }
    io.out('');
  }
  io.out(`${total} case${total === 1 ? '' : 's'} in ${suites.length} suite${suites.length === 1 ? '' : 's'}`);
  return 0;
}
