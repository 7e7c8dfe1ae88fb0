import { lastValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { PULL, filterPull, isPullable, pullSource } from '../../src/core/pull.js';

/** An iterator over `items` that records how it was driven. */
function counting(
  items: readonly number[],
  onReturn: () => unknown = () => ({ done: true, value: undefined }),
) {
  const log = { pulled: 0, returned: 0 };
  const open = (): Iterator<number> => {
    let i = 0;
    return {
      next: () => {
        log.pulled++;
        return i < items.length ? { done: false, value: items[i++]! } : { done: true, value: undefined };
      },
      return: () => {
        log.returned++;
        return onReturn() as IteratorResult<number>;
      },
    };
  };
  return { log, open };
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  unhandled.length = 0;
});

describe('pullSource', () => {
  it('hands the pool its iterator, and subscribed directly drains a fresh one to completion', async () => {
    const { log, open } = counting([1, 2, 3]);
    const source = pullSource(open);
    expect(isPullable(source)).toBe(true);
    expect(source[PULL]().next()).toEqual({ done: false, value: 1 });
    await expect(lastValueFrom(source.pipe(toArray()))).resolves.toEqual([1, 2, 3]);
    expect(log.returned).toBe(0);
  });

  it('stops pulling and closes the iterator when unsubscribed', async () => {
    const { log, open } = counting([1, 2, 3, 4, 5]);
    await expect(lastValueFrom(pullSource(open).pipe(take(2), toArray()))).resolves.toEqual([1, 2]);
    expect(log.pulled).toBe(2);
    expect(log.returned).toBe(1);
  });

  it('drops what closing the iterator throws or rejects with, leaving no unhandled rejection', async () => {
    process.on('unhandledRejection', onUnhandled);
    const rejecting = counting([1, 2], () => Promise.reject(new Error('close failed')));
    const throwing = counting([1, 2], () => {
      throw new Error('close failed');
    });
    await expect(lastValueFrom(pullSource(rejecting.open).pipe(take(1)))).resolves.toBe(1);
    await expect(lastValueFrom(pullSource(throwing.open).pipe(take(1)))).resolves.toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(rejecting.log.returned + throwing.log.returned).toBe(2);
    expect(unhandled).toEqual([]);
  });
});

describe('filterPull', () => {
  it('keeps the items that pass and stays a pull source', async () => {
    const { open } = counting([1, 2, 3, 4]);
    const even = filterPull(pullSource(open), (n) => n % 2 === 0);
    expect(isPullable(even)).toBe(true);
    await expect(lastValueFrom(even.pipe(toArray()))).resolves.toEqual([2, 4]);
  });
});
