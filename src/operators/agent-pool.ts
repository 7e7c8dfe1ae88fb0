import { BehaviorSubject, Observable, Subject } from 'rxjs';
import type { SchedulerLike, Subscription } from 'rxjs';
import { CancelledError, DuplicateIdError, RxAgentError, ValidationError } from '../core/errors/index.js';
import type { CancelledInfo } from '../core/errors/index.js';
import { parseTask } from '../core/schemas.js';
import type { Agent, Settled, Task, TaskEvent, Usage } from '../core/types.js';
import { describe, expectConfig, expectNumber } from '../core/validate.js';
import { NO_USAGE, addUsage } from '../core/usage.js';
import { poolEngine } from './internal/pool-engine.js';
import type { PoolCancel } from './internal/pool-engine.js';
import { IDLE_POOL_STATE } from './pool.js';
import type { PoolState } from './pool.js';
import { runAgentsOptions } from './run-agents.js';
import type { RunAgentsConfig } from './run-agents.js';

/** Configuration of {@link AgentPool}: the agent, and everything {@link runAgents} takes. */
export interface AgentPoolConfig extends RunAgentsConfig {
  /** The agent that runs every task. */
  readonly agent: Agent;
}

/** The pool's state, plus the tokens (and cost) of the tasks settled so far. */
export interface AgentPoolState extends PoolState {
  /** Summed over the settled tasks; `cost` appears once a run reports one. */
  readonly usage: Usage;
}

/** Options of {@link AgentPool.drain}. */
export interface DrainOptions {
  /** Milliseconds after which what is still queued or running is cancelled. @defaultValue no deadline */
  readonly deadlineMs?: number;
}

/** A fulfilled outcome, as `submit` resolves with it. */
export type Fulfilled = Extract<Settled, { status: 'fulfilled' }>;

interface Pending {
  /** The object handed to the pool, which names the task when it is cancelled. */
  readonly task: Task;
  readonly onEvent: (event: TaskEvent) => void;
}

const NO_STATE: AgentPoolState = { ...IDLE_POOL_STATE, usage: NO_USAGE };

/**
 * The imperative facade over {@link runAgents}, for code that is not written as streams: submit prompts or
 * tasks and await their results, watch `state$`, then `drain()` or `close()`.
 *
 * `submit` resolves with the fulfilled `Settled` (its `value` is the text) and rejects with the task's typed
 * error: `QueueFullError` at once when the queue is full, `TimeoutError`, `ProviderError`, `CancelledError`…
 * Prompts get ids `task-1`, `task-2`, …; a task whose id is still pending is refused with `E_DUPLICATE_ID`.
 *
 * @example
 * const agentPool = new AgentPool({ agent: simulatedModel({ seed: 1 }), concurrency: 5, queueLimit: 100 });
 * const results = await Promise.allSettled(docs.map((doc) => agentPool.submit(`Summarize: ${doc}`)));
 * await agentPool.drain();
 */
export class AgentPool {
  /** The current state, then every change; completes when the pool is drained or closed. */
  readonly state$: Observable<AgentPoolState>;
  readonly #intake = new Subject<Task>();
  readonly #cancels = new Subject<PoolCancel>();
  readonly #pending = new Map<string, Pending>();
  readonly #state = new BehaviorSubject<AgentPoolState>(NO_STATE);
  readonly #scheduler: SchedulerLike;
  readonly #subscription: Subscription;
  #poolState: PoolState = NO_STATE;
  #usage: Usage = NO_USAGE;
  #status: 'open' | 'draining' | 'closed' = 'open';
  #drained: Promise<void> | undefined;
  #resolveDrained: (() => void) | undefined;
  #deadline: Subscription | undefined;
  #nextId = 0;

  constructor(config: AgentPoolConfig) {
    expectConfig('config', config);
    const { agent, monitor, ...rest } = config;
    const options = runAgentsOptions(
      agent,
      {
        ...rest,
        monitor: (state) => {
          this.#poolState = state;
          this.#publish();
          monitor?.(state);
        },
      },
      'AgentPool',
    );
    this.#scheduler = options.scheduler;
    this.state$ = this.#state.asObservable();
    const events$ = poolEngine(this.#intake, { ...options, cancel: this.#cancels });
    this.#subscription = events$.subscribe({
      next: (event) => {
        this.#route(event);
      },
      complete: () => {
        this.#finish();
      },
    });
  }

  /** The state now; `state$` is the same as a stream. */
  get state(): AgentPoolState {
    return this.#state.getValue();
  }

  /** Runs a prompt or task; resolves with its fulfilled result, rejects with its typed error. */
  submit(input: string | Task): Promise<Fulfilled> {
    return new Promise((resolve, reject) => {
      this.#enter(input, (event) => {
        if (event.type !== 'settled') return;
        if (event.result.status === 'fulfilled') resolve(event.result);
        else reject(event.result.error);
      });
    });
  }

  /**
   * One task's events, from `started` to `settled`; the task is submitted on subscription. Unsubscribing
   * before it settles cancels it: a queued task leaves the queue without ever starting, a running one has
   * its run aborted; either way it settles (unseen) as `CancelledError` with reason `'client-cancel'`.
   */
  stream(input: string | Task): Observable<TaskEvent> {
    return new Observable<TaskEvent>((subscriber) => {
      let settled = false;
      const taskId = this.#enter(input, (event) => {
        subscriber.next(event);
        if (event.type === 'settled') {
          settled = true;
          subscriber.complete();
        }
      });
      return () => {
        if (!settled) this.#cancel(taskId, 'client-cancel');
      };
    });
  }

  /**
   * Takes no more tasks, lets queued and running ones finish, and resolves when all have settled. With
   * `deadlineMs`, what is left at the deadline is cancelled as `CancelledError` (`'drain-deadline'`).
   */
  drain(options: DrainOptions = {}): Promise<void> {
    expectConfig('options', options);
    if (options.deadlineMs !== undefined) expectNumber('deadlineMs', options.deadlineMs, 0);
    if (this.#drained !== undefined) return this.#drained;
    this.#drained = new Promise<void>((resolve) => {
      this.#resolveDrained = resolve;
    });
    if (this.#status === 'closed') {
      this.#resolveDrained?.();
      return this.#drained;
    }
    this.#status = 'draining';
    if (options.deadlineMs !== undefined) {
      this.#deadline = this.#scheduler.schedule(() => {
        this.#stop('drain-deadline');
      }, options.deadlineMs);
    }
    this.#intake.complete();
    return this.#drained;
  }

  /** Cancels everything now: running tasks are aborted, queued ones dropped, all settle as `CancelledError`. */
  close(): void {
    this.#stop('closed');
  }

  #enter(input: string | Task, onEvent: (event: TaskEvent) => void): string {
    const task = this.#toTask(input);
    if (!(task instanceof RxAgentError)) {
      if (this.#status !== 'open') {
        const why =
          this.#status === 'draining'
            ? 'the pool is draining and takes no new tasks'
            : 'the pool is closed and takes no new tasks';
        this.#settleHere(task.id, onEvent, cancelled('closed', task.id, why));
      } else if (this.#pending.has(task.id)) {
        this.#settleHere(
          task.id,
          onEvent,
          new DuplicateIdError({
            kind: 'task',
            id: task.id,
            message: `Task id "${task.id}" is already pending in this pool`,
          }),
        );
      } else {
        this.#pending.set(task.id, { task, onEvent });
        // The pool may settle it right here (queue full), which removes it from `#pending` again.
        this.#intake.next(task);
      }
      return task.id;
    }
    // Plain JS can pass anything, null included.
    const raw: unknown = input;
    const id = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
    const taskId = typeof id === 'string' ? id : '?';
    this.#settleHere(taskId, onEvent, task);
    return taskId;
  }

  #toTask(input: string | Task): Task | RxAgentError {
    if (typeof input === 'string') {
      let id: string;
      do id = `task-${++this.#nextId}`;
      while (this.#pending.has(id));
      return { id, input };
    }
    const parsed = parseTask(input);
    if (parsed.success) return parsed.data;
    const raw: unknown = input;
    if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) return parsed.error;
    return new ValidationError({
      issues: parsed.error.info.issues,
      message: `Expected a prompt (string) or a task object, got ${describe(raw)}`,
    });
  }

  /** Settles a task the pool never saw. */
  #settleHere(taskId: string, onEvent: (event: TaskEvent) => void, error: RxAgentError): void {
    onEvent({
      type: 'settled',
      taskId,
      result: { status: 'rejected', taskId, error, attempts: 0, durationMs: 0 },
    });
  }

  #route(event: TaskEvent): void {
    const pending = this.#pending.get(event.taskId);
    if (pending === undefined) return;
    if (event.type === 'settled') {
      this.#pending.delete(event.taskId);
      const usage = event.result.usage;
      if (usage !== undefined) this.#addUsage(usage);
    }
    pending.onEvent(event);
  }

  #addUsage(usage: Usage): void {
    this.#usage = addUsage(this.#usage, usage);
    this.#publish();
  }

  #publish(): void {
    this.#state.next({ ...this.#poolState, usage: this.#usage });
  }

  #cancel(taskId: string, reason: CancelledInfo['reason']): void {
    const pending = this.#pending.get(taskId);
    if (pending === undefined) return;
    this.#cancels.next({
      task: pending.task,
      error: cancelled(reason, taskId, 'its stream was unsubscribed'),
    });
  }

  /** Tears the pool down and settles whatever is pending as cancelled. */
  #stop(reason: 'closed' | 'drain-deadline'): void {
    if (this.#status === 'closed') return;
    this.#status = 'closed';
    this.#subscription.unsubscribe();
    const why = reason === 'closed' ? 'the pool was closed' : 'the drain deadline passed';
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const [taskId, { onEvent }] of pending) {
      this.#settleHere(taskId, onEvent, cancelled(reason, taskId, why));
    }
    this.#finish();
  }

  #finish(): void {
    this.#status = 'closed';
    this.#deadline?.unsubscribe();
    this.#deadline = undefined;
    this.#resolveDrained?.();
    this.#publish();
    this.#state.complete();
  }
}

function cancelled(reason: CancelledInfo['reason'], taskId: string, why: string): RxAgentError {
  return new CancelledError({ reason, taskId, message: `Task "${taskId}" was cancelled: ${why}` });
}
