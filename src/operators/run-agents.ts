import type { OperatorFunction } from 'rxjs';
import type { InvalidTask } from '../core/invalid-task.js';
import type { Agent, Task, TaskEvent } from '../core/types.js';
import { poolEngine } from './internal/pool-engine.js';
import type { PoolOptions } from './internal/pool-engine.js';
import { POOL_OPTIONS, poolOptions } from './pool.js';
import type { PoolConfig, Worker } from './pool.js';
import type { Budget } from '../budget/create-budget.js';
import { describe, expectConfig, expectKnownKeys } from '../core/validate.js';
import { attemptEnded, runLimits } from './internal/run-limits.js';
import type { LimitAttempt } from './internal/run-limits.js';
import { withRunContext } from '../core/with-signal.js';
import { onRequestPhase, requestPhase } from '../core/request-phase.js';
import type { RetryBackoffConfig } from './retry-backoff.js';
import { hedgePolicy } from './internal/hedge-policy.js';

/**
 * Hedged requests: when an attempt has had no first token (no delta, no tool calls) for `after` since its
 * request went out, a second attempt of the task starts; the first with output goes on and the other is
 * unsubscribed at once, its `signal` aborted. Hedges are at most `maxExtra` of the requests, each takes a
 * free slot under `concurrency` (never one a task is waiting for), and none starts while the budget cools
 * down after a 429. A task that streamed text is never hedged.
 */
export interface HedgeConfig {
  /**
   * How long an attempt may go without a first token before it is hedged, counted from when its request went
   * out (a budget's wait, a router's wait for a deployment, left out): milliseconds, or a percentile of the
   * times to first token this pool measured over its last 1,000 requests, such as `'p95'` (from `'p1'` to
   * `'p99.9'`; no hedge until 20 requests, or 1 / (1 − percentile), are measured).
   * @defaultValue 'p95'
   */
  readonly after?: number | `p${number}`;
  /**
   * Extra requests as a share of all requests, above 0 and at most 1: each request earns this much of a
   * hedge, each hedge spends one, and at most 10 are saved up. @defaultValue 0.05
   */
  readonly maxExtra?: number;
}

/** Configuration of {@link runAgents}: the pool's, plus the budget, timeout and retry applied to every run. */
export interface RunAgentsConfig extends PoolConfig {
  /** Shorthand for `timeout: { total: timeoutMs }`; give one or the other. @defaultValue no timeout */
  readonly timeoutMs?: number;
  /** Limits for each attempt, as in `timeoutWith`. @defaultValue no timeout */
  readonly timeout?: { readonly first?: number; readonly each?: number; readonly total?: number };
  /** Retries of a failed run, as in `retryBackoff`, or `false` for none. @defaultValue { maxRetries: 2 } */
  readonly retry?: RetryBackoffConfig | false;
  /**
   * A budget every attempt waits for (`throttleBudget`), so runs slow down instead of meeting 429s.
   * @defaultValue no budget
   */
  readonly budget?: Budget;
  /** Tokens a task is expected to use, reserved from the budget. @defaultValue `estimateTokens(task)` */
  readonly estimate?: (task: Task) => number;
  /** Hedged requests against a slow first token; see {@link HedgeConfig}. @defaultValue off */
  readonly hedge?: HedgeConfig;
}

/**
 * Runs an agent over tasks through a pool, each attempt bounded by a timeout and failed attempts retried
 * with backoff, yielding task events that end in exactly one `settled` per task.
 *
 * ```
 * tasks:   -a|              attempt 1 hangs, attempt 2 streams 'x'
 *          runAgents(agent, { timeout: { total: 3 }, retry: { maxRetries: 2, baseDelayMs: 2, jitter: 0 } })
 * result:  -s--r--d(S|)     s started, r retry (the timeout fired), d delta, S settled ('x', 2 attempts)
 * ```
 *
 * The timeout sits inside the retry, so a timed-out attempt is retried and each attempt gets the whole time.
 * With `hedge`, an attempt whose first token is late races a second one (a `hedge` event), within
 * `maxExtra` of the requests and the pool's free slots.
 *
 * @example
 * from(tasks).pipe(runAgents(simulatedModel({ seed: 1 }), { concurrency: 5, timeoutMs: 30_000 }), allSettled());
 */
export function runAgents(
  agent: Agent,
  config: RunAgentsConfig = {},
): OperatorFunction<Task | InvalidTask, TaskEvent> {
  const options = runAgentsOptions(agent, config);
  return (source) => poolEngine(source, options);
}

const OPTIONS = [...POOL_OPTIONS, 'timeoutMs', 'timeout', 'retry', 'budget', 'estimate', 'hedge'] as const;

/**
 * Checks the arguments of `runAgents` into the options of its pool engine; `AgentPool` builds on them, and
 * passes its own name as `owner` for the messages.
 */
export function runAgentsOptions(
  agent: Agent,
  config: RunAgentsConfig,
  owner = 'runAgents',
): PoolOptions<string> {
  if (typeof (agent as Partial<Agent> | null)?.run !== 'function') {
    throw new TypeError(
      `Expected \`agent\` to be an Agent (an object with a \`run(task, { signal })\` method), got ${describe(agent)}`,
    );
  }
  expectConfig('config', config);
  expectKnownKeys(owner, config, OPTIONS);
  const {
    timeoutMs: _timeoutMs,
    timeout: _timeout,
    retry: _retry,
    budget: _budget,
    estimate: _estimate,
    hedge,
    ...poolConfig
  } = config;
  const limits = runLimits({ ...config, outputCap: agent.maxOutputTokens });
  const hedged = hedge === undefined ? undefined : hedgePolicy(hedge, config.budget);
  return {
    ...poolOptions(agentWorker(agent, limits.attempt, hedged !== undefined), poolConfig),
    retry: limits.retry,
    hedge: hedged,
  };
}

/**
 * Builds the worker the pool engine calls for each attempt (the engine retries): the agent's run, within the
 * attempt's limits when there are any. The pool's context gives each attempt a signal of its own, made only
 * when read; a timeout stops an attempt from outside, so there the attempt gets a signal that aborts when it
 * is stopped before it ended, so that its request stops too.
 *
 * When hedging, the worker tells the pool when the request goes out — as the agent's run is subscribed, past
 * the budget — and passes on what the agent itself reports (a router waiting for a deployment).
 */
function agentWorker(agent: Agent, limitAttempt: LimitAttempt | undefined, hedged: boolean): Worker<string> {
  if (limitAttempt === undefined) {
    if (!hedged) return (task, pool) => agent.run(task, pool);
    return (task, pool) => {
      requestPhase(pool, 'sent');
      return agent.run(task, pool);
    };
  }
  return (task, pool) =>
    limitAttempt(
      withRunContext(
        (context) => {
          if (hedged) {
            requestPhase(pool, 'sent');
            onRequestPhase(context, (phase) => {
              requestPhase(pool, phase);
            });
          }
          return agent.run(task, context);
        },
        () => pool.signal,
        () => attemptEnded(task.id),
      ),
      task,
    );
}
