// `npm run bench -- budget-scaling [--sizes 600,3000,12000,30000] [--rounds 5]`: the cost of one grant (acquire,
// then its refund) and of one refused acquire (its wait computed) against how many grants the sliding window
// already holds, in memoryStore and in redisStore on a real redis-server on loopback — the arithmetic every
// budget runs per request. High request rates fill the log: at 500 requests per second a minute holds 30,000
// entries.
import { firstValueFrom } from 'rxjs';
import { memoryStore } from '../src/budget/memory-store.js';
import type { BudgetSpec, BudgetStore } from '../src/budget/store.js';
import { limitSpec } from '../src/budget/token-bucket.js';
import { redisStore, type RedisStore } from '../src/redis/redis-store.js';
import { startRedis } from '../test/support/redis-process.js';
import { collectGarbage, conditions, listOption, median, numberOption, withSpread } from './_measure.js';

const SIZES = [600, 3_000, 12_000, 30_000];
/** Operations timed per run: memoryStore answers synchronously, redisStore after a round trip each. */
const MEMORY_OPS = 5_000;
const REDIS_OPS = 1_000;
/** Fill requests in flight at once, so 30,000 entries go in well within the 60 s window they live in. */
const FILL_BATCH = 500;

type Contender = 'memory grant' | 'memory wait' | 'redis grant' | 'redis wait';
const CONTENDERS: readonly Contender[] = ['memory grant', 'memory wait', 'redis grant', 'redis wait'];
/** Rows of the table: each contender's time in this process, and for Redis also the scripts' time in Redis. */
type Row = Contender | 'redis grant lua' | 'redis wait lua';
const ROWS: readonly Row[] = [
  'memory grant',
  'memory wait',
  'redis grant',
  'redis grant lua',
  'redis wait',
  'redis wait lua',
];
const LABELS: Readonly<Record<Row, string>> = {
  'memory grant': 'memoryStore: grant and refund',
  'memory wait': 'memoryStore: refused acquire (wait computed)',
  'redis grant': 'redisStore: grant and refund, client CPU',
  'redis grant lua': 'redisStore: grant and refund, Lua time in Redis',
  'redis wait': 'redisStore: refused acquire, client CPU',
  'redis wait lua': 'redisStore: refused acquire, Lua time in Redis',
};

/**
 * One request per grant. For grants the limit is twice the log, so every acquire is granted; for waits it is
 * the log's size, so every acquire is refused with the time until the oldest entry slides out.
 */
const requestsSpec = (limit: number): BudgetSpec => ({
  limits: [limitSpec('requests', limit, { burstMs: 60_000, sliding: true })],
});

async function fill(store: BudgetStore, key: string, spec: BudgetSpec, size: number): Promise<void> {
  for (let from = 0; from < size; from += FILL_BATCH) {
    const batch = [];
    for (let i = from; i < Math.min(size, from + FILL_BATCH); i++) {
      batch.push(
        firstValueFrom(store.acquire({ key, spec, id: `fill${i}`, amounts: { requests: 1 }, now: i })),
      );
    }
    await Promise.all(batch);
  }
}

/**
 * This process's CPU µs per grant and refund, or per refused acquire, against a log of `size` entries under
 * `key`; for a Redis store also the µs its scripts ran inside Redis (`INFO commandstats`). CPU time rather than
 * wall time: on a machine shared with other work, wall time mostly measures the wait for a core (and, for
 * Redis, round trips that scheduling stretches).
 */
async function measure(
  store: BudgetStore | RedisStore,
  key: string,
  size: number,
  wait: boolean,
  ops: number,
): Promise<{ micros: number; luaMicros: number }> {
  const spec = requestsSpec(wait ? size : size * 2);
  await fill(store, key, spec, size);
  const redis = 'client' in store ? store.client : undefined;
  await redis?.config('RESETSTAT');
  collectGarbage();
  const now = size;
  const start = process.cpuUsage();
  for (let i = 0; i < ops; i++) {
    const id = `g${i}`;
    const result = await firstValueFrom(store.acquire({ key, spec, id, amounts: { requests: 1 }, now }));
    if (result.granted === wait)
      throw new Error(`Expected ${wait ? 'a wait' : 'a grant'} at ${size} entries`);
    if (!wait)
      await firstValueFrom(store.adjust({ key, spec, id, delta: { requests: -1 }, now, final: true }));
  }
  const cpu = process.cpuUsage(start);
  const micros = (cpu.user + cpu.system) / ops;
  const stats = (await redis?.info('commandstats')) ?? '';
  const luaMicros = Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(stats)?.[1] ?? 0) / ops;
  return { micros, luaMicros };
}

async function pingMicros(store: RedisStore): Promise<number> {
  const times = [];
  for (let i = 0; i < REDIS_OPS; i++) {
    const start = performance.now();
    await store.client.ping();
    times.push((performance.now() - start) * 1_000);
  }
  return median(times);
}

export default async function budgetScaling(args: string[]): Promise<void> {
  const sizes = listOption(args, '--sizes', SIZES);
  const rounds = numberOption(args, '--rounds', 5);
  const server = await startRedis();
  const redis = redisStore({ url: server.url });
  try {
    const samples = new Map(ROWS.map((r) => [r, new Map<number, number[]>(sizes.map((s) => [s, []]))]));
    let keys = 0;
    // One warm-up round, not counted; the contenders take turns within each round and size.
    for (let round = 0; round <= rounds; round++) {
      for (const size of sizes) {
        for (let k = 0; k < CONTENDERS.length; k++) {
          const contender = CONTENDERS[(round + k) % CONTENDERS.length]!;
          const wait = contender.endsWith('wait');
          const key = `bench${++keys}`;
          const { micros, luaMicros } = contender.startsWith('memory')
            ? await measure(memoryStore(), key, size, wait, MEMORY_OPS)
            : await measure(redis, key, size, wait, REDIS_OPS);
          if (round > 0) {
            samples.get(contender)!.get(size)!.push(micros);
            if (contender.startsWith('redis'))
              samples
                .get(`${contender} lua` as Row)!
                .get(size)!
                .push(luaMicros);
          }
          // A measured key's log would sit in Redis until the end; nothing else lives there.
          if (contender.startsWith('redis')) await redis.client.flushdb();
        }
      }
    }
    console.log(`${conditions()}; median (min–max) of ${rounds} rounds`);
    console.log(`Redis round trip (PING) on loopback: ${(await pingMicros(redis)).toFixed(1)} µs median\n`);
    console.log(
      `| µs per operation, by entries in the window | ${sizes.map((s) => s.toLocaleString('en-US')).join(' | ')} |`,
    );
    console.log(`|---|${sizes.map(() => '---:').join('|')}|`);
    for (const row of ROWS) {
      const cells = sizes.map((size) => withSpread(samples.get(row)!.get(size)!, 1));
      console.log(`| ${LABELS[row]} | ${cells.join(' | ')} |`);
    }
  } finally {
    await redis.close();
    await server.close();
  }
}
