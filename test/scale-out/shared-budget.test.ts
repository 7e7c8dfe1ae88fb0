import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { describeRedis, useRedis, type RedisServer } from '../support/redis-server.js';
import { killAll, maxInWindow, startChild, stopAll, type Child } from './fixtures/children.js';

const LIMIT = 6_000;
const WINDOW_MS = 2_000;
/** One second of the per-minute rate: the bucket's burst. */
const BURST = LIMIT / 60;

let server: RedisServer;
let redis: Redis;
const children: Child[] = [];

describeRedis('four worker processes sharing a 6,000 tokens/minute budget (a minute scaled to 2 s)', () => {
  useRedis((s, r) => {
    server = s;
    redis = r;
  });
  afterAll(async () => {
    await killAll(children);
  });

  it('never grants more than the limit plus one burst in any window, by the Redis clock', async () => {
    const env = {
      REDIS_URL: server.url,
      PREFIX: 'shared:',
      LIMIT: String(LIMIT),
      WINDOW_MS: String(WINDOW_MS),
    };
    for (let i = 0; i < 4; i++)
      children.push(startChild('budget-worker', { ...env, REQUEST: String(50 + 25 * i), CONCURRENCY: '3' }));
    // Two and a half windows' worth of grants: several windows fully contended.
    const audit = 'shared:{shared}:audit';
    const target = (LIMIT * 2.5) / 87.5;
    let count = 0;
    while (count < target) {
      await redis.xread('BLOCK', 5_000, 'STREAMS', audit, '$');
      count = await redis.xlen(audit);
    }
    await stopAll(children, 5_000);
    const grants = (await redis.xrange(audit, '-', '+'))
      .map(
        ([, fields]) =>
          Object.fromEntries(fields.flatMap((v, i, all) => (i % 2 === 0 ? [[v, all[i + 1]]] : []))) as Record<
            string,
            string
          >,
      )
      .filter((f) => f.kind === 'grant');
    const events = grants.map((f) => ({ t: Number(f.at), amount: Number(f.tokens) }));
    const busiest = maxInWindow(events, WINDOW_MS);
    expect(busiest).toBeLessThanOrEqual(LIMIT + BURST);
    // The workers really contended: some window reached the limit, and every process had grants.
    expect(busiest).toBeGreaterThan(LIMIT * 0.9);
    const processes = new Set(grants.map((f) => (f.id ?? '').split('/')[0]));
    expect(processes.size).toBe(4);
  }, 30_000);
});
