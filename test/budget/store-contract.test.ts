// The budget arithmetic exists twice: in TypeScript (memoryStore) and in Lua (redisStore, on a real
// redis-server). One table of scenarios runs against both, so they cannot drift apart.
import { firstValueFrom } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/budget/memory-store.js';
import { redisStore } from '../../src/redis/redis-store.js';
import type { RedisStore } from '../../src/redis/redis-store.js';
import type { AcquireResult, Amounts, BudgetSpec, BudgetStore, StoreView } from '../../src/budget/store.js';
import { limitSpec, type LimitName } from '../../src/budget/token-bucket.js';
import { describeRedis, useRedis } from '../support/redis-server.js';

const MINUTE = 60_000;
/** A minute's worth may burst, so counts are exact whatever the few milliseconds between calls. */
const tokens = (limit: number): BudgetSpec => ({
  limits: [limitSpec('tokens', limit, { burstMs: MINUTE, sliding: true })],
});

const inputOutput = (input: number, output: number): BudgetSpec => ({
  limits: [
    limitSpec('inputTokens', input, { burstMs: MINUTE, sliding: true }),
    limitSpec('outputTokens', output, { burstMs: MINUTE, sliding: true }),
  ],
});

type Step =
  | { readonly acquire: Amounts; readonly id: string; readonly expect: Expected }
  | { readonly adjust: Amounts; readonly id: string; readonly final: boolean }
  | { readonly coolDownMs: number }
  | {
      readonly resync: { remaining: number; providerLimit: number; resetMs: number };
      /** @defaultValue 'tokens' */
      readonly limit?: LimitName;
    }
  | { readonly view: Partial<Record<LimitName, number>>; readonly spent?: number };

type Expected = 'granted' | 'blocked' | { readonly waitAbout: number } | { readonly never: string };

interface Scenario {
  readonly name: string;
  readonly spec: BudgetSpec;
  readonly steps: readonly Step[];
}

const scenarios: readonly Scenario[] = [
  {
    name: 'grants within the limit, makes the next wait for the window, refuses what can never fit',
    spec: tokens(1_000),
    steps: [
      { acquire: { tokens: 400 }, id: 'a', expect: 'granted' },
      { view: { tokens: 600 } },
      { acquire: { tokens: 700 }, id: 'b', expect: { waitAbout: MINUTE } },
      { acquire: { tokens: 1_500 }, id: 'c', expect: { never: 'exceeds-capacity' } },
      { acquire: { tokens: 600 }, id: 'd', expect: 'granted' },
      { view: { tokens: 0 } },
    ],
  },
  {
    name: 'refunds an unused reservation and charges an overshoot',
    spec: tokens(1_000),
    steps: [
      { acquire: { tokens: 400 }, id: 'a', expect: 'granted' },
      { adjust: { tokens: -400 }, id: 'a', final: true },
      { view: { tokens: 1_000 } },
      { acquire: { tokens: 300 }, id: 'b', expect: 'granted' },
      { adjust: { tokens: 200 }, id: 'b', final: false },
      { view: { tokens: 500 } },
      { adjust: { tokens: -100 }, id: 'b', final: true },
      { view: { tokens: 600 } },
    ],
  },
  {
    name: 'refunds to the window no more than the reservation holds in it',
    spec: tokens(1_000),
    steps: [
      { acquire: { tokens: 300 }, id: 'a', expect: 'granted' },
      { acquire: { tokens: 700 }, id: 'b', expect: 'granted' },
      // The bucket gets 500 back; the window only the 300 that `a` holds, so `b`'s 700 still count.
      { adjust: { tokens: -500 }, id: 'a', final: true },
      { view: { tokens: 300 } },
    ],
  },
  {
    name: 'holds every grant back while a cooldown lasts',
    spec: tokens(1_000),
    steps: [{ coolDownMs: 5_000 }, { acquire: { tokens: 1 }, id: 'a', expect: { waitAbout: 5_000 } }],
  },
  {
    name: 're-synchronises down to what the provider reports, never up',
    spec: tokens(1_000),
    steps: [
      { acquire: { tokens: 100 }, id: 'a', expect: 'granted' },
      { resync: { remaining: 300, providerLimit: 1_000, resetMs: MINUTE } },
      { view: { tokens: 300 } },
      { resync: { remaining: 900, providerLimit: 1_000, resetMs: MINUTE } },
      { view: { tokens: 300 } },
    ],
  },
  {
    name: 'counts requests as a limit of their own',
    spec: { limits: [limitSpec('requests', 2, { burstMs: MINUTE, sliding: true })] },
    steps: [
      { acquire: { requests: 1 }, id: 'a', expect: 'granted' },
      { acquire: { requests: 1 }, id: 'b', expect: 'granted' },
      { view: { requests: 0 } },
      { acquire: { requests: 1 }, id: 'c', expect: { waitAbout: MINUTE } },
    ],
  },
  {
    name: 'keeps input and output tokens apart: each limit holds back only what it is short of',
    spec: inputOutput(1_000, 500),
    steps: [
      { acquire: { inputTokens: 800, outputTokens: 100 }, id: 'a', expect: 'granted' },
      { view: { inputTokens: 200, outputTokens: 400 } },
      // Output binds while input has room, then input binds while output has room.
      { acquire: { inputTokens: 100, outputTokens: 450 }, id: 'b', expect: { waitAbout: MINUTE } },
      { acquire: { inputTokens: 300, outputTokens: 0 }, id: 'c', expect: { waitAbout: MINUTE } },
      { acquire: { inputTokens: 200, outputTokens: 400 }, id: 'd', expect: 'granted' },
      { view: { inputTokens: 0, outputTokens: 0 } },
    ],
  },
  {
    name: 'reconciles input and output apart: unused output reserve and cache reads come back',
    spec: inputOutput(1_000, 500),
    steps: [
      { acquire: { inputTokens: 600, outputTokens: 400 }, id: 'a', expect: 'granted' },
      { adjust: { inputTokens: -500, outputTokens: -300 }, id: 'a', final: true },
      { view: { inputTokens: 900, outputTokens: 400 } },
      { acquire: { inputTokens: 900, outputTokens: 400 }, id: 'b', expect: 'granted' },
      // An overshoot of the output reserve is charged now.
      { adjust: { outputTokens: 50 }, id: 'b', final: true },
      { view: { inputTokens: 0, outputTokens: -50 } },
    ],
  },
  {
    name: 're-synchronises the input and output limits from their own reports',
    spec: inputOutput(1_000, 500),
    steps: [
      { resync: { remaining: 700, providerLimit: 1_000, resetMs: MINUTE }, limit: 'inputTokens' },
      { view: { inputTokens: 700, outputTokens: 500 } },
      { resync: { remaining: 100, providerLimit: 500, resetMs: MINUTE }, limit: 'outputTokens' },
      { view: { inputTokens: 700, outputTokens: 100 } },
      { acquire: { inputTokens: 10, outputTokens: 200 }, id: 'a', expect: { waitAbout: MINUTE } },
    ],
  },
  {
    name: 'stops at the total cost once nothing open can refund',
    spec: { limits: [], maxTotalCost: 1 },
    steps: [
      { acquire: { cost: 1 }, id: 'a', expect: 'granted' },
      // While `a` is open it may still be refunded, so `b` waits without a time.
      { acquire: { cost: 0.5 }, id: 'b', expect: 'blocked' },
      { adjust: { cost: 0 }, id: 'a', final: true },
      { view: {}, spent: 1 },
      { acquire: { cost: 0.5 }, id: 'b', expect: { never: 'max-total-cost' } },
    ],
  },
];

/** Runs a scenario; time is the wall clock, which the Redis scripts read from the server (`TIME`). */
async function play(store: BudgetStore, key: string, scenario: Scenario): Promise<void> {
  const { spec } = scenario;
  for (const step of scenario.steps) {
    const now = Date.now();
    if ('acquire' in step) {
      const result = await firstValueFrom(
        store.acquire({ key, spec, id: step.id, amounts: step.acquire, now }),
      );
      expectResult(result, step.expect, `${scenario.name}: acquire ${step.id}`);
    } else if ('adjust' in step) {
      await firstValueFrom(
        store.adjust({ key, spec, id: step.id, delta: step.adjust, now, final: step.final }),
      );
    } else if ('coolDownMs' in step) {
      for (const limit of spec.limits) {
        await firstValueFrom(
          store.coolDown({ key, spec, limit: limit.name, until: now + step.coolDownMs, now }),
        );
      }
    } else if ('resync' in step) {
      const limit = step.limit ?? 'tokens';
      await firstValueFrom(store.resync({ key, spec, limit, report: step.resync, now }));
    } else {
      const view: StoreView = await firstValueFrom(store.view({ key, spec, now }));
      for (const [limit, expected] of Object.entries(step.view)) {
        expect(view.available[limit as LimitName], `${scenario.name}: ${limit} available`).toBeCloseTo(
          expected,
          0,
        );
      }
      if (step.spent !== undefined) expect(view.spent, `${scenario.name}: spent`).toBeCloseTo(step.spent, 6);
    }
  }
}

function expectResult(result: AcquireResult, expected: Expected, label: string): void {
  if (expected === 'granted') {
    expect(result, label).toEqual({ granted: true });
  } else if (expected !== 'blocked' && 'never' in expected) {
    expect(result, label).toMatchObject({ granted: false, never: expected.never });
  } else if (expected === 'blocked') {
    expect(result, label).toMatchObject({ granted: false, waitMs: Number.POSITIVE_INFINITY });
  } else {
    expect(result, label).toMatchObject({ granted: false });
    const waitMs = (result as { waitMs: number }).waitMs;
    expect(waitMs, label).toBeGreaterThan(expected.waitAbout - 1_000);
    expect(waitMs, label).toBeLessThanOrEqual(expected.waitAbout);
  }
}

function contract(name: string, makeStore: () => BudgetStore): void {
  describe(`BudgetStore contract: ${name}`, () => {
    let keys = 0;
    it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
      await play(makeStore(), `contract-${++keys}`, scenario);
    });
  });
}

contract('memoryStore', () => memoryStore());

describeRedis('redis', () => {
  let url = '';
  const stores: RedisStore[] = [];
  useRedis((server) => {
    url = server.url;
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });
  contract('redisStore', () => {
    const store = redisStore({ url, prefix: `contract-${stores.length}:` });
    stores.push(store);
    return store;
  });
});
