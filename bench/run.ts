// Runs one benchmark by name: `npm run bench -- pool`. Each benchmark is bench/<name>.ts with a default export.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
const name = process.argv[2];

if (name === undefined || !available.includes(name)) {
  console.error(`Usage: npm run bench -- <name>, one of: ${available.join(', ') || '(none yet)'}`);
  process.exit(2);
}

const bench = (await import(`./${name}.ts`)) as { default: (args: string[]) => Promise<void> };
await bench.default(process.argv.slice(3));
