// Hedged requests against the long tail of time to first token, in virtual time. A simulated provider answers
// its first token in 300–900 ms, but 2 % of requests straggle 10×–30× longer; it allows 3,000 requests a
// minute, and runAgents keeps to that with a budget. Tasks arrive as a Poisson stream at 40 a second (2,400 a
// minute, so hedges have room under the limit), concurrency 128. Side by side: no hedging, and `hedge` at
// several delays with the default cap of 5 % extra requests. Time to first token is counted from the task's
// start in the pool to its first delta, budget waits included: what a user waits.
// `npm run bench -- hedge [tasks] [--rate tasks-per-second]`.
import { Observable, VirtualTimeScheduler, type Subscription } from 'rxjs';
import { createBudget } from '../src/budget/create-budget.js';
import type { Task } from '../src/core/types.js';
import { mulberry32 } from '../src/models/simulated-random.js';
import { simulatedModel, type SimulatedAgent } from '../src/models/simulated.js';
import { runAgents, type HedgeConfig } from '../src/operators/run-agents.js';
import { numberOption, percentile } from './_measure.js';

const CONCURRENCY = 128;
const REQUESTS_PER_MINUTE = 3_000;
const STRAGGLERS = { rate: 0.02, slowdown: [10, 30] } as const;

interface Row {
  readonly name: string;
  readonly model: SimulatedAgent;
  /** Time to first token of each task that produced one, sorted. */
  readonly ttft: readonly number[];
  readonly hedges: number;
  readonly fulfilled: number;
}

/**
 * Tasks arriving as a Poisson stream at `rate` a second: seeded, so every row sees the same arrivals. One
 * pending action at a time, each scheduled afresh: a virtual-time scheduler sorts its whole queue on every
 * action scheduled, and an action rescheduling itself nests one subscription in the last.
 */
function arrivals(count: number, rate: number, scheduler: VirtualTimeScheduler): Observable<Task> {
  return new Observable<Task>((subscriber) => {
    const random = mulberry32(42);
    const gap = (): number => (-Math.log(1 - random()) / rate) * 1000;
    let pending: Subscription | undefined;
    const arrive = (i: number): void => {
      subscriber.next({ id: `t${i}`, input: `Question ${i}: what makes a tail long?` });
      if (i + 1 < count)
        pending = scheduler.schedule(() => {
          arrive(i + 1);
        }, gap());
      else subscriber.complete();
    };
    pending = scheduler.schedule(() => {
      arrive(0);
    }, gap());
    return () => pending?.unsubscribe();
  });
}

function run(name: string, count: number, rate: number, hedge: HedgeConfig | undefined): Row {
  const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
  const model = simulatedModel({
    seed: 7,
    scheduler,
    latency: { minMs: 300, maxMs: 900 },
    tokensPerSecond: 50,
    stragglers: STRAGGLERS,
    rateLimit: { requestsPerMinute: REQUESTS_PER_MINUTE },
  });
  const budget = createBudget({ requestsPerMinute: REQUESTS_PER_MINUTE, scheduler });
  const started = new Map<string, number>();
  const ttft: number[] = [];
  let hedges = 0;
  let fulfilled = 0;
  arrivals(count, rate, scheduler)
    .pipe(
      runAgents(model, {
        concurrency: CONCURRENCY,
        budget,
        // The budget counts requests only: no tokenizer needed.
        estimate: () => 0,
        scheduler,
        ...(hedge === undefined ? {} : { hedge }),
      }),
    )
    .subscribe((event) => {
      const now = scheduler.now();
      if (event.type === 'started') started.set(event.taskId, now);
      else if (event.type === 'hedge') hedges++;
      else if (event.type === 'delta' && event.seq === 0) {
        ttft.push(now - (started.get(event.taskId) ?? now));
      } else if (event.type === 'settled' && event.result.status === 'fulfilled') fulfilled++;
    });
  scheduler.flush();
  return { name, model, ttft: ttft.sort((a, b) => a - b), hedges, fulfilled };
}

export default function hedgeBench(args: string[]): void {
  const count = Number(args[0] ?? 20_000);
  const rate = numberOption(args, '--rate', 40);
  const wall = performance.now();
  console.log(
    `${count} tasks arriving at ${rate}/s (Poisson), concurrency ${CONCURRENCY}; provider: first token 300–900 ms, ${STRAGGLERS.rate * 100} % stragglers ×${STRAGGLERS.slowdown.join('–')}, 50 tokens/s, ${REQUESTS_PER_MINUTE} requests/min (strict 60 s window) with a budget of the same; virtual time\n`,
  );
  const rows = [
    run('no hedging', count, rate, undefined),
    run("hedge: { after: 'p90' }", count, rate, { after: 'p90' }),
    run("hedge: { after: 'p95' }", count, rate, { after: 'p95' }),
    run("hedge: { after: 'p99' }", count, rate, { after: 'p99' }),
    run('hedge: { after: 1000 }', count, rate, { after: 1000 }),
  ];
  const base = rows[0] as Row;
  const p99 = (row: Row): number => percentile(row.ttft, 0.99);
  // A budget's waits come out in fractions of a millisecond.
  const ms = (value: number): string => `${Math.round(value).toLocaleString('en-US')} ms`;
  console.log(
    '| contender | p50 time to first token | p99 | p99.9 | p99 vs no hedging | extra requests | 429s | fulfilled |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const cut = row === base ? '—' : `${((1 - p99(row) / p99(base)) * 100).toFixed(0)} % lower`;
    const extra = `${row.hedges} (${((row.hedges / count) * 100).toFixed(1)} %)`;
    console.log(
      `| ${row.name} | ${ms(percentile(row.ttft, 0.5))} | ${ms(p99(row))} | ${ms(percentile(row.ttft, 0.999))} | ${cut} | ${extra} | ${row.model.stats.rateLimited} | ${row.fulfilled}/${count} |`,
    );
  }
  console.log(`\n(${((performance.now() - wall) / 1000).toFixed(1)} s of wall time for all rows)`);
}
