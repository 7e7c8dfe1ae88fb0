import { Observable, from } from 'rxjs';
import type { ObservableInput } from 'rxjs';

/**
 * Subscribes to `start(signal)` with an `AbortSignal` of its own for each subscription, aborted when that
 * subscription is unsubscribed before it ended (a timeout, a retry, a cancel, a teardown) or when `parent`
 * aborts, so that the I/O behind one attempt stops with the attempt. A subscription that completes or errors
 * leaves its signal alone: its I/O has already ended.
 *
 * ```
 * start:   ---a---b---        (signal of this subscription)
 * result:  ---a---b--!        unsubscribed here → that signal aborts
 * ```
 *
 * @param reason What the signal aborts with when the subscription is unsubscribed; `parent.reason` when the
 *   parent aborted. @defaultValue the platform's `AbortError`
 *
 * @example
 * const attempt$ = withSignal((signal) => agent.run(task, { signal }), poolSignal);
 * attempt$.pipe(timeoutWith({ total: 30_000 }), retryBackoff({ maxRetries: 2 })); // each attempt aborts alone
 */
export function withSignal<T>(
  start: (signal: AbortSignal) => ObservableInput<T>,
  parent?: AbortSignal,
  reason?: () => unknown,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    const controller = new AbortController();
    let ended = false;
    const abort = (): void => {
      controller.abort(parent?.reason);
    };
    if (parent?.aborted === true) abort();
    else parent?.addEventListener('abort', abort, { once: true });
    let source: Observable<T>;
    try {
      source = from(start(controller.signal));
    } catch (error) {
      parent?.removeEventListener('abort', abort);
      subscriber.error(error);
      return undefined;
    }
    const subscription = source.subscribe({
      next: (value) => {
        subscriber.next(value);
      },
      error: (error: unknown) => {
        ended = true;
        subscriber.error(error);
      },
      complete: () => {
        ended = true;
        subscriber.complete();
      },
    });
    return () => {
      parent?.removeEventListener('abort', abort);
      subscription.unsubscribe();
      if (!ended && !controller.signal.aborted) controller.abort(reason?.());
    };
  });
}
