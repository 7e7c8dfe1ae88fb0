import { Redis } from 'ioredis';
import { filter, firstValueFrom, from, lastValueFrom, of, startWith, Subject, tap } from 'rxjs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { DEFAULT_BUDGET_PREFIX, budgetKeys } from '../../src/redis/keys.js';
import { redisStore, type RedisStore } from '../../src/redis/redis-store.js';
import type { BudgetSpec } from '../../src/budget/store.js';
import { limitSpec } from '../../src/budget/token-bucket.js';
import {
  BudgetExhaustedError,
  StoreUnavailableError,
  type RxAgentError,
} from '../../src/core/errors/index.js';
import type { Agent, TaskEvent } from '../../src/core/types.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { describeRedis, startRedis, type RedisServer } from '../support/redis-server.js';

const WINDOW = 60_000;
/** 1,000 tokens a minute, all of it burstable, so counts are exact. */
const spec: BudgetSpec = {
  limits: [limitSpec('tokens', 1_000, { burstMs: WINDOW, sliding: true })],
};

let server: RedisServer;
let admin: Redis;
const stores: RedisStore[] = [];
let keys = 0;

const open = (config: Partial<Parameters<typeof redisStore>[0]> = {}): RedisStore => {
  const store = redisStore({ url: server.url, ...config });
  stores.push(store);
  return store;
};

/** Resolves when the store's connection has noticed the server is gone. */
const noticedDown = (store: RedisStore): Promise<void> =>
  new Promise((resolve) => {
    if (store.client.status !== 'ready') resolve();
    else store.client.once('close', resolve);
  });

/** The Redis server's time in ms, the clock the scripts read. */
const serverNow = async (): Promise<number> => {
  const [seconds, micros] = await admin.time();
  return Number(seconds) * 1_000 + Number(micros) / 1_000;
};

/**
 * Moves entry `index` of budget `k`'s tokens log to `ageMs` before now. Redis's clock (`TIME`) cannot be moved
 * and a test must not wait out a minute's window, so this rewrites the `at` of a stored `at|amount|id` entry:
 * the one detail of the store's layout these tests rely on.
 */
const backdate = async (k: string, index: number, ageMs: number): Promise<void> => {
  const log = budgetKeys(DEFAULT_BUDGET_PREFIX, k)[3];
  const entry = (await admin.lindex(log, index)) ?? '';
  const at = (await serverNow()) - ageMs;
  await admin.lset(log, index, `${at}${entry.slice(entry.indexOf('|'))}`);
};

/** The times of budget `k`'s tokens log entries, as stored (oldest first). */
const logTimes = async (k: string): Promise<number[]> =>
  (await admin.lrange(budgetKeys(DEFAULT_BUDGET_PREFIX, k)[3], 0, -1)).map((e) => Number(e.split('|')[0]));

describeRedis('redisStore', () => {
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    // The tests stop the server; the admin connection just reconnects.
    admin.on('error', () => undefined);
  });
  afterEach(async () => {
    await server.start();
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    admin.disconnect();
    await server.close();
  });

  const key = (): string => `k${++keys}`;

  it('validates its config at creation', () => {
    expect(() => redisStore({})).toThrow(
      'One and only one of the `client` or `url` options must be given to redisStore, got neither',
    );
    expect(() => redisStore({ url: 'http://x' })).toThrow('Expected `url` to be a redis:// or rediss:// URL');
    expect(() => redisStore({ url: 'redis://x', unavailable: { waitMs: -1 } })).toThrow(
      'Expected `unavailable.waitMs` to be a finite number from 0 and up, got -1 (number)',
    );
    expect(() => redisStore({ url: 'redis://x', unavailable: { fallback: { processes: 0 } } })).toThrow(
      'Expected `unavailable.fallback.processes` to be an integer from 1 and up, got 0 (number)',
    );
    expect(() => redisStore({ url: 'redis://x', prefx: 'a' } as never)).toThrow('Unknown option `prefx`');
  });

  it('grants up to the limit, then answers how long until the oldest grant slides out', async () => {
    const store = open();
    const k = key();
    for (let i = 0; i < 10; i++) {
      expect(
        await firstValueFrom(store.acquire({ key: k, spec, id: `r${i}`, amounts: { tokens: 100 }, now: 0 })),
      ).toEqual({
        granted: true,
      });
    }
    const refused = await firstValueFrom(
      store.acquire({ key: k, spec, id: 'r10', amounts: { tokens: 100 }, now: 0 }),
    );
    expect(refused.granted).toBe(false);
    expect('waitMs' in refused && refused.waitMs).toBeGreaterThan(WINDOW - 5_000);
    expect('waitMs' in refused && refused.waitMs).toBeLessThanOrEqual(WINDOW);
    expect(
      await firstValueFrom(store.acquire({ key: k, spec, id: 'big', amounts: { tokens: 1_001 }, now: 0 })),
    ).toEqual({
      granted: false,
      never: 'exceeds-capacity',
      limit: 'tokens',
    });
  });

  it('shares one budget atomically across connections', async () => {
    const k = key();
    const a = open();
    const b = open();
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        firstValueFrom(
          (i % 2 === 0 ? a : b).acquire({ key: k, spec, id: `r${i}`, amounts: { tokens: 10 }, now: 0 }),
        ),
      ),
    );
    expect(results.filter((r) => r.granted)).toHaveLength(100);
    const view = await firstValueFrom(a.view({ key: k, spec, now: 0 }));
    expect(view.available.tokens).toBeLessThan(1e-6);
  });

  it('keeps the budgets of one store apart: a key it has not used yet is not taken for a lost one', async () => {
    const store = open();
    const first = key();
    const second = key();
    for (const k of [first, second, first, second]) {
      expect(
        await firstValueFrom(store.acquire({ key: k, spec, id: `r-${k}`, amounts: { tokens: 1 }, now: 0 })),
      ).toEqual({ granted: true });
    }
  });

  it('lets calls made before the first connection wait on one listener, not one each', async () => {
    const store = open();
    expect(store.client.status).not.toBe('ready');
    const k = key();
    const calls = Array.from({ length: 50 }, (_, i) =>
      firstValueFrom(store.acquire({ key: k, spec, id: `r${i}`, amounts: { tokens: 1 }, now: 0 })),
    );
    // The store's own 'ready' handler, and the one the 50 waiting calls share.
    expect(store.client.listenerCount('ready')).toBe(2);
    expect((await Promise.all(calls)).every((r) => r.granted)).toBe(true);
  });

  it('refunds and charges reservations, counting money until they are final', async () => {
    const store = open();
    const k = key();
    const priced: BudgetSpec = { ...spec, maxTotalCost: 1 };
    await firstValueFrom(
      store.acquire({ key: k, spec: priced, id: 'a', amounts: { tokens: 600, cost: 0.6 }, now: 0 }),
    );
    await lastValueFrom(
      store.adjust({
        key: k,
        spec: priced,
        id: 'a',
        delta: { tokens: -400, cost: -0.2 },
        now: 0,
        final: false,
      }),
    );
    let view = await firstValueFrom(store.view({ key: k, spec: priced, now: 0 }));
    expect(view.available.tokens).toBeCloseTo(800, 6);
    expect(view.spent).toBeCloseTo(0.4, 9);
    await lastValueFrom(
      store.adjust({ key: k, spec: priced, id: 'a', delta: { tokens: 100, cost: 0.6 }, now: 0, final: true }),
    );
    view = await firstValueFrom(store.view({ key: k, spec: priced, now: 0 }));
    expect(view.available.tokens).toBeCloseTo(700, 6);
    expect(
      await firstValueFrom(
        store.acquire({ key: k, spec: priced, id: 'b', amounts: { tokens: 1, cost: 0 }, now: 0 }),
      ),
    ).toEqual({
      granted: false,
      never: 'max-total-cost',
    });
  });

  it("waits for what refunds left in a reservation's entries, and an entry leaves the window with just that", async () => {
    const store = open();
    const k = key();
    const acquire = (id: string, tokens: number) =>
      firstValueFrom(store.acquire({ key: k, spec, id, amounts: { tokens }, now: 0 }));
    await acquire('a', 600);
    await lastValueFrom(
      store.adjust({ key: k, spec, id: 'a', delta: { tokens: -400 }, now: 0, final: true }),
    );
    await acquire('b', 300);
    await acquire('c', 500);
    // a (holding 200 of its 600) slides out in 20 s, b (300) in 30 s; the full window must free 300.
    await backdate(k, 0, 40_000);
    await backdate(k, 1, 30_000);
    const whileHeld = await acquire('d', 300);
    expect('waitMs' in whileHeld && whileHeld.waitMs).toBeGreaterThan(29_000);
    expect('waitMs' in whileHeld && whileHeld.waitMs).toBeLessThanOrEqual(30_000);
    // With a gone, 800 remain, so 300 more must still wait for b; the bucket alone would take 18 s.
    await backdate(k, 0, WINDOW + 1_000);
    const afterA = await acquire('d', 300);
    expect('waitMs' in afterA && afterA.waitMs).toBeGreaterThan(29_000);
    expect('waitMs' in afterA && afterA.waitMs).toBeLessThanOrEqual(30_000);
    // Once every entry has left, nothing of the reservations stays behind.
    await backdate(k, 0, WINDOW + 1_000);
    await backdate(k, 1, WINDOW + 1_000);
    await firstValueFrom(store.view({ key: k, spec, now: 0 }));
    expect(await admin.llen(budgetKeys(DEFAULT_BUDGET_PREFIX, k)[3])).toBe(0);
    expect(await admin.hlen(budgetKeys(DEFAULT_BUDGET_PREFIX, k)[6])).toBe(0);
  });

  it("puts a resync's entry into the log in time order, whichever end it is nearer", async () => {
    const store = open();
    const k = key();
    for (let i = 0; i < 50; i++) {
      await firstValueFrom(store.acquire({ key: k, spec, id: `r${i}`, amounts: { tokens: 10 }, now: 0 }));
    }
    // One entry a second from 55 s ago to 6 s ago.
    for (let i = 0; i < 50; i++) await backdate(k, i, 55_000 - i * 1_000);
    const resync = (remaining: number, resetMs: number) =>
      lastValueFrom(
        store.resync({
          key: k,
          spec,
          limit: 'tokens',
          report: { remaining, providerLimit: 1_000, resetMs },
          now: 0,
        }),
      );
    // 100 unknown tokens that reset in 30 s, placed 30 s ago: 24 entries from the tail are moved.
    await resync(400, 30_000);
    // 100 more that reset in 20 s, placed 40 s ago: 16 entries from the head are moved.
    await resync(300, 20_000);
    const times = await logTimes(k);
    expect(times).toHaveLength(52);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    const now = await serverNow();
    const unknown = (await admin.lrange(budgetKeys(DEFAULT_BUDGET_PREFIX, k)[3], 0, -1)).flatMap((e, i) =>
      e.endsWith('|') ? [Math.round((now - (times[i] ?? 0)) / 1_000)] : [],
    );
    expect(unknown).toEqual([40, 30]);
  });

  it('cools down and resyncs every process sharing the key', async () => {
    const k = key();
    const a = open();
    const b = open();
    await lastValueFrom(
      a.coolDown({ key: k, spec, limit: 'tokens', until: 1_000_000 + 5_000, now: 1_000_000 }),
    );
    const cooled = await firstValueFrom(b.acquire({ key: k, spec, id: 'x', amounts: { tokens: 1 }, now: 0 }));
    expect('waitMs' in cooled && cooled.waitMs).toBeGreaterThan(4_000);
    const view = await firstValueFrom(b.view({ key: k, spec, now: 10 }));
    expect(view.cooldownUntil).toBeGreaterThan(4_000);

    const k2 = key();
    await lastValueFrom(
      a.resync({
        key: k2,
        spec,
        limit: 'tokens',
        report: { remaining: 300, providerLimit: 1_000, resetMs: 30_000 },
        now: 0,
      }),
    );
    expect((await firstValueFrom(b.view({ key: k2, spec, now: 0 }))).available.tokens).toBeCloseTo(300, 6);
  });

  it('reloads its scripts after the script cache is flushed (NOSCRIPT)', async () => {
    const store = open();
    const k = key();
    await firstValueFrom(store.acquire({ key: k, spec, id: 'a', amounts: { tokens: 1 }, now: 0 }));
    await admin.script('FLUSH');
    expect(
      await firstValueFrom(store.acquire({ key: k, spec, id: 'b', amounts: { tokens: 1 }, now: 0 })),
    ).toEqual({ granted: true });
  });

  it('audits grants and adjustments with the server time', async () => {
    const store = open({ audit: true });
    const k = key();
    const [seconds] = await admin.time();
    await firstValueFrom(store.acquire({ key: k, spec, id: 'a', amounts: { tokens: 7 }, now: 0 }));
    await lastValueFrom(store.adjust({ key: k, spec, id: 'a', delta: { tokens: 3 }, now: 0, final: true }));
    const entries = await admin.xrange(store.auditKey(k), '-', '+');
    expect(entries.map(([, fields]) => fields.slice(2))).toEqual([
      ['kind', 'grant', 'id', expect.stringMatching(/\/a$/), 'tokens', '7'],
      ['kind', 'adjust', 'id', expect.stringMatching(/\/a$/), 'tokens', '3'],
    ]);
    const at = Number(entries[0]?.[1][1]);
    expect(at).toBeGreaterThanOrEqual(Number(seconds) * 1000);
  });

  it('fails closed: waits while Redis is down, then rejects with StoreUnavailableError', async () => {
    const store = open({ unavailable: { waitMs: 400 } });
    const k = key();
    await firstValueFrom(store.acquire({ key: k, spec, id: 'a', amounts: { tokens: 1 }, now: 0 }));
    const down = noticedDown(store);
    await server.stop();
    await down;
    expect(
      await firstValueFrom(store.acquire({ key: k, spec, id: 'b', amounts: { tokens: 1 }, now: 1_000 })),
    ).toEqual({
      granted: false,
      waitMs: 250,
    });
    expect(
      await firstValueFrom(store.acquire({ key: k, spec, id: 'b', amounts: { tokens: 1 }, now: 1_300 })),
    ).toEqual({
      granted: false,
      waitMs: 100,
    });
    const error = await firstValueFrom(
      store.acquire({ key: k, spec, id: 'b', amounts: { tokens: 1 }, now: 1_400 }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ code: 'E_STORE_UNAVAILABLE', info: { downForMs: 400, waitMs: 400 } });
  });

  it('through createBudget, a fail-closed store settles waiting runs as store-unavailable', async () => {
    const store = open({ unavailable: { waitMs: 300 } });
    const budget = createBudget({ tokensPerMinute: 1_000, store, key: key() });
    await firstValueFrom(budget.reserve({ tokens: 10 }));
    const down = noticedDown(store);
    await server.stop();
    await down;
    const error = await firstValueFrom(budget.reserve({ tokens: 10 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExhaustedError);
    expect(error).toMatchObject({ info: { reason: 'store-unavailable' }, retryable: true });
    expect((error as BudgetExhaustedError).cause).toBeInstanceOf(StoreUnavailableError);
  });

  it('after a restart that lost the buckets, pauses until grants before it have left the window', async () => {
    const store = open();
    const k = key();
    await firstValueFrom(store.acquire({ key: k, spec, id: 'a', amounts: { tokens: 900 }, now: 0 }));
    const down = noticedDown(store);
    await server.stop();
    await down;
    await server.start();
    await new Promise<void>((resolve) => {
      if (store.client.status === 'ready') resolve();
      else store.client.once('ready', resolve);
    });
    const paused = await firstValueFrom(
      store.acquire({ key: k, spec, id: 'b', amounts: { tokens: 1 }, now: 0 }),
    );
    expect(paused.granted).toBe(false);
    expect('waitMs' in paused && paused.waitMs).toBeGreaterThan(WINDOW - 5_000);
    // A process that never saw the old state learns of the pause from Redis, not from its own memory.
    const other = open();
    const alsoPaused = await firstValueFrom(
      other.acquire({ key: k, spec, id: 'c', amounts: { tokens: 1 }, now: 0 }),
    );
    expect(alsoPaused.granted).toBe(false);
  });

  it('with a fallback, grants 1/N of the limit locally once a window has passed since the outage began', async () => {
    const store = open({ unavailable: { fallback: { processes: 4 } } });
    const k = key();
    await firstValueFrom(store.acquire({ key: k, spec, id: 'a', amounts: { tokens: 1 }, now: 0 }));
    const down = noticedDown(store);
    await server.stop();
    await down;
    const early = await firstValueFrom(
      store.acquire({ key: k, spec, id: 'b', amounts: { tokens: 10 }, now: 1_000 }),
    );
    expect(early.granted).toBe(false);
    expect('waitMs' in early && early.waitMs).toBe(WINDOW);
    const later = WINDOW + 1_000;
    const granted = [];
    for (let i = 0; i < 30; i++)
      granted.push(
        await firstValueFrom(
          store.acquire({ key: k, spec, id: `c${i}`, amounts: { tokens: 10 }, now: later }),
        ),
      );
    expect(granted.filter((r) => r.granted)).toHaveLength(25);
  });
});

describeRedis('redisStore through runAgents, across an outage longer than unavailable.waitMs', () => {
  let persistent: RedisServer;
  beforeAll(async () => {
    // The budget's state outlives the restart, as after a failover: no pause for grants it might have lost.
    persistent = await startRedis({ appendfsync: 'always' });
  });
  afterAll(async () => {
    await persistent.close();
  });

  const storeUnavailable = (event: TaskEvent): RxAgentError | undefined => {
    const error =
      event.type === 'retry'
        ? event.error
        : event.type === 'settled' && event.result.status === 'rejected'
          ? event.result.error
          : undefined;
    return error instanceof BudgetExhaustedError && error.info.reason === 'store-unavailable'
      ? error
      : undefined;
  };

  it('retries the runs the store turned away, and the whole batch settles fulfilled', async () => {
    const store = redisStore({ url: persistent.url, unavailable: { waitMs: 200 } });
    try {
      const budget = createBudget({ tokensPerMinute: 1_000_000, store, key: 'batch' });
      (await firstValueFrom(budget.reserve({ tokens: 1 }))).end('unused');
      const down = noticedDown(store);
      await persistent.stop();
      await down;

      const agent: Agent = { run: (task) => of({ type: 'done', text: task.id, finishReason: 'stop' }) };
      const tasks = Array.from({ length: 12 }, (_, i) => ({
        id: `t${i}`,
        input: `task ${i}`,
        maxOutputTokens: 16,
      }));
      const events: TaskEvent[] = [];
      const seen = new Subject<void>();
      const batch = lastValueFrom(
        from(tasks).pipe(
          runAgents(agent, {
            concurrency: 4,
            budget,
            retry: { maxRetries: 50, baseDelayMs: 20, maxDelayMs: 100 },
          }),
          tap((event) => {
            events.push(event);
            seen.next();
          }),
        ),
      );
      // The outage has outlasted the deadline once the store turns runs away; only then is Redis back.
      await firstValueFrom(
        seen.pipe(
          startWith(undefined),
          filter(() => events.some((e) => storeUnavailable(e) !== undefined)),
        ),
      );
      await persistent.start();
      await batch;

      const turnedAway = events.filter((e) => storeUnavailable(e) !== undefined);
      expect(turnedAway.length).toBeGreaterThan(0);
      expect(turnedAway.every((e) => e.type === 'retry' && e.error.retryable)).toBe(true);
      const settled = events.flatMap((e) => (e.type === 'settled' ? [e.result] : []));
      expect(settled.map((r) => r.status)).toEqual(tasks.map(() => 'fulfilled'));
      expect(settled.map((r) => r.taskId).sort()).toEqual(tasks.map((t) => t.id).sort());
    } finally {
      await store.close();
    }
  }, 20_000);
});
