// `npm run bench -- pool [--rounds N] [--tasks N] [--skip-rss]`: µs per task for instant tasks, rxagent's
// pool against p-limit, p-queue and RxJS mergeMap in one process; then peak RSS for 1M tasks from a
// generator, each contender in its own child process so RSS is its own.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { Observable, from, lastValueFrom, mergeMap } from 'rxjs';
import type { Task, TaskEvent } from '../src/core/types.js';
import { pool } from '../src/operators/pool.js';
import { fromTasks } from '../src/sources/from-tasks.js';

type Contender = (tasks: readonly Task[], concurrency: number) => Promise<number>;

const worker = (task: Task): Promise<string> => Promise.resolve(task.id);

function countSettled(events$: Observable<TaskEvent>): Promise<number> {
  return new Promise((resolve, reject) => {
    let settled = 0;
    events$.subscribe({
      next: (event) => {
        if (event.type === 'settled') settled++;
      },
      error: reject,
      complete: () => {
        resolve(settled);
      },
    });
  });
}

const contenders: Record<string, Contender> = {
  'rxagent pool (fromTasks)': (tasks, concurrency) =>
    countSettled(fromTasks(tasks).pipe(pool(worker, { concurrency }))),
  'rxagent pool (from(array))': (tasks, concurrency) =>
    countSettled(from(tasks).pipe(pool(worker, { concurrency }))),
  'p-limit': async (tasks, concurrency) => {
    const limit = pLimit(concurrency);
    return (await Promise.all(tasks.map((task) => limit(() => worker(task))))).length;
  },
  'p-queue': async (tasks, concurrency) => {
    const queue = new PQueue({ concurrency });
    let done = 0;
    for (const task of tasks) {
      void queue.add(async () => {
        await worker(task);
        done++;
      });
    }
    await queue.onIdle();
    return done;
  },
  'RxJS mergeMap': async (tasks, concurrency) => {
    let done = 0;
    await lastValueFrom(from(tasks).pipe(mergeMap((task) => worker(task), concurrency)), {
      defaultValue: undefined,
    });
    done = tasks.length;
    return done;
  },
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function option(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  return at === -1 ? fallback : Number(args[at + 1]);
}

async function timeRounds(args: readonly string[]): Promise<void> {
  const rounds = option(args, '--rounds', 5);
  const n = option(args, '--tasks', 100_000);
  const tasks: Task[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, input: 'x' }));
  console.log(`\n${n.toLocaleString('en')} instant tasks (Promise.resolve), median of ${rounds} rounds\n`);
  console.log('| contender | concurrency | µs/task | × p-limit |');
  console.log('|---|---:|---:|---:|');
  for (const concurrency of [5, 100]) {
    const samples = new Map<string, number[]>(Object.keys(contenders).map((name) => [name, []]));
    // Rounds interleave contenders, so drift of the shared CPU hits them all alike; round 0 is warm-up.
    for (let round = 0; round <= rounds; round++) {
      for (const [name, run] of Object.entries(contenders)) {
        const start = performance.now();
        const done = await run(tasks, concurrency);
        const us = ((performance.now() - start) * 1000) / n;
        if (done !== n) throw new Error(`${name} finished ${done} of ${n} tasks`);
        if (round > 0) samples.get(name)!.push(us);
      }
    }
    const base = median(samples.get('p-limit')!);
    for (const [name, values] of samples) {
      const us = median(values);
      console.log(`| ${name} | ${concurrency} | ${us.toFixed(2)} | ${(us / base).toFixed(2)} |`);
    }
  }
}

const RSS_TASKS = 1_000_000;

function* generate(n: number): Generator<Task> {
  for (let i = 0; i < n; i++) yield { id: `t${i}`, input: 'x' };
}

const rssContenders: Record<string, (n: number) => Promise<number>> = {
  // What the process costs before any task: Node and the compiled imports.
  'baseline: no tasks': () => Promise.resolve(0),
  'rxagent pool (fromTasks(generator))': (n) =>
    countSettled(fromTasks(generate(n)).pipe(pool(worker, { concurrency: 50 }))),
  'rxagent pool (from(generator)), push: queues all': (n) =>
    countSettled(from(generate(n)).pipe(pool(worker, { concurrency: 50 }))),
  'p-limit, all added up front': async (n) => {
    const limit = pLimit(50);
    return (await Promise.all(Array.from(generate(n), (task) => limit(() => worker(task))))).length;
  },
};

/** Runs in the child process: one contender, then prints its figures as JSON. */
async function measureRss(name: string): Promise<void> {
  const run = rssContenders[name];
  if (run === undefined) throw new Error(`Unknown RSS contender ${name}`);
  const start = performance.now();
  const done = await run(RSS_TASKS);
  const ms = performance.now() - start;
  const peakMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ done, ms, peakMb }));
}

/**
 * Compiles this file and what it imports to plain JavaScript, so the children measure what users run in
 * production: the tsx loader alone costs ~35 MB of RSS and would hide the pool's own figures.
 */
function compileSelf(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outDir = join(root, '.bench-out');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const flags = ['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022'];
  const more = ['--strict', '--exactOptionalPropertyTypes', '--skipLibCheck', '--types', 'node'];
  const out = ['--rootDir', root, '--outDir', outDir];
  execFileSync(process.execPath, [tsc, ...flags, ...more, ...out, fileURLToPath(import.meta.url)], {
    cwd: root,
  });
  return join(outDir, 'bench', 'pool.js');
}

function rssTable(): void {
  const self = compileSelf();
  console.log(`\nPeak RSS, ${RSS_TASKS.toLocaleString('en')} tasks from a generator, concurrency 50\n`);
  console.log('| contender | peak RSS (MB) | above baseline (MB) | s |');
  console.log('|---|---:|---:|---:|');
  let baseline = 0;
  for (const name of Object.keys(rssContenders)) {
    const out = execFileSync(process.execPath, [self, 'rss', name], { encoding: 'utf8' });
    const { peakMb, ms } = JSON.parse(out.trim().split('\n').pop()!) as { peakMb: number; ms: number };
    if (name.startsWith('baseline')) baseline = peakMb;
    const above = (peakMb - baseline).toFixed(0);
    console.log(`| ${name} | ${peakMb.toFixed(0)} | ${above} | ${(ms / 1000).toFixed(1)} |`);
  }
}

export default async function bench(args: string[]): Promise<void> {
  await timeRounds(args);
  if (!args.includes('--skip-rss')) rssTable();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await measureRss(process.argv[3] ?? '');
}
