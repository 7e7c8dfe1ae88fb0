import fc from 'fast-check';
import { defer, map, merge, mergeMap, takeUntil, tap, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { createBudget, type BudgetConfig } from '../../src/budget/create-budget.js';
import { BudgetExhaustedError, RateLimitError } from '../../src/core/errors/index.js';
import type { AgentEvent } from '../../src/core/types.js';
import { throttleBudget } from '../../src/operators/throttle-budget.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

const budgetOf = (config: BudgetConfig) => createBudget({ scheduler: testScheduler, ...config });
const usage = (inputTokens: number, outputTokens: number): AgentEvent => ({
  type: 'usage',
  usage: { inputTokens, outputTokens },
});
const tooMany = (limit: 'tokens' | 'requests', retryAfterMs: number) =>
  new RateLimitError({ limit, retryAfterMs, status: 429, message: '429' });

describe('throttleBudget', () => {
  it('grants runs as the token bucket refills (one second of burst by default)', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const a = cold('(a|)');
      const b = cold('(b|)');
      const c = cold('(c|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 1000 })),
        b.pipe(throttleBudget(budget, { cost: 1000 })),
        c.pipe(throttleBudget(budget, { cost: 500 })),
      );
      expectObservable(result).toBe('a 999ms b 499ms (c|)');
      expectSubscriptions(a.subscriptions).toBe('(^!)');
      expectSubscriptions(b.subscriptions).toBe('1000ms (^!)');
      expectSubscriptions(c.subscriptions).toBe('1500ms (^!)');
    });
  });

  it('grants runs as the request bucket refills', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ requestsPerMinute: 60 });
      const a = cold('(a|)');
      const b = cold('(b|)');
      const result = merge(a.pipe(throttleBudget(budget)), b.pipe(throttleBudget(budget)));
      expectObservable(result).toBe('a 999ms (b|)');
      expectSubscriptions(b.subscriptions).toBe('1000ms (^!)');
    });
  });

  it('grants runs as the cost bucket refills', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      // A dollar per token: 60 dollars per minute lets one single-token run through per second.
      const budget = budgetOf({ costPerMinute: 60, model: 'm', prices: { m: { input: 1e6, output: 1e6 } } });
      const a = cold('(a|)');
      const b = cold('(b|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 1, requests: 0 })),
        b.pipe(throttleBudget(budget, { cost: 1, requests: 0 })),
      );
      expectObservable(result).toBe('a 999ms (b|)');
      expectSubscriptions(b.subscriptions).toBe('1000ms (^!)');
    });
  });

  it('needs every declared limit to grant a run', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000, requestsPerMinute: 120 });
      const run = (name: string, cost: number) => cold(`(${name}|)`).pipe(throttleBudget(budget, { cost }));
      // b waits for tokens; c rides the same instant; d waits for the request bucket (2 per second).
      const result = merge(run('a', 1000), run('b', 1000), run('c', 0), run('d', 0));
      expectObservable(result).toBe('a 999ms (bc) 496ms (d|)');
    });
  });

  it('refunds unused tokens on usage when the provider counts usage', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000, tokenAccounting: 'usage' });
      const a = cold('-(u|)', { u: usage(100, 100) });
      const b = cold('(b|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 1000 })),
        b.pipe(throttleBudget(budget, { cost: 800 })),
      );
      // 200 used of 1000 reserved: 800 come back at frame 1, exactly what b waits for.
      expectObservable(result).toBe('-(ub|)', { u: usage(100, 100), b: 'b' });
      expectSubscriptions(b.subscriptions).toBe('-(^!)');
    });
  });

  it('keeps what was charged at admission by default, and charges an overshoot', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const small = cold('-u|', { u: usage(100, 100) });
      const over = cold('-u|', { u: usage(500, 500) });
      const b = cold('(b|)');
      const c = cold('(c|)');
      merge(
        small.pipe(throttleBudget(budget, { cost: 500 })),
        over.pipe(throttleBudget(budget, { cost: 200 })),
        b.pipe(throttleBudget(budget, { cost: 400 })),
        c.pipe(throttleBudget(budget, { cost: 1000 })),
      ).subscribe();
      // 300 tokens left at 0; at frame 1 no refund, but the overshoot of 800 is charged (level -499),
      // so b's 400 tokens refill at 900 and c's 1000 at 1900.
      expectSubscriptions(b.subscriptions).toBe('900ms (^!)');
      expectSubscriptions(c.subscriptions).toBe('1900ms (^!)');
    });
  });

  it('puts every run sharing the budget in cooldown after a 429, for as long as it asks', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 600_000 });
      const a = cold('-#', undefined, tooMany('tokens', 90_000));
      const b = cold('(b|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 100 })),
        timer(5).pipe(mergeMap(() => b.pipe(throttleBudget(budget, { cost: 100 })))),
      );
      expectObservable(result).toBe('-#', undefined, tooMany('tokens', 90_000));
      expectSubscriptions(b.subscriptions).toBe([]);
    });
  });

  it('lets a waiting run start when the cooldown ends', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 600_000 });
      const a = cold('-#', undefined, tooMany('tokens', 90_000));
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 100 })).subscribe({ error: () => undefined });
      timer(5)
        .pipe(mergeMap(() => b.pipe(throttleBudget(budget, { cost: 100 }))))
        .subscribe();
      expectSubscriptions(b.subscriptions).toBe('90001ms (^!)');
    });
  });

  it('cools down only the bucket the 429 names', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 600_000, requestsPerMinute: 600 });
      budget.rateLimited(tooMany('requests', 5_000));
      const tokensOnly = cold('(t|)');
      const request = cold('(r|)');
      tokensOnly.pipe(throttleBudget(budget, { cost: 100, requests: 0 })).subscribe();
      request.pipe(throttleBudget(budget, { cost: 0 })).subscribe();
      expectSubscriptions(tokensOnly.subscriptions).toBe('(^!)');
      expectSubscriptions(request.subscriptions).toBe('5000ms (^!)');
    });
  });

  it('re-synchronises from rate-limit events the run emits', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const limits: AgentEvent = {
        type: 'rate-limits',
        limits: { limitTokens: 60_000, remainingTokens: 0, resetTokensMs: 30_000 },
      };
      const a = cold('(l|)', { l: limits });
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 100 })).subscribe();
      timer(1)
        .pipe(mergeMap(() => b.pipe(throttleBudget(budget, { cost: 100 }))))
        .subscribe();
      // Another client spent the provider's window: nothing until the provider's reset.
      expectSubscriptions(b.subscriptions).toBe('30000ms (^!)');
    });
  });

  it('takes a waiting run out of line when it is unsubscribed', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const a = cold('(a|)');
      const b = cold('(b|)');
      const c = cold('(c|)');
      a.pipe(throttleBudget(budget, { cost: 1000 })).subscribe();
      b.pipe(throttleBudget(budget, { cost: 1000 }), takeUntil(timer(400))).subscribe();
      c.pipe(throttleBudget(budget, { cost: 500 })).subscribe();
      expectSubscriptions(b.subscriptions).toBe([]);
      expectSubscriptions(c.subscriptions).toBe('500ms (^!)');
    });
  });

  it('refunds a running run unsubscribed before the provider said anything', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const a = cold('-');
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 1000 }), takeUntil(timer(100))).subscribe();
      b.pipe(throttleBudget(budget, { cost: 1000 })).subscribe();
      expectSubscriptions(a.subscriptions).toBe('^ 99ms !');
      expectSubscriptions(b.subscriptions).toBe('100ms (^!)');
    });
  });

  it.each<[string, AgentEvent]>([
    ["a router's `route`", { type: 'route', deployment: 'east', attempt: 1 }],
    ["runAgents' `admitted`", { type: 'admitted', waitMs: 0 }],
  ])('refunds a run that failed after only %s notice: nothing was sent yet', (_, notice) => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const a = cold('r#', { r: notice });
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 1000 })).subscribe({ error: () => undefined });
      b.pipe(throttleBudget(budget, { cost: 1000 })).subscribe();
      expectSubscriptions(b.subscriptions).toBe('-(^!)');
    });
  });

  it('errors queued and later runs with BudgetExhaustedError past maxTotalCost', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ maxTotalCost: 1000, model: 'm', prices: { m: { input: 1e6, output: 1e6 } } });
      const a = cold('--u|', { u: usage(300, 300) });
      const b = cold('----u|', { u: usage(300, 300) });
      const c = cold('(c|)');
      const d = cold('(d|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 600 })),
        b.pipe(throttleBudget(budget, { cost: 600 })),
        c.pipe(throttleBudget(budget, { cost: 600 })),
        timer(10).pipe(mergeMap(() => d.pipe(throttleBudget(budget, { cost: 1 })))),
      );
      const errors: unknown[] = [];
      const settled = (source: Observable<unknown>) =>
        source.subscribe({ error: (e: unknown) => errors.push(e) });
      expectObservable(result).toBe(
        '--u-u#',
        { u: usage(300, 300) },
        new BudgetExhaustedError({
          reason: 'max-total-cost',
          maxTotalCost: 1000,
          spent: 1200,
          message: 'Budget spent: 1200.0000 of the `maxTotalCost` of 1000 dollars; nothing new starts',
        }),
      );
      settled(timer(20).pipe(mergeMap(() => d.pipe(throttleBudget(budget, { cost: 1 })))));
      expectSubscriptions(c.subscriptions).toBe([]);
      expectSubscriptions(d.subscriptions).toBe([]);
      testScheduler.flush();
      expect(errors).toHaveLength(1);
      expect((errors[0] as BudgetExhaustedError).info.reason).toBe('max-total-cost');
    });
  });

  it('errors at once, without running, a request larger than the limit', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 1000 });
      const a = cold('(a|)');
      const result = a.pipe(throttleBudget(budget, { cost: 2000 }));
      expectObservable(result).toBe(
        '#',
        undefined,
        new BudgetExhaustedError({
          reason: 'exceeds-capacity',
          limit: 'tokens',
          requested: 2000,
          capacity: 1000,
          message:
            "A request of 2000 tokens exceeds the budget's limit of 1000 per minute and can never be granted",
        }),
      );
      expectSubscriptions(a.subscriptions).toBe([]);
    });
  });

  it('grants a request larger than the burst once the bucket is full (debt), not never', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const big = cold('(b|)');
      const next = cold('(n|)');
      big.pipe(throttleBudget(budget, { cost: 5000 })).subscribe();
      next.pipe(throttleBudget(budget, { cost: 1000 })).subscribe();
      expectSubscriptions(big.subscriptions).toBe('(^!)');
      // The 4000-token debt and then the next 1000 tokens refill at 1000 per second.
      expectSubscriptions(next.subscriptions).toBe('5000ms (^!)');
    });
  });

  it('serves waiting runs in order, so a large request is not starved by small ones', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 60_000 });
      const first = cold('(f|)');
      const large = cold('(l|)');
      const small = cold('(s|)');
      first.pipe(throttleBudget(budget, { cost: 1000 })).subscribe();
      large.pipe(throttleBudget(budget, { cost: 1000 })).subscribe();
      // A stream of small requests arriving while the large one waits.
      timer(0, 100)
        .pipe(
          takeUntil(timer(950)),
          mergeMap(() => small.pipe(throttleBudget(budget, { cost: 10 }))),
        )
        .subscribe();
      expectSubscriptions(large.subscriptions).toBe('1000ms (^!)');
      expect(small.subscriptions.every((s) => s.subscribedFrame > 1000)).toBe(true);
    });
  });

  it('rejects a budget that is not one', () => {
    expect(() => throttleBudget({} as never)).toThrow(TypeError);
    expect(() => throttleBudget(budgetOf({ tokensPerMinute: 1 }), 5 as never)).toThrow(
      'Expected `options` to be a config object, got 5 (number)',
    );
    expect(() => throttleBudget(budgetOf({ tokensPerMinute: 1 }), { tokens: 5 } as never)).toThrow(
      'Unknown option `tokens` for throttleBudget; expected one of `cost`, `requests`',
    );
    expect(() => throttleBudget(budgetOf({ tokensPerMinute: 1 }), { cost: -1 })).toThrow(
      'Expected `cost` to be a finite number from 0 and up, got -1 (number)',
    );
  });
});

describe('throttleBudget property', () => {
  const workload = fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: 180_000 }),
      cost: fc.integer({ min: 1, max: 10_000 }),
      ms: fc.integer({ min: 0, max: 20_000 }),
      used: fc.integer({ min: 0, max: 15_000 }),
    }),
    { minLength: 1, maxLength: 60 },
  );

  interface Spend {
    readonly kind: 'grant' | 'overshoot';
    readonly at: number;
    readonly tokens: number;
  }

  /** The most any grant saw spent in its 60 s window: grants so far, plus overshoots charged before it. */
  const spentAtGrants = (spends: readonly Spend[]): number =>
    Math.max(
      ...spends.map((g, i) =>
        g.kind === 'overshoot'
          ? 0
          : spends
              .slice(0, i + 1)
              .filter((o) => o.at > g.at - 60_000)
              .reduce((sum, o) => sum + o.tokens, 0),
      ),
    );

  it.each(['sliding', 'bucket'] as const)(
    'never grants past the limit in any 60 s window, counting the reconciled overshoot of earlier runs (%s)',
    (window) => {
      const limit = 20_000;
      fc.assert(
        fc.property(workload, (runs) => {
          const scheduler = new TestScheduler(() => undefined);
          const spends: Spend[] = [];
          let settled = 0;
          scheduler.run(() => {
            const budget = createBudget({ tokensPerMinute: limit, window, burst: 30, scheduler });
            for (const run of runs) {
              // 'bucket' guarantees the window only for requests up to its capacity (here 30 s worth).
              const cost = window === 'bucket' ? Math.min(run.cost, limit / 2) : run.cost;
              timer(run.at)
                .pipe(
                  mergeMap(() =>
                    defer(() => {
                      spends.push({ kind: 'grant', at: scheduler.now(), tokens: cost });
                      return timer(run.ms).pipe(
                        // Charged at admission, so only what a run used beyond its estimate is charged later.
                        tap(() => {
                          const over = Math.max(0, run.used - cost);
                          spends.push({ kind: 'overshoot', at: scheduler.now(), tokens: over });
                        }),
                        map(() => usage(run.used, 0)),
                      );
                    }).pipe(throttleBudget(budget, { cost })),
                  ),
                )
                .subscribe({ complete: () => settled++ });
            }
          });
          expect(settled).toBe(runs.length);
          expect(spentAtGrants(spends)).toBeLessThanOrEqual(limit);
        }),
        { numRuns: 60 },
      );
    },
  );
});
