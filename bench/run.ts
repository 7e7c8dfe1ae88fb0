// Runs one benchmark by name: `npm run bench -- pool`. Each benchmark is bench/<name>.ts with a default export.
// It runs compiled to plain JavaScript (in .bench-out/), as users run the package: under tsx every closure
// is wrapped in a keep-names helper, which made closure-heavy code such as runAgents look six times slower.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const root = join(dir, '..');
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const name = process.argv[2];

if (name === undefined || !available.includes(name)) {
  console.error(`Usage: npm run bench -- <name>, one of: ${available.join(', ') || '(none yet)'}`);
  process.exit(2);
}

const outDir = join(root, '.bench-out');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const flags = ['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022'];
const more = ['--strict', '--exactOptionalPropertyTypes', '--skipLibCheck', '--types', 'node'];
const files = [join(dir, '_main.ts'), join(dir, `${name}.ts`)];
execFileSync(process.execPath, [tsc, ...flags, ...more, '--rootDir', root, '--outDir', outDir, ...files], {
  cwd: root,
  stdio: 'inherit',
});
execFileSync(
  process.execPath,
  ['--expose-gc', join(outDir, 'bench', '_main.js'), name, ...process.argv.slice(3)],
  { cwd: root, stdio: 'inherit' },
);
