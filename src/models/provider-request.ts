import { Observable, type Subscriber } from 'rxjs';
import type { AgentEvent, RunContext } from '../core/types.js';
import { CancelledError } from '../core/errors/index.js';
import { parseRateLimitHeaders, type HeadersLike } from '../core/rate-limit-headers.js';

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

/** What a request has streamed so far: counted as it goes, reported by the errors of a failure. */
export interface Progress {
  chunks: number;
  partialText: string;
}

/**
 * Reads an SDK's stream of events, passing the text each adds (`add`, which also keeps what the run assembles)
 * to `sink` as a `delta`; `false` when the subscriber left before the stream ended.
 */
export async function readDeltas<E>(
  events: AsyncIterable<E>,
  add: (event: E) => string,
  sink: EventSink,
  progress: Progress,
): Promise<boolean> {
  for await (const event of events) {
    if (sink.closed) return false;
    progress.chunks += 1;
    const text = add(event);
    if (text !== '') {
      progress.partialText += text;
      sink.next({ type: 'delta', text });
    }
  }
  return true;
}

/** A response's rate-limit headers, of either family, as a `rate-limits` event when there are any. */
export function emitLimits(headers: HeadersLike | undefined, sink: EventSink, nowMs: number): void {
  if (headers === undefined) return;
  const limits = parseRateLimitHeaders(headers, nowMs);
  if (Object.keys(limits).length > 0) sink.next({ type: 'rate-limits', limits });
}

/** What a request aborted through the run's signal ends in. */
export function abortedRun(taskId: string): CancelledError {
  return new CancelledError({
    reason: 'unsubscribed',
    taskId,
    message: `Run of task ${taskId} was aborted through its signal`,
  });
}
