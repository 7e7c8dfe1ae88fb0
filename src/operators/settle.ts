import { Observable } from 'rxjs';
import type { OperatorFunction } from 'rxjs';
import type { Settled, TaskEvent } from '../core/types.js';

/**
 * Keeps only the outcome of each task: the `Settled` result of every `settled` event, in completion order.
 *
 * ```
 * events:  -sdA-sB-|     s started, d delta, A B settled
 * result:  ---a--b-|     a b = the Settled results of A and B
 * ```
 *
 * @example
 * tasks$.pipe(runAgents(agent), settle()).subscribe((r) => console.log(r.taskId, r.status));
 */
export function settle<R = string>(): OperatorFunction<TaskEvent<R>, Settled<R>> {
  return (source) =>
    new Observable<Settled<R>>((subscriber) =>
      source.subscribe({
        next: (event) => {
          if (event.type === 'settled') subscriber.next(event.result);
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
