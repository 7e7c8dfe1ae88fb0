import { asyncScheduler, concat, defer, of } from 'rxjs';
import type { Observable, SchedulerLike } from 'rxjs';
import type { Budget } from '../../budget/create-budget.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, estimateTokens } from '../../budget/estimate.js';
import { CancelledError } from '../../core/errors/index.js';
import type { AgentEvent, Task } from '../../core/types.js';
import { describe, expectConfig, expectFunction, expectInteger } from '../../core/validate.js';
import { retryPolicy } from './retry-policy.js';
import type { RetryPolicy } from './retry-policy.js';
import type { RetryBackoffConfig } from '../retry-backoff.js';
import { throttleBudget } from '../throttle-budget.js';
import { timeoutWith } from '../timeout-with.js';

/** What bounds every attempt of a run: the limits `runAgents` and `serve` share. */
export interface RunLimitsConfig {
  readonly timeoutMs?: number | undefined;
  readonly timeout?: { readonly first?: number; readonly each?: number; readonly total?: number } | undefined;
  readonly retry?: RetryBackoffConfig | false | undefined;
  readonly budget?: Budget | undefined;
  readonly estimate?: ((task: Task) => number) | undefined;
  /** The output cap the agent sends for tasks that set none (`Agent.maxOutputTokens`). @defaultValue 1024 */
  readonly outputCap?: number | undefined;
  readonly scheduler?: SchedulerLike | undefined;
}

/** Why an attempt's signal aborts when the attempt is unsubscribed before it ended. */
export function attemptEnded(taskId: string): CancelledError {
  return new CancelledError({
    reason: 'unsubscribed',
    taskId,
    message: `Attempt of ${taskId} was stopped before it ended`,
  });
}

/** Wraps one attempt of an agent's run in the limits of every attempt. */
export type LimitAttempt = (run$: Observable<AgentEvent>, task: Task) => Observable<AgentEvent>;

/** The limits of a run: what bounds each attempt, and when a failed attempt runs again. */
export interface RunLimits {
  /** The timeout inside the budget, so waiting for the budget is not counted as model time; none without either. */
  readonly attempt: LimitAttempt | undefined;
  /** Outside the budget, so that every attempt waits and is charged again; the pool engine retries. */
  readonly retry: RetryPolicy | undefined;
}

/** Checks the limits now, so callers fail when created, not on their first task. */
export function runLimits(config: RunLimitsConfig): RunLimits {
  const scheduler = config.scheduler === undefined ? {} : { scheduler: config.scheduler };
  if (config.timeoutMs !== undefined && config.timeout !== undefined) {
    throw new TypeError(
      'Give `timeoutMs` or `timeout`, not both: `timeoutMs: n` means `timeout: { total: n }`',
    );
  }
  const limits = config.timeoutMs === undefined ? config.timeout : { total: config.timeoutMs };
  if (limits !== undefined) expectConfig('timeout', limits);
  const bound = limits === undefined ? undefined : timeoutWith<AgentEvent>({ ...limits, ...scheduler });
  const retry = config.retry ?? { maxRetries: 2 };
  if (retry !== false) expectConfig('retry', retry);
  const retried = retry === false ? undefined : retryPolicy({ ...scheduler, ...retry });
  const { budget } = config;
  if (budget !== undefined && typeof (budget as Partial<Budget> | null)?.reserve !== 'function') {
    throw new TypeError(`Expected \`budget\` to be a Budget from createBudget(), got ${describe(budget)}`);
  }
  const outputCap =
    config.outputCap === undefined
      ? DEFAULT_MAX_OUTPUT_TOKENS
      : expectInteger('agent.maxOutputTokens', config.outputCap, 1);
  const estimate =
    config.estimate ?? ((task: Task) => estimateTokens(task, { defaultMaxOutputTokens: outputCap }));
  expectFunction('estimate', estimate);
  if (bound === undefined && budget === undefined) return { attempt: undefined, retry: retried };
  const clock = config.scheduler ?? asyncScheduler;
  const attempt: LimitAttempt = (run$, task) => {
    const bounded = bound === undefined ? run$ : run$.pipe(bound);
    if (budget === undefined) return bounded;
    const outputTokens = task.maxOutputTokens ?? outputCap;
    // `admitted` says how long the budget held the attempt back, so that time is not taken for the model's.
    return defer(() => {
      const askedAt = clock.now();
      return concat(
        defer(() => of<AgentEvent>({ type: 'admitted', waitMs: clock.now() - askedAt })),
        bounded,
      ).pipe(throttleBudget(budget, { cost: estimate(task), outputTokens }));
    });
  };
  return { attempt, retry: retried };
}
