import { describe, it } from 'vitest';
import { ProviderError } from '../../src/core/errors/index.js';
import type { Settled, TaskEvent } from '../../src/core/types.js';
import { allSettled } from '../../src/operators/all-settled.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const ok = (taskId: string): Settled => ({
  status: 'fulfilled',
  taskId,
  value: taskId.toUpperCase(),
  usage: { inputTokens: 1, outputTokens: 1 },
  attempts: 1,
  durationMs: 1,
});
const failed: Settled = {
  status: 'rejected',
  taskId: 'b',
  error: new ProviderError({ status: 500, message: 'down' }),
  attempts: 1,
  durationMs: 1,
};
const events: Record<string, TaskEvent | Settled> = {
  s: { type: 'started', taskId: 'a', waitMs: 0 },
  A: { type: 'settled', taskId: 'a', result: ok('a') },
  B: { type: 'settled', taskId: 'b', result: failed },
  c: ok('c'),
  d: { type: 'settled', taskId: 'd', result: ok('d') },
};

describe('allSettled', () => {
  it('emits every result with counts once the stream completes', () => {
    createTestScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('  -sA-B-cd-|', events);
      const sourceSubs = '  ^--------!';
      expectObservable(source.pipe(allSettled())).toBe('---------(x|)', {
        x: {
          results: [ok('a'), failed, ok('c'), ok('d')],
          fulfilled: 3,
          rejected: 1,
          total: 4,
          summary: '3/4 completed',
        },
      });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it('emits an empty summary for an empty stream and passes errors on', () => {
    createTestScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<TaskEvent>('--|').pipe(allSettled())).toBe('--(x|)', {
        x: { results: [], fulfilled: 0, rejected: 0, total: 0, summary: '0/0 completed' },
      });
      expectObservable(cold<TaskEvent>('-A-#', events as Record<string, TaskEvent>).pipe(allSettled())).toBe(
        '---#',
      );
    });
  });
});
