import { afterEach, beforeEach, expect, it } from 'vitest';
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
    await server.stop();
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
});
