// One worker: takes tasks from the shared stream when it has room, runs them through the shared Redis
// budget, writes results and acknowledges. Exits when the queue is empty. Needs REDIS_URL, PREFIX, NAME.
import { lastValueFrom, tap } from 'rxjs';
import { createBudget, estimateTokens, pool, simulatedModel, throttleBudget } from 'rxagent';
import { fromRedisStream, redisStore, toRedisStream } from 'rxagent/redis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.PREFIX ?? 'scale-out:';
const name = process.env.NAME ?? `worker-${process.pid}`;
const tasks = `${prefix}tasks`;

const store = redisStore({ url, prefix: `${prefix}budget:` });
// Every worker names the same key: one budget of 20,000 tokens a minute across all of them.
const budget = createBudget({ tokensPerMinute: 20_000, store, key: 'provider' });
const agent = simulatedModel({ seed: 7, latency: { minMs: 50, maxMs: 200 }, tokensPerSecond: 400 });

let done = 0;
await lastValueFrom(
  fromRedisStream({
    url,
    stream: tasks,
    group: 'workers',
    consumer: name,
    blockMs: 200,
    stopWhenEmpty: true,
  }).pipe(
    pool(
      (task, { signal }) =>
        agent.run(task, { signal }).pipe(throttleBudget(budget, { cost: estimateTokens(task) })),
      {
        concurrency: 4,
      },
    ),
    toRedisStream({ url, stream: `${prefix}results`, ack: { stream: tasks, group: 'workers' } }),
    tap((event) => {
      if (event.type === 'settled') done++;
    }),
  ),
  { defaultValue: undefined },
);
console.log(`${name}: settled ${done} tasks`);
await store.close();
