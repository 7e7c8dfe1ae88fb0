import { Observable, asyncScheduler, catchError, concat, defer, from, map, of, tap } from 'rxjs';
import type { SchedulerLike } from 'rxjs';
import { ValidationError, toRxAgentError } from '../core/errors/index.js';
import type { RxAgentError } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import type { Agent, AgentEvent, ChatMessage, Settled, Task, ToolCall, Usage } from '../core/types.js';
import { describe, expectConfig, expectInteger, expectKnownKeys, expectScheduler } from '../core/validate.js';
import { withSignal } from '../core/with-signal.js';
import { NO_USAGE, addUsage } from '../core/usage.js';
import type { Tool } from '../tools/define-tool.js';
import { DuplicateIdError, MaxStepsError } from '../core/errors/index.js';
import type { PlanNode } from '../tools/plan.js';
import { checkTools } from './dag.js';
import type { DagEvent } from './dag.js';
import { dagEngine } from './internal/dag-engine.js';

/** How {@link agentLoop} runs. */
export interface AgentLoopConfig {
  /** The most model calls for one task; a model still asking for tools after that settles `E_MAX_STEPS`. @defaultValue 8 */
  readonly maxSteps?: number;
  /** The most tool calls of one step running at once. @defaultValue Infinity */
  readonly concurrency?: number;
  /** Where `durationMs` is measured. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/**
 * What `agentLoop` emits for one task: each step's start, the model's own events, the tool calls' `dag` events,
 * and exactly one `settled` at the end, with the whole conversation.
 */
export type AgentLoopEvent =
  | { readonly type: 'step'; readonly taskId: string; readonly step: number }
  | { readonly type: 'agent'; readonly taskId: string; readonly step: number; readonly event: AgentEvent }
  | { readonly type: 'tool'; readonly taskId: string; readonly step: number; readonly event: DagEvent }
  | {
      readonly type: 'settled';
      readonly taskId: string;
      readonly result: Settled;
      readonly messages: readonly ChatMessage[];
    };

// A tool call the model got wrong; it still flows through dag so watchers see it settle.
class InvalidToolCall extends InvalidTask {
  readonly tool: string;
  constructor(call: ToolCall, error: RxAgentError) {
    super(call.id, error);
    this.tool = call.name;
  }
}

/**
 * Lets a model use tools until it answers: each step calls the model with the conversation so far; the tool
 * calls it asks for (OpenAI-style, several in one message) all run at once through `dag`; their results are
 * appended as `{ role: 'tool', toolCallId, content }` messages after the assistant message that asked; and the
 * model is called again. A step whose run ends without tool calls is the final answer (the `done` text, else
 * the deltas). Arguments that are not a JSON object, fail the tool's schema, or name an unknown tool do not
 * stop the loop: the tool message carries the error (`Error E_VALIDATION: …`) so the model can correct itself.
 * Tool arguments are taken literally (no `$id` references). The returned Observable never errors: a model
 * failure or reaching `maxSteps` ends in a rejected `settled`. Given to `pool` as a worker, the loop's last
 * event (its `settled`) becomes the pool's fulfilled value whatever its `result.status`, so read that status.
 *
 * ```
 * model:   --t|                  step 1: t = tool-calls [a, b]
 * tool a:     -------A|
 * tool b:     -----B|
 * model:             ----d|      step 2: d = done
 * loop:    s-g(ab)-B-(As)g(S|)   s = step, g = agent event, a b / A B = tool started / settled, S = settled
 * ```
 *
 * @example
 * const solve = agentLoop(model, [search, calculator], { maxSteps: 6 });
 * solve({ id: 't1', input: 'What is the population of France times 2?' }).subscribe((event) => {
 *   if (event.type === 'settled') console.log(event.result);
 * });
 */
export function agentLoop(
  agent: Agent,
  tools: readonly Tool[],
  config: AgentLoopConfig = {},
): (task: Task) => Observable<AgentLoopEvent> {
  if (typeof (agent as Partial<Agent> | null)?.run !== 'function') {
    throw new TypeError(
      `Expected \`agent\` to be an Agent with a run(task, { signal }) method, got ${describe(agent)}`,
    );
  }
  checkTools(tools);
  expectConfig('config', config);
  expectKnownKeys('agentLoop', config, ['maxSteps', 'concurrency', 'scheduler']);
  const maxSteps = expectInteger('maxSteps', config.maxSteps ?? 8, 1);
  const concurrency = expectInteger('concurrency', config.concurrency ?? Number.POSITIVE_INFINITY, 1, true);
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  const engine = dagEngine(tools, {
    concurrency,
    onFailure: 'skip-dependents',
    scheduler,
    wrap: undefined,
    order: 'critical-path',
    references: false,
  });

  return (task) =>
    defer(() => {
      const startedAt = scheduler.now();
      let usage: Usage = NO_USAGE;
      let conversation: readonly ChatMessage[] =
        typeof task.input === 'string' ? [{ role: 'user', content: task.input }] : task.input;
      const settled = (result: Settled): Observable<AgentLoopEvent> =>
        of({ type: 'settled', taskId: task.id, result, messages: conversation });
      const reject = (error: RxAgentError): Observable<AgentLoopEvent> =>
        settled({
          status: 'rejected',
          taskId: task.id,
          error,
          usage,
          attempts: 1,
          durationMs: scheduler.now() - startedAt,
        });

      const step = (n: number): Observable<AgentLoopEvent> =>
        defer(() => {
          const calls: ToolCall[] = [];
          let done: string | undefined;
          let deltas = '';
          const model$ = runModel(agent, { ...task, input: conversation }).pipe(
            tap((event) => {
              if (event.type === 'tool-calls') calls.push(...event.calls);
              else if (event.type === 'delta') deltas += event.text;
              else if (event.type === 'done') done = event.text;
              else if (event.type === 'usage') usage = addUsage(usage, event.usage);
            }),
            map((event): AgentLoopEvent => ({ type: 'agent', taskId: task.id, step: n, event })),
          );
          const after$ = defer(() => {
            const content = done ?? deltas;
            if (calls.length === 0) {
              conversation = [...conversation, { role: 'assistant', content }];
              const durationMs = scheduler.now() - startedAt;
              return settled({
                status: 'fulfilled',
                taskId: task.id,
                value: content,
                usage,
                attempts: 1,
                durationMs,
              });
            }
            conversation = [...conversation, { role: 'assistant', content, toolCalls: calls }];
            if (n >= maxSteps) {
              const pendingTools = calls.map((call) => call.name);
              return reject(new MaxStepsError({ taskId: task.id, maxSteps, pendingTools }));
            }
            return runCalls(n, calls);
          });
          return concat(of<AgentLoopEvent>({ type: 'step', taskId: task.id, step: n }), model$, after$);
        });

      const runCalls = (n: number, calls: readonly ToolCall[]): Observable<AgentLoopEvent> => {
        const results = new Map<ToolCall, Settled<unknown>>();
        const owner = new Map<string, ToolCall>();
        const duplicates = new Map<string, ToolCall[]>();
        const items = calls.map((call) => {
          if (!owner.has(call.id)) {
            owner.set(call.id, call);
            return toNode(call);
          }
          duplicates.set(call.id, [...(duplicates.get(call.id) ?? []), call]);
          const error = new DuplicateIdError({ kind: 'tool-call', id: call.id });
          return new InvalidToolCall(call, error);
        });
        const tools$ = from(items).pipe(
          engine,
          tap((event) => {
            if (event.type !== 'node-settled') return;
            const { result } = event;
            const duplicate = result.status === 'rejected' && result.error instanceof DuplicateIdError;
            const call = duplicate ? duplicates.get(event.id)?.shift() : owner.get(event.id);
            if (call !== undefined) results.set(call, result);
          }),
          map((event): AgentLoopEvent => ({ type: 'tool', taskId: task.id, step: n, event })),
        );
        const next$ = defer(() => {
          conversation = [
            ...conversation,
            ...calls.map((call): ChatMessage => ({
              role: 'tool',
              toolCallId: call.id,
              content: contentOf(results.get(call)),
            })),
          ];
          return step(n + 1);
        });
        return concat(tools$, next$);
      };

      return step(1).pipe(catchError((error: unknown) => reject(toRxAgentError(error))));
    });
}

function toNode(call: ToolCall): PlanNode | InvalidToolCall {
  let args: unknown;
  try {
    args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch (error) {
    return new InvalidToolCall(
      call,
      argumentsError(call, `are not valid JSON (${(error as Error).message})`),
    );
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    return new InvalidToolCall(call, argumentsError(call, `must be a JSON object, got ${describe(args)}`));
  }
  return { id: call.id, tool: call.name, args: args as Record<string, unknown> };
}

function argumentsError(call: ToolCall, problem: string): ValidationError {
  const message = `The arguments of tool call "${call.id}" (${call.name}) ${problem}`;
  return new ValidationError({
    issues: [{ code: 'custom', path: [], input: call.arguments, message }],
    source: `tool call ${call.id}`,
    message,
  });
}

function contentOf(result: Settled<unknown> | undefined): string {
  if (result === undefined) return '';
  if (result.status === 'rejected') return `Error ${result.error.code}: ${result.error.message}`;
  const { value } = result;
  if (typeof value === 'string') return value;
  return value === undefined ? '' : JSON.stringify(value);
}

// The run's signal fires when the loop is unsubscribed mid-step, so an HTTP stream is aborted.
function runModel(agent: Agent, task: Task): Observable<AgentEvent> {
  return withSignal((signal) => agent.run(task, { signal }));
}
