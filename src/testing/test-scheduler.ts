import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';

/**
 * A `TestScheduler` whose marble assertions are vitest's `expect(actual).toEqual(expected)`, so a failing
 * marble shows vitest's diff of the frames.
 *
 * @example
 * const scheduler = createTestScheduler();
 * scheduler.run(({ cold, expectObservable }) => {
 *   expectObservable(cold('-a-|').pipe(map((x) => x.toUpperCase()))).toBe('-A-|');
 * });
 */
export function createTestScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
}
