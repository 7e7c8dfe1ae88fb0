import { Observable, Subscription, asyncScheduler, from } from 'rxjs';
import type { ObservableInput, OperatorFunction, SchedulerLike } from 'rxjs';
import { TimeoutError } from '../core/errors/index.js';
import type { TimeoutInfo } from '../core/errors/index.js';
import {
  expectConfig,
  expectFunction,
  expectKnownKeys,
  expectPositive,
  expectScheduler,
} from '../core/validate.js';

/** Limits for {@link timeoutWith}; at least one of `first`, `each` and `total` is required. */
export interface TimeoutWithConfig<F> {
  /**
   * Milliseconds from subscription to the first event.
   * @defaultValue `each` when set, else no limit on the first event
   */
  readonly first?: number;
  /**
   * Milliseconds of silence allowed between two events (and before the first one when `first` is not set).
   * @defaultValue no limit
   */
  readonly each?: number;
  /**
   * Milliseconds from subscription to completion, however many events arrive.
   * @defaultValue no limit
   */
  readonly total?: number;
  /**
   * Supplies the observable that takes over after a timeout.
   * @defaultValue none: the result errors with `TimeoutError`
   */
  readonly with?: (info: TimeoutInfo) => ObservableInput<F>;
  /**
   * Where the timers run.
   * @defaultValue `asyncScheduler`
   */
  readonly scheduler?: SchedulerLike;
}

const OPTIONS = ['first', 'each', 'total', 'with', 'scheduler'] as const;

/**
 * Bounds a run in time: to its first event, between events, and in total; on timeout the upstream is
 * unsubscribed (aborting the model's request) and `with` takes over, else the result errors with
 * `TimeoutError`.
 *
 * ```
 * source:  --a--b------------c--|
 *          timeoutWith({ each: 5 })
 * result:  --a--b----#                 # = TimeoutError 'No event for 5ms after 2 events'
 *
 * source:  --a--b--c--d--e--f--|
 *          timeoutWith({ total: 10, with: () => of('z') })
 * result:  --a--b--c-(z|)
 * ```
 *
 * @example
 * agent.run(task, { signal }).pipe(timeoutWith({ first: 5_000, each: 2_000, total: 30_000 }));
 */
export function timeoutWith<T, F = T>(config: TimeoutWithConfig<F>): OperatorFunction<T, T | F> {
  expectConfig('config', config);
  expectKnownKeys('timeoutWith', config, OPTIONS);
  const { first, each, total, with: fallback } = config;
  if (first === undefined && each === undefined && total === undefined) {
    throw new TypeError(
      'No timeout provided: set at least one of `first` (ms to the first event), `each` (ms between events) ' +
        'or `total` (ms to completion), e.g. timeoutWith({ total: 30_000 })',
    );
  }
  if (first !== undefined) expectPositive('first', first);
  if (each !== undefined) expectPositive('each', each);
  if (total !== undefined) expectPositive('total', total);
  if (fallback !== undefined) expectFunction('with', fallback);
  const scheduler =
    config.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', config.scheduler);

  return (source) =>
    new Observable<T | F>((subscriber) => {
      let seen = 0;
      let idleTimer: Subscription | undefined;
      let totalTimer: Subscription | undefined;
      const upstream = new Subscription();

      const clearTimers = (): void => {
        idleTimer?.unsubscribe();
        totalTimer?.unsubscribe();
        idleTimer = totalTimer = undefined;
      };

      const fire = (limit: TimeoutInfo['limit'], ms: number): void => {
        clearTimers();
        upstream.unsubscribe();
        const info: TimeoutInfo = { limit, ms, seen };
        if (fallback === undefined) {
          subscriber.error(new TimeoutError({ ...info, message: timeoutMessage(info, total) }));
          return;
        }
        let fallback$: Observable<F>;
        try {
          fallback$ = from(fallback(info));
        } catch (error) {
          subscriber.error(error);
          return;
        }
        subscriber.add(
          fallback$.subscribe({
            next: (value) => {
              subscriber.next(value);
            },
            error: (error: unknown) => {
              subscriber.error(error);
            },
            complete: () => {
              subscriber.complete();
            },
          }),
        );
      };

      const startIdle = (limit: 'first' | 'each', ms: number): void => {
        idleTimer = scheduler.schedule(() => {
          fire(limit, ms);
        }, ms);
      };

      // Timers start before the source is subscribed so that a source completing synchronously clears them.
      if (total !== undefined) {
        totalTimer = scheduler.schedule(() => {
          fire('total', total);
        }, total);
      }
      if (first !== undefined) startIdle('first', first);
      else if (each !== undefined) startIdle('each', each);

      upstream.add(
        source.subscribe({
          next: (value) => {
            seen += 1;
            idleTimer?.unsubscribe();
            idleTimer = undefined;
            subscriber.next(value);
            // A consumer that unsubscribed while handling the value must not be left with a live timer.
            if (each !== undefined && !subscriber.closed) startIdle('each', each);
          },
          error: (error: unknown) => {
            subscriber.error(error);
          },
          complete: () => {
            subscriber.complete();
          },
        }),
      );

      return () => {
        clearTimers();
        upstream.unsubscribe();
      };
    });
}

function timeoutMessage({ limit, ms, seen }: TimeoutInfo, total: number | undefined): string {
  const events = `${seen} event${seen === 1 ? '' : 's'}`;
  const context = total === undefined ? '' : ` (total limit ${total}ms)`;
  switch (limit) {
    case 'first':
      return `Timed out after ${ms}ms waiting for the first event${context}`;
    case 'each':
      return seen === 0
        ? `No event for ${ms}ms since subscribing${context}`
        : `No event for ${ms}ms after ${events}${context}`;
    case 'total':
      return `Did not complete within the total limit of ${ms}ms (${events} seen)`;
  }
}
