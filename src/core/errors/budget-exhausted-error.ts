import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link BudgetExhaustedError}, told apart by `reason`. */
export type BudgetExhaustedInfo =
  | {
      /** The total-cost cap is spent. */
      readonly reason: 'max-total-cost';
      /** The budget's `maxTotalCost`, in dollars. */
      readonly maxTotalCost: number;
      /** Dollars spent when the run was refused. */
      readonly spent: number;
    }
  | {
      /** The estimate is larger than a whole limit, so it can never be granted. */
      readonly reason: 'exceeds-capacity';
      /** The limit it exceeds. */
      readonly limit: 'tokens' | 'inputTokens' | 'outputTokens' | 'requests' | 'cost';
      /** What the run asked of that limit. */
      readonly requested: number;
      /** The limit's size per minute. */
      readonly capacity: number;
    }
  | {
      /** The budget's store failed or stayed unreachable; `cause` says how. */
      readonly reason: 'store-unavailable';
    };

/** @internal What `errorFromJSON` checks a budget refusal's `info` against. */
export const BudgetExhaustedInfoSchema: z.ZodType<BudgetExhaustedInfo> = z.discriminatedUnion('reason', [
  z.object({ reason: z.literal('max-total-cost'), maxTotalCost: z.number(), spent: z.number() }),
  z.object({
    reason: z.literal('exceeds-capacity'),
    limit: z.enum(['tokens', 'inputTokens', 'outputTokens', 'requests', 'cost']),
    requested: z.number(),
    capacity: z.number(),
  }),
  z.object({ reason: z.literal('store-unavailable') }),
]);

/**
 * A budget will not grant this run: the total-cost cap is spent, the estimate exceeds a whole limit, or the
 * budget's store stayed unreachable (`info.reason` says which). Only the last is retryable: a store that could
 * not answer passes once it is back.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof BudgetExhaustedError) {
 *   console.log(`not run: ${result.error.info.reason}`);
 * }
 */
export class BudgetExhaustedError extends RxAgentError<BudgetExhaustedInfo> {
  override readonly name = 'BudgetExhaustedError';
  override readonly code = 'E_BUDGET_EXHAUSTED';
  constructor({ message, cause, ...info }: BudgetExhaustedInfo & ErrorFields) {
    super({
      info,
      message: message ?? budgetMessage(info),
      cause,
      retryable: info.reason === 'store-unavailable',
    });
  }
}

function budgetMessage(info: BudgetExhaustedInfo): string {
  switch (info.reason) {
    case 'max-total-cost':
      return `Budget spent: ${info.spent.toFixed(4)} of the \`maxTotalCost\` of ${info.maxTotalCost} dollars; nothing new starts`;
    case 'exceeds-capacity':
      return `A request of ${info.requested} ${info.limit} exceeds the budget's limit of ${info.capacity} per minute and can never be granted`;
    case 'store-unavailable':
      return 'The budget store is unavailable';
  }
}
