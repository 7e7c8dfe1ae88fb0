// Workloads of property tests, in virtual time: tasks arriving at given times, and cancellations of some.
import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { CancelledError } from '../../src/core/errors/index.js';
import type { Task } from '../../src/core/types.js';
import type { PoolCancel } from '../../src/operators/internal/pool-engine.js';

/** One task of a workload: when it arrives and, if it is cancelled, when (both in scheduler time). */
export interface Arrival {
  readonly task: Task;
  readonly at: number;
  readonly cancelAt?: number | undefined;
}

/** The tasks, each emitted at its `at`; completes one frame after the last. */
export function arrivals(scheduler: SchedulerLike, schedule: readonly Arrival[]): Observable<Task> {
  return new Observable<Task>((subscriber) => {
    const actions: Subscription[] = schedule.map((t) =>
      scheduler.schedule(() => {
        subscriber.next(t.task);
      }, t.at),
    );
    const end = Math.max(0, ...schedule.map((t) => t.at)) + 1;
    actions.push(
      scheduler.schedule(() => {
        subscriber.complete();
      }, end),
    );
    return () => {
      for (const a of actions) a.unsubscribe();
    };
  });
}

/** A client's cancel of each task at its `cancelAt`, for the pool engine's `cancel` option. */
export function cancels(scheduler: SchedulerLike, schedule: readonly Arrival[]): Observable<PoolCancel> {
  return new Observable<PoolCancel>((subscriber) => {
    const actions = schedule.flatMap(({ task, cancelAt }) =>
      cancelAt === undefined
        ? []
        : [
            scheduler.schedule(() => {
              subscriber.next({
                task,
                error: new CancelledError({ reason: 'client-cancel', taskId: task.id }),
              });
            }, cancelAt),
          ],
    );
    return () => {
      for (const a of actions) a.unsubscribe();
    };
  });
}
