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
import type { AgentEvent, FinishReason, Settled, Task, TaskEvent, Usage } from '../../core/types.js';
import { NO_USAGE, addUsage } from '../../core/usage.js';
import { PULL, closeIterator, isPullable } from '../../core/pull.js';
import type { PoolOverflow, PoolState, Worker, WorkerContext } from '../pool.js';
import { PriorityQueue } from './priority-queue.js';
import { DrainLoop } from '../../core/drain-loop.js';
import { AsyncIterableObservable, isAsyncIterable } from '../../core/from-async-iterable.js';
import { retryDelay } from './retry-policy.js';
import type { RetryPolicy } from './retry-policy.js';
import { Hedging } from './hedging.js';
import type { HedgeHost, HedgedRun } from './hedging.js';
import type { HedgePolicy } from './hedge-policy.js';

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
  /**
   * Runs the worker again, as `retryBackoff` would resubscribe it, when an attempt fails before any output:
   * `runAgents` retries here rather than through the operator, which saves a layer of subscriptions per
   * task, and gives each attempt its own lazily made signal.
   */
  readonly retry?: RetryPolicy | undefined;
  /**
   * Hedges an attempt that has no output some time after its request went out with a second one, the first
   * with output going on (`runAgents`' `hedge`). The worker reports when its request goes out through
   * `requestPhase` on the context it is given; a hedge takes a slot under the limit as a task does.
   */
  readonly hedge?: HedgePolicy | undefined;
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

class Engine<R> implements HedgeHost {
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
    while (!this.#closed && this.#canStartAnother()) {
      const run = this.#shift(false);
      if (run !== undefined) this.#start(run, this.now());
      else if (!this.#pull()) break;
    }
  });
  #intakeDone = false;
  #sourceError: { error: unknown } | undefined;
  /** The time of the settlement whose freed slot is being filled, if one is. */
  #passNow: number | undefined;
  #sourceSubscription: Subscription | undefined;
  #iterator: Iterator<Task | InvalidTask> | AsyncIterator<Task | InvalidTask> | undefined;
  #pullPending = false;
  // Kept only when tasks can be cancelled one by one: the queued and running run of each task.
  readonly #runs: Map<Task, Run<R>> | undefined;
  // Cancelled runs still in the queue: removing from the middle of a deque is O(n), so they are skipped
  // when they come up instead, and left out of every count.
  #withdrawn = 0;
  #cancelSubscription: Subscription | undefined;
  readonly hedging: Hedging | undefined;

  constructor(subscriber: Subscriber<TaskEvent<R>>, options: PoolOptions<R>) {
    this.#subscriber = subscriber;
    this.#options = options;
    this.#runs = options.cancel === undefined ? undefined : new Map();
    this.hedging = options.hedge === undefined ? undefined : new Hedging(options.hedge, this);
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

  /** The concurrency limit now: the one place it is read. */
  get limit(): number {
    return this.#options.concurrency;
  }

  get scheduler(): SchedulerLike {
    return this.#options.scheduler;
  }

  /** Whether a slot is free for another task: hedges running take one each. */
  #canStartAnother(): boolean {
    return this.#inFlight + (this.hedging?.running ?? 0) < this.limit;
  }

  freed(): void {
    this.#pump();
  }

  get waiting(): number {
    return this.#queued;
  }

  get #queued(): number {
    return this.#queue.size - this.#withdrawn;
  }

  now(): number {
    return this.#passNow ?? this.#options.scheduler.now();
  }

  get worker(): Worker<R> {
    return this.#options.worker;
  }

  get retry(): RetryPolicy | undefined {
    return this.#options.retry;
  }

  emit(event: TaskEvent<R>): void {
    this.#subscriber.next(event);
  }

  /** Called by a run once it has its outcome, at `now`, the time its outcome was stamped with. */
  finish(run: Run<R>, result: Settled<R>, now: number): void {
    this.#unlink(run);
    this.#runs?.delete(run.task);
    this.#inFlight--;
    if (result.status === 'fulfilled') this.#completed++;
    else this.#failed++;
    this.#subscriber.next({ type: 'settled', taskId: result.taskId, result });
    if (this.#options.monitor !== undefined) this.#notify();
    // The tasks started in the slot it freed start at the same instant: one clock read per task, not two.
    const outer = this.#passNow;
    this.#passNow = now;
    try {
      this.#pump();
    } finally {
      this.#passNow = outer;
    }
  }

  teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelSubscription?.unsubscribe();
    this.#cancelSubscription = undefined;
    this.hedging?.close();
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
    this.#reject(task.id, error, task.meta);
    if (!this.#fill.running) this.#checkDone();
  }

  #accept(item: Task | InvalidTask): void {
    if (this.#closed) return;
    if (item instanceof InvalidTask) {
      this.#reject(item.taskId, item.error, item.meta);
      return;
    }
    if (typeof (item as Partial<Task> | null)?.id !== 'string') {
      this.#reject(
        '?',
        new ValidationError({
          issues: [],
          message: `Invalid task: expected an object with a string \`id\`, got ${describe(item)}`,
        }),
        undefined,
      );
      return;
    }
    const now = this.now();
    const run = new Run(this, item, this.#order++, now);
    if (this.#canStartAnother() && this.#queued === 0) {
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
    this.#reject(task.id, error, task.meta);
  }

  /** Settles a task that never ran. */
  #reject(taskId: string, error: RxAgentError, meta: unknown): void {
    this.#failed++;
    this.#subscriber.next({
      type: 'settled',
      taskId,
      result: { status: 'rejected', taskId, error, attempts: 0, durationMs: 0, ...metaOf(meta) },
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
    run.start(now, waitMs);
  }

  emitStarted(taskId: string, waitMs: number): void {
    this.#subscriber.next({ type: 'started', taskId, waitMs });
    if (this.#options.monitor !== undefined) this.#notify();
  }

  emitHedge(taskId: string, attempt: number, afterMs: number): void {
    this.#subscriber.next({ type: 'hedge', taskId, attempt, afterMs });
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
        ...(this.hedging === undefined ? {} : { hedged: this.hedging.started }),
      });
    } catch {
      // A failing monitor must not cost the tasks their results.
    }
  }
}

/** One task's run; it is also the `WorkerContext` handed to the worker, to save an allocation per task. */
class Run<R> implements WorkerContext, HedgedRun {
  readonly task: Task;
  readonly order: number;
  readonly enqueuedAt: number;
  prev: Run<R> | undefined;
  next: Run<R> | undefined;
  readonly #engine: Engine<R>;
  #state = QUEUED;
  #startedAt = 0;
  /** The current attempt's; made when the worker reads `signal`, dropped when the attempt has ended. */
  #controller: AbortController | undefined;
  #subscription: Subscription | undefined;
  /** The async iterator being read, when the worker returned one that is not an Observable. */
  #iterator: AsyncIterator<unknown> | undefined;
  /** The wait before the next attempt, when the pool retries. */
  #timer: Subscription | undefined;
  #deltaSeq = 0;
  /** Retries so far, the pool's own and those the worker reported with `retry` events. */
  #retries = 0;
  /** Hedges so far: attempts started beside one that was late. */
  #hedges = 0;
  /** The attempt the pool is running, from 1; it counts only the pool's own retries. */
  #attempt = 1;
  #outputSent = false;
  #usage: Usage | undefined;
  #hasResult = false;
  #result: R | undefined;
  #finishReason: FinishReason | undefined;
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

  start(now: number, waitMs: number): void {
    this.#state = RUNNING;
    this.#startedAt = now;
    this.#engine.emitStarted(this.task.id, waitMs);
    if (this.#isRunning()) this.#run(this.#engine.worker);
  }

  /** Runs one attempt of the worker. */
  #run(worker: Worker<R>): void {
    const attempt = this.#attempt;
    let input: ObservableInput<AgentEvent | R>;
    try {
      const hedging = this.#engine.hedging;
      // Once output went out (a retry with `replay`), the task is never hedged.
      input =
        hedging === undefined || this.#outputSent
          ? worker(this.task, this)
          : hedging.race(this, (context) => worker(this.task, context));
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
      // Read with a loop of its own: a subscription would add a Subscriber and a hop per event.
      const iterable = input instanceof AsyncIterableObservable ? input.iterable : input;
      if (isAsyncIterable<AgentEvent | R>(iterable)) {
        void this.#read(iterable[Symbol.asyncIterator]());
        return;
      }
      this.#subscribe(input instanceof Observable ? input : from(input), attempt);
    } catch (error) {
      this.#error(error);
    }
  }

  #subscribe(observable: Observable<AgentEvent | R>, attempt: number): void {
    const nested = this.#subscribing;
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
      this.#subscribing = nested;
    }
    if (this.#isRunning() && attempt === this.#attempt) {
      this.#subscription = subscription;
      return;
    }
    // Ended while subscribing: settled, cancelled, aborted (as when a consumer leaves on a synchronous
    // event) or failed and retried, the next attempt perhaps already under way.
    subscription.unsubscribe();
    if (nested) return; // The outer attempt's subscribe, still on the stack, handles what was held.
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) this.#engine.finish(this, held, this.#engine.now());
  }

  async #read(iterator: AsyncIterator<AgentEvent | R>): Promise<void> {
    this.#iterator = iterator;
    try {
      for (;;) {
        const result = await iterator.next();
        // Stopped while it was producing: `#stop` has already asked the iterator to return.
        if (this.#iterator !== iterator) return;
        if (result.done === true) break;
        this.#value(result.value);
        if (this.#iterator !== iterator) return;
      }
    } catch (error) {
      if (this.#iterator !== iterator) return;
      this.#iterator = undefined;
      this.#error(error);
      return;
    }
    this.#iterator = undefined;
    this.#complete();
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
    this.#stop();
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
    this.#reject(error);
  }

  /** Lets go of the current attempt's work: its subscription, its iterator, or the wait for the next one. */
  #stop(): void {
    const subscription = this.#subscription;
    this.#subscription = undefined;
    subscription?.unsubscribe();
    const timer = this.#timer;
    this.#timer = undefined;
    timer?.unsubscribe();
    const iterator = this.#iterator;
    this.#iterator = undefined;
    // As a `for await` loop left early does; what the iterator does on return is its own business.
    iterator?.return?.().then(undefined, ignore);
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
      this.#outputSent = true;
      this.#result = value;
      this.#hasResult = true;
      return;
    }
    const taskId = this.task.id;
    switch (value.type) {
      case 'delta':
        this.#outputSent = true;
        this.#engine.emit({ type: 'delta', taskId, seq: this.#deltaSeq++, text: value.text });
        return;
      case 'tool-calls':
        this.#outputSent = true;
        this.#engine.emit({ type: 'tool', taskId, calls: value.calls });
        return;
      case 'retry':
        this.#retried(value.attempt, value.delayMs, value.error);
        return;
      case 'route':
        this.#engine.emit({ type: 'route', taskId, deployment: value.deployment, attempt: value.attempt });
        return;
      case 'admitted':
        this.#engine.emit({ type: 'admitted', taskId, attempt: this.#attempts(), waitMs: value.waitMs });
        return;
      case 'usage':
        this.#addUsage(value.usage);
        return;
      case 'done':
        this.#outputSent = true;
        this.#result = value.text as R;
        this.#finishReason = value.finishReason;
        this.#hasResult = true;
        return;
      case 'rate-limits':
        return;
    }
  }

  hedged(afterMs: number): void {
    this.#hedges++;
    this.#engine.emitHedge(this.task.id, this.#attempts(), afterMs);
  }

  /** Every attempt so far: the first, retries and hedges. */
  #attempts(): number {
    return this.#retries + this.#hedges + 1;
  }

  #retried(attempt: number, delayMs: number, error: RxAgentError): void {
    this.#retries++;
    this.#engine.emit({ type: 'retry', taskId: this.task.id, attempt, delayMs, error });
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
      const now = this.#engine.now();
      this.#settle(
        {
          status: 'fulfilled',
          taskId: this.task.id,
          value: result,
          usage: this.#usage ?? NO_USAGE,
          attempts: this.#attempts(),
          durationMs: now - this.#startedAt,
          ...(this.#finishReason === undefined ? {} : { finishReason: this.#finishReason }),
          ...metaOf(this.task.meta),
        },
        now,
      );
      return;
    }
    this.#error(new NoResultError({ taskId: this.task.id }));
  }

  #error(thrown: unknown): void {
    if (this.#state !== RUNNING) return;
    const policy = this.#engine.retry;
    let error = toRxAgentError(thrown);
    if (policy !== undefined) {
      let delayMs: number | undefined;
      try {
        delayMs = retryDelay(policy, error, this.#attempt, this.#outputSent);
      } catch (callbackError) {
        error = toRxAgentError(callbackError);
      }
      if (delayMs !== undefined) {
        this.#retry(policy, delayMs, error);
        return;
      }
    }
    this.#state = DONE;
    this.#result = undefined;
    this.#reject(this.#describe(error));
  }

  /** Waits `delayMs`, then runs the worker again; the failed attempt has ended, its signal is left alone. */
  #retry(policy: RetryPolicy, delayMs: number, error: RxAgentError): void {
    this.#attempt++;
    this.#controller = undefined;
    this.#subscription = undefined;
    // Numbered among all the attempts so far, those the worker made on its own (a router moving a task to
    // another deployment) included, so the number matches its `route` events and the settled `attempts`.
    this.#retried(this.#attempts() + 1, delayMs, error);
    // The consumer may have unsubscribed on seeing the retry event; then no timer may be left behind.
    if (!this.#isRunning()) return;
    this.#timer = policy.scheduler.schedule(() => {
      this.#timer = undefined;
      if (this.#isRunning()) this.#run(this.#engine.worker);
    }, delayMs);
  }

  #reject(error: RxAgentError): void {
    const usage = this.#usage;
    const now = this.#engine.now();
    this.#settle(
      {
        status: 'rejected',
        taskId: this.task.id,
        error,
        ...(usage === undefined ? {} : { usage }),
        attempts: this.#attempts(),
        durationMs: now - this.#startedAt,
        ...metaOf(this.task.meta),
      },
      now,
    );
  }

  #settle(result: Settled<R>, now: number): void {
    if (this.#subscribing) {
      this.#held = result;
      return;
    }
    // Torn down before the slot is reused, so the next task starts only after this one has released what it
    // held (timers, connections, budget reservations) — whatever order its finalizers were added in.
    this.#stop();
    this.#engine.finish(this, result, now);
  }

  // A timeout says where the pool stood, as the time spent waiting for a slot is often the real cause.
  #describe(error: RxAgentError): RxAgentError {
    if (!(error instanceof TimeoutError)) return error;
    const pool = { running: this.#engine.running, waiting: this.#engine.waiting };
    return new TimeoutError({
      ...error.info,
      pool,
      message: `${error.message} (pool had ${pool.running} running, ${pool.waiting} waiting)`,
      cause: error.cause,
    });
  }
}

/** A result's `meta` field: left out when the task has none, so results of tasks without it stay as they were. */
function metaOf(meta: unknown): { meta?: unknown } {
  return meta === undefined ? {} : { meta };
}

function ignore(): void {
  // Nothing to do: see the caller.
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
