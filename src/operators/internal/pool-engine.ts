import { Observable, from } from 'rxjs';
import type { ObservableInput, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import { isAgentEvent } from '../../core/agent-event.js';
import {
  CancelledError,
  NoResultError,
  QueueFullError,
  RxAgentError,
  TimeoutError,
  ValidationError,
  toRxAgentError,
} from '../../core/errors/index.js';
import { InvalidTask } from '../../core/invalid-task.js';
import { describe } from '../../core/validate.js';
import type { AgentEvent, Settled, Task, TaskEvent, Usage } from '../../core/types.js';
import { NO_USAGE, addUsage } from '../../core/usage.js';
import { PULL, closeIterator, isPullable } from '../../core/pull.js';
import type { PoolOverflow, PoolState, Worker, WorkerContext } from '../pool.js';
import { PriorityQueue } from './priority-queue.js';
import { DrainLoop } from '../../core/drain-loop.js';

export interface PoolOptions<R> {
  readonly worker: Worker<R>;
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly overflow: PoolOverflow;
  readonly onQueueFull: ((task: Task) => void) | undefined;
  readonly monitor: ((state: PoolState) => void) | undefined;
  readonly scheduler: SchedulerLike;
  /**
   * Tasks to cancel one by one, as `AgentPool` does when a stream is unsubscribed: a queued task leaves the
   * queue without starting, a running one is unsubscribed and its signal aborted; both settle with `error`.
   */
  readonly cancel?: Observable<PoolCancel> | undefined;
}

/** One task to cancel, named by the very object the pool received. */
export interface PoolCancel {
  readonly task: Task;
  readonly error: RxAgentError;
}

/** The engine behind `pool`: one instance per subscription. */
export function poolEngine<R>(
  source: Observable<Task | InvalidTask>,
  options: PoolOptions<R>,
): Observable<TaskEvent<R>> {
  return new Observable<TaskEvent<R>>((subscriber) => {
    const engine = new Engine(subscriber, options);
    // Registered before intake starts, so a subscriber that leaves during a synchronous source stops it.
    subscriber.add(() => {
      engine.teardown();
    });
    engine.open(source);
  });
}

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;
const ABORTED = 3;
const WITHDRAWN = 4;

type PullResult = IteratorResult<Task | InvalidTask>;

class Engine<R> {
  readonly #subscriber: Subscriber<TaskEvent<R>>;
  readonly #options: PoolOptions<R>;
  readonly #queue = new PriorityQueue<Run<R>>((run) => run.order);
  #closed = false;
  #inFlight = 0;
  // In-flight runs form an intrusive doubly linked list: O(1) add and remove, no per-task allocation.
  #head: Run<R> | undefined;
  #order = 0;
  #completed = 0;
  #failed = 0;
  #droppedQueueFull = 0;
  #started = 0;
  #waitTotal = 0;
  /** Fills free slots; see `DrainLoop`. */
  readonly #fill = new DrainLoop(() => {
    while (!this.#closed && this.#inFlight < this.#options.concurrency) {
      const run = this.#shift(false);
      if (run !== undefined) this.#start(run, this.now());
      else if (!this.#pull()) break;
    }
  });
  #intakeDone = false;
  #sourceError: { error: unknown } | undefined;
  #sourceSubscription: Subscription | undefined;
  #iterator: Iterator<Task | InvalidTask> | AsyncIterator<Task | InvalidTask> | undefined;
  #pullPending = false;
  // Kept only when tasks can be cancelled one by one: the queued and running run of each task.
  readonly #runs: Map<Task, Run<R>> | undefined;
  // Cancelled runs still in the queue: removing from the middle of a deque is O(n), so they are skipped
  // when they come up instead, and left out of every count.
  #withdrawn = 0;
  #cancelSubscription: Subscription | undefined;

  constructor(subscriber: Subscriber<TaskEvent<R>>, options: PoolOptions<R>) {
    this.#subscriber = subscriber;
    this.#options = options;
    this.#runs = options.cancel === undefined ? undefined : new Map();
  }

  open(source: Observable<Task | InvalidTask>): void {
    this.#cancelSubscription = this.#options.cancel?.subscribe(({ task, error }) => {
      this.#cancelTask(task, error);
    });
    if (isPullable(source)) {
      try {
        this.#iterator = source[PULL]();
      } catch (error) {
        this.#endIntake({ error });
        return;
      }
      this.#pump();
      return;
    }
    const subscription = source.subscribe({
      next: (item) => {
        this.#accept(item);
      },
      error: (error: unknown) => {
        this.#endIntake({ error });
      },
      complete: () => {
        this.#endIntake(undefined);
      },
    });
    if (this.#closed) subscription.unsubscribe();
    else this.#sourceSubscription = subscription;
  }

  get running(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#queued;
  }

  get #queued(): number {
    return this.#queue.size - this.#withdrawn;
  }

  now(): number {
    return this.#options.scheduler.now();
  }

  emit(event: TaskEvent<R>): void {
    this.#subscriber.next(event);
  }

  /** Called by a run once it has its outcome. */
  finish(run: Run<R>, result: Settled<R>): void {
    this.#unlink(run);
    this.#runs?.delete(run.task);
    this.#inFlight--;
    if (result.status === 'fulfilled') this.#completed++;
    else this.#failed++;
    this.#subscriber.next({ type: 'settled', taskId: result.taskId, result });
    if (this.#options.monitor !== undefined) this.#notify();
    this.#pump();
  }

  teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelSubscription?.unsubscribe();
    this.#cancelSubscription = undefined;
    this.#sourceSubscription?.unsubscribe();
    this.#sourceSubscription = undefined;
    if (this.#iterator !== undefined && !this.#intakeDone) closeIterator(this.#iterator);
    this.#iterator = undefined;
    let run = this.#head;
    this.#head = undefined;
    while (run !== undefined) {
      const next = run.next;
      run.abort();
      run.next = run.prev = undefined;
      run = next;
    }
    this.#queue.clear();
    this.#withdrawn = 0;
    this.#runs?.clear();
  }

  #cancelTask(task: Task, error: RxAgentError): void {
    const run = this.#runs?.get(task);
    if (run === undefined || this.#closed) return;
    if (!run.withdraw()) {
      run.cancel(error);
      return;
    }
    this.#runs?.delete(task);
    this.#withdrawn++;
    this.#reject(task.id, error);
    if (!this.#fill.running) this.#checkDone();
  }

  #accept(item: Task | InvalidTask): void {
    if (this.#closed) return;
    if (item instanceof InvalidTask) {
      this.#reject(item.taskId, item.error);
      return;
    }
    if (typeof (item as Partial<Task> | null)?.id !== 'string') {
      this.#reject(
        '?',
        new ValidationError({
          issues: [],
          message: `Invalid task: expected an object with a string \`id\`, got ${describe(item)}`,
        }),
      );
      return;
    }
    const now = this.now();
    const run = new Run(this, item, this.#order++, now);
    if (this.#inFlight < this.#options.concurrency && this.#queued === 0) {
      this.#runs?.set(item, run);
      this.#start(run, now);
      return;
    }
    if (this.#queued < this.#options.queueLimit) {
      this.#runs?.set(item, run);
      this.#queue.push(run, priorityOf(item));
      if (this.#options.monitor !== undefined) this.#notify();
      this.#pump();
      return;
    }
    let dropped = run;
    if (this.#options.overflow === 'drop-oldest' && this.#queued > 0) {
      dropped = this.#shift(true) as Run<R>;
      this.#runs?.delete(dropped.task);
      this.#runs?.set(item, run);
      this.#queue.push(run, priorityOf(item));
    }
    this.#dropForQueueFull(dropped.task, dropped === run ? 'refused' : 'evicted');
  }

  #dropForQueueFull(task: Task, what: 'refused' | 'evicted'): void {
    const { queueLimit, overflow, onQueueFull } = this.#options;
    this.#droppedQueueFull++;
    if (onQueueFull !== undefined) {
      try {
        onQueueFull(task);
      } catch {
        // A failing notification hook must not cost the other tasks their results.
      }
    }
    const error = new QueueFullError({
      taskId: task.id,
      queueLimit,
      overflow,
      message: `Task "${task.id}" was ${what}: the queue is full (queueLimit ${queueLimit}, overflow '${overflow}')`,
    });
    this.#reject(task.id, error);
  }

  /** Settles a task that never ran. */
  #reject(taskId: string, error: RxAgentError): void {
    this.#failed++;
    this.#subscriber.next({
      type: 'settled',
      taskId,
      result: { status: 'rejected', taskId, error, attempts: 0, durationMs: 0 },
    });
    if (this.#options.monitor !== undefined) this.#notify();
  }

  #start(run: Run<R>, now: number): void {
    this.#inFlight++;
    this.#started++;
    const waitMs = now - run.enqueuedAt;
    this.#waitTotal += waitMs;
    if (this.#head !== undefined) {
      run.next = this.#head;
      this.#head.prev = run;
    }
    this.#head = run;
    run.start(now, waitMs, this.#options.worker);
  }

  emitStarted(taskId: string, waitMs: number): void {
    this.#subscriber.next({ type: 'started', taskId, waitMs });
    if (this.#options.monitor !== undefined) this.#notify();
  }

  #unlink(run: Run<R>): void {
    const { prev, next } = run;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next !== undefined) next.prev = prev;
    run.prev = run.next = undefined;
  }

  /** Fills free slots from the queue or the pull source. Re-entrant calls are folded into the running loop. */
  #pump(): void {
    if (this.#fill.run()) this.#checkDone();
  }

  /** Takes the next run to start (or, with `oldest`, to evict) out of the queue, skipping withdrawn ones. */
  #shift(oldest: boolean): Run<R> | undefined {
    for (;;) {
      const run = oldest ? this.#queue.shiftOldest() : this.#queue.shift();
      if (run === undefined || !run.withdrawn) return run;
      this.#withdrawn--;
    }
  }

  /** Takes one item from the pull source; false when none is available right now. */
  #pull(): boolean {
    const iterator = this.#iterator;
    if (iterator === undefined || this.#intakeDone || this.#pullPending) return false;
    let result: PullResult | PromiseLike<PullResult>;
    try {
      result = iterator.next();
    } catch (error) {
      this.#endIntake({ error });
      return false;
    }
    if (isPromiseLike(result)) {
      this.#pullPending = true;
      result.then(
        (value) => {
          this.#pullPending = false;
          if (this.#closed) return;
          this.#pulled(value);
          this.#pump();
        },
        (error: unknown) => {
          this.#pullPending = false;
          if (!this.#closed) this.#endIntake({ error });
        },
      );
      return false;
    }
    return this.#pulled(result);
  }

  #pulled(result: PullResult): boolean {
    if (result.done === true) {
      this.#endIntake(undefined);
      return false;
    }
    this.#accept(result.value);
    return true;
  }

  #endIntake(error: { error: unknown } | undefined): void {
    if (this.#intakeDone) return;
    this.#intakeDone = true;
    this.#sourceError = error;
    this.#iterator = undefined;
    if (!this.#fill.running) this.#checkDone();
  }

  #checkDone(): void {
    if (this.#closed || !this.#intakeDone || this.#inFlight > 0 || this.#queued > 0) return;
    const failure = this.#sourceError;
    if (failure === undefined) this.#subscriber.complete();
    else this.#subscriber.error(failure.error);
  }

  #notify(): void {
    const monitor = this.#options.monitor;
    if (monitor === undefined) return;
    try {
      monitor({
        queued: this.#queued,
        inFlight: this.#inFlight,
        completed: this.#completed,
        failed: this.#failed,
        droppedQueueFull: this.#droppedQueueFull,
        meanWaitMs: this.#started === 0 ? 0 : this.#waitTotal / this.#started,
      });
    } catch {
      // A failing monitor must not cost the tasks their results.
    }
  }
}

/** One task's run; it is also the `WorkerContext` handed to the worker, to save an allocation per task. */
class Run<R> implements WorkerContext {
  readonly task: Task;
  readonly order: number;
  readonly enqueuedAt: number;
  prev: Run<R> | undefined;
  next: Run<R> | undefined;
  readonly #engine: Engine<R>;
  #state = QUEUED;
  #startedAt = 0;
  #controller: AbortController | undefined;
  #subscription: Subscription | undefined;
  #deltaSeq = 0;
  #retries = 0;
  #usage: Usage | undefined;
  #hasResult = false;
  #result: R | undefined;
  #subscribing = false;
  #held: Settled<R> | undefined;

  constructor(engine: Engine<R>, task: Task, order: number, enqueuedAt: number) {
    this.#engine = engine;
    this.task = task;
    this.order = order;
    this.enqueuedAt = enqueuedAt;
  }

  // Created on first use: most workers that resolve at once never look at it.
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#state === ABORTED) this.#controller.abort(this.#cancelled());
    }
    return this.#controller.signal;
  }

  start(now: number, waitMs: number, worker: Worker<R>): void {
    this.#state = RUNNING;
    this.#startedAt = now;
    this.#engine.emitStarted(this.task.id, waitMs);
    if (!this.#isRunning()) return;
    let input: ObservableInput<AgentEvent | R>;
    try {
      input = worker(this.task, this);
      if (isPromiseLike(input)) {
        // A promise is handled directly: `from()` would cost an Observable and a Subscriber per task.
        input.then(
          (value) => {
            if (this.#state !== RUNNING) return;
            this.#value(value);
            this.#complete();
          },
          (error: unknown) => {
            this.#error(error);
          },
        );
        return;
      }
      const observable = input instanceof Observable ? input : from(input);
      this.#subscribing = true;
      let subscription: Subscription;
      try {
        subscription = observable.subscribe({
          next: (value) => {
            this.#value(value);
          },
          error: (error: unknown) => {
            this.#error(error);
          },
          complete: () => {
            this.#complete();
          },
        });
      } finally {
        this.#subscribing = false;
      }
      if (this.#isRunning()) {
        this.#subscription = subscription;
        return;
      }
      // Settled, cancelled or aborted while subscribing (as when a consumer leaves on a synchronous event).
      subscription.unsubscribe();
      const held = this.#held;
      this.#held = undefined;
      if (held !== undefined) this.#engine.finish(this, held);
    } catch (error) {
      this.#error(error);
    }
  }

  // A method, so checks after a callback are not narrowed away: callbacks may change the state.
  #isRunning(): boolean {
    return this.#state === RUNNING;
  }

  abort(): void {
    if (this.#state !== RUNNING) return;
    this.#state = ABORTED;
    // The signal first, so that whatever the worker derived from it aborts with this reason.
    this.#controller?.abort(this.#cancelled());
    const subscription = this.#subscription;
    this.#subscription = undefined;
    subscription?.unsubscribe();
  }

  get withdrawn(): boolean {
    return this.#state === WITHDRAWN;
  }

  /** Marks a queued run as cancelled; false if it has already left the queue. */
  withdraw(): boolean {
    if (this.#state !== QUEUED) return false;
    this.#state = WITHDRAWN;
    return true;
  }

  /** Ends a running run with `error`: its work is unsubscribed and its signal aborted, then it settles. */
  cancel(error: RxAgentError): void {
    if (this.#state !== RUNNING) return;
    this.#state = DONE;
    this.#result = undefined;
    this.#controller?.abort(error);
    const subscription = this.#subscription;
    this.#subscription = undefined;
    subscription?.unsubscribe();
    this.#settle(this.#rejected(error));
  }

  #cancelled(): CancelledError {
    return new CancelledError({
      reason: 'unsubscribed',
      taskId: this.task.id,
      message: `Task "${this.task.id}" was cancelled: the pool was unsubscribed`,
    });
  }

  #value(value: AgentEvent | R): void {
    if (!isAgentEvent(value)) {
      this.#result = value;
      this.#hasResult = true;
      return;
    }
    const taskId = this.task.id;
    switch (value.type) {
      case 'delta':
        this.#engine.emit({ type: 'delta', taskId, seq: this.#deltaSeq++, text: value.text });
        return;
      case 'tool-calls':
        this.#engine.emit({ type: 'tool', taskId, calls: value.calls });
        return;
      case 'retry':
        this.#retries++;
        this.#engine.emit({
          type: 'retry',
          taskId,
          attempt: value.attempt,
          delayMs: value.delayMs,
          error: value.error,
        });
        return;
      case 'usage':
        this.#addUsage(value.usage);
        return;
      case 'done':
        this.#result = value.text as R;
        this.#hasResult = true;
        return;
      case 'rate-limits':
        return;
    }
  }

  #addUsage(usage: Usage): void {
    this.#usage = this.#usage === undefined ? usage : addUsage(this.#usage, usage);
  }

  #complete(): void {
    if (this.#state !== RUNNING) return;
    if (this.#hasResult) {
      this.#state = DONE;
      const result = this.#result as R;
      this.#result = undefined;
      this.#settle({
        status: 'fulfilled',
        taskId: this.task.id,
        value: result,
        usage: this.#usage ?? NO_USAGE,
        attempts: this.#retries + 1,
        durationMs: this.#engine.now() - this.#startedAt,
      });
      return;
    }
    this.#error(new NoResultError({ taskId: this.task.id }));
  }

  #error(error: unknown): void {
    if (this.#state !== RUNNING) return;
    this.#state = DONE;
    this.#result = undefined;
    this.#settle(this.#rejected(this.#describe(error)));
  }

  #rejected(error: RxAgentError): Settled<R> {
    const usage = this.#usage;
    return {
      status: 'rejected',
      taskId: this.task.id,
      error,
      ...(usage === undefined ? {} : { usage }),
      attempts: this.#retries + 1,
      durationMs: this.#engine.now() - this.#startedAt,
    };
  }

  #settle(result: Settled<R>): void {
    if (this.#subscribing) {
      this.#held = result;
      return;
    }
    // Torn down before the slot is reused, so the next task starts only after this one has released what it
    // held (timers, connections, budget reservations) — whatever order its finalizers were added in: a retry
    // adds each attempt's after the run's own.
    const subscription = this.#subscription;
    this.#subscription = undefined;
    subscription?.unsubscribe();
    this.#engine.finish(this, result);
  }

  // A timeout says where the pool stood, as the time spent waiting for a slot is often the real cause.
  #describe(error: unknown): RxAgentError {
    if (!(error instanceof TimeoutError)) return toRxAgentError(error);
    const pool = { running: this.#engine.running, waiting: this.#engine.waiting };
    return new TimeoutError({
      ...error.info,
      pool,
      message: `${error.message} (pool had ${pool.running} running, ${pool.waiting} waiting)`,
      cause: error.cause,
    });
  }
}

function priorityOf(task: Task): number {
  const priority = task.priority ?? 0;
  // NaN would break the heap's ordering; it is treated as the default.
  return Number.isNaN(priority) ? 0 : priority;
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return (
    value instanceof Promise ||
    (typeof value === 'object' &&
      value !== null &&
      !(value instanceof Observable) &&
      typeof (value as { then?: unknown }).then === 'function')
  );
}
