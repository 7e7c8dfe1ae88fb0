import { asyncScheduler } from 'rxjs';
import type { ObservableInput, OperatorFunction, SchedulerLike } from 'rxjs';
import type { InvalidTask } from '../core/invalid-task.js';
import type { AgentEvent, Task, TaskEvent } from '../core/types.js';
import {
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectOneOf,
  expectScheduler,
} from '../core/validate.js';
import { poolEngine } from './internal/pool-engine.js';
import type { PoolOptions } from './internal/pool-engine.js';

/** What a worker gets besides its task. */
export interface WorkerContext {
  /** Fires when the run is cancelled (the pool's subscriber unsubscribed). Pass it to `fetch` or an SDK. */
  readonly signal: AbortSignal;
}

/** Where a pool stands; `monitor` receives a fresh one on every change. */
export interface PoolState {
  /** Tasks waiting in the queue. */
  readonly queued: number;
  /** Tasks whose worker is running. */
  readonly inFlight: number;
  /** Tasks settled as fulfilled. */
  readonly completed: number;
  /** Tasks settled as rejected, including invalid tasks and queue-full drops. */
  readonly failed: number;
  /** Tasks rejected or evicted because the queue was full (also counted in `failed`). */
  readonly droppedQueueFull: number;
  /** Mean time between a task's arrival and its start, over the tasks started so far. */
  readonly meanWaitMs: number;
  /** Hedges started so far (extra requests); present when `runAgents`' `hedge` is set. */
  readonly hedged?: number;
}

/** A pool before its first task: everything zero. */
export const IDLE_POOL_STATE: PoolState = Object.freeze({
  queued: 0,
  inFlight: 0,
  completed: 0,
  failed: 0,
  droppedQueueFull: 0,
  meanWaitMs: 0,
});

/** What the pool does with a task that arrives when the queue holds `queueLimit` tasks. */
export type PoolOverflow = 'reject' | 'drop-oldest' | 'drop-newest';

/** Configuration of {@link pool}. */
export interface PoolConfig {
  /** The most workers running at once: an integer from 1, or `Infinity`. @defaultValue 4 */
  readonly concurrency?: number;
  /** The most tasks waiting for a slot: an integer from 0, or `Infinity`. @defaultValue Infinity */
  readonly queueLimit?: number;
  /**
   * When the queue is full: `'reject'` and `'drop-newest'` refuse the arriving task, `'drop-oldest'` evicts
   * the task that has waited longest and queues the new one. Either way the dropped task settles as a
   * rejected `QueueFullError`. @defaultValue 'reject'
   */
  readonly overflow?: PoolOverflow;
  /** Called with each task dropped for a full queue. What it throws is ignored. @defaultValue undefined */
  readonly onQueueFull?: (task: Task) => void;
  /** Called with the new state after every change. What it throws is ignored. @defaultValue undefined */
  readonly monitor?: (state: PoolState) => void;
  /** Clock for `waitMs`, `durationMs` and `meanWaitMs`. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** A task's work: an Observable of `AgentEvent`s (and/or plain result values), a Promise, or any `ObservableInput`. */
export type Worker<R> = (task: Task, context: WorkerContext) => ObservableInput<AgentEvent | R>;

const OVERFLOWS: readonly PoolOverflow[] = ['reject', 'drop-oldest', 'drop-newest'];

/** The options of `pool`, which the operators built on it accept too. */
export const POOL_OPTIONS = [
  'concurrency',
  'queueLimit',
  'overflow',
  'onQueueFull',
  'monitor',
  'scheduler',
] as const;

/** Tasks running at once unless told otherwise: in `pool`, `runAgents`, `serve` and the CLI alike. */
export const DEFAULT_CONCURRENCY = 4;

/**
 * Runs a worker per task, never more than `concurrency` at once, and turns each run into `TaskEvent`s ending
 * in exactly one `settled` per task — whatever the worker does (throws, rejects, errors, completes empty).
 *
 * ```
 * tasks:   -abc----------|     concurrency 2; a's run takes 6 frames, b's 10, c's 4
 * result:  -ab----(Ac)CB-|     a b c = started (c the instant a's slot frees), A B C = settled
 * ```
 *
 * The worker's `AgentEvent`s become task events: `delta` → `delta` with a per-task `seq` from 0,
 * `tool-calls` → `tool`, `retry` → `retry` (and one more attempt), `usage` is summed into the result,
 * `done` sets the result to its text; any other value emitted becomes the result (the last one wins).
 *
 * Tasks from a pull source (`fromTasks`, `fromJsonl`) are pulled one at a time when a slot is free, so
 * memory stays flat; a plain Observable is subscribed and its tasks wait in a queue of `queueLimit`,
 * leaving it by priority (higher first) and arrival order. An `InvalidTask` settles at once as rejected.
 * Tasks with the same id are allowed; events name them by id, so give tasks unique ids to tell them apart.
 *
 * The output completes when the source has completed and every task has settled. If the source errors,
 * no more tasks are taken, those already accepted run to their settled events, and then the error is passed
 * on. Unsubscribing aborts the `signal` of every running worker, unsubscribes them and drops the queue.
 *
 * @example
 * tasks$.pipe(
 *   pool((task, { signal }) => fetchSummary(task.input, signal), { concurrency: 5, queueLimit: 100 }),
 *   settle(),
 * ).subscribe((result) => console.log(result.taskId, result.status));
 */
export function pool<R = string>(
  worker: Worker<R>,
  config: PoolConfig = {},
): OperatorFunction<Task | InvalidTask, TaskEvent<R>> {
  const options = poolOptions(worker, config);
  return (source) => poolEngine(source, options);
}

/** Checks the arguments of `pool` and merges its defaults; also used by what builds on the pool engine. */
export function poolOptions<R>(worker: Worker<R>, config: PoolConfig): PoolOptions<R> {
  expectFunction('worker', worker);
  expectConfig('config', config);
  expectKnownKeys('pool', config, POOL_OPTIONS);
  const concurrency = expectInteger('concurrency', config.concurrency ?? DEFAULT_CONCURRENCY, 1, true);
  const queueLimit = expectInteger('queueLimit', config.queueLimit ?? Number.POSITIVE_INFINITY, 0, true);
  const overflow = expectOneOf('overflow', config.overflow ?? 'reject', OVERFLOWS);
  if (config.onQueueFull !== undefined) expectFunction('onQueueFull', config.onQueueFull);
  if (config.monitor !== undefined) expectFunction('monitor', config.monitor);
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  return {
    worker,
    concurrency,
    queueLimit,
    overflow,
    onQueueFull: config.onQueueFull,
    monitor: config.monitor,
    scheduler,
  };
}
