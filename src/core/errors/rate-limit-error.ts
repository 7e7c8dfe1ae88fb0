import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link RateLimitError}. */
export interface RateLimitInfo {
  /** The limit that was reached. */
  readonly limit: 'tokens' | 'requests';
  /** How long the provider (or budget) asks to wait before the next attempt. */
  readonly retryAfterMs: number;
  /** The HTTP status, when the error came from a response. */
  readonly status?: number;
}

/** @internal What `errorFromJSON` checks a rate limit's `info` against. */
export const RateLimitInfoSchema: z.ZodType<RateLimitInfo> = z.object({
  limit: z.enum(['tokens', 'requests']),
  retryAfterMs: z.number(),
  status: z.number().exactOptional(),
});

/**
 * The provider (or a budget) answered 429. Retryable after `retryAfterMs`, which has no upper cap.
 *
 * @example
 * budget.rateLimited(new RateLimitError({ limit: 'tokens', retryAfterMs: 2_000 }));
 */
export class RateLimitError extends RxAgentError<RateLimitInfo> {
  override readonly name = 'RateLimitError';
  override readonly code = 'E_RATE_LIMITED';
  constructor({ message, cause, ...info }: RateLimitInfo & ErrorFields) {
    const status = info.status === undefined ? '' : ` (${info.status})`;
    super({
      info,
      message: message ?? `Rate limit on ${info.limit} reached${status}; retry after ${info.retryAfterMs} ms`,
      cause,
      retryable: true,
    });
  }
  /** `info.retryAfterMs`: how long to wait before the next attempt. */
  get retryAfterMs(): number {
    return this.info.retryAfterMs;
  }
  /** `info.limit`: the limit that was reached. */
  get limit(): 'tokens' | 'requests' {
    return this.info.limit;
  }
}
