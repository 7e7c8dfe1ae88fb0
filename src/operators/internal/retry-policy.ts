import { asyncScheduler } from 'rxjs';
import type { SchedulerLike } from 'rxjs';
import { isAgentEvent } from '../../core/agent-event.js';
import { toRxAgentError } from '../../core/errors/index.js';
import type { RxAgentError } from '../../core/errors/index.js';
import type { AgentEvent } from '../../core/types.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectNumber,
  expectScheduler,
} from '../../core/validate.js';
import { backoffDelay, isQuotaError } from './backoff.js';
import type { BackoffPolicy } from './backoff.js';
import type { RetryBackoffConfig } from '../retry-backoff.js';

/**
 * `retryBackoff`'s configuration, checked and with its defaults: what decides whether and when a failed
 * attempt runs again, shared by the operator and by the pool engine, which retries `runAgents`' runs itself.
 */
export interface RetryPolicy extends BackoffPolicy {
  readonly maxRetries: number;
  readonly retryable: (error: RxAgentError, attempt: number) => boolean;
  readonly replay: boolean;
  readonly scheduler: SchedulerLike;
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

/** Checks a `retryBackoff` configuration and fills in its defaults. */
export function retryPolicy(config: RetryBackoffConfig): RetryPolicy {
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
  return { maxRetries, baseDelayMs, maxDelayMs, jitter, random, retryable, replay, scheduler };
}

/**
 * The wait before the next attempt after attempt `attempt` (1-based) failed with `error`, or `undefined` when
 * there is to be none: retries used up, output already sent (unless `replay`), a quota error, or an error the
 * policy's `retryable` turns down. Throws what `retryable` or `random` throws.
 */
export function retryDelay(
  policy: RetryPolicy,
  error: RxAgentError,
  attempt: number,
  outputSent: boolean,
): number | undefined {
  if (
    attempt > policy.maxRetries ||
    (outputSent && !policy.replay) ||
    isQuotaError(error) ||
    !policy.retryable(error, attempt)
  ) {
    return undefined;
  }
  return backoffDelay(attempt, policy, error);
}

/** Events that report on a run without being its output, so emitting them does not forbid a retry. */
const BOOKKEEPING = new Set<AgentEvent['type']>(['usage', 'rate-limits', 'retry', 'route', 'admitted']);

/** Whether a value a run emitted is output (forbidding a retry without `replay`), not bookkeeping. */
export function isOutput(value: unknown): boolean {
  return !(isAgentEvent(value) && BOOKKEEPING.has(value.type));
}
