import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link StoreUnavailableError}. */
export interface StoreUnavailableInfo {
  /** How long this process has seen Redis unreachable. */
  readonly downForMs: number;
  /** The store's `unavailable.waitMs`, which that exceeded. */
  readonly waitMs: number;
}

/** @internal What `errorFromJSON` checks an unreachable store's `info` against. */
export const StoreUnavailableInfoSchema: z.ZodType<StoreUnavailableInfo> = z.object({
  downForMs: z.number(),
  waitMs: z.number(),
});

/**
 * Redis stayed unreachable longer than a fail-closed `redisStore` waits. Retryable. A run meets it as the
 * `cause` of a retryable `BudgetExhaustedError` with reason `'store-unavailable'`.
 *
 * @example
 * const storeDown = error instanceof BudgetExhaustedError && error.cause instanceof StoreUnavailableError;
 */
export class StoreUnavailableError extends RxAgentError<StoreUnavailableInfo> {
  override readonly name = 'StoreUnavailableError';
  override readonly code = 'E_STORE_UNAVAILABLE';
  constructor({ message, cause, ...info }: StoreUnavailableInfo & ErrorFields) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super({
      info,
      message:
        message ??
        `Redis has been unreachable for ${Math.round(info.downForMs)}ms, longer than \`unavailable.waitMs\` (${info.waitMs}ms)${detail}`,
      cause,
      retryable: true,
    });
  }
}
