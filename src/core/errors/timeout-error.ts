import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link TimeoutError}. */
export interface TimeoutInfo {
  /** Which limit fired. */
  readonly limit: 'first' | 'each' | 'total';
  /** The limit in milliseconds. */
  readonly ms: number;
  /** Events seen before the limit fired. */
  readonly seen: number;
  /** Where the pool stood when the limit fired, filled in by `pool`. */
  readonly pool?: { readonly running: number; readonly waiting: number };
}

/** @internal What `errorFromJSON` checks a timeout's `info` against. */
export const TimeoutInfoSchema: z.ZodType<TimeoutInfo> = z.object({
  limit: z.enum(['first', 'each', 'total']),
  ms: z.number(),
  seen: z.number(),
  pool: z.object({ running: z.number(), waiting: z.number() }).exactOptional(),
});

/**
 * A run took longer than a `timeoutWith` limit allows. Retryable.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof TimeoutError) {
 *   console.log(`${result.error.info.limit} limit of ${result.error.info.ms}ms`, result.error.info.pool);
 * }
 */
export class TimeoutError extends RxAgentError<TimeoutInfo> {
  override readonly name = 'TimeoutError';
  override readonly code = 'E_TIMEOUT';
  constructor({ message, cause, ...info }: TimeoutInfo & ErrorFields) {
    super({ info, message: message ?? timeoutMessage(info), cause, retryable: true });
  }
}

function timeoutMessage({ limit, ms, seen, pool }: TimeoutInfo): string {
  const events = `${seen} event${seen === 1 ? '' : 's'}`;
  const where = pool === undefined ? '' : ` (pool had ${pool.running} running, ${pool.waiting} waiting)`;
  switch (limit) {
    case 'first':
      return `Timed out after ${ms}ms waiting for the first event${where}`;
    case 'each':
      return `No event for ${ms}ms ${seen === 0 ? 'since subscribing' : `after ${events}`}${where}`;
    case 'total':
      return `Did not complete within the total limit of ${ms}ms (${events} seen)${where}`;
  }
}
