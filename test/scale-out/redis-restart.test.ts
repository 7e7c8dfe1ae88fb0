import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeRedis, startRedis, type RedisServer } from '../support/redis-server.js';
import { grantsOf, killAll, maxInWindow, startChild, stopAll, type Child } from './fixtures/children.js';

const LIMIT = 6_000;
const BURST = LIMIT / 60;

let server: RedisServer;
let children: Child[] = [];

const outage = async (ms: number): Promise<{ downAt: number; upAt: number }> => {
  await server.stop();
  const downAt = Date.now();
  // The outage's length is the scenario, not a wait for something to happen.
  await new Promise((resolve) => setTimeout(resolve, ms));
  const upAt = Date.now();
  await server.start();
  return { downAt, upAt };
};

const grantedAfter =
  (t: number) =>
  (line: string): boolean =>
    line.includes('"tokens"') && (JSON.parse(line) as { t: number }).t > t;

describeRedis('Redis restarted mid-run', () => {
  beforeEach(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await killAll(children);
    children = [];
    await server.close();
  });

  it('fail-closed: grants nothing while Redis is down, and resumes once it is back', async () => {
    const env = {
      REDIS_URL: server.url,
      PREFIX: 'closed:',
      LIMIT: String(LIMIT),
      WINDOW_MS: '1500',
      REQUEST: '100',
      WAIT_MS: '20000',
    };
    children = [0, 1, 2].map(() => startChild('budget-worker', env));
    await Promise.all(children.map((c) => c.waitFor(grantedAfter(0), 15_000)));
    const { downAt, upAt } = await outage(1_000);
    await Promise.all(children.map((c) => c.waitFor(grantedAfter(upAt), 15_000)));
    await stopAll(children, 5_000);
    const grants = children.flatMap(grantsOf);
    // A grant answered just before the server died may be read a moment later.
    expect(grants.filter((g) => g.t > downAt + 250 && g.t < upAt)).toEqual([]);
    expect(children.flatMap((c) => c.lines).filter((l) => l.includes('"error"'))).toEqual([]);
    // Buckets lost with the restart start paused until the grants before it have left the window.
    expect(
      maxInWindow(
        grants.map((g) => ({ t: g.t, amount: g.tokens })),
        1_500,
      ),
    ).toBeLessThanOrEqual(LIMIT + BURST);
  }, 40_000);

  it('fallback: grants 1/N per process during a long outage, never more than the limit across processes', async () => {
    const windowMs = 1_000;
    const env = {
      REDIS_URL: server.url,
      PREFIX: 'fallback:',
      LIMIT: String(LIMIT),
      WINDOW_MS: String(windowMs),
      REQUEST: '100',
      FALLBACK_PROCESSES: '3',
    };
    children = [0, 1, 2].map(() => startChild('budget-worker', env));
    await Promise.all(children.map((c) => c.waitFor(grantedAfter(0), 15_000)));
    const { downAt, upAt } = await outage(2_500);
    await Promise.all(children.map((c) => c.waitFor(grantedAfter(upAt + 1_500), 15_000)));
    await stopAll(children, 5_000);
    const grants = children.flatMap(grantsOf);
    expect(grants.filter((g) => g.t > downAt + 50 && g.t < upAt).length).toBeGreaterThan(0);
    expect(
      maxInWindow(
        grants.map((g) => ({ t: g.t, amount: g.tokens })),
        windowMs,
      ),
    ).toBeLessThanOrEqual(LIMIT + BURST);
    expect(children.flatMap((c) => c.lines).filter((l) => l.includes('"error"'))).toEqual([]);
  }, 40_000);

  describe('the work queue', () => {
    const TASKS = 200;
    let redis: Redis | undefined;
    afterEach(() => {
      redis?.disconnect();
    });

    /** Three worker processes take TASKS tasks; Redis restarts once each of them has started a few. */
    const runAcrossRestart = async (): Promise<{ codes: (number | null)[]; stored: string[] }> => {
      const client = new Redis(server.url);
      redis = client;
      client.on('error', () => undefined);
      const adding = client.pipeline();
      for (let i = 0; i < TASKS; i++)
        adding.xadd('tasks', '*', 'task', JSON.stringify({ id: `t${i}`, input: `prompt ${i}` }));
      await adding.exec();
      const env = { REDIS_URL: server.url, RUN_MS: '20', CLAIM_IDLE_MS: '5000' };
      children = ['w0', 'w1', 'w2'].map((name) => startChild('stream-worker', { ...env, CONSUMER: name }));
      const startedThree = (c: Child) => (line: string) =>
        line.startsWith('started') && c.lines.filter((l) => l.startsWith('started')).length >= 3;
      await Promise.all(children.map((c) => c.waitFor(startedThree(c), 15_000)));
      await server.restart();
      const codes = await Promise.all(children.map((c) => c.exited));
      const stored = (await client.xrange('results', '-', '+')).map(([, fields]) => fields[1] ?? '');
      return { codes, stored };
    };
    const startedIds = (): string[] =>
      children.flatMap((c) => c.lines.filter((l) => l.startsWith('started ')).map((l) => l.slice(8)));

    it('without persistence, every worker survives, only what they held is written, and the loss is reported', async () => {
      const { codes, stored } = await runAcrossRestart();
      expect(codes).toEqual([0, 0, 0]);
      // What survives is what the workers held: two running tasks each at most, and one result whose write
      // Redis took without answering, sent again once it is back.
      expect(new Set(stored).size).toBe(stored.length);
      expect(stored.length).toBeLessThanOrEqual(9);
      expect(startedIds()).toEqual(expect.arrayContaining(stored));
      expect(
        children.flatMap((c) => c.lines).filter((l) => l.startsWith('group lost')).length,
      ).toBeGreaterThan(0);
      expect(await redis?.xpending('tasks', 'workers')).toEqual([0, null, null, null]);
    }, 30_000);

    it('with an append-only file, every task has exactly one result and nothing is reported', async () => {
      await server.close();
      server = await startRedis({ appendfsync: 'always' });
      const { codes, stored } = await runAcrossRestart();
      expect(codes).toEqual([0, 0, 0]);
      expect(stored).toHaveLength(TASKS);
      expect(new Set(stored).size).toBe(TASKS);
      expect(children.flatMap((c) => c.lines).filter((l) => l.startsWith('group lost'))).toEqual([]);
      expect(await redis?.xpending('tasks', 'workers')).toEqual([0, null, null, null]);
    }, 30_000);
  });
});
