import { Observable, from } from 'rxjs';
import type { ObservableInput } from 'rxjs';

/**
 * An Observable over an async iterable, such as an async generator that yields a model's events. Subscribed,
 * it reads the iterable with a plain `for await`-style loop, and calls `return()` on the iterator when it is
 * unsubscribed early, as a `for await` loop left with `break` does. The pool reads the iterable directly,
 * without a subscription, which makes an agent written as a generator as cheap to run as a hand-written loop.
 *
 * ```
 * generator:  yield a, yield b, return
 * result:     --a--b|
 * ```
 *
 * @example
 * const agent: Agent = {
 *   run: (task, { signal }) =>
 *     fromAsyncIterable(
 *       (async function* () {
 *         for await (const text of myModel.stream(task.input, { signal })) yield { type: 'delta', text };
 *         yield { type: 'done', text: '…', finishReason: 'stop' };
 *       })(),
 *     ),
 * };
 */
export function fromAsyncIterable<T>(iterable: AsyncIterable<T>): AsyncIterableObservable<T> {
  if (typeof (iterable as Partial<AsyncIterable<T>> | null)?.[Symbol.asyncIterator] !== 'function') {
    throw new TypeError('Expected `iterable` to be an async iterable');
  }
  return new AsyncIterableObservable(iterable);
}

/**
 * What {@link fromAsyncIterable} returns: an Observable that also hands its iterable to readers that can take
 * it directly.
 */
export class AsyncIterableObservable<T> extends Observable<T> {
  /** The iterable read by each subscription; each opens an iterator of its own. */
  readonly iterable: AsyncIterable<T>;

  constructor(iterable: AsyncIterable<T>) {
    super((subscriber) => {
      const iterator = iterable[Symbol.asyncIterator]();
      let ended = false;
      void (async () => {
        try {
          for (;;) {
            const result = await iterator.next();
            if (subscriber.closed) return;
            if (result.done === true) break;
            subscriber.next(result.value);
          }
        } catch (error) {
          ended = true;
          subscriber.error(error);
          return;
        }
        ended = true;
        subscriber.complete();
      })();
      return () => {
        // An iterator that ran out or failed has nothing left to close, as in a `for await` loop.
        if (!ended) iterator.return?.().then(undefined, ignore);
      };
    });
    this.iterable = iterable;
  }
}

function ignore(): void {
  // What the iterator does on return is its own business; a rejection is not the subscriber's.
}

/** Whether `value` is an async iterable that is not an Observable (RxJS Observables are async-iterable too). */
export function isAsyncIterable<T>(value: unknown): value is AsyncIterable<T> {
  return (
    !(value instanceof Observable) &&
    typeof (value as Partial<AsyncIterable<T>> | null)?.[Symbol.asyncIterator] === 'function'
  );
}

/**
 * RxJS's `from()`, but with async iterables read by {@link AsyncIterableObservable}, which `from()` would read
 * through generic helpers.
 *
 * @internal
 */
export function observableFrom<T>(input: ObservableInput<T>): Observable<T> {
  return isAsyncIterable<T>(input) ? new AsyncIterableObservable(input) : from(input);
}
