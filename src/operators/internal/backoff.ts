import { RateLimitError } from '../../core/errors/index.js';
import type { RxAgentError } from '../../core/errors/index.js';

/** The numbers that shape a backoff schedule, already validated. */
export interface BackoffPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: number;
  readonly random: () => number;
}

/**
 * The wait in whole milliseconds before retry `retry` (1-based): `baseDelayMs·2^(retry−1)` capped at
 * `maxDelayMs`, shortened by up to `jitter` of itself, and never shorter than a rate limit's `retryAfterMs`,
 * which is not capped because the provider will refuse any earlier attempt.
 */
export function backoffDelay(retry: number, policy: BackoffPolicy, error: RxAgentError): number {
  const exponential = Math.min(policy.baseDelayMs * 2 ** (retry - 1), policy.maxDelayMs);
  const delay = Math.round(exponential * (1 - policy.random() * policy.jitter));
  if (error instanceof RateLimitError && Number.isFinite(error.retryAfterMs)) {
    return Math.max(delay, Math.ceil(error.retryAfterMs));
  }
  return delay;
}

/** Whether the provider said the account is out of quota, which no amount of waiting fixes. */
export function isQuotaError(error: RxAgentError): boolean {
  const info: unknown = error.info;
  return (
    typeof info === 'object' && info !== null && (info as { type?: unknown }).type === 'insufficient_quota'
  );
}
