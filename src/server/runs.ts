import { Subject, throwError } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import { estimateTokens } from '../budget/estimate.js';
import { CancelledError, QueueFullError, toRxAgentError } from '../core/errors/index.js';
import type { Agent, Task, TaskEvent } from '../core/types.js';
import { usageTokens } from '../core/usage.js';
import { poolEngine } from '../operators/internal/pool-engine.js';
import type { PoolCancel } from '../operators/internal/pool-engine.js';
import { runAgentsOptions } from '../operators/run-agents.js';
import type { PoolState } from '../operators/pool.js';
import type { ResolvedServeConfig } from './serve-config.js';
import { Tenant } from './tenant.js';
import type { GatewayTask } from './tenant.js';

/**
 * The run side of the gateway: the identities (`Tenant`) with their scoped tasks and quotas, and the shared
 * pool engine they feed — the same engine as `runAgents`, with one task cancelled at a time through its
 * `cancel` stream, as `AgentPool` does. A task waits for its identity's slot (`waiting`), then for the pool's
 * (`queued`), runs (`running`) and settles once (`done`), whichever way it ends.
 */
export class GatewayRuns {
  readonly #config: ResolvedServeConfig;
  /** Accepted and not settled, by key. */
  readonly #tasks = new Map<string, GatewayTask>();
  readonly #tenants = new Map<string, Tenant>();
  readonly #input = new Subject<Task>();
  readonly #cancels = new Subject<PoolCancel>();
  /** One timer per identity held back only by its token window. */
  readonly #windowTimers = new Map<Tenant, Subscription>();
  /** `open` takes tasks; `draining` completes the pool's input once no identity holds a task back. */
  #intake: 'open' | 'draining' | 'closed' = 'open';
  /** Called with every event, and the gateway task it belongs to, before the task's bookkeeping moves on. */
  readonly #onEvent: (event: TaskEvent, task: GatewayTask | undefined) => void;

  constructor(
    config: ResolvedServeConfig,
    onEvent: (event: TaskEvent, task: GatewayTask | undefined) => void,
  ) {
    this.#config = config;
    this.#onEvent = onEvent;
  }

  /** The pool's events; subscribing starts the pool. `monitor` sees the pool's state on every change. */
  events(monitor: (state: PoolState) => void): Observable<TaskEvent> {
    const { agent } = this.#config;
    // The agent runs the task as its client submitted it; the pool carries it under its scoped key. A task
    // cancelled in the same sweep as another whose cancel freed the budget never reaches the provider.
    const scoped: Agent = {
      ...(agent.maxOutputTokens === undefined ? {} : { maxOutputTokens: agent.maxOutputTokens }),
      run: (task, context) => {
        const entry = this.#tasks.get(task.id);
        if (entry?.cancelled !== undefined) return throwError(() => entry.cancelled);
        return agent.run(entry?.submitted ?? task, context);
      },
    };
    const options = runAgentsOptions(scoped, {
      ...this.#config.pool,
      ...this.#config.run,
      scheduler: this.#config.scheduler,
      monitor: (state) => {
        monitor(state);
        this.#config.pool.monitor?.(state);
      },
    });
    return poolEngine(this.#input, { ...options, cancel: this.#cancels });
  }

  /** Takes a pool event: the task's state follows it, the gateway is told, and a settled task is let go. */
  take(event: TaskEvent): void {
    const task = this.#tasks.get(event.taskId);
    if (task !== undefined && event.type === 'started') task.tenant.started(task);
    this.#onEvent(event, task);
    if (event.type === 'settled' && task !== undefined) this.#finish(event, task);
  }

  /** Tasks accepted and not settled, across identities. */
  get size(): number {
    return this.#tasks.size;
  }

  /** Tasks waiting for one of their identity's slots, across identities. */
  get waiting(): number {
    let waiting = 0;
    for (const tenant of this.#tenants.values()) waiting += tenant.waiting;
    return waiting;
  }

  tenant(identity: string): Tenant | undefined {
    return this.#tenants.get(identity);
  }

  /** The identity's share, created on first use. */
  tenantOf(identity: string): Tenant {
    let tenant = this.#tenants.get(identity);
    if (tenant === undefined) {
      tenant = new Tenant(identity, this.#config.perClient, this.#config.scheduler);
      this.#tenants.set(identity, tenant);
    }
    return tenant;
  }

  /** Lets an identity go once it has no socket and no task left. */
  forgetIfIdle(tenant: Tenant): void {
    if (tenant.idle) this.#tenants.delete(tenant.identity);
  }

  /** Accepts checked tasks of an identity: each starts, waits for a slot, or settles as its queue is full. */
  accept(tenant: Tenant, submitter: GatewayTask['submitter'], tasks: readonly Task[]): void {
    const accepted = tasks.map((task): GatewayTask => {
      const key = `${encodeURIComponent(tenant.identity)}/${task.id}`;
      const scoped: Task = { ...task, id: key };
      const entry: GatewayTask = {
        key,
        id: task.id,
        submitted: task,
        task: scoped,
        tenant,
        submitter,
        // Tokenised only when the identity has a token quota to hold it against.
        estimate: Number.isFinite(tenant.limits.tokensPerMinute) ? estimateTokens(scoped) : 0,
        state: 'waiting',
        cancelled: undefined,
      };
      this.#tasks.set(key, entry);
      tenant.tasks.set(task.id, entry);
      return entry;
    });
    for (const entry of accepted) {
      if (entry.state !== 'waiting') continue;
      const admission = tenant.admit(entry);
      if (admission === 'start') this.#input.next(entry.task);
      else if (admission === 'wait') this.#scheduleWindowPump(tenant);
      else {
        const { concurrency, queueLimit } = tenant.limits;
        this.#settleHere(
          entry,
          new QueueFullError({
            taskId: entry.id,
            queueLimit,
            overflow: 'reject',
            message: `Client queue is full: ${tenant.waiting} tasks already wait for this client's ${concurrency} slots (queueLimit ${queueLimit})`,
          }),
        );
      }
    }
  }

  /** Ends a task with `error` wherever it is: waiting for its identity, queued in the pool, or running. */
  cancel(task: GatewayTask, error: CancelledError): void {
    task.cancelled ??= error;
    this.#stop(task);
  }

  /** Cancels many at once: all are marked first, so a slot freed by one cancel does not start another. */
  cancelMany(tasks: readonly GatewayTask[], error: (task: GatewayTask) => CancelledError): void {
    for (const task of tasks) task.cancelled ??= error(task);
    for (const task of tasks) this.#stop(task);
  }

  /** Every task not settled yet. */
  all(): GatewayTask[] {
    return [...this.#tasks.values()];
  }

  /** No more tasks: the pool's input completes once no identity holds a task back any more. */
  drain(): void {
    if (this.#intake === 'open') this.#intake = 'draining';
    this.#closeInputWhenIdle();
  }

  #closeInputWhenIdle(): void {
    if (this.#intake !== 'draining' || this.waiting > 0) return;
    this.#intake = 'closed';
    this.#input.complete();
  }

  dispose(): void {
    for (const timer of this.#windowTimers.values()) timer.unsubscribe();
    this.#windowTimers.clear();
  }

  #stop(task: GatewayTask): void {
    const error = task.cancelled;
    if (error === undefined || task.state === 'done') return;
    if (task.state === 'waiting') {
      task.tenant.withdraw(task);
      this.#settleHere(task, error);
      return;
    }
    this.#cancels.next({ task: task.task, error });
  }

  /** Settles a task that never reached the pool (its identity's queue was full, or it was cancelled there). */
  #settleHere(task: GatewayTask, error: CancelledError | QueueFullError): void {
    this.take({
      type: 'settled',
      taskId: task.key,
      result: {
        status: 'rejected',
        taskId: task.key,
        error: toRxAgentError(error),
        attempts: 0,
        durationMs: 0,
      },
    });
  }

  #finish(event: Extract<TaskEvent, { type: 'settled' }>, task: GatewayTask): void {
    this.#tasks.delete(task.key);
    task.tenant.settle(task, usageTokens(event.result.usage), event.result.status === 'fulfilled');
    task.state = 'done';
    this.#pump(task.tenant);
    this.forgetIfIdle(task.tenant);
  }

  #pump(tenant: Tenant): void {
    for (let next = tenant.next(); next !== undefined; next = tenant.next()) this.#input.next(next.task);
    this.#scheduleWindowPump(tenant);
    this.#closeInputWhenIdle();
  }

  /** When only the token window holds an identity's tasks back, look again when it moves. */
  #scheduleWindowPump(tenant: Tenant): void {
    // The oldest spending leaves at one time whatever else is added, so one timer per identity serves.
    if (this.#windowTimers.has(tenant)) return;
    const delay = tenant.msUntilWindowMoves();
    if (delay === undefined) return;
    const timer = this.#config.scheduler.schedule(() => {
      this.#windowTimers.delete(tenant);
      this.#pump(tenant);
    }, delay);
    this.#windowTimers.set(tenant, timer);
  }
}
