// Builds the publishable package into dist/: JavaScript and declarations from the TypeScript
// sources (relative .ts imports rewritten to .js), plus the data files the code reads at run time.
// Node does not strip types under node_modules, so an installed copy runs dist/, while this
// repository runs its sources directly (cli/bin.js picks one or the other).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
  {
    stdio: 'inherit',
  },
);
const copy = (from, to = from) => {
  mkdirSync(dirname(join(dist, to)), { recursive: true });
  copyFileSync(join(root, from), join(dist, to));
};
copy('mock-idp/personas.yaml');
copy('reports/result.schema.json');
for (const file of readdirSync(join(root, 'suites'))) {
  if (/\.(ya?ml|json)$/.test(file)) copy(`suites/${file}`);
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// The code reads its name and version from ../package.json relative to its own files.
writeFileSync(
  join(dist, 'package.json'),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
);
console.log('built dist/');
