import {
  EMPTY,
  Subject,
  asyncScheduler,
  concat,
  defer,
  filter,
  finalize,
  identity,
  map,
  takeUntil,
  tap,
  timer,
} from 'rxjs';
import { Observable } from 'rxjs';
import type { MonoTypeOperatorFunction, OperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { CancelledError } from '../core/errors/index.js';
import type { RxAgentError } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import type { Task, TaskEvent } from '../core/types.js';
import { filterPull } from '../core/pull.js';
import type { PullSource } from '../core/pull.js';

/** How {@link drainOnInterrupt} hears interrupts and what it may tell the user. */
export interface DrainConfig {
  /** Subscribes to interrupts (Ctrl-C); returns the unsubscribe. */
  readonly onInterrupt: (handler: () => void) => () => void;
  /** How long running tasks may go on after the first interrupt. */
  readonly drainTimeoutMs: number;
  /** Receives one line when the drain starts and when it turns into a hard stop. */
  readonly notify: (message: string) => void;
  /** Clock of the drain deadline and of the cancelled tasks' durations. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
  /**
   * Looks at every event; an error back means no task left can succeed (see `giveUpOnHopelessFailures`): the
   * run stops at once, as on a second Ctrl-C, and every task left settles cancelled with that error as cause.
   */
  readonly giveUp?: (event: TaskEvent) => RxAgentError | undefined;
}

type HardStop = 'deadline' | 'interrupt' | { readonly gaveUp: RxAgentError };

interface Running {
  readonly since: number;
  attempts: number;
}

/**
 * Runs the tasks of a pull source through `run` so that an interrupt drains instead of losing work. The first
 * interrupt stops the intake (no task starts any more) and gives running tasks `drainTimeoutMs` to settle; the
 * deadline or a second interrupt unsubscribes `run`, which aborts them. Either way the tasks are then read once
 * more and each one without a `settled` event gets one, rejected as `CancelledError` (an invalid line with its
 * own error), so every task of the source ends in the output exactly once.
 *
 * ```
 * tasks:   abcd|               concurrency 1; Ctrl-C (!) while b runs; the deadline passes before b settles
 * result:  aA-b-!-----(BCD|)   a b started, A settled; B cancelled ('drain-deadline'), C D ('closed': never run)
 * ```
 *
 * @example
 * drainOnInterrupt(() => fromJsonl(file), runAgents(agent), { onInterrupt, drainTimeoutMs: 10_000, notify });
 */
export function drainOnInterrupt(
  tasks: () => PullSource<Task | InvalidTask>,
  run: OperatorFunction<Task | InvalidTask, TaskEvent>,
  config: DrainConfig,
): Observable<TaskEvent> {
  const scheduler = config.scheduler ?? asyncScheduler;
  return defer(() => {
    let draining = false;
    let hardStop: HardStop | undefined;
    let deadline: Subscription | undefined;
    const stop$ = new Subject<void>();
    const settled = new Map<string, number>();
    const running = new Map<string, Running>();
    const stopNow = (why: HardStop): void => {
      if (hardStop !== undefined) return;
      hardStop = why;
      draining = true;
      config.notify(
        why === 'deadline'
          ? `drain deadline passed: cancelling the ${running.size} running task(s)`
          : why === 'interrupt'
            ? `interrupted again: cancelling the ${running.size} running task(s) now`
            : `giving up: the first ${settled.size} task(s) all failed with ${why.gaveUp.code}: ${why.gaveUp.message}; every task left is cancelled, none is sent`,
      );
      stop$.next();
    };
    let liveEnded = false;
    const unlisten = config.onInterrupt(() => {
      if (liveEnded) return;
      if (draining) {
        stopNow('interrupt');
        return;
      }
      draining = true;
      config.notify(
        `draining: no new tasks start, ${running.size} running may finish within ${config.drainTimeoutMs / 1000}s (Ctrl-C again to stop now)`,
      );
      deadline = timer(config.drainTimeoutMs, scheduler).subscribe(() => {
        stopNow('deadline');
      });
    });
    // Dropping the rest of the intake (rather than ending it) keeps the pool's pull handshake intact.
    const giveUp = config.giveUp;
    const live$ = filterPull(tasks(), () => !draining).pipe(
      run,
      // Checked once the event has gone out: stopping inside its delivery would drop it.
      giveUp === undefined
        ? identity
        : afterEach((event) => {
            const cause = giveUp(event);
            if (cause !== undefined) stopNow({ gaveUp: cause });
          }),
      takeUntil(stop$),
      tap((event) => {
        track(event, running, settled, scheduler);
      }),
      finalize(() => {
        liveEnded = true;
        deadline?.unsubscribe();
      }),
    );
    const rest$ = defer(() =>
      draining
        ? sweep(tasks(), settled, (task) => cancelled(task, running.get(task.id), hardStop, scheduler))
        : EMPTY,
    );
    return concat(live$, rest$).pipe(
      finalize(() => {
        unlisten();
      }),
    );
  });
}

/** Calls `check` with each value after passing it on. */
function afterEach<T>(check: (value: T) => void): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) =>
      source.subscribe({
        next: (value) => {
          subscriber.next(value);
          check(value);
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
        complete: () => {
          subscriber.complete();
        },
      }),
    );
}

function track(
  event: TaskEvent,
  running: Map<string, Running>,
  settled: Map<string, number>,
  scheduler: SchedulerLike,
): void {
  if (event.type === 'started') running.set(event.taskId, { since: scheduler.now(), attempts: 1 });
  else if (event.type === 'retry') {
    const entry = running.get(event.taskId);
    if (entry !== undefined) entry.attempts++;
  } else if (event.type === 'settled') {
    running.delete(event.taskId);
    settled.set(event.taskId, (settled.get(event.taskId) ?? 0) + 1);
  }
}

/** Settles every task of `tasks` that has no `settled` event yet, counting ids so duplicates are exact. */
function sweep(
  tasks: PullSource<Task | InvalidTask>,
  settled: Map<string, number>,
  cancel: (task: Task) => Extract<TaskEvent, { type: 'settled' }>,
): Observable<TaskEvent> {
  return tasks.pipe(
    filter((item) => {
      const id = item instanceof InvalidTask ? item.taskId : item.id;
      const count = settled.get(id) ?? 0;
      if (count > 0) settled.set(id, count - 1);
      return count === 0;
    }),
    map((item): TaskEvent => {
      if (!(item instanceof InvalidTask)) return cancel(item);
      const { taskId, error, meta } = item;
      return {
        type: 'settled',
        taskId,
        result: {
          status: 'rejected',
          taskId,
          error,
          attempts: 0,
          durationMs: 0,
          ...(meta === undefined ? {} : { meta }),
        },
      };
    }),
  );
}

function cancelled(
  task: Task,
  running: Running | undefined,
  hardStop: HardStop | undefined,
  scheduler: SchedulerLike,
): Extract<TaskEvent, { type: 'settled' }> {
  const taskId = task.id;
  const error =
    typeof hardStop === 'object'
      ? new CancelledError({
          reason: 'fail-fast',
          taskId,
          message: `Task "${taskId}" was cancelled: the run gave up after its first tasks all failed with ${hardStop.gaveUp.code}: ${hardStop.gaveUp.message}`,
          cause: hardStop.gaveUp,
        })
      : running === undefined
        ? new CancelledError({
            reason: 'closed',
            taskId,
            message: `Task "${taskId}" was not started: the run was interrupted`,
          })
        : new CancelledError({
            reason: hardStop === 'deadline' ? 'drain-deadline' : 'closed',
            taskId,
            message: `Task "${taskId}" was cancelled: ${hardStop === 'deadline' ? 'still running at the drain deadline' : 'interrupted twice'}`,
          });
  return {
    type: 'settled',
    taskId,
    result: {
      status: 'rejected',
      taskId,
      error,
      attempts: running?.attempts ?? 0,
      durationMs: running === undefined ? 0 : scheduler.now() - running.since,
      ...(task.meta === undefined ? {} : { meta: task.meta }),
    },
  };
}
