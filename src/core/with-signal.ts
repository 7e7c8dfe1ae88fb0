import { Observable } from 'rxjs';
import { observableFrom } from './from-async-iterable.js';
import type { ObservableInput } from 'rxjs';
import type { RunContext } from './types.js';

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
  return withRunContext(
    (context) => start(context.signal),
    () => parent,
    reason,
  );
}

/**
 * `withSignal` for code that hands a `RunContext` on (as the pool hands one to an agent): the signal, and
 * the `AbortController` behind it, are made only when the run reads `context.signal`, so a run that never
 * looks costs nothing. The parent signal too is asked for only then (the pool makes its own lazily).
 *
 * @internal
 */
export function withRunContext<T>(
  start: (context: RunContext) => ObservableInput<T>,
  parentOf: () => AbortSignal | undefined,
  reason?: () => unknown,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let controller: AbortController | undefined;
    let parent: AbortSignal | undefined;
    let ended = false;
    const abort = (): void => {
      controller?.abort(parent?.reason);
    };
    const context: RunContext = {
      get signal(): AbortSignal {
        if (controller === undefined) {
          controller = new AbortController();
          parent = parentOf();
          if (parent?.aborted === true) abort();
          else parent?.addEventListener('abort', abort, { once: true });
        }
        return controller.signal;
      },
    };
    let source: Observable<T>;
    try {
      source = observableFrom(start(context));
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
      if (!ended && controller !== undefined && !controller.signal.aborted) controller.abort(reason?.());
    };
  });
}
