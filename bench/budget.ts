// Token-rate budgets against a provider that enforces a strict 60 s sliding window of L tokens per minute.
// rxagent runs in virtual time against simulatedModel; p-queue and bottleneck run in accelerated real time
// (one "minute" lasts 60 s / SCALE) against the same sliding-window code. `npm run bench -- budget [tasks]`.
import Bottleneck from 'bottleneck';
import PQueue from 'p-queue';
import { VirtualTimeScheduler, catchError, defer, from, last, mergeMap, timer, type Observable } from 'rxjs';
import { createBudget } from '../src/budget/create-budget.js';
import { estimateTokens } from '../src/budget/estimate.js';
import { textOf } from '../src/core/agent-event.js';
import { RateLimitError } from '../src/core/errors/index.js';
import type { AgentEvent, Task } from '../src/core/types.js';
import { simulatedModel } from '../src/models/simulated.js';
import { countTokens } from '../src/models/simulated-text.js';
import { slidingWindow, type AdmittedRequest } from '../src/models/simulated-window.js';
import { runAgents } from '../src/operators/run-agents.js';
import { throttleBudget } from '../src/operators/throttle-budget.js';

const L = 200_000;
const MINUTE = 60_000;
const SCALE = 60;
const CONCURRENCY = 50;

interface Row {
  readonly name: string;
  readonly admitted: readonly AdmittedRequest[];
  readonly rateLimited: number;
  readonly makespanMs: number;
}

function makeTasks(count: number): Task[] {
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: count }, (_, i) => ({
    id: `t${i}`,
    input: 'word '.repeat(20 + Math.floor(random() * 200)),
    // Output reserved per task; what the model really writes differs from it (see `outputTokens` below).
    maxOutputTokens: 200 + Math.floor(random() * 400),
  }));
}

// What the provider charges at admission: ceil(characters / 4) + maxOutputTokens.
const estimate = (task: Task): number => estimateTokens(task, { countTokens });

/** The provider every rxagent row runs against, in virtual time: a strict window of L tokens a minute. */
function provider(scheduler: VirtualTimeScheduler) {
  // Real output is a fixed 300 tokens: −50 % to +50 % of what the tasks reserve.
  return simulatedModel({
    seed: 1,
    scheduler,
    rateLimit: { tokensPerMinute: L },
    outputTokens: 300,
    tokensPerSecond: 200,
  });
}

function rxagent(tasks: readonly Task[]): Row {
  const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
  const model = provider(scheduler);
  const budget = createBudget({ tokensPerMinute: L, scheduler });
  const attempt = (task: Task): Observable<AgentEvent> =>
    defer(() => model.run(task, { signal: new AbortController().signal })).pipe(
      throttleBudget(budget, { cost: estimate(task) }),
      catchError((error: unknown) =>
        error instanceof RateLimitError
          ? timer(error.retryAfterMs, scheduler).pipe(mergeMap(() => attempt(task)))
          : Promise.reject(error as Error),
      ),
    );
  let end = 0;
  from(tasks)
    .pipe(
      mergeMap((task) => attempt(task), CONCURRENCY),
      last(),
    )
    .subscribe({ complete: () => (end = scheduler.now()) });
  scheduler.flush();
  return {
    name: 'rxagent createBudget + throttleBudget',
    admitted: model.stats.admitted,
    rateLimited: model.stats.rateLimited,
    makespanMs: end,
  };
}

// A provider in scaled real time: same window, same charge, same run length as simulatedModel at 200 tokens/s.
function realTimeProvider() {
  const window = slidingWindow({ tokensPerMinute: L });
  const admitted: AdmittedRequest[] = [];
  const start = performance.now();
  let rateLimited = 0;
  const now = (): number => (performance.now() - start) * SCALE;
  const sleep = (virtualMs: number) => new Promise((resolve) => setTimeout(resolve, virtualMs / SCALE));
  const run = async (task: Task): Promise<void> => {
    const tokens = estimate(task);
    const at = now();
    const admission = window.admit(at, { taskId: task.id, tokens });
    if (!admission.admitted) {
      rateLimited++;
      throw new RateLimitError({
        limit: 'tokens',
        retryAfterMs: 'retryAfterMs' in admission ? admission.retryAfterMs : MINUTE,
        message: '429',
      });
    }
    admitted.push({ at, taskId: task.id, tokens });
    await sleep(400 + 300 * 5);
  };
  return { run, now, sleep, stats: () => ({ admitted, rateLimited }) };
}

async function withRetries(
  provider: ReturnType<typeof realTimeProvider>,
  schedule: (task: Task) => Promise<void>,
  task: Task,
): Promise<void> {
  try {
    await schedule(task);
  } catch (error) {
    if (!(error instanceof RateLimitError)) throw error;
    await provider.sleep(error.retryAfterMs);
    await withRetries(provider, schedule, task);
  }
}

async function pQueue(tasks: readonly Task[]): Promise<Row> {
  const provider = realTimeProvider();
  const average = tasks.reduce((s, t) => s + estimate(t), 0) / tasks.length;
  const queue = new PQueue({
    concurrency: CONCURRENCY,
    intervalCap: Math.floor(L / average),
    interval: MINUTE / SCALE,
  });
  const schedule = (task: Task) => queue.add(() => provider.run(task));
  await Promise.all(tasks.map((task) => withRetries(provider, schedule, task)));
  return {
    name: 'p-queue (intervalCap = L ÷ mean estimate)',
    ...provider.stats(),
    makespanMs: provider.now(),
  };
}

async function bottleneck(tasks: readonly Task[]): Promise<Row> {
  const provider = realTimeProvider();
  const limiter = new Bottleneck({
    // `weight` also counts against `maxConcurrent`, so a concurrency cap cannot be combined with token weights.
    maxConcurrent: null,
    reservoir: L,
    reservoirRefreshAmount: L,
    reservoirRefreshInterval: MINUTE / SCALE,
  });
  const schedule = (task: Task) => limiter.schedule({ weight: estimate(task) }, () => provider.run(task));
  await Promise.all(tasks.map((task) => withRetries(provider, schedule, task)));
  await limiter.stop({ dropWaitingJobs: false });
  return {
    name: 'bottleneck (reservoir = L, weight = estimate)',
    ...provider.stats(),
    makespanMs: provider.now(),
  };
}

function maxWindow(admitted: readonly AdmittedRequest[]): number {
  let max = 0;
  let sum = 0;
  let tail = 0;
  for (const entry of admitted) {
    sum += entry.tokens;
    while ((admitted[tail] as AdmittedRequest).at + MINUTE <= entry.at)
      sum -= (admitted[tail++] as AdmittedRequest).tokens;
    max = Math.max(max, sum);
  }
  return max;
}

/** Anthropic-style limits: a strict window of input tokens (ITPM) and one of output tokens (OTPM). */
const ITPM = 100_000;
const OTPM = 40_000;

/**
 * A provider enforcing ITPM and OTPM apart, as Anthropic documents them: the output cap (`max_tokens`) is
 * charged to OTPM at admission and adjusted to the real output at the end. The budget declares the same two
 * limits; `burst` is the smoothing bucket's size in seconds.
 */
function anthropicStyle(tasks: readonly Task[], burst: number) {
  const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
  const model = simulatedModel({
    seed: 1,
    scheduler,
    rateLimit: { inputTokensPerMinute: ITPM, outputTokensPerMinute: OTPM },
    outputTokens: 300,
    tokensPerSecond: 200,
  });
  const budget = createBudget({ inputTokensPerMinute: ITPM, outputTokensPerMinute: OTPM, burst, scheduler });
  let end = 0;
  from(tasks)
    .pipe(
      runAgents(model, { concurrency: CONCURRENCY, budget, estimate, retry: { maxRetries: 5 }, scheduler }),
    )
    .subscribe({ complete: () => (end = scheduler.now()) });
  scheduler.flush();
  const { admitted, rateLimited } = model.stats;
  const input = admitted.reduce((s, e) => s + (e.inputTokens ?? 0), 0);
  const output = admitted.reduce((s, e) => s + (e.outputTokens ?? 0), 0);
  const last = admitted.at(-1)?.at ?? end;
  const minutes = Math.max(last, 1) / MINUTE;
  const bound = Math.max(input / ITPM, output / OTPM) * MINUTE;
  return {
    rateLimited,
    input: input / minutes / ITPM,
    output: output / minutes / OTPM,
    busiestInput: maxWindow(admitted.map((e) => ({ ...e, tokens: e.inputTokens ?? 0 }))) / ITPM,
    busiestOutput: maxWindow(admitted.map((e) => ({ ...e, tokens: e.outputTokens ?? 0 }))) / OTPM,
    makespan: end / bound,
  };
}

function anthropicRows(tasks: readonly Task[]): void {
  console.log(
    `\nAnthropic-style provider: strict 60 s windows of ITPM = ${ITPM} input and OTPM = ${OTPM} output tokens (cap charged at admission, adjusted to the real output at the end), createBudget({ inputTokensPerMinute, outputTokensPerMinute, burst }) + runAgents, c = ${CONCURRENCY}, virtual time\n`,
  );
  console.log(
    '| burst | input/min ÷ ITPM | output/min ÷ OTPM | busiest 60 s input ÷ ITPM | busiest 60 s output ÷ OTPM | 429s | makespan ÷ lower bound |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const burst of [60, 1]) {
    const r = anthropicStyle(tasks, burst);
    console.log(
      `| ${burst} s | ${r.input.toFixed(3)} | ${r.output.toFixed(3)} | ${r.busiestInput.toFixed(3)} | ${r.busiestOutput.toFixed(3)} | ${r.rateLimited} | ${r.makespan.toFixed(3)} |`,
    );
  }
}

/**
 * `runAgents` with its budget over a grid: estimators off from the provider's count by −10 % to +10 %, and
 * concurrencies, output reserves and bursts, each a whole batch in virtual time against the strict window.
 */
function grid(tasks: readonly Task[]): void {
  console.log(
    '\nrunAgents + createBudget over a grid (each cell a batch of the tasks above, in virtual time)\n',
  );
  console.log('| estimator error | concurrency | burst | 429s | makespan ÷ lower bound |');
  console.log('|---|---|---|---|---|');
  for (const bias of [-0.1, -0.02, 0, 0.05, 0.1]) {
    for (const concurrency of [5, 20, 100]) {
      for (const burst of [1, 5]) {
        const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
        const model = provider(scheduler);
        const budget = createBudget({ tokensPerMinute: L, burst, scheduler });
        const off = (task: Task): number =>
          Math.round(countTokens(textOf(task)) * (1 + bias)) + (task.maxOutputTokens ?? 0);
        let end = 0;
        from(tasks)
          .pipe(runAgents(model, { concurrency, budget, estimate: off, retry: { maxRetries: 5 }, scheduler }))
          .subscribe({ complete: () => (end = scheduler.now()) });
        scheduler.flush();
        const charged = model.stats.admitted.reduce((s, e) => s + e.tokens, 0);
        const bound = (charged / L) * MINUTE;
        const sign = bias > 0 ? '+' : '';
        console.log(
          `| ${sign}${(bias * 100).toFixed(0)} % | ${concurrency} | ${burst} s | ${model.stats.rateLimited} | ${(end / bound).toFixed(3)} |`,
        );
      }
    }
  }
}

export default async function budgetBench(args: string[]): Promise<void> {
  const count = Number(args[0] ?? 2000);
  const tasks = makeTasks(count);
  const total = tasks.reduce((s, t) => s + estimate(t), 0);
  const lowerBoundMs = (total / L) * MINUTE;
  const rows = [rxagent(tasks), await pQueue(tasks), await bottleneck(tasks)];
  console.log(
    `${count} tasks, ${total} tokens charged at admission, L = ${L} tokens/min (strict 60 s sliding window); lower bound ${(lowerBoundMs / MINUTE).toFixed(2)} min\n`,
  );
  console.log('| contender | provider tokens/min ÷ L | busiest 60 s ÷ L | 429s | makespan ÷ lower bound |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    const counted = row.admitted.reduce((s, e) => s + e.tokens, 0);
    const last = row.admitted.at(-1)?.at ?? row.makespanMs;
    const rate = counted / (Math.max(last, 1) / MINUTE) / L;
    console.log(
      `| ${row.name} | ${rate.toFixed(3)} | ${(maxWindow(row.admitted) / L).toFixed(3)} | ${row.rateLimited} | ${(row.makespanMs / lowerBoundMs).toFixed(3)} |`,
    );
  }
  grid(tasks);
  anthropicRows(tasks);
}
