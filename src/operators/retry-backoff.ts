import { Observable } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { toRxAgentError } from '../core/errors/index.js';
import type { RxAgentError } from '../core/errors/index.js';
import type { AgentEvent } from '../core/types.js';
import { isOutput, retryDelay, retryPolicy } from './internal/retry-policy.js';

export { defaultRetryable } from './internal/retry-policy.js';

/** Emitted by {@link retryBackoff} just before it waits and resubscribes. */
export type RetryEvent = Extract<AgentEvent, { type: 'retry' }>;

/** Options of {@link retryBackoff}. */
export interface RetryBackoffConfig {
  /**
   * Retries after the first attempt; `Infinity` retries for as long as errors are retryable.
   * @defaultValue 2
   */
  readonly maxRetries?: number;
  /**
   * Wait before the first retry; each later retry waits twice as long as the one before.
   * @defaultValue 500
   */
  readonly baseDelayMs?: number;
  /**
   * Cap on the exponential wait. A `RateLimitError`'s `retryAfterMs` is honoured even above it.
   * @defaultValue 30_000
   */
  readonly maxDelayMs?: number;
  /**
   * Share of the wait, from 0 to 1, that is randomly taken off (`delay × (1 − random·jitter)`) so that
   * many runs failing together do not retry together.
   * @defaultValue 0.25
   */
  readonly jitter?: number;
  /**
   * Whether an error may be retried; `attempt` is the 1-based number of the attempt that failed.
   * Quota errors (`info.type === 'insufficient_quota'`) are never retried, whatever it answers.
   * @defaultValue {@link defaultRetryable}
   */
  readonly retryable?: (error: RxAgentError, attempt: number) => boolean;
  /**
   * Retry even after output was emitted downstream, which then sees that output again after the
   * `retry` event.
   * @defaultValue false
   */
  readonly replay?: boolean;
  /**
   * Source of randomness for the jitter, in `[0, 1)`; tests pass a constant.
   * @defaultValue `Math.random`
   */
  readonly random?: () => number;
  /**
   * Where the retry timers run.
   * @defaultValue `asyncScheduler`
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * Resubscribes to a failed run after an exponential, jittered wait that honours a rate limit's
 * `retryAfterMs`, emitting a `retry` event before each wait; never retries once output has gone downstream
 * (unless `replay`), and errors with the last error, as an `RxAgentError`, when it gives up.
 *
 * ```
 * attempts: --#  then --#  then --a--|       (a cold source that fails twice with a retryable error)
 *           retryBackoff({ maxRetries: 2, baseDelayMs: 3, random: () => 0 })
 * result:   --r----r-------a--|               r = { type: 'retry', attempt: 2 then 3, delayMs: 3 then 6 }
 * source:   ^-!
 *                ^-!
 *                        ^----!
 * ```
 *
 * @example
 * agent.run(task, { signal }).pipe(timeoutWith({ total: 30_000 }), retryBackoff({ maxRetries: 3 }));
 */
export function retryBackoff<T>(config: RetryBackoffConfig = {}): OperatorFunction<T, T | RetryEvent> {
  const policy = retryPolicy(config);

  return (source) =>
    new Observable<T | RetryEvent>((subscriber) => {
      let attempt = 1;
      let outputSent = false;
      let timer: Subscription | undefined;

      const onError = (thrown: unknown): void => {
        const error = toRxAgentError(thrown);
        let delayMs: number | undefined;
        try {
          delayMs = retryDelay(policy, error, attempt, outputSent);
        } catch (callbackError) {
          subscriber.error(toRxAgentError(callbackError));
          return;
        }
        if (delayMs === undefined) {
          subscriber.error(error);
          return;
        }
        attempt += 1;
        subscriber.next({ type: 'retry', attempt, delayMs, error });
        // The consumer may have unsubscribed on seeing the retry event; then no timer may be left behind.
        if (subscriber.closed) return;
        timer = policy.scheduler.schedule(() => {
          timer = undefined;
          subscribeOnce();
        }, delayMs);
      };

      const subscribeOnce = (): void => {
        // Added to the subscriber so unsubscribing reaches the current attempt; finished attempts remove themselves.
        subscriber.add(
          source.subscribe({
            next: (value) => {
              // Once output went out, nothing more is learnt from an event: no check per delta.
              if (!outputSent && isOutput(value)) outputSent = true;
              subscriber.next(value);
            },
            error: onError,
            complete: () => {
              subscriber.complete();
            },
          }),
        );
      };

      subscribeOnce();
      return () => {
        timer?.unsubscribe();
        timer = undefined;
      };
    });
}
