// `npm run bench -- pool [--rounds 7] [--tasks 10000,100000] [--skip-rss]`: µs per task of each way to run
// tasks at most c at once, for four worker shapes, against the floor — a plain async loop. Every contender
// runs the same worker and collects every result; rounds interleave the contenders with GC forced before each
// run. Then peak RSS for 1M tasks from a generator, each contender in its own child process.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { from, lastValueFrom, mergeMap, of, toArray } from 'rxjs';
import type { Observable, ObservableInput } from 'rxjs';
import type { Agent, AgentEvent, Task, TaskEvent } from '../src/core/types.js';
import { pool } from '../src/operators/pool.js';
import { runAgents } from '../src/operators/run-agents.js';
import { fromTasks } from '../src/sources/from-tasks.js';
import { conditions, interleave, listOption, median, numberOption, withSpread } from './_measure.js';

/** How a worker hands back its value; every contender runs the same one. */
interface Shape {
  readonly name: string;
  readonly run: <T>(value: T) => T | PromiseLike<T>;
}

const SHAPES: readonly Shape[] = [
  { name: 'resolved Promise', run: (value) => Promise.resolve(value) },
  {
    name: 'async function',
    run: async (value) => {
      await Promise.resolve();
      return value;
    },
  },
  { name: 'setImmediate', run: (value) => new Promise((resolve) => setImmediate(resolve, value)) },
  { name: 'synchronous', run: (value) => value },
];

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as Partial<PromiseLike<T>> | null)?.then === 'function';
}

/** What RxJS-based contenders need: a synchronous value becomes `of(value)`. */
function toInput<T>(value: T | PromiseLike<T>): ObservableInput<T> {
  return isPromiseLike(value) ? value : of(value);
}

/** An agent whose run gives the shape's value as its `done` event: what `runAgents` needs to settle a task. */
function shapeAgent(shape: Shape): Agent {
  return {
    run: (task) =>
      from(toInput<AgentEvent>(shape.run({ type: 'done', text: task.id, finishReason: 'stop' }))),
  };
}

/** Subscribes and collects the value of every fulfilled task; a rejected task fails the run. */
function collect(events$: Observable<TaskEvent>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const values: string[] = [];
    events$.subscribe({
      next: (event) => {
        if (event.type !== 'settled') return;
        if (event.result.status === 'fulfilled') values.push(event.result.value);
        else reject(event.result.error);
      },
      error: reject,
      complete: () => {
        resolve(values);
      },
    });
  });
}

type Contender = (tasks: readonly Task[], concurrency: number, shape: Shape) => Promise<readonly unknown[]>;

const FLOOR = 'plain async loop (floor)';

const CONTENDERS: Record<string, Contender> = {
  // C loops pulling from one shared iterator: what a user can write by hand in a few lines.
  [FLOOR]: async (tasks, concurrency, shape) => {
    const results: string[] = [];
    const iterator = tasks[Symbol.iterator]();
    const loop = async (): Promise<void> => {
      for (const task of iterator) results.push(await shape.run(task.id));
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return results;
  },
  'rxagent pool, fromTasks (pull)': (tasks, concurrency, shape) =>
    collect(fromTasks(tasks).pipe(pool((task) => toInput(shape.run(task.id)), { concurrency }))),
  'rxagent pool, from(array) (push)': (tasks, concurrency, shape) =>
    collect(from(tasks).pipe(pool((task) => toInput(shape.run(task.id)), { concurrency }))),
  'rxagent runAgents, fromTasks, defaults': (tasks, concurrency, shape) =>
    collect(fromTasks(tasks).pipe(runAgents(shapeAgent(shape), { concurrency }))),
  'p-limit': (tasks, concurrency, shape) => {
    const limit = pLimit(concurrency);
    return Promise.all(tasks.map((task) => limit(() => shape.run(task.id))));
  },
  'p-queue': (tasks, concurrency, shape) => {
    const queue = new PQueue({ concurrency });
    return queue.addAll(tasks.map((task) => () => shape.run(task.id)));
  },
  'RxJS mergeMap': (tasks, concurrency, shape) =>
    lastValueFrom(
      from(tasks).pipe(
        mergeMap((task) => toInput(shape.run(task.id)), concurrency),
        toArray(),
      ),
    ),
};

function checkResults(name: string, results: readonly unknown[], n: number): void {
  if (results.length !== n || results.some((value) => typeof value !== 'string')) {
    throw new Error(`${name} collected ${results.length} results of ${n}, or some were not the task's id`);
  }
}

async function timeTable(n: number, rounds: number): Promise<void> {
  const tasks: Task[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, input: 'x' }));
  const names = Object.keys(CONTENDERS);
  console.log(
    `\n${n.toLocaleString('en')} tasks, µs per task: median (min–max) of ${rounds} rounds, then × the floor's median`,
  );
  console.log(`(${conditions()})\n`);
  console.log(`| contender | c | ${SHAPES.map((s) => s.name).join(' | ')} |`);
  console.log(`|---|---:|${SHAPES.map(() => '---:').join('|')}|`);
  for (const concurrency of [5, 100]) {
    const cells = new Map<string, string[]>(names.map((name) => [name, []]));
    for (const shape of SHAPES) {
      const samples = await interleave(names, rounds, async (name) => {
        const start = performance.now();
        const results = await CONTENDERS[name]!(tasks, concurrency, shape);
        const us = ((performance.now() - start) * 1000) / n;
        checkResults(name, results, n);
        return us;
      });
      const floor = median(samples.get(FLOOR)!);
      for (const [name, values] of samples) {
        cells.get(name)!.push(`${withSpread(values, 2)} ${(median(values) / floor).toFixed(1)}×`);
      }
    }
    for (const [name, row] of cells) console.log(`| ${name} | ${concurrency} | ${row.join(' | ')} |`);
  }
}

const RSS_TASKS = 1_000_000;
const RSS_CONCURRENCY = 50;

function* generate(n: number): Generator<Task> {
  for (let i = 0; i < n; i++) yield { id: `t${i}`, input: 'x' };
}

const worker = (task: Task): Promise<string> => Promise.resolve(task.id);

/** Counts fulfilled tasks without keeping their values, so the table shows what intake and queues hold. */
function countFulfilled(events$: Observable<TaskEvent>): Promise<number> {
  return new Promise((resolve, reject) => {
    let fulfilled = 0;
    events$.subscribe({
      next: (event) => {
        if (event.type === 'settled' && event.result.status === 'fulfilled') fulfilled++;
      },
      error: reject,
      complete: () => {
        resolve(fulfilled);
      },
    });
  });
}

const RSS_CONTENDERS: Record<string, (n: number) => Promise<number>> = {
  // What the process costs before any task: Node and the compiled imports.
  'baseline: no tasks': () => Promise.resolve(0),
  'plain async loop over the generator — lazy': async (n) => {
    let done = 0;
    const iterator = generate(n);
    const loop = async (): Promise<void> => {
      for (const task of iterator) {
        await worker(task);
        done++;
      }
    };
    await Promise.all(Array.from({ length: RSS_CONCURRENCY }, loop));
    return done;
  },
  'rxagent pool, fromTasks(generator) — lazy': (n) =>
    countFulfilled(fromTasks(generate(n)).pipe(pool(worker, { concurrency: RSS_CONCURRENCY }))),
  'rxagent runAgents, fromTasks(generator) — lazy': (n) =>
    countFulfilled(
      fromTasks(generate(n)).pipe(runAgents(shapeAgent(SHAPES[0]!), { concurrency: RSS_CONCURRENCY })),
    ),
  'rxagent pool, from(generator) — eager: queues all': (n) =>
    countFulfilled(from(generate(n)).pipe(pool(worker, { concurrency: RSS_CONCURRENCY }))),
  'p-limit, all added up front — eager': async (n) => {
    const limit = pLimit(RSS_CONCURRENCY);
    let done = 0;
    await Promise.all(
      Array.from(generate(n), (task) =>
        limit(async () => {
          await worker(task);
          done++;
        }),
      ),
    );
    return done;
  },
  'p-queue, all added up front — eager': async (n) => {
    const queue = new PQueue({ concurrency: RSS_CONCURRENCY });
    let done = 0;
    for (const task of generate(n)) {
      void queue.add(async () => {
        await worker(task);
        done++;
      });
    }
    await queue.onIdle();
    return done;
  },
};

/** Runs in the child process: one contender, then prints its figures as JSON. */
async function measureRss(name: string): Promise<void> {
  const run = RSS_CONTENDERS[name];
  if (run === undefined) throw new Error(`Unknown RSS contender ${name}`);
  const start = performance.now();
  const done = await run(RSS_TASKS);
  const ms = performance.now() - start;
  if (done !== RSS_TASKS && !name.startsWith('baseline')) throw new Error(`${name} finished ${done} tasks`);
  const peakMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ ms, peakMb }));
}

/**
 * Compiles this file and what it imports to plain JavaScript, so the children measure what users run in
 * production: the tsx loader alone costs ~35 MB of RSS and would hide the pool's own figures.
 */
function compileSelf(): string {
  const self = fileURLToPath(import.meta.url);
  // Already compiled when run through `npm run bench`.
  if (self.endsWith('.js')) return self;
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outDir = join(root, '.bench-out');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const flags = ['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022'];
  const more = ['--strict', '--exactOptionalPropertyTypes', '--skipLibCheck', '--types', 'node'];
  const out = ['--rootDir', root, '--outDir', outDir];
  execFileSync(process.execPath, [tsc, ...flags, ...more, ...out, self], {
    cwd: root,
  });
  return join(outDir, 'bench', 'pool.js');
}

function rssTable(): void {
  const self = compileSelf();
  console.log(
    `\nPeak RSS, ${RSS_TASKS.toLocaleString('en')} tasks from a generator, concurrency ${RSS_CONCURRENCY}, ` +
      'resolved-Promise worker, results counted, not kept\n',
  );
  console.log('| contender | peak RSS (MB) | above baseline (MB) | s |');
  console.log('|---|---:|---:|---:|');
  let baseline = 0;
  for (const name of Object.keys(RSS_CONTENDERS)) {
    const out = execFileSync(process.execPath, [self, 'rss', name], { encoding: 'utf8' });
    const { peakMb, ms } = JSON.parse(out.trim().split('\n').pop()!) as { peakMb: number; ms: number };
    if (name.startsWith('baseline')) baseline = peakMb;
    const above = (peakMb - baseline).toFixed(0);
    console.log(`| ${name} | ${peakMb.toFixed(0)} | ${above} | ${(ms / 1000).toFixed(1)} |`);
  }
}

/** Runs every contender with every shape once, so the first table is not the one that pays for compiling. */
async function warmUp(): Promise<void> {
  const tasks: Task[] = Array.from({ length: 10_000 }, (_, i) => ({ id: `t${i}`, input: 'x' }));
  for (const shape of SHAPES) {
    for (const run of Object.values(CONTENDERS)) await run(tasks, 100, shape);
  }
}

export default async function bench(args: string[]): Promise<void> {
  const rounds = numberOption(args, '--rounds', 7);
  await warmUp();
  for (const n of listOption(args, '--tasks', [10_000, 100_000])) await timeTable(n, rounds);
  if (!args.includes('--skip-rss')) rssTable();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await measureRss(process.argv[3] ?? '');
}
