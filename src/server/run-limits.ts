import type { MonoTypeOperatorFunction, Observable, SchedulerLike } from 'rxjs';
import type { Budget } from '../budget/create-budget.js';
import { estimateTokens } from '../budget/estimate.js';
import type { AgentEvent, Task } from '../core/types.js';
import { expectConfig } from '../core/validate.js';
import { retryBackoff } from '../operators/retry-backoff.js';
import type { RetryBackoffConfig } from '../operators/retry-backoff.js';
import { throttleBudget } from '../operators/throttle-budget.js';
import { timeoutWith } from '../operators/timeout-with.js';

/** What bounds one gateway run, as in `runAgents`. */
export interface RunLimitsConfig {
  readonly timeoutMs?: number | undefined;
  readonly timeout?: { readonly first?: number; readonly each?: number; readonly total?: number } | undefined;
  readonly retry?: RetryBackoffConfig | false | undefined;
  readonly budget: Budget | undefined;
  readonly scheduler: SchedulerLike;
}

/** Wraps an agent's run in the limits of every attempt. */
export type LimitRun = (run$: Observable<AgentEvent>, task: Task) => Observable<AgentEvent>;

/**
 * Builds the wrapper `serve` puts around each run, in `runAgents`' order: the timeout inside the budget (waiting
 * for the budget is not model time), the budget inside the retry (every attempt waits and is charged). Checks
 * the options now, so that `serve` fails before it listens.
 */
export function limitRuns(config: RunLimitsConfig): LimitRun {
  if (config.timeoutMs !== undefined && config.timeout !== undefined) {
    throw new TypeError(
      'Give `timeoutMs` or `timeout`, not both: `timeoutMs: n` means `timeout: { total: n }`',
    );
  }
  const limits = config.timeoutMs === undefined ? config.timeout : { total: config.timeoutMs };
  if (limits !== undefined) expectConfig('timeout', limits);
  const bound: MonoTypeOperatorFunction<AgentEvent> | undefined =
    limits === undefined ? undefined : timeoutWith<AgentEvent>({ ...limits, scheduler: config.scheduler });
  const retry = config.retry ?? { maxRetries: 2 };
  if (retry !== false) expectConfig('retry', retry);
  const retried: MonoTypeOperatorFunction<AgentEvent> | undefined =
    retry === false ? undefined : retryBackoff<AgentEvent>({ scheduler: config.scheduler, ...retry });
  const { budget } = config;
  return (run$, task) => {
    let limited = run$;
    if (bound !== undefined) limited = limited.pipe(bound);
    if (budget !== undefined) limited = limited.pipe(throttleBudget(budget, { cost: estimateTokens(task) }));
    if (retried !== undefined) limited = limited.pipe(retried);
    return limited;
  };
}
