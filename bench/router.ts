// The router against four providers with strict sliding-window limits of 30k, 60k, 90k and 120k tokens per
// minute, one failing 30 % of its requests with 503 and one answering nothing but 429s for a minute, in
// virtual time. Side by side: the router with each strategy, a LiteLLM-style simple-shuffle (a random
// deployment per attempt, retried elsewhere, no budgets) and the largest deployment alone.
// `npm run bench -- router [tasks]`.
import { VirtualTimeScheduler, defer, from, throwError, type SchedulerLike } from 'rxjs';
import { createBudget } from '../src/budget/create-budget.js';
import { RateLimitError } from '../src/core/errors/index.js';
import type { Agent, Settled, Task } from '../src/core/types.js';
import { simulatedModel, type SimulatedAgent } from '../src/models/simulated.js';
import { countTokens } from '../src/models/simulated-text.js';
import type { AdmittedRequest } from '../src/models/simulated-window.js';
import { runAgents, type RunAgentsConfig } from '../src/operators/run-agents.js';
import { router, type RouterStrategy } from '../src/router/index.js';
import { percentile } from './_measure.js';

const MINUTE = 60_000;
const LIMITS = [30_000, 60_000, 90_000, 120_000] as const;
const SUMMED: number = LIMITS.reduce((a, b) => a + b, 0);
/** Which deployment fails 30 % of its requests with 503, and which answers only 429s for a minute. */
const FLAKY = 1;
const STORMY = 0;
const STORM_FROM = MINUTE;
/** What a storming provider says to wait: it does not know when the storm will end. */
const STORM_RETRY_AFTER_MS = 2_000;
const CONCURRENCY = 64;
/** The same retries for every row: enough that a task outlasts a storm, as a batch job would be set up. */
const RETRY = { maxRetries: 8, baseDelayMs: 500 };
const PRICES = [
  { input: 2.5, output: 10 },
  { input: 0.15, output: 0.6 },
  { input: 1.1, output: 4.4 },
  { input: 0.4, output: 1.6 },
] as const;

interface World {
  readonly scheduler: VirtualTimeScheduler;
  readonly models: readonly SimulatedAgent[];
  /** What each deployment's clients call: the model, behind the storm for `STORMY`. */
  readonly agents: readonly Agent[];
  readonly storm: { count: number };
}

interface Row {
  readonly name: string;
  readonly world: World;
  readonly results: readonly Settled[];
  readonly makespanMs: number;
}

/** A seeded generator, so that every run of the benchmark draws the same numbers. */
function seeded(start: number): () => number {
  let seed = start;
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

function makeTasks(count: number): Task[] {
  const random = seeded(42);
  return Array.from({ length: count }, (_, i) => ({
    id: `t${i}`,
    input: 'word '.repeat(20 + Math.floor(random() * 200)),
    maxOutputTokens: 200 + Math.floor(random() * 400),
  }));
}

/** A provider that answers 429 to everything for a minute from `from`, whatever its limit. */
function storming(model: Agent, scheduler: SchedulerLike, count: { count: number }): Agent {
  return {
    maxOutputTokens: model.maxOutputTokens ?? 512,
    run: (task, context) =>
      defer(() => {
        const now = scheduler.now();
        if (now < STORM_FROM || now >= STORM_FROM + MINUTE) return model.run(task, context);
        count.count++;
        return throwError(
          () =>
            new RateLimitError({
              limit: 'requests',
              retryAfterMs: STORM_RETRY_AFTER_MS,
              status: 429,
              message: 'Simulated 429 storm',
            }),
        );
      }),
  };
}

function world(): World {
  const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
  const storm = { count: 0 };
  const models = LIMITS.map((tokensPerMinute, i) =>
    simulatedModel({
      seed: i + 1,
      scheduler,
      rateLimit: { tokensPerMinute },
      ...(i === FLAKY ? { failures: { errorRate: 0.3, status: 503 } } : {}),
    }),
  );
  const agents = models.map((model, i) => (i === STORMY ? storming(model, scheduler, storm) : model));
  return { scheduler, models, agents, storm };
}

function run(name: string, w: World, agent: Agent, config: RunAgentsConfig, tasks: readonly Task[]): Row {
  const results: Settled[] = [];
  let end = 0;
  from(tasks)
    .pipe(
      runAgents(agent, {
        concurrency: CONCURRENCY,
        retry: { ...RETRY, random: seeded(3) },
        scheduler: w.scheduler,
        ...config,
      }),
    )
    .subscribe({
      next: (event) => {
        if (event.type === 'settled') results.push(event.result);
      },
      complete: () => (end = w.scheduler.now()),
    });
  w.scheduler.flush();
  return { name, world: w, results, makespanMs: end };
}

function routerRow(strategy: RouterStrategy, tasks: readonly Task[]): Row {
  const w = world();
  const agent = router({
    deployments: w.agents.map((agent, i) => ({
      id: `d${i}`,
      agent,
      budget: createBudget({ tokensPerMinute: LIMITS[i] as number, scheduler: w.scheduler }),
      weight: (LIMITS[i] as number) / 30_000,
      price: PRICES[i] as (typeof PRICES)[number],
    })),
    strategy,
    countTokens,
    random: seeded(11),
    scheduler: w.scheduler,
    warn: () => undefined,
  });
  return run(`router, '${strategy}'`, w, agent, {}, tasks);
}

/**
 * LiteLLM's `simple-shuffle` as its docs describe it: each attempt to a random deployment (among those the
 * task has not failed on yet), failures retried elsewhere, no budgets and no cooldowns.
 */
function shuffleRow(tasks: readonly Task[]): Row {
  const w = world();
  const random = seeded(7);
  const failed = new Map<string, Set<number>>();
  const agent: Agent = {
    maxOutputTokens: 512,
    run: (task, context) =>
      defer(() => {
        const tried = failed.get(task.id) ?? new Set<number>();
        failed.set(task.id, tried);
        const open = w.agents.map((_a, i) => i).filter((i) => !tried.has(i));
        const choices = open.length > 0 ? open : w.agents.map((_a, i) => i);
        const pick = choices[Math.floor(random() * choices.length)] as number;
        tried.add(pick);
        return (w.agents[pick] as Agent).run(task, context);
      }),
  };
  return run('simple-shuffle (LiteLLM-style, no budgets)', w, agent, {}, tasks);
}

function aloneRow(tasks: readonly Task[]): Row {
  const w = world();
  const largest = LIMITS.length - 1;
  const limit = LIMITS[largest] as number;
  const budget = createBudget({ tokensPerMinute: limit, scheduler: w.scheduler });
  const estimate = (task: Task): number => countTokens(task.input as string) + (task.maxOutputTokens ?? 0);
  const agent = w.agents[largest] as Agent;
  return run(`the ${limit / 1000}k deployment alone, with its budget`, w, agent, { budget, estimate }, tasks);
}

/** Tokens the providers counted per minute, up to the last admission, as a share of `limit`. */
function share(admitted: readonly AdmittedRequest[], lastAt: number, limit: number): number {
  return admitted.reduce((s, e) => s + e.tokens, 0) / (Math.max(lastAt, 1) / MINUTE) / limit;
}

function lastAdmission(row: Row): number {
  return row.world.models.reduce((max, m) => Math.max(max, m.stats.admitted.at(-1)?.at ?? 0), 0);
}

function report(row: Row, tasks: number): string {
  const admitted: AdmittedRequest[] = row.world.models.flatMap((m) => m.stats.admitted);
  const rate = share(admitted, lastAdmission(row), SUMMED);
  const overLimit = row.world.models.reduce((s, m) => s + m.stats.rateLimited, 0);
  const fulfilled = row.results.filter((r) => r.status === 'fulfilled');
  const durations = fulfilled.map((r) => r.durationMs).sort((a, b) => a - b);
  const seconds = (ms: number): string => (ms / 1000).toFixed(1);
  return `| ${row.name} | ${rate.toFixed(3)} | ${overLimit} | ${row.world.storm.count} | ${fulfilled.length}/${tasks} | ${seconds(percentile(durations, 0.5))} s | ${seconds(percentile(durations, 0.99))} s | ${(row.makespanMs / MINUTE).toFixed(2)} min |`;
}

export default function routerBench(args: string[]): void {
  const count = Number(args[0] ?? 3_000);
  const tasks = makeTasks(count);
  const charged = tasks.reduce((s, t) => s + countTokens(t.input as string) + (t.maxOutputTokens ?? 0), 0);
  console.log(
    `${count} tasks, ${charged} tokens charged at admission (input + max output), concurrency ${CONCURRENCY}, retries ${JSON.stringify(RETRY)}; deployments of ${LIMITS.map((l) => `${l / 1000}k`).join(', ')} tokens/min (summed ${SUMMED / 1000}k, strict 60 s windows); d${FLAKY} fails 30 % with 503; d${STORMY} answers only 429 (retry-after ${STORM_RETRY_AFTER_MS / 1000} s) from minute ${STORM_FROM / MINUTE} to ${STORM_FROM / MINUTE + 1}\n`,
  );
  console.log(
    '| contender | provider tokens/min ÷ summed limit | 429s over a limit | 429s of the storm | fulfilled | p50 task time | p99 task time | makespan |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const strategies: RouterStrategy[] = [
    'most-headroom',
    'least-busy',
    'lowest-latency',
    'lowest-cost',
    'weighted',
    'ordered',
  ];
  const rows = [
    ...strategies.map((strategy) => routerRow(strategy, tasks)),
    shuffleRow(tasks),
    aloneRow(tasks),
  ];
  for (const row of rows) console.log(report(row, count));
  const notes = LIMITS.map((limit, i) => {
    const note = i === FLAKY ? ', 30 % 503' : i === STORMY ? ', 429 storm' : '';
    return `d${i} (${limit / 1000}k${note})`;
  });
  console.log('\nEach deployment: provider tokens/min ÷ its limit, attempts sent to it\n');
  console.log(`| contender | ${notes.join(' | ')} |`);
  console.log(`|---|${notes.map(() => '---:').join('|')}|`);
  for (const row of rows.slice(0, -1)) {
    const lastAt = lastAdmission(row);
    const cells = row.world.models.map((model, i) => {
      const storm = i === STORMY ? row.world.storm.count : 0;
      return `${share(model.stats.admitted, lastAt, LIMITS[i] as number).toFixed(3)}, ${model.stats.requests + storm}`;
    });
    console.log(`| ${row.name} | ${cells.join(' | ')} |`);
  }
}
