import fc from 'fast-check';
import { defer, take } from 'rxjs';
import type { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  BudgetExhaustedError,
  CancelledError,
  ProviderError,
  QueueFullError,
  RateLimitError,
  TimeoutError,
  ValidationError,
  WorkerError,
  toRxAgentError,
} from '../../src/core/errors/index.js';
import type { AgentEvent } from '../../src/core/types.js';
import { backoffDelay } from '../../src/operators/internal/backoff.js';
import { defaultRetryable, retryBackoff } from '../../src/operators/retry-backoff.js';
import type { RetryEvent } from '../../src/operators/retry-backoff.js';
import { timeoutWith } from '../../src/operators/timeout-with.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

const serverError = new ProviderError({ status: 503, message: 'upstream 503', retryable: true });
const quotaError = new ProviderError({
  status: 429,
  type: 'insufficient_quota',
  message: 'You exceeded your current quota',
  retryable: true,
});
// The subclasses' info interfaces have no index signature, so they only become `RxAgentError` through
// `toRxAgentError`, which returns the same instance.
const retry = (attempt: number, delayMs: number, error: Error = serverError): RetryEvent => ({
  type: 'retry',
  attempt,
  delayMs,
  error: toRxAgentError(error),
});
const noJitter = { random: () => 0 } as const;

/** Subscribes to `sources` in turn, one per attempt, so each attempt's subscription can be asserted. */
function attempts<T>(...sources: Observable<T>[]): Observable<T> {
  let next = 0;
  return defer(() => sources[next++]!);
}

describe('retryBackoff: delays', () => {
  it('waits baseDelayMs·2^(n−1) before retry n and resubscribes each time', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  --#', undefined, serverError);
      const e1subs = [' ^-!', ' -----^-!', ' -------------^-!'];
      const expected = ' --r----s-------#';
      const result = e1.pipe(
        retryBackoff({ maxRetries: 2, baseDelayMs: 3, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe(expected, { r: retry(2, 3), s: retry(3, 6) }, serverError);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('passes the values of the attempt that succeeds', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  --#', undefined, serverError);
      const e2 = cold('       --#', undefined, serverError);
      const e3 = cold('               --a--|');
      const expected = ' --r----s-------a--|';
      const result = attempts(e1, e2, e3).pipe(
        retryBackoff({ maxRetries: 2, baseDelayMs: 3, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe(expected, { r: retry(2, 3), s: retry(3, 6), a: 'a' });
      expectSubscriptions(e1.subscriptions).toBe('^-!');
      expectSubscriptions(e2.subscriptions).toBe('-----^-!');
      expectSubscriptions(e3.subscriptions).toBe('-------------^----!');
    });
  });

  it('caps the exponential wait at maxDelayMs', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('#', undefined, serverError);
      const expected = 'a 3ms b 7ms c 9ms d 9ms #';
      const values = { a: retry(2, 4), b: retry(3, 8), c: retry(4, 10), d: retry(5, 10) };
      const result = e1.pipe(
        retryBackoff({
          maxRetries: 4,
          baseDelayMs: 4,
          maxDelayMs: 10,
          ...noJitter,
          scheduler: testScheduler,
        }),
      );
      expectObservable(result).toBe(expected, values, serverError);
      expectSubscriptions(e1.subscriptions).toBe(['(^!)', '4ms (^!)', '12ms (^!)', '22ms (^!)', '32ms (^!)']);
    });
  });

  it('takes a random share of up to `jitter` off each wait', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('#', undefined, serverError);
      // Default jitter 0.25 at random 0.5: 16 × 0.875 = 14, then 32 × 0.875 = 28.
      const expected = 'a 13ms b 27ms #';
      const result = e1.pipe(retryBackoff({ baseDelayMs: 16, random: () => 0.5, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, { a: retry(2, 14), b: retry(3, 28) }, serverError);
      expectSubscriptions(e1.subscriptions).toBe(['(^!)', '14ms (^!)', '42ms (^!)']);
    });
  });

  it('honours retryAfterMs of a rate limit beyond maxDelayMs', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const limited = new RateLimitError({ limit: 'tokens', retryAfterMs: 50, message: '429' });
      const e1 = cold('-#', undefined, limited);
      const e2 = cold('                                                   -a|');
      const expected = '-r 49ms -a|';
      const result = attempts(e1, e2).pipe(
        retryBackoff({ baseDelayMs: 4, maxDelayMs: 10, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe(expected, { r: retry(2, 50, limited), a: 'a' });
      expectSubscriptions(e1.subscriptions).toBe('^!');
      expectSubscriptions(e2.subscriptions).toBe('51ms ^-!');
    });
  });

  it('keeps the exponential wait when it is longer than retryAfterMs, and never jitters below retryAfterMs', () => {
    const short = new RateLimitError({ limit: 'requests', retryAfterMs: 2, message: '429' });
    const policy = { baseDelayMs: 40, maxDelayMs: 1000, jitter: 0, random: () => 0 };
    expect(backoffDelay(1, policy, toRxAgentError(short))).toBe(40);
    const long = new RateLimitError({ limit: 'requests', retryAfterMs: 30, message: '429' });
    expect(backoffDelay(1, { ...policy, jitter: 1, random: () => 0.99 }, toRxAgentError(long))).toBe(30);
  });

  it('keeps every wait within its jitter band and at or above retryAfterMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
        (retryNumber, baseDelayMs, maxDelayMs, jitter, r, retryAfterMs) => {
          const error = toRxAgentError(
            retryAfterMs === undefined
              ? serverError
              : new RateLimitError({ limit: 'tokens', retryAfterMs, message: '429' }),
          );
          const delay = backoffDelay(
            retryNumber,
            { baseDelayMs, maxDelayMs, jitter, random: () => r },
            error,
          );
          const capped = Math.min(baseDelayMs * 2 ** (retryNumber - 1), maxDelayMs);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(
            Math.max(Math.round(capped * (1 - jitter)), retryAfterMs ?? 0),
          );
          expect(delay).toBeLessThanOrEqual(Math.max(capped, retryAfterMs ?? 0));
        },
      ),
    );
  });
});

describe('retryBackoff: what is retried', () => {
  it.each([
    ['a rate limit', new RateLimitError({ limit: 'requests', retryAfterMs: 0, message: '429' })],
    ['a timeout', new TimeoutError({ limit: 'first', ms: 5, seen: 0, message: 'late' })],
    ['a retryable provider error', serverError],
  ])('retries %s by default', (_name, error) => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, error);
      const result = e1.pipe(
        retryBackoff({ maxRetries: 1, baseDelayMs: 2, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe('-r--#', { r: retry(2, 2, error) }, error);
      expectSubscriptions(e1.subscriptions).toBe(['^!', '---^!']);
    });
  });

  it.each([
    ['a validation error', new ValidationError({ issues: [], message: 'bad task' })],
    ['a full queue', new QueueFullError({ taskId: 't', queueLimit: 1, overflow: 'reject', message: 'full' })],
    [
      'an exhausted budget',
      new BudgetExhaustedError({ reason: 'max-total-cost', maxTotalCost: 1, spent: 1 }),
    ],
    ['a cancellation', new CancelledError({ reason: 'closed', message: 'cancelled' })],
    ['a non-retryable provider error', new ProviderError({ status: 400, message: '400' })],
    ['a quota error', quotaError],
  ])('does not retry %s', (_name, error) => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, error);
      expectObservable(e1.pipe(retryBackoff({ scheduler: testScheduler }))).toBe('-#', undefined, error);
      expectSubscriptions(e1.subscriptions).toBe('^!');
    });
  });

  it('does not retry a quota error even when `retryable` says yes', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, quotaError);
      const result = e1.pipe(retryBackoff({ retryable: () => true, scheduler: testScheduler }));
      expectObservable(result).toBe('-#', undefined, quotaError);
      expectSubscriptions(e1.subscriptions).toBe('^!');
    });
  });

  it('wraps an error that is not an RxAgentError, and does not retry it', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const cause = new Error('socket hang up');
      const e1 = cold('-#', undefined, cause);
      const wrapped = new WorkerError({ thrown: 'Error', message: 'socket hang up', cause });
      expectObservable(e1.pipe(retryBackoff({ scheduler: testScheduler }))).toBe('-#', undefined, wrapped);
      expectSubscriptions(e1.subscriptions).toBe('^!');
    });
  });

  it('asks `retryable` with the typed error and the failed attempt number', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const cause = new Error('flaky');
      const e1 = cold('-#', undefined, cause);
      const calls: [string, number][] = [];
      const result = e1.pipe(
        retryBackoff({
          maxRetries: 5,
          baseDelayMs: 1,
          ...noJitter,
          retryable: (error, attempt) => {
            calls.push([error.code, attempt]);
            return attempt < 2;
          },
          scheduler: testScheduler,
        }),
      );
      const wrapped = new WorkerError({ thrown: 'Error', message: 'flaky', cause });
      expectObservable(result).toBe('-r-#', { r: retry(2, 1, wrapped) }, wrapped);
      expectSubscriptions(e1.subscriptions).toBe(['^!', '--^!']);
      testScheduler.flush();
      expect(calls).toEqual([
        ['E_WORKER', 1],
        ['E_WORKER', 2],
      ]);
    });
  });

  it('errors with what `retryable` throws', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, serverError);
      const bug = new Error('predicate bug');
      const result = e1.pipe(
        retryBackoff({
          retryable: () => {
            throw bug;
          },
          scheduler: testScheduler,
        }),
      );
      const wrapped = new WorkerError({ thrown: 'Error', message: 'predicate bug', cause: bug });
      expectObservable(result).toBe('-#', undefined, wrapped);
      expectSubscriptions(e1.subscriptions).toBe('^!');
    });
  });

  it('respects maxRetries: 0 and ends with the last error', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const first = new TimeoutError({ limit: 'first', ms: 5, seen: 0, message: 'late' });
      const e1 = cold('-#', undefined, first);
      expectObservable(e1.pipe(retryBackoff({ maxRetries: 0, scheduler: testScheduler }))).toBe(
        '-#',
        undefined,
        first,
      );
      expectSubscriptions(e1.subscriptions).toBe('^!');
    });
  });

  it('errors with the error of the last attempt, reporting each earlier one in its retry event', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const late = new TimeoutError({ limit: 'first', ms: 5, seen: 0, message: 'late' });
      const e1 = cold('-#', undefined, late);
      const e2 = cold('   -#', undefined, serverError);
      const result = attempts(e1, e2).pipe(
        retryBackoff({ maxRetries: 1, baseDelayMs: 1, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe('-r-#', { r: retry(2, 1, late) }, serverError);
    });
  });
});

describe('retryBackoff: output already emitted', () => {
  const usage: AgentEvent = { type: 'usage', usage: { inputTokens: 3, outputTokens: 0 } };
  const limits: AgentEvent = { type: 'rate-limits', limits: { remainingTokens: 10 } };
  const delta: AgentEvent = { type: 'delta', text: 'Hel' };

  it('does not retry after output went downstream', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-d-#', { d: delta }, serverError);
      expectObservable(e1.pipe(retryBackoff({ scheduler: testScheduler }))).toBe(
        '-d-#',
        { d: delta },
        serverError,
      );
      expectSubscriptions(e1.subscriptions).toBe('^--!');
    });
  });

  it('counts any value that is not an AgentEvent as output', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-x-#', { x: { type: 'custom' } }, serverError);
      expectObservable(e1.pipe(retryBackoff({ scheduler: testScheduler }))).toBe(
        '-x-#',
        { x: { type: 'custom' } },
        serverError,
      );
      expectSubscriptions(e1.subscriptions).toBe('^--!');
    });
  });

  it('still retries after usage, rate-limits and retry events, which are not output', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const inner = retry(2, 7);
      const values = { u: usage, l: limits, i: inner, r: retry(2, 4) };
      const e1 = cold('ul(i#)', values, serverError);
      const result = e1.pipe(
        retryBackoff({ maxRetries: 1, baseDelayMs: 4, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe('ul(ir)ul(i#)', values, serverError);
      expectSubscriptions(e1.subscriptions).toBe(['^-!', '------^-!']);
    });
  });

  it('retries after output when `replay` is true, replaying it', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-d-#', { d: delta }, serverError);
      const result = e1.pipe(
        retryBackoff({ maxRetries: 1, baseDelayMs: 2, replay: true, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe('-d-r--d-#', { d: delta, r: retry(2, 2) }, serverError);
      expectSubscriptions(e1.subscriptions).toBe(['^--!', '-----^--!']);
    });
  });
});

describe('retryBackoff: teardown', () => {
  it('clears the pending retry timer when unsubscribed during the wait', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, serverError);
      const unsub = '  ----!';
      const result = e1.pipe(retryBackoff({ baseDelayMs: 10, ...noJitter, scheduler: testScheduler }));
      const probe = { pending: -1 };
      testScheduler.schedule(() => {
        probe.pending = testScheduler.actions.length;
      }, 5);
      expectObservable(result, unsub).toBe('-r', { r: retry(2, 10) });
      // A timer left behind would resubscribe at frame 11 and show here as a second subscription.
      expectSubscriptions(e1.subscriptions).toBe('^!');
      testScheduler.flush();
      expect(probe.pending).toBe(0);
    });
  });

  it('starts no timer when the consumer unsubscribes on the retry event', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, serverError);
      const result = e1.pipe(
        retryBackoff({ baseDelayMs: 10, ...noJitter, scheduler: testScheduler }),
        take(1),
      );
      expectObservable(result).toBe('-(r|)', { r: retry(2, 10) });
      expectSubscriptions(e1.subscriptions).toBe('^!');
    });
  });

  it('unsubscribes the running attempt when the consumer unsubscribes', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('-#', undefined, serverError);
      const e2 = cold('   ------a|');
      const unsub = '  ------!';
      const result = attempts(e1, e2).pipe(
        retryBackoff({ baseDelayMs: 2, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result, unsub).toBe('-r', { r: retry(2, 2) });
      expectSubscriptions(e2.subscriptions).toBe('---^--!');
    });
  });

  it('retries a run that timed out, tearing the timed-out attempt down first', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  ------a|');
      const e2 = cold('       -a|');
      const late = new TimeoutError({
        limit: 'first',
        ms: 3,
        seen: 0,
        message: 'Timed out after 3ms waiting for the first event',
      });
      const result = attempts(e1, e2).pipe(
        timeoutWith({ first: 3, scheduler: testScheduler }),
        retryBackoff({ baseDelayMs: 2, ...noJitter, scheduler: testScheduler }),
      );
      expectObservable(result).toBe('---r--a|', { r: retry(2, 2, late), a: 'a' });
      expectSubscriptions(e1.subscriptions).toBe('^--!');
      expectSubscriptions(e2.subscriptions).toBe('-----^-!');
    });
  });
});

describe('defaultRetryable', () => {
  it('accepts rxagent errors marked retryable, except quota errors and foreign errors', () => {
    expect(defaultRetryable(new RateLimitError({ limit: 'tokens', retryAfterMs: 1, message: '429' }))).toBe(
      true,
    );
    expect(defaultRetryable(new TimeoutError({ limit: 'total', ms: 1, seen: 0, message: 'late' }))).toBe(
      true,
    );
    expect(defaultRetryable(serverError)).toBe(true);
    expect(defaultRetryable(quotaError)).toBe(false);
    expect(defaultRetryable(new ProviderError({ status: 400, message: '400' }))).toBe(false);
    expect(defaultRetryable(new ValidationError({ issues: [], message: 'bad' }))).toBe(false);
    expect(defaultRetryable(new Error('ECONNRESET'))).toBe(false);
    expect(defaultRetryable('text')).toBe(false);
  });
});

describe('retryBackoff: arguments', () => {
  it.each([
    [
      { maxRetries: -1 },
      'Expected `maxRetries` to be an integer from 0 and up, or Infinity, got -1 (number)',
    ],
    [
      { maxRetries: 1.5 },
      'Expected `maxRetries` to be an integer from 0 and up, or Infinity, got 1.5 (number)',
    ],
    [
      { maxRetries: '2' },
      'Expected `maxRetries` to be an integer from 0 and up, or Infinity, got "2" (string)',
    ],
    [{ baseDelayMs: -1 }, 'Expected `baseDelayMs` to be a finite number from 0 and up, got -1 (number)'],
    [
      { baseDelayMs: Number.NaN },
      'Expected `baseDelayMs` to be a finite number from 0 and up, got NaN (number)',
    ],
    [
      { maxDelayMs: Infinity },
      'Expected `maxDelayMs` to be a finite number from 0 and up, got Infinity (number)',
    ],
    [{ jitter: 1.5 }, 'Expected `jitter` to be a number from 0 to 1, got 1.5 (number)'],
    [{ jitter: Number.NaN }, 'Expected `jitter` to be a number from 0 to 1, got NaN (number)'],
    [{ retryable: true }, 'Expected `retryable` to be a function, got true (boolean)'],
    [{ random: 0.5 }, 'Expected `random` to be a function, got 0.5 (number)'],
    [{ replay: 'yes' }, 'Expected `replay` to be a boolean, got "yes" (string)'],
    [
      { scheduler: {} },
      'Expected `scheduler` to be an RxJS scheduler (such as asyncScheduler), got an object',
    ],
    [{ retries: 3 }, /^Unknown option `retries` for retryBackoff; expected one of `maxRetries`/],
    [null, 'Expected `config` to be a config object, got null'],
  ])('throws TypeError at creation for %o', (config, message) => {
    expect(() => retryBackoff(config as never)).toThrow(TypeError);
    expect(() => retryBackoff(config as never)).toThrow(message);
  });

  it('accepts no config, and maxRetries: Infinity', () => {
    expect(() => retryBackoff()).not.toThrow();
    expect(() => retryBackoff({ maxRetries: Infinity })).not.toThrow();
  });

  it('adds retry events to the result type', () => {
    expectTypeOf(retryBackoff<AgentEvent>()).returns.toEqualTypeOf<Observable<AgentEvent>>();
    expectTypeOf(retryBackoff<string>()).returns.toEqualTypeOf<Observable<string | RetryEvent>>();
  });
});
