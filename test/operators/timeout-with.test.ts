import { Observable, of } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { TimeoutError } from '../../src/core/errors/index.js';
import type { TimeoutInfo } from '../../src/core/errors/index.js';
import { timeoutWith } from '../../src/operators/timeout-with.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

/** Counts, at virtual `frame`, the scheduled actions other than this probe: timers left behind. */
function pendingAt(frame: number): { count: number } {
  const probe = { count: -1 };
  testScheduler.schedule(() => {
    probe.count = testScheduler.actions.length;
  }, frame);
  return probe;
}

function timeoutError(message: string, info: TimeoutInfo): TimeoutError {
  return new TimeoutError({ ...info, message: message });
}

describe('timeoutWith: each', () => {
  it('errors after `each` ms of silence between events and unsubscribes the source', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  --a--b------------c--|');
      const e1subs = '  ^---------!';
      const expected = '--a--b----#';
      const error = timeoutError('No event for 5ms after 2 events', { limit: 'each', ms: 5, seen: 2 });
      expectObservable(e1.pipe(timeoutWith({ each: 5, scheduler: testScheduler }))).toBe(
        expected,
        undefined,
        error,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('restarts the idle timer on every event, so a steady stream never times out', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  -a-b-c-d-e-f-|');
      const e1subs = '  ^------------!';
      const expected = '-a-b-c-d-e-f-|';
      expectObservable(e1.pipe(timeoutWith({ each: 3, scheduler: testScheduler }))).toBe(expected);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('applies to the first event when `first` is not set', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  -----a-|');
      const e1subs = '  ^--!';
      const expected = '---#';
      const error = timeoutError('No event for 3ms since subscribing', { limit: 'each', ms: 3, seen: 0 });
      expectObservable(e1.pipe(timeoutWith({ each: 3, scheduler: testScheduler }))).toBe(
        expected,
        undefined,
        error,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });
});

describe('timeoutWith: first', () => {
  it('errors when the first event takes longer than `first`', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  -------a--|');
      const e1subs = '  ^----!';
      const expected = '-----#';
      const error = timeoutError('Timed out after 5ms waiting for the first event', {
        limit: 'first',
        ms: 5,
        seen: 0,
      });
      expectObservable(e1.pipe(timeoutWith({ first: 5, scheduler: testScheduler }))).toBe(
        expected,
        undefined,
        error,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('sets no limit after the first event when `each` is not set', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  ---a-----------b--|');
      const e1subs = '  ^-----------------!';
      const expected = '---a-----------b--|';
      expectObservable(e1.pipe(timeoutWith({ first: 5, scheduler: testScheduler }))).toBe(expected);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('hands over to `each` after the first event', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  ----a-b-----c|');
      const e1subs = '  ^--------!';
      const expected = '----a-b--#';
      const error = timeoutError('No event for 3ms after 2 events', { limit: 'each', ms: 3, seen: 2 });
      expectObservable(e1.pipe(timeoutWith({ first: 5, each: 3, scheduler: testScheduler }))).toBe(
        expected,
        undefined,
        error,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('names the total limit in the message when one is set', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const e1 = hot('  -------a--|');
      const error = timeoutError('Timed out after 5ms waiting for the first event (total limit 30ms)', {
        limit: 'first',
        ms: 5,
        seen: 0,
      });
      expectObservable(e1.pipe(timeoutWith({ first: 5, total: 30, scheduler: testScheduler }))).toBe(
        '-----#',
        undefined,
        error,
      );
    });
  });
});

describe('timeoutWith: total', () => {
  it('errors when the source has not completed within `total`, however busy it is', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  --a--b--c--d--|');
      const e1subs = '  ^---------!';
      const expected = '--a--b--c-#';
      const error = timeoutError('Did not complete within the total limit of 10ms (3 events seen)', {
        limit: 'total',
        ms: 10,
        seen: 3,
      });
      expectObservable(e1.pipe(timeoutWith({ total: 10, each: 5, scheduler: testScheduler }))).toBe(
        expected,
        undefined,
        error,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('fires the shorter of `total` and `first`', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  ----------a|');
      const e1subs = '  ^--!';
      const error = timeoutError('Did not complete within the total limit of 3ms (0 events seen)', {
        limit: 'total',
        ms: 3,
        seen: 0,
      });
      expectObservable(e1.pipe(timeoutWith({ first: 8, total: 3, scheduler: testScheduler }))).toBe(
        '---#',
        undefined,
        error,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });
});

describe('timeoutWith: with', () => {
  it('switches to the fallback, with the timeout info, after unsubscribing the source', () => {
    testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  --a--b--c--d--e--|');
      const e1subs = '  ^---------!';
      const e2 = cold('           -z|');
      const e2subs = '  ----------^-!';
      const expected = '--a--b--c--z|';
      const infos: TimeoutInfo[] = [];
      const result = e1.pipe(
        timeoutWith({
          total: 10,
          with: (info) => {
            infos.push(info);
            return e2;
          },
          scheduler: testScheduler,
        }),
      );
      expectObservable(result).toBe(expected);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      expectSubscriptions(e2.subscriptions).toBe(e2subs);
      testScheduler.flush();
      expect(infos).toEqual([{ limit: 'total', ms: 10, seen: 3 }]);
    });
  });

  it('accepts any ObservableInput as the fallback, with no time limit on it', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  -----a|');
      const e1subs = '  ^--!';
      const result = e1.pipe(timeoutWith({ first: 3, with: () => ['x', 'y'], scheduler: testScheduler }));
      expectObservable(result).toBe('---(xy|)');
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('errors with what the fallback factory throws', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  -----a|');
      const e1subs = '  ^--!';
      const boom = new Error('no fallback today');
      const result = e1.pipe(
        timeoutWith({
          first: 3,
          with: () => {
            throw boom;
          },
          scheduler: testScheduler,
        }),
      );
      expectObservable(result).toBe('---#', undefined, boom);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });
});

describe('timeoutWith: teardown', () => {
  it('leaves no timer behind when the source completes', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  --a--|');
      const e1subs = '  ^----!';
      const probe = pendingAt(10);
      expectObservable(e1.pipe(timeoutWith({ first: 8, each: 8, total: 30, scheduler: testScheduler }))).toBe(
        '--a--|',
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.flush();
      expect(probe.count).toBe(0);
    });
  });

  it('leaves no timer behind when the source errors, and passes the error on unchanged', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const boom = new Error('boom');
      const e1 = hot('  --a--#', undefined, boom);
      const e1subs = '  ^----!';
      const probe = pendingAt(10);
      expectObservable(e1.pipe(timeoutWith({ each: 8, total: 30, scheduler: testScheduler }))).toBe(
        '--a--#',
        undefined,
        boom,
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.flush();
      expect(probe.count).toBe(0);
    });
  });

  it('leaves no timer behind when the consumer unsubscribes', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const e1 = hot('  --a-----|');
      const unsub = '   ---!';
      const e1subs = '  ^--!';
      // After the hot source's own last message at 8, before the idle timer would fire at 10.
      const probe = pendingAt(9);
      expectObservable(
        e1.pipe(timeoutWith({ first: 8, each: 8, total: 30, scheduler: testScheduler })),
        unsub,
      ).toBe('--a');
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.flush();
      expect(probe.count).toBe(0);
    });
  });

  it('leaves no timer behind when the source completes synchronously', () => {
    testScheduler.run(({ expectObservable }) => {
      const probe = pendingAt(1);
      expectObservable(
        of(1, 2).pipe(timeoutWith({ first: 8, each: 8, total: 30, scheduler: testScheduler })),
      ).toBe('(ab|)', { a: 1, b: 2 });
      testScheduler.flush();
      expect(probe.count).toBe(0);
    });
  });

  it('fires the source teardown on timeout, so a run aborts its request', () => {
    testScheduler.run(({ expectObservable }) => {
      const signals: AbortSignal[] = [];
      const run = new Observable<string>(() => {
        const controller = new AbortController();
        signals.push(controller.signal);
        return () => {
          controller.abort();
        };
      });
      const error = timeoutError('Timed out after 4ms waiting for the first event', {
        limit: 'first',
        ms: 4,
        seen: 0,
      });
      expectObservable(run.pipe(timeoutWith({ first: 4, scheduler: testScheduler }))).toBe(
        '----#',
        undefined,
        error,
      );
      testScheduler.flush();
      expect(signals.map((s) => s.aborted)).toEqual([true]);
    });
  });
});

describe('timeoutWith: arguments', () => {
  it.each([
    [{}, /^No timeout provided: set at least one of `first`.*`each`.*`total`/],
    [{ scheduler: undefined }, /^No timeout provided/],
    [{ first: 0 }, 'Expected `first` to be a positive finite number of milliseconds, got 0 (number)'],
    [{ each: -1 }, 'Expected `each` to be a positive finite number of milliseconds, got -1 (number)'],
    [
      { total: Infinity },
      'Expected `total` to be a positive finite number of milliseconds, got Infinity (number)',
    ],
    [
      { total: Number.NaN },
      'Expected `total` to be a positive finite number of milliseconds, got NaN (number)',
    ],
    [{ first: '5' }, 'Expected `first` to be a positive finite number of milliseconds, got "5" (string)'],
    [{ total: 5, with: 'x' }, 'Expected `with` to be a function, got "x" (string)'],
    [
      { total: 5, scheduler: {} },
      'Expected `scheduler` to be an RxJS scheduler (such as asyncScheduler), got an object',
    ],
    [{ timeout: 5 }, /^Unknown option `timeout` for timeoutWith; expected one of `first`, `each`, `total`/],
    [null, 'Expected `config` to be a config object, got null'],
    [5000, 'Expected `config` to be a config object, got 5000 (number)'],
  ])('throws TypeError at creation for %o', (config, message) => {
    expect(() => timeoutWith(config as never)).toThrow(TypeError);
    expect(() => timeoutWith(config as never)).toThrow(message);
  });

  it('types the fallback values into the result', () => {
    expectTypeOf(timeoutWith<string, number>({ total: 5, with: () => [1] })).toEqualTypeOf<
      OperatorFunction<string, string | number>
    >();
    expectTypeOf(timeoutWith<string>({ total: 5 })).toEqualTypeOf<OperatorFunction<string, string>>();
  });
});
