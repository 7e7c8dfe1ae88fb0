import { Observable, asyncScheduler } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { isAgentEvent } from '../core/agent-event.js';
import { toRxAgentError } from '../core/errors/index.js';
import type { RxAgentError } from '../core/errors/index.js';
import type { AgentEvent } from '../core/types.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectNumber,
  expectScheduler,
} from '../core/validate.js';
import { backoffDelay, isQuotaError } from './internal/backoff.js';

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

const OPTIONS = [
  'maxRetries',
  'baseDelayMs',
  'maxDelayMs',
  'jitter',
  'retryable',
  'replay',
  'random',
  'scheduler',
] as const;

/** Events that report on a run without being its output, so emitting them does not forbid a retry. */
const BOOKKEEPING = new Set<AgentEvent['type']>(['usage', 'rate-limits', 'retry']);

/**
 * The default retry predicate: errors rxagent marks `retryable` (rate limits, timeouts, 5xx-like provider
 * errors), except quota errors; anything that is not an `RxAgentError` is not retryable.
 *
 * @example
 * retryBackoff({ retryable: (error, attempt) => defaultRetryable(error) && attempt < 5 });
 */
export function defaultRetryable(error: unknown): boolean {
  const typed = toRxAgentError(error);
  return typed.retryable && !isQuotaError(typed);
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
  expectConfig('config', config);
  expectKnownKeys('retryBackoff', config, OPTIONS);
  const maxRetries = expectInteger('maxRetries', config.maxRetries ?? 2, 0, true);
  const baseDelayMs = expectNumber('baseDelayMs', config.baseDelayMs ?? 500, 0);
  const maxDelayMs = expectNumber('maxDelayMs', config.maxDelayMs ?? 30_000, 0);
  const jitter = config.jitter ?? 0.25;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new TypeError(`Expected \`jitter\` to be a number from 0 to 1, got ${describe(jitter)}`);
  }
  const retryable = config.retryable ?? defaultRetryable;
  expectFunction('retryable', retryable);
  const random = config.random ?? Math.random;
  expectFunction('random', random);
  const replay = config.replay ?? false;
  if (typeof replay !== 'boolean') {
    throw new TypeError(`Expected \`replay\` to be a boolean, got ${describe(replay)}`);
  }
  const scheduler =
    config.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', config.scheduler);
  const policy = { baseDelayMs, maxDelayMs, jitter, random };

  return (source) =>
    new Observable<T | RetryEvent>((subscriber) => {
      let attempt = 1;
      let outputSent = false;
      let timer: Subscription | undefined;

      const onError = (thrown: unknown): void => {
        const error = toRxAgentError(thrown);
        let delayMs: number;
        try {
          if (
            attempt > maxRetries ||
            (outputSent && !replay) ||
            isQuotaError(error) ||
            !retryable(error, attempt)
          ) {
            subscriber.error(error);
            return;
          }
          delayMs = backoffDelay(attempt, policy, error);
        } catch (callbackError) {
          subscriber.error(toRxAgentError(callbackError));
          return;
        }
        attempt += 1;
        subscriber.next({ type: 'retry', attempt, delayMs, error });
        // The consumer may have unsubscribed on seeing the retry event; then no timer may be left behind.
        if (subscriber.closed) return;
        timer = scheduler.schedule(() => {
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
              if (!outputSent && !(isAgentEvent(value) && BOOKKEEPING.has(value.type))) outputSent = true;
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
