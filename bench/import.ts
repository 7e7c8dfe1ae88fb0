// `npm run bench -- import [--runs 10] [--tsx]`: what importing each entry point costs a cold process. Each
// entry is imported by `--runs` fresh `node` processes; the table gives medians of the time spent in the
// `import()` itself, of the whole process from spawn to exit (Node's own start included, see the first row),
// and of the RSS after the import. Entries are the compiled JavaScript (as users run them), or the sources
// through tsx with `--tsx`.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, repoRoot } from './_measure.js';

const root = repoRoot;

/** What each row imports, as a path under src/ without its extension; `null` imports nothing. */
const ROWS: readonly (readonly [string, string | null])[] = [
  ['node alone (no import)', null],
  ['pool alone (src/operators/pool)', 'operators/pool'],
  ['rxagent', 'index'],
  ['rxagent/openai', 'models/openai/index'],
  ['rxagent/anthropic', 'models/anthropic/index'],
  ['rxagent/ai-sdk', 'models/ai-sdk/index'],
  ['rxagent/server', 'server/index'],
  ['rxagent/redis', 'redis/index'],
];

interface Sample {
  readonly importMs: number;
  readonly wallMs: number;
  readonly rssMb: number;
}

/** Compiles src/ as the package build does, without declarations or maps, into .bench-out/import. */
function compile(): string {
  const outDir = join(root, '.bench-out', 'import');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const flags = ['--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false'];
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), ...flags], { cwd: root });
  return outDir;
}

function measure(url: string | null, tsx: boolean): Sample {
  const script =
    url === null
      ? 'console.log(JSON.stringify({ ms: 0, rss: process.memoryUsage().rss }));'
      : `const start = performance.now(); await import(${JSON.stringify(url)});` +
        'console.log(JSON.stringify({ ms: performance.now() - start, rss: process.memoryUsage().rss }));';
  const args = [...(tsx ? ['--import', 'tsx'] : []), '--input-type=module', '-e', script];
  const start = performance.now();
  const child = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  const wallMs = performance.now() - start;
  if (child.status !== 0) throw new Error(`Importing ${url ?? 'nothing'} failed:\n${child.stderr}`);
  const { ms, rss } = JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as { ms: number; rss: number };
  return { importMs: ms, wallMs, rssMb: rss / 1024 / 1024 };
}

export default function bench(args: string[]): Promise<void> {
  const at = args.indexOf('--runs');
  const runs = at >= 0 ? Number(args[at + 1]) : 10;
  if (!Number.isInteger(runs) || runs < 1) throw new TypeError(`Expected --runs to be a positive integer`);
  const tsx = args.includes('--tsx');
  const base = tsx ? join(root, 'src') : compile();
  const extension = tsx ? '.ts' : '.js';
  console.log(
    `\nCold import of each entry point (${tsx ? 'sources through tsx' : 'compiled JavaScript'}), median of ${runs} processes\n`,
  );
  console.log('| import | import() ms | process ms | RSS MB |');
  console.log('|---|---:|---:|---:|');
  const urls = ROWS.map(([, path]) =>
    path === null ? null : pathToFileURL(join(base, `${path}${extension}`)).href,
  );
  // Runs go round the rows, so a burst of load elsewhere on the machine spreads over all of them.
  const samples: Sample[][] = ROWS.map(() => []);
  for (let run = 0; run < runs; run++) {
    urls.forEach((url, row) => samples[row]?.push(measure(url, tsx)));
  }
  ROWS.forEach(([name], row) => {
    const of = (pick: (s: Sample) => number): number => median((samples[row] ?? []).map(pick));
    const cells = [of((s) => s.importMs), of((s) => s.wallMs), of((s) => s.rssMb)].map((n) => n.toFixed(0));
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  });
  return Promise.resolve();
}
