#!/usr/bin/env node
// The `conformance` command: check the runtime, then hand over to cli/main.ts (in this repository)
// or to the built dist/cli/main.js (in an installed copy: Node strips no types under node_modules).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `conformance: Node ${process.versions.node} is too old; Node 22.18 or later is required ` +
      '(run it through npx or npm scripts in this package, which use the bundled Node 22).',
  );
  process.exit(2);
}
// node:sqlite (the reference server's store) is stable enough for us; keep its notice off the console.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) =>
  String(warning).includes('SQLite is an experimental feature')
    ? undefined
    : emitWarning.call(process, warning, ...rest);
// `conformance list | head`: a reader that goes away ends the command quietly, never with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}
const installed = import.meta.url.includes('/node_modules/');
const { main } = await import(installed ? '../dist/cli/main.js' : './main.ts');
process.exitCode = await main(process.argv.slice(2));
