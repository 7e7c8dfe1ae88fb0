import { Observable } from 'rxjs';

/**
 * The pull handshake between pull sources and the pool. A source that carries this symbol hands the pool an
 * iterator, and the pool calls `next()` only when it has room, so backpressure reaches the file, generator or
 * Redis stream behind it. Subscribed any other way, the same source is a plain Observable.
 */
export const PULL: unique symbol = Symbol.for('rxagent.pull');

/** The pull side of a {@link PullSource}: what the pool calls instead of subscribing. */
export interface Pullable<T> {
  /** Opens a fresh iterator over the items. The pool calls `return()` on it when it stops early. */
  [PULL](): Iterator<T> | AsyncIterator<T>;
}

/** An Observable that the pool can also pull from. */
export type PullSource<T> = Observable<T> & Pullable<T>;

/**
 * Tells a pull source from a plain Observable.
 *
 * @example
 * isPullable(fromJsonl('prompts.jsonl')); // true
 * isPullable(from(tasks)); // false: `from` pushes, so the pool queues what it cannot start yet
 */
export function isPullable<T>(source: Observable<T>): source is PullSource<T> {
  return typeof (source as Partial<Pullable<T>>)[PULL] === 'function';
}

/**
 * Makes a pull source from a function that opens an iterator. Subscribed directly, it drains the iterator as
 * fast as the subscriber takes items and stops (calling `return()`) when unsubscribed; the pool instead calls
 * `next()` only when it has a free slot.
 *
 * ```
 * iterator:  next() → a, b, c, done
 * pool:      (ab)------c|      concurrency 2: a and b at once, c once a's slot frees, then done
 * ```
 *
 * @example
 * async function* fromDatabase(): AsyncGenerator<Task> {
 *   for (let page = 0; ; page++) {
 *     const rows = await db.tasks(page);
 *     if (rows.length === 0) return;
 *     yield* rows;
 *   }
 * }
 * pullSource(fromDatabase).pipe(runAgents(agent, { concurrency: 2 })).subscribe();
 */
export function pullSource<T>(open: () => Iterator<T> | AsyncIterator<T>): PullSource<T> {
  const observable = new Observable<T>((subscriber) => {
    const iterator = open();
    let closed = false;
    // An iterator that ran out or failed has nothing left to close, as in a `for await` loop.
    let ended = false;
    const isClosed = (): boolean => closed;
    const step = async (): Promise<void> => {
      while (!subscriber.closed) {
        const result = await iterator.next();
        // The subscriber may have unsubscribed while the iterator was producing.
        if (isClosed()) return;
        if (result.done === true) {
          ended = true;
          subscriber.complete();
          return;
        }
        subscriber.next(result.value);
      }
    };
    step().catch((error: unknown) => {
      ended = true;
      subscriber.error(error);
    });
    return () => {
      closed = true;
      if (!ended) closeIterator(iterator);
    };
  });
  return Object.assign(observable, { [PULL]: open });
}

/**
 * Calls `return()` on an iterator that is stopped early. What it throws or rejects with is dropped: the
 * consumer has left, so there is no one to report it to, and it must not become an unhandled rejection.
 */
export function closeIterator(iterator: Iterator<unknown> | AsyncIterator<unknown>): void {
  try {
    const closing = iterator.return?.() as Partial<PromiseLike<unknown>> | undefined;
    if (typeof closing?.then === 'function') closing.then(undefined, () => undefined);
  } catch {
    // See above: nothing to report to.
  }
}

/**
 * Keeps only the items that pass `predicate`, and stays a pull source: `filter` from RxJS would hide the
 * handshake and turn the source into a push stream.
 *
 * ```
 * source:  a--b--c--d|      (each item pulled on demand)
 *          filterPull(source, (t) => t.id !== 'b')
 * result:  a-----c--d|      b is pulled and dropped; the next pull goes on to c
 * ```
 *
 * @example
 * const done = await readDoneIds('results.jsonl');
 * filterPull(fromJsonl('prompts.jsonl'), (t) => t instanceof InvalidTask || !done.has(t.id));
 */
export function filterPull<T>(source: PullSource<T>, predicate: (item: T) => boolean): PullSource<T> {
  return pullSource(() => filtered(source[PULL](), predicate));
}

async function* filtered<T>(
  iterator: Iterator<T> | AsyncIterator<T>,
  predicate: (item: T) => boolean,
): AsyncGenerator<T> {
  try {
    for (;;) {
      const result = await iterator.next();
      if (result.done === true) return;
      if (predicate(result.value)) yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}
