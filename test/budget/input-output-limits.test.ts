// Separate input and output token limits (Anthropic's ITPM and OTPM), in virtual time.
import { readFileSync } from 'node:fs';
import { merge, mergeMap, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  createBudget,
  type Budget,
  type BudgetConfig,
  type BudgetState,
} from '../../src/budget/create-budget.js';
import { parseRateLimitHeaders } from '../../src/core/rate-limit-headers.js';
import { BudgetExhaustedError, RateLimitError } from '../../src/core/errors/index.js';
import type { AgentEvent, Usage } from '../../src/core/types.js';
import { throttleBudget } from '../../src/operators/throttle-budget.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

// A minute's worth of burst, so that the sliding window alone decides and the times below are whole windows.
const budgetOf = (config: BudgetConfig) => createBudget({ scheduler: testScheduler, burst: 60, ...config });
const usage = (u: Usage): AgentEvent => ({ type: 'usage', usage: u });
const latest = (budget: Budget): BudgetState => {
  let state: BudgetState | undefined;
  budget.state$.subscribe((s) => (state = s)).unsubscribe();
  return state as BudgetState;
};

/**
 * Recorded response headers of a live Anthropic call: limits 50 RPM, 30,000 ITPM, 8,000 OTPM, 38,000 tokens
 * (anthropics/anthropic-sdk-python, tests/lib/tools/__inline_snapshot__/test_runners/TestSyncRunTools/
 * 092be1de-d3f8-4c22-a4ea-a7ad54689836.json; see test/models/anthropic/fixtures/SOURCES.md).
 */
const recorded = JSON.parse(
  readFileSync(
    new URL('../models/anthropic/fixtures/errors/ratelimit-headers.200.json', import.meta.url),
    'utf8',
  ),
) as Record<string, string>;
/** The requests family resets at 20:02:32Z, one request after a full minute: the call was made then. */
const recordedAt = Date.parse('2026-02-25T20:02:32Z');

describe('createBudget with inputTokensPerMinute and outputTokensPerMinute', () => {
  it('holds a run back on the output limit while the input limit has room', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 10_000, outputTokensPerMinute: 1_000 });
      const a = cold('(a|)');
      const b = cold('(b|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 900, outputTokens: 800 })),
        b.pipe(throttleBudget(budget, { cost: 300, outputTokens: 300 })),
      );
      // a holds 800 of 1000 output tokens and 100 of 10,000 input: b's 300 output wait for a's to slide out.
      expectObservable(result).toBe('a 59999ms (b|)');
      expectSubscriptions(a.subscriptions).toBe('(^!)');
      expectSubscriptions(b.subscriptions).toBe('60000ms (^!)');
      testScheduler.schedule(() => {
        expect(latest(budget)).toMatchObject({
          inputTokensAvailable: 9_900,
          outputTokensAvailable: 200,
          waiting: 1,
        });
      }, 10);
    });
  });

  it('holds a run back on the input limit while the output limit has room', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 1_000, outputTokensPerMinute: 10_000 });
      const a = cold('(a|)');
      const b = cold('(b|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 900, outputTokens: 100 })),
        b.pipe(throttleBudget(budget, { cost: 500, outputTokens: 100 })),
      );
      expectObservable(result).toBe('a 59999ms (b|)');
      expectSubscriptions(b.subscriptions).toBe('60000ms (^!)');
      testScheduler.schedule(() => {
        // b waits on input alone: 200 input tokens left, 9,900 output.
        expect(latest(budget)).toMatchObject({
          inputTokensAvailable: 200,
          outputTokensAvailable: 9_900,
          waiting: 1,
        });
      }, 10);
    });
  });

  it('refunds the unused output reserve on usage (Anthropic adjusts OTPM to the real output)', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 10_000, outputTokensPerMinute: 1_000 });
      const u = usage({ inputTokens: 100, outputTokens: 200 });
      const a = cold('--(u|)', { u });
      const b = cold('(b|)');
      const result = merge(
        a.pipe(throttleBudget(budget, { cost: 1_100, outputTokens: 1_000 })),
        b.pipe(throttleBudget(budget, { cost: 900, outputTokens: 800 })),
      );
      // a reserved the whole output limit and wrote 200: the 800 it did not use come back at frame 2.
      expectObservable(result).toBe('--(ub|)', { u, b: 'b' });
      expectSubscriptions(b.subscriptions).toBe('--(^!)');
    });
  });

  it("keeps the output reserve with tokenAccounting: 'admission'", () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({
        inputTokensPerMinute: 10_000,
        outputTokensPerMinute: 1_000,
        tokenAccounting: 'admission',
      });
      const a = cold('--(u|)', { u: usage({ inputTokens: 100, outputTokens: 200 }) });
      const b = cold('(b|)');
      merge(
        a.pipe(throttleBudget(budget, { cost: 1_100, outputTokens: 1_000 })),
        b.pipe(throttleBudget(budget, { cost: 900, outputTokens: 800 })),
      ).subscribe();
      expectSubscriptions(b.subscriptions).toBe('60000ms (^!)');
    });
  });

  it('charges an output overshoot to the output limit', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 10_000, outputTokensPerMinute: 1_000 });
      const a = cold('-(u|)', { u: usage({ inputTokens: 100, outputTokens: 700 }) });
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 600, outputTokens: 500 })).subscribe();
      timer(2)
        .pipe(mergeMap(() => b.pipe(throttleBudget(budget, { cost: 500, outputTokens: 400 }))))
        .subscribe();
      // 700 output counted, not the 500 reserved: 300 left, b's 400 wait for the window.
      expectSubscriptions(b.subscriptions).toBe('60000ms (^!)');
    });
  });

  it('does not count cache reads against the input limit by default', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 1_000 });
      const read = usage({ inputTokens: 900, outputTokens: 0, cachedInputTokens: 800, cacheWriteTokens: 50 });
      const a = cold('-(u|)', { u: read });
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 900, outputTokens: 0 })).subscribe();
      timer(1)
        .pipe(mergeMap(() => b.pipe(throttleBudget(budget, { cost: 900, outputTokens: 0 }))))
        .subscribe();
      // Counted: 900 − 800 cache reads = 100 (cache writes count), so b's 900 fit at once.
      expectSubscriptions(b.subscriptions).toBe('-(^!)');
    });
  });

  it('counts cache reads against the input limit with cachedInputCounts: true', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 1_000, cachedInputCounts: true });
      const a = cold('-(u|)', { u: usage({ inputTokens: 900, outputTokens: 0, cachedInputTokens: 800 }) });
      const b = cold('(b|)');
      a.pipe(throttleBudget(budget, { cost: 900, outputTokens: 0 })).subscribe();
      timer(1)
        .pipe(mergeMap(() => b.pipe(throttleBudget(budget, { cost: 900, outputTokens: 0 }))))
        .subscribe();
      expectSubscriptions(b.subscriptions).toBe('60000ms (^!)');
    });
  });

  it('charges an unsplit request in full to both limits', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 1_000, outputTokensPerMinute: 1_000 });
      const a = cold('(a|)');
      const b = cold('(b|)');
      merge(
        a.pipe(throttleBudget(budget, { cost: 600 })),
        b.pipe(throttleBudget(budget, { cost: 600 })),
      ).subscribe();
      expectSubscriptions(b.subscriptions).toBe('60000ms (^!)');
    });
  });

  it('refuses a reserve larger than the output limit with BudgetExhaustedError naming it', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const budget = budgetOf({ inputTokensPerMinute: 10_000, outputTokensPerMinute: 1_000 });
      const a = cold('(a|)');
      const error = new BudgetExhaustedError({
        reason: 'exceeds-capacity',
        limit: 'outputTokens',
        requested: 2_000,
        capacity: 1_000,
      });
      expectObservable(a.pipe(throttleBudget(budget, { cost: 2_100, outputTokens: 2_000 }))).toBe(
        '#',
        undefined,
        error,
      );
    });
  });

  it('pauses the input and output limits on a 429 on tokens', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({
        inputTokensPerMinute: 10_000,
        outputTokensPerMinute: 1_000,
        requestsPerMinute: 50,
      });
      budget.rateLimited(
        new RateLimitError({ limit: 'tokens', retryAfterMs: 5_000, status: 429, message: '429' }),
      );
      const tokens = cold('(t|)');
      const requestOnly = cold('(r|)');
      tokens.pipe(throttleBudget(budget, { cost: 100, outputTokens: 50 })).subscribe();
      requestOnly.pipe(throttleBudget(budget, { cost: 0, outputTokens: 0 })).subscribe();
      expectSubscriptions(tokens.subscriptions).toBe('5000ms (^!)');
      // Behind t in line: granted in the same instant, though requests were never paused.
      expectSubscriptions(requestOnly.subscriptions).toBe('5000ms (^!)');
    });
  });
});

describe('header resync of the input and output limits', () => {
  it('lowers the input limit to what the recorded anthropic-ratelimit-input-tokens-* headers report', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 });
      // 28,000 of 30,000 input tokens remain, whole again at 20:02:37Z, 5 s after the call.
      budget.observe(parseRateLimitHeaders(recorded, recordedAt));
      expect(latest(budget)).toMatchObject({ inputTokensAvailable: 28_000, outputTokensAvailable: 8_000 });
      const a = cold('(a|)');
      a.pipe(throttleBudget(budget, { cost: 28_101, outputTokens: 100 })).subscribe();
      // 28,000 input tokens fit now; 28,001 only once the 2,000 spent elsewhere are reset.
      expectSubscriptions(a.subscriptions).toBe('5000ms (^!)');
    });
  });

  it('keeps its own output reservations when the recorded output-tokens headers report the whole limit', () => {
    testScheduler.run(({ cold }) => {
      const budget = budgetOf({ inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 });
      cold('-')
        .pipe(throttleBudget(budget, { cost: 6_500, outputTokens: 6_000 }))
        .subscribe();
      // Anthropic's headers at the start of a response show 8,000 of 8,000 output tokens remaining: the
      // resync never loosens the budget, so the 6,000 reserved stay held.
      budget.observe(recorded);
      expect(latest(budget).outputTokensAvailable).toBe(2_000);
    });
  });

  it('lowers the output limit from the output-tokens family, and the tokens limit from the tokens family', () => {
    testScheduler.run(({ cold, expectSubscriptions }) => {
      const budget = budgetOf({ tokensPerMinute: 38_000, outputTokensPerMinute: 8_000 });
      budget.observe({
        ...parseRateLimitHeaders(recorded, recordedAt),
        // The recording's OTPM limit and reset, with output spent elsewhere.
        remainingOutputTokens: 3_000,
      });
      expect(latest(budget)).toMatchObject({ tokensAvailable: 36_000, outputTokensAvailable: 3_000 });
      const a = cold('(a|)');
      a.pipe(throttleBudget(budget, { cost: 3_100, outputTokens: 3_001 })).subscribe();
      // The output family resets at 20:02:36Z, 4 s after the call.
      expectSubscriptions(a.subscriptions).toBe('4000ms (^!)');
    });
  });
});
