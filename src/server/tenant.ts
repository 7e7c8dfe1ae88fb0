import type { SchedulerLike } from 'rxjs';
import type { CancelledError } from '../core/errors/index.js';
import type { Task } from '../core/types.js';
import { Deque } from '../core/deque.js';
import type { ServerFrame } from '../wire/protocol.js';
import type { PerClientConfig } from './access.js';
import { SlidingMinute } from './sliding-minute.js';

/** A task the gateway accepted, from its submit to its settled event. */
export interface GatewayTask {
  /** Its id in the pool and on `events$`: the identity and the client's id. */
  readonly key: string;
  /** The id the client gave (or was given), unique within its identity. */
  readonly id: string;
  /** The task as the client submitted it: what the agent runs. */
  readonly submitted: Task;
  /** What the pool carries: the client's task under `key`. */
  readonly task: Task;
  readonly tenant: Tenant;
  /** The socket that submitted it; its events always go there (a closed socket drops them). */
  readonly submitter: { send(frame: ServerFrame, text?: string): void };
  /** Token estimate held against the identity's per-minute quota while it runs. */
  readonly estimate: number;
  /** `waiting` for one of its identity's slots, `queued` in the shared pool, `running`, or `done`. */
  state: 'waiting' | 'queued' | 'running' | 'done';
  /** Set when cancelled, before the cancel reaches the task; a run it would start fails at once instead. */
  cancelled: CancelledError | undefined;
}

/** The per-identity limits of `perClient`, all resolved. */
export type TenantLimits = Required<PerClientConfig>;

/** What `Tenant#admit` decided. */
export type Admission = 'start' | 'wait' | 'full';

/**
 * One identity's share of the gateway, shared by all of its sockets: its unsettled tasks by id (so ids are
 * scoped per identity), its slots in the shared pool, the tokens it used over the last minute, and its counts
 * for its own `metrics`. The gateway forgets it when it has no socket and no task left.
 */
export class Tenant {
  readonly identity: string;
  readonly limits: TenantLimits;
  /** Accepted and not yet settled, by the client's id. */
  readonly tasks = new Map<string, GatewayTask>();
  #sockets = 0;
  #completed = 0;
  /** Tasks the pool has started and that have not settled. */
  #running = 0;
  #failed = 0;
  /** Tasks held for one of this identity's slots, in order; cancelled ones are skipped when they come up. */
  readonly #waiting = new Deque<GatewayTask>();
  /** Tasks in `#waiting` still waiting. */
  #queued = 0;
  /** Tasks handed to the shared pool and not yet settled. */
  #admitted = 0;
  /** Estimates of the admitted tasks, counted against `tokensPerMinute` until their usage is known. */
  #reserved = 0;
  readonly #spent: SlidingMinute;

  constructor(identity: string, limits: TenantLimits, scheduler: SchedulerLike) {
    this.identity = identity;
    this.limits = limits;
    this.#spent = new SlidingMinute(scheduler);
  }

  get idle(): boolean {
    return this.#sockets === 0 && this.tasks.size === 0;
  }

  /** Sockets of this identity open now. */
  get sockets(): number {
    return this.#sockets;
  }

  /** Tasks of this identity settled fulfilled, while the gateway has known it. */
  get completed(): number {
    return this.#completed;
  }

  /** Tasks of this identity settled rejected, while the gateway has known it. */
  get failed(): number {
    return this.#failed;
  }

  /** Tasks of this identity running now. */
  get running(): number {
    return this.#running;
  }

  /** The pool started a task of this identity. */
  started(task: GatewayTask): void {
    if (task.state !== 'queued') return;
    task.state = 'running';
    this.#running++;
  }

  /** A socket of this identity opened; the returned function says it closed. */
  connect(): () => void {
    this.#sockets++;
    let open = true;
    return () => {
      if (open) this.#sockets--;
      open = false;
    };
  }

  /** Tasks waiting for one of this identity's slots. */
  get waiting(): number {
    return this.#queued;
  }

  /** Tokens (input plus output) of this identity's runs settled over the last minute. */
  tokensPerMinute(): number {
    return this.#spent.total();
  }

  /** Takes a newly accepted task: start it now, hold it for a slot, or refuse it (its queue is full). */
  admit(task: GatewayTask): Admission {
    if (this.#queued === 0 && this.#canStart()) {
      this.#start(task);
      return 'start';
    }
    if (this.#queued >= this.limits.queueLimit) return 'full';
    this.#waiting.push(task);
    this.#queued++;
    return 'wait';
  }

  /** The next held task that may start now, marked as admitted; `undefined` when none may. */
  next(): GatewayTask | undefined {
    while (this.#waiting.size > 0 && this.#canStart()) {
      const task = this.#waiting.shift() as GatewayTask;
      // Cancelled ones are skipped: `withdraw` counts them out when their cancel reaches them.
      if (task.state !== 'waiting' || task.cancelled !== undefined) continue;
      this.#queued--;
      this.#start(task);
      return task;
    }
    return undefined;
  }

  /** A held task was cancelled before it started; it holds no slot, and is counted out once. */
  withdraw(task: GatewayTask): void {
    if (task.state !== 'waiting') return;
    this.#queued--;
    task.state = 'done';
  }

  /** A task settled: its slot and its estimate are freed and its real tokens counted. */
  settle(task: GatewayTask, tokens: number, fulfilled: boolean): void {
    if (task.state === 'running') this.#running--;
    if (task.state === 'queued' || task.state === 'running') {
      this.#admitted--;
      this.#reserved -= task.estimate;
    }
    this.#spent.add(tokens);
    this.tasks.delete(task.id);
    if (fulfilled) this.#completed++;
    else this.#failed++;
  }

  /** Time until the oldest spending leaves the window, when only the token window holds tasks back. */
  msUntilWindowMoves(): number | undefined {
    if (this.#queued === 0 || this.#canStart() || this.#admitted >= this.limits.concurrency) return undefined;
    return this.#spent.msUntilOldestLeaves();
  }

  /**
   * Whether another task may start: a free slot, and the last minute's tokens plus the estimates of running
   * tasks under the limit. The new task's own estimate is not counted, so a task larger than the whole
   * limit still runs once the identity is idle.
   */
  #canStart(): boolean {
    return (
      this.#admitted < this.limits.concurrency &&
      this.#spent.total() + this.#reserved < this.limits.tokensPerMinute
    );
  }

  #start(task: GatewayTask): void {
    this.#admitted++;
    this.#reserved += task.estimate;
    task.state = 'queued';
  }
}
