import { map, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { memoryStore } from '../../src/budget/memory-store.js';
import type { AcquireResult, BudgetStore } from '../../src/budget/store.js';
import { BudgetExhaustedError, RateLimitError } from '../../src/core/errors/index.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe('createBudget', () => {
  it('rejects bad configuration with a TypeError that says what came', () => {
    expect(() => createBudget({ tokensPerMinute: -5 })).toThrow(
      'Expected `tokensPerMinute` to be a finite number from 0 and up, got -5 (number)',
    );
    expect(() => createBudget({ requestsPerMinute: 0 })).toThrow(
      'Expected `requestsPerMinute` to be a number above 0, got 0 (number)',
    );
    expect(() => createBudget({ tokensPerMinute: 1, headroom: 0 })).toThrow(
      'Expected `headroom` to be a number in (0, 1], got 0 (number)',
    );
    expect(() => createBudget({ tokensPerMinute: 1, headroom: 1.5 })).toThrow(TypeError);
    expect(() => createBudget({})).toThrow('Expected at least one of');
    expect(() => createBudget({ costPerMinute: 1, model: 'unknown-model' })).toThrow(
      'Expected a price for model "unknown-model"',
    );
    expect(() => createBudget({ maxTotalCost: 1 })).toThrow(
      'Expected `model` with `costPerMinute` or `maxTotalCost`',
    );
    expect(() => createBudget({ tokensPerMinute: 1, window: 'fixed' as never })).toThrow(
      "Expected `window` to be one of 'sliding', 'bucket'",
    );
    expect(() => createBudget({ tokensPerMinute: 1, burst: 61 })).toThrow(
      'Expected `burst` to be at most 60 seconds',
    );
    // A bucket refills at (limit − capacity) / 60 s: a 60 s burst would leave it no refill at all.
    expect(() => createBudget({ requestsPerMinute: 60, burst: 60, window: 'bucket' })).toThrow(
      "Expected `burst` to be below 60 seconds with `window: 'bucket'` (a full-minute burst leaves the bucket no refill), got 60 (number)",
    );
    expect(() => createBudget({ requestsPerMinute: 60, burst: 60 })).not.toThrow();
    expect(() => createBudget({ requestsPerMinute: 60, burst: 59, window: 'bucket' })).not.toThrow();
    expect(() => createBudget({ tokensPerMinute: 1, tokenPerMinute: 2 } as never)).toThrow(
      'Unknown option `tokenPerMinute`',
    );
    expect(() => createBudget({ tokensPerMinute: 1, scheduler: {} as never })).toThrow(TypeError);
    expect(() => createBudget({ costPerMinute: 2, maxTotalCost: 25, model: 'gpt-4o-mini' })).not.toThrow();
    expect(() =>
      createBudget({ costPerMinute: 2, model: 'mine', prices: { mine: { input: 1, output: 1 } } }),
    ).not.toThrow();
  });

  it('shows its state, with headroom applied, cooldowns and spending', () => {
    testScheduler.run(({ expectObservable }) => {
      const budget = createBudget({
        tokensPerMinute: 120_000,
        requestsPerMinute: 600,
        headroom: 0.5,
        scheduler: testScheduler,
      });
      const seen: unknown[] = [];
      budget.state$.subscribe((s) => seen.push(s));
      budget.rateLimited(new RateLimitError({ limit: 'requests', retryAfterMs: 2_000, message: '429' }));
      expectObservable(budget.state$, '^').toBe('a', {
        a: { tokensAvailable: 1000, requestsAvailable: 5, spent: 0, waiting: 0, cooldownUntil: 2000 },
      });
      expect(seen[0]).toEqual({
        tokensAvailable: 1000,
        requestsAvailable: 5,
        spent: 0,
        waiting: 0,
        cooldownUntil: null,
      });
    });
  });

  it('re-synchronises from x-ratelimit headers, keeping headroom for others', () => {
    const budget = createBudget({ tokensPerMinute: 60_000, headroom: 0.5, scheduler: testScheduler });
    const states: number[] = [];
    budget.state$.subscribe((s) => states.push(s.tokensAvailable));
    budget.observe({
      'x-ratelimit-limit-tokens': '60000',
      'x-ratelimit-remaining-tokens': '30200',
      'x-ratelimit-reset-tokens': '30s',
    });
    // 30,000 of the provider's remaining are the other programs' share.
    expect(states).toEqual([500, 200]);
  });

  it('re-synchronises from anthropic-ratelimit headers, reading their reset instants on its own clock', () => {
    testScheduler.run(({ expectObservable }) => {
      const budget = createBudget({ requestsPerMinute: 50, burst: 60, scheduler: testScheduler });
      // Another process spent the minute's requests; the provider frees them at 12 s on this clock.
      budget.observe({
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '1970-01-01T00:00:12Z',
      });
      expectObservable(budget.reserve({ tokens: 1 }), '^').toBe('12s (r|)', {
        r: expect.anything() as unknown,
      });
    });
  });

  it('errors a waiting run with BudgetExhaustedError when its store fails, keeping the cause', () => {
    const failure = new Error('connection refused');
    const store = { ...memoryStore(), acquire: () => throwError(() => failure) };
    const budget = createBudget({ tokensPerMinute: 60_000, store, scheduler: testScheduler });
    const errors: unknown[] = [];
    budget.reserve({ tokens: 1 }).subscribe({ error: (e: unknown) => errors.push(e) });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(BudgetExhaustedError);
    expect(errors[0]).toMatchObject({ info: { reason: 'store-unavailable' }, cause: failure });
  });

  it('keeps the rest of the line when an asynchronous store fails for a head that already left it', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const inner = memoryStore();
      let calls = 0;
      const store: BudgetStore = {
        ...inner,
        acquire: (call) =>
          calls++ === 0
            ? cold<AcquireResult>('-----#', {}, new Error('connection reset'))
            : inner.acquire(call),
      };
      const budget = createBudget({ tokensPerMinute: 60_000, store, scheduler: testScheduler });
      const granted = { r: expect.anything() as unknown };
      expectObservable(budget.reserve({ tokens: 1 }), '^--!').toBe('---');
      expectObservable(budget.reserve({ tokens: 1 }), '^').toBe('-----(r|)', granted);
      expectObservable(budget.reserve({ tokens: 1 }), '^').toBe('-----(r|)', granted);
      expectObservable(budget.state$.pipe(map((s) => s.waiting)), '^-----!').toBe('a--b-c', {
        a: 3,
        b: 2,
        c: 0,
      });
    });
  });

  it('bucket mode with a burst under 60 s keeps granting after the first minute is used', () => {
    testScheduler.run(({ expectObservable }) => {
      const budget = createBudget({
        requestsPerMinute: 2,
        burst: 30,
        window: 'bucket',
        scheduler: testScheduler,
      });
      // Capacity 1, refill (2 − 1) per 60 s: the second request waits a full minute, not forever.
      const granted = { r: expect.anything() as unknown };
      expectObservable(budget.reserve({ tokens: 0 }), '^').toBe('(r|)', granted);
      expectObservable(budget.reserve({ tokens: 0 }), '^').toBe('60000ms (r|)', granted);
    });
  });

  it('shares limits between budgets that share a store and key', () => {
    testScheduler.run(({ expectObservable }) => {
      const store = memoryStore();
      const a = createBudget({ tokensPerMinute: 60_000, store, key: 'shared', scheduler: testScheduler });
      const b = createBudget({ tokensPerMinute: 60_000, store, key: 'shared', scheduler: testScheduler });
      a.reserve({ tokens: 1000 }).subscribe();
      expectObservable(b.reserve({ tokens: 1000 }), '^').toBe('1000ms (r|)', {
        r: expect.anything() as unknown,
      });
    });
  });
});
