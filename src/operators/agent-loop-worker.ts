import { EMPTY, concat, concatMap, of, throwError } from 'rxjs';
import type { Observable } from 'rxjs';
import type { Agent, AgentEvent, ToolCall } from '../core/types.js';
import type { Tool } from '../tools/define-tool.js';
import { agentLoop } from './agent-loop.js';
import type { AgentLoopConfig, AgentLoopEvent } from './agent-loop.js';
import type { Worker } from './pool.js';

/**
 * Runs {@link agentLoop} as a `pool` worker, so each task's loop settles as the pool's own result: fulfilled with
 * the final answer, or rejected with the loop's error (`E_MAX_STEPS`, a model failure).
 *
 * The model's `delta`, `usage`, `retry` and `rate-limits` events of every step pass through (so the pool
 * emits `delta` task events with one `seq` across steps, sums usage over steps and counts each model retry as
 * an attempt); a step's tool calls surface as one `tool-calls` event when its model run ends; the model's own
 * `done` events are dropped and the final answer becomes one `done` (`finishReason: 'stop'`). Unsubscribing —
 * the pool aborting the task — unsubscribes the loop, which aborts the running model call's and tools' signals.
 *
 * ```
 * model:   -a-(t|)          step 1: a = delta, t = tool-calls [x]
 * tool x:     ---X|
 * model:         -b-(d|)    step 2: b = delta, d = done
 * worker:  -a-T---b-(D|)    T = the step's tool calls as one event, D = done with the final text
 * pool:    sa-T---b-(S|)    s = started, a b = deltas with seq 0 1, T = tool, S = settled fulfilled
 * ```
 *
 * @example
 * tasks$.pipe(
 *   pool(agentLoopWorker(model, [search, calculator], { maxSteps: 6 }), { concurrency: 3 }),
 *   settle(),
 * ).subscribe((result) => console.log(result.taskId, result.status));
 */
export function agentLoopWorker(
  agent: Agent,
  tools: readonly Tool[],
  config: AgentLoopConfig = {},
): Worker<string> {
  const loop = agentLoop(agent, tools, config);
  return (task) => {
    // Several `tool-calls` events of one model run are the one assistant message the tools answer.
    let calls: ToolCall[] = [];
    const flush = (): AgentEvent[] => {
      if (calls.length === 0) return [];
      const event: AgentEvent = { type: 'tool-calls', calls };
      calls = [];
      return [event];
    };
    return loop(task).pipe(
      concatMap((event: AgentLoopEvent): Observable<AgentEvent> => {
        if (event.type === 'agent') {
          const inner = event.event;
          if (inner.type === 'tool-calls') calls.push(...inner.calls);
          return inner.type === 'tool-calls' || inner.type === 'done' ? EMPTY : of(inner);
        }
        const pending = flush();
        if (event.type !== 'settled') return of(...pending);
        const { result } = event;
        if (result.status === 'rejected')
          return concat(
            of(...pending),
            throwError(() => result.error),
          );
        const done: AgentEvent = { type: 'done', text: result.value, finishReason: 'stop' };
        return of(...pending, done);
      }),
    );
  };
}
