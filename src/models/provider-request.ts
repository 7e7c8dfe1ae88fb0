import { Observable, type Subscriber } from 'rxjs';
import type { AgentEvent, RunContext } from '../core/types.js';

/** Where a request's events go: the subscriber's methods, through which the request learns it has ended. */
export type EventSink = Pick<Subscriber<AgentEvent>, 'next' | 'error' | 'complete' | 'closed'>;

/**
 * One provider request as an Observable, with one `AbortController` for the SDK's signal: it aborts when the
 * run's signal does, and when the subscription is unsubscribed before the request ended (a timeout, a retry, a
 * consumer leaving) — never after a normal end, where `abort()` would only build a `DOMException`.
 *
 * @example
 * run: (task, context) => providerRequest(context, (signal, sink) => streamFromSdk(task, signal, sink)),
 */
export function providerRequest(
  context: RunContext,
  start: (signal: AbortSignal, sink: EventSink) => void,
): Observable<AgentEvent> {
  return new Observable<AgentEvent>((subscriber) => {
    const controller = new AbortController();
    const { signal } = context;
    const follow = (): void => {
      controller.abort(signal.reason);
    };
    if (signal.aborted) follow();
    else signal.addEventListener('abort', follow, { once: true });
    let ended = false;
    // Marks the request ended before the subscriber's teardown runs, which is on the same stack.
    const sink: EventSink = {
      next: (event) => {
        subscriber.next(event);
      },
      error: (error: unknown) => {
        ended = true;
        subscriber.error(error);
      },
      complete: () => {
        ended = true;
        subscriber.complete();
      },
      get closed() {
        return subscriber.closed;
      },
    };
    start(controller.signal, sink);
    return () => {
      signal.removeEventListener('abort', follow);
      if (!ended && !controller.signal.aborted) controller.abort();
    };
  });
}
