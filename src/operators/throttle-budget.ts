import { Observable, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { isAgentEvent } from '../core/agent-event.js';
import { RateLimitError } from '../core/errors/index.js';
import { describe, expectConfig, expectKnownKeys, expectNumber } from '../core/validate.js';
import type { Budget, Reservation } from '../budget/create-budget.js';

/** Options of {@link throttleBudget}. */
export interface ThrottleBudgetOptions {
  /** Estimated tokens of the run (input + reserved output), such as `estimateTokens(task)`. @defaultValue 0 */
  readonly cost?: number;
  /** Requests the run makes. @defaultValue 1 */
  readonly requests?: number;
  /**
   * Of `cost`, the output reserved (`task.maxOutputTokens`, else the model's cap): lets the budget learn how
   * far input estimates fall from the provider's count and reconcile each run exactly (`BudgetRequest`).
   * @defaultValue unknown
   */
  readonly outputTokens?: number;
}

/**
 * Runs one task's run only when `budget` grants its estimate, then keeps the budget in step with it.
 *
 * ```
 * budget:   ----granted------------------
 * source:       ^--d--u--r--|              (subscribed only once granted)
 * result:   ------d--u--r--|
 *                    └ usage reconciles the reservation; rate-limits re-synchronise the budget
 * ```
 *
 * The reservation is taken before the source is subscribed; runs wait in arrival order. `usage` events
 * refund or charge the difference (see `BudgetConfig.tokenAccounting`), `rate-limits` events are fed to
 * `budget.observe`, and a `RateLimitError` from the source puts the whole budget in cooldown for its
 * `retryAfterMs` before it propagates (a retry upstream re-enters the budget). A run that fails or is
 * unsubscribed before emitting anything is refunded: the provider never counted it. Anything else keeps
 * what was reserved, since failed requests count too. A request the budget can never grant errors with
 * `BudgetExhaustedError` without subscribing to the source.
 *
 * @example
 * tasks$.pipe(pool((task, ctx) => agent.run(task, ctx).pipe(throttleBudget(budget, { cost: estimateTokens(task) }))));
 */
export function throttleBudget<T>(
  budget: Budget,
  options: ThrottleBudgetOptions = {},
): MonoTypeOperatorFunction<T> {
  if (typeof budget !== 'object' || typeof (budget as Partial<Budget> | null)?.reserve !== 'function') {
    throw new TypeError(`Expected \`budget\` to be a Budget from createBudget(), got ${describe(budget)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('throttleBudget', options, ['cost', 'requests', 'outputTokens']);
  const tokens = options.cost === undefined ? 0 : expectNumber('cost', options.cost, 0);
  const requests = options.requests === undefined ? 1 : expectNumber('requests', options.requests, 0);
  const request =
    options.outputTokens === undefined
      ? { tokens, requests }
      : { tokens, requests, outputTokens: expectNumber('outputTokens', options.outputTokens, 0) };
  return (source) =>
    new Observable<T>((subscriber) => {
      let reservation: Reservation | undefined;
      let run: Subscription | undefined;
      let seen = false;
      const end = (outcome: 'used' | 'unused'): void => {
        const held = reservation;
        reservation = undefined;
        held?.end(outcome);
      };
      const waiting = budget.reserve(request).subscribe({
        next: (granted) => {
          reservation = granted;
          run = source.subscribe({
            next: (value) => {
              // A router's `route` notice and `runAgents`' `admitted` come before the request is sent: the
              // provider has seen nothing yet.
              if (!isAgentEvent(value) || (value.type !== 'route' && value.type !== 'admitted')) seen = true;
              if (isAgentEvent(value)) {
                if (value.type === 'usage') reservation?.charge(value.usage);
                else if (value.type === 'rate-limits') budget.observe(value.limits);
              }
              subscriber.next(value);
            },
            error: (error: unknown) => {
              if (error instanceof RateLimitError) budget.rateLimited(error);
              // A 429 keeps its reservation: the cooldown already holds everyone back, and erring high is safe.
              end(seen || error instanceof RateLimitError ? 'used' : 'unused');
              subscriber.error(error);
            },
            complete: () => {
              end('used');
              subscriber.complete();
            },
          });
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
      });
      return () => {
        waiting.unsubscribe();
        run?.unsubscribe();
        end(seen ? 'used' : 'unused');
      };
    });
}
