import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

describe('createTestScheduler', () => {
  it('passes marbles that match', () => {
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold(' -a-b-|');
      const sourceSubs = '  ^----!';
      expectObservable(source.pipe(map((x) => x.toUpperCase()))).toBe('-A-B-|');
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it("fails through vitest's expect, with its diff", () => {
    const run = (): void => {
      createTestScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('-a-|')).toBe('--a|');
      });
    };
    expect(run).toThrow(/expected .* to deeply equal/);
    expect(run).toThrow(expect.objectContaining({ name: 'AssertionError' }));
  });
});
