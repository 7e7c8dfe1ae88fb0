import {
  asyncScheduler,
  concat,
  defer,
  ignoreElements,
  of,
  tap,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import type { TaskEvent } from '../core/types.js';
import { expectConfig, expectScheduler } from '../core/validate.js';

/** How many tasks were running from `time` on. */
export interface ConcurrencySample {
  readonly time: number;
  readonly running: number;
}

/** Every change of the running count, and its peak. */
export interface ConcurrencyReport {
  readonly samples: readonly ConcurrencySample[];
  readonly max: number;
}

/** A live report plus the operator that feeds it. */
export interface ConcurrencyRecorder extends ConcurrencyReport {
  /** Tasks started and not yet settled. */
  readonly running: number;
  /** Passes the events through unchanged while counting them. Use it on one subscription only. */
  readonly record: <E extends TaskEvent<unknown>>(events$: Observable<E>) => Observable<E>;
}

/** Options of {@link concurrencyRecorder} and {@link recordConcurrency}. */
export interface ConcurrencyRecorderOptions {
  /** The clock for `samples`. In `TestScheduler.run` the default reads virtual time. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

function checkOptions(options: ConcurrencyRecorderOptions): SchedulerLike {
  expectConfig('options', options);
  return expectScheduler('scheduler', options.scheduler ?? asyncScheduler);
}

/**
 * Counts tasks running at once from a stream of `TaskEvent`s: `started` adds one, the `settled` of a started
 * task removes one (a task settled without starting, such as a queue-full rejection, changes nothing). Every
 * change is sampled with the scheduler's time, in event order, so a pool that emits the next `started` before
 * the `settled` it replaces shows up as an overshoot at that instant.
 *
 * ```
 * events:  -s---t----S----T-|     s,t = started of 1,2; S,T = settled of 1,2
 * running:  1   2    1    0
 * ```
 *
 * @example
 * const recorder = concurrencyRecorder();
 * expectObservable(pool$.pipe(recorder.record)).toBe(expected, values);
 * flush();
 * expect(recorder.max).toBe(2);
 */
export function concurrencyRecorder(options: ConcurrencyRecorderOptions = {}): ConcurrencyRecorder {
  const scheduler = checkOptions(options);
  const started = new Set<string>();
  const samples: ConcurrencySample[] = [];
  let max = 0;
  const count = (event: TaskEvent<unknown>): void => {
    if (event.type === 'started' && !started.has(event.taskId)) started.add(event.taskId);
    else if (!(event.type === 'settled' && started.delete(event.taskId))) return;
    samples.push({ time: scheduler.now(), running: started.size });
    max = Math.max(max, started.size);
  };
  return {
    samples,
    get max() {
      return max;
    },
    get running() {
      return started.size;
    },
    record: <E extends TaskEvent<unknown>>(events$: Observable<E>) =>
      events$.pipe(
        tap((event: E) => {
          count(event);
        }),
      ),
  };
}

/**
 * Subscribes to `events$` and, when it completes, emits one {@link ConcurrencyReport} of how many tasks ran at
 * once at every instant.
 *
 * ```
 * events:  -s---t----S----T-|
 * result:  -----------------(r|)   r = { max: 2, samples: [{1,1}, {5,2}, {10,1}, {15,0}] }
 * ```
 *
 * @example
 * expectObservable(recordConcurrency(pool$)).toBe('----(r|)', { r: { max: 2, samples } });
 */
export function recordConcurrency(
  events$: Observable<TaskEvent<unknown>>,
  options: ConcurrencyRecorderOptions = {},
): Observable<ConcurrencyReport> {
  checkOptions(options);
  return defer(() => {
    const recorder = concurrencyRecorder(options);
    return concat(
      events$.pipe(recorder.record, ignoreElements()),
      defer(() => of({ samples: [...recorder.samples], max: recorder.max })),
    );
  });
}
