import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { Settled, TaskEvent } from '../core/types.js';

/** Every task's outcome once the stream is complete, with the counts people ask for first. */
export interface AllSettled<R = string> {
  /** In completion order. */
  readonly results: readonly Settled<R>[];
  readonly fulfilled: number;
  readonly rejected: number;
  readonly total: number;
  /** Such as `'3/4 completed'`. */
  readonly summary: string;
}

/**
 * Collects the settled results of a stream of task events (or of `Settled` values) and emits them once, with
 * counts, when the stream completes — like `Promise.allSettled`, so partial results can be used.
 *
 * ```
 * events:  -sA-B-cd-|     s started; A c d fulfilled, B rejected (c as a bare Settled value)
 * result:  ---------(x|)  x = { results: [A, B, c, d], fulfilled: 3, rejected: 1, total: 4,
 *                               summary: '3/4 completed' }
 * ```
 *
 * @example
 * const { results, summary } = await lastValueFrom(tasks$.pipe(runAgents(agent), allSettled()));
 */
export function allSettled<R = string>(): OperatorFunction<TaskEvent<R> | Settled<R>, AllSettled<R>> {
  return (source) =>
    new Observable<AllSettled<R>>((subscriber) => {
      let results: Settled<R>[] = [];
      let fulfilled = 0;
      const subscription = source.subscribe({
        next: (item) => {
          const result = 'status' in item ? item : item.type === 'settled' ? item.result : undefined;
          if (result === undefined) return;
          results.push(result);
          if (result.status === 'fulfilled') fulfilled++;
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
        complete: () => {
          const total = results.length;
          subscriber.next({
            results,
            fulfilled,
            rejected: total - fulfilled,
            total,
            summary: `${fulfilled}/${total} completed`,
          });
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        // An abandoned collection may be large; let it go with the subscription.
        results = [];
      };
    });
}
