import { map } from 'rxjs';
import { describe, it } from 'vitest';
import { ProviderError } from '../../src/core/errors/index.js';
import type { Settled, TaskEvent } from '../../src/core/types.js';
import { settle } from '../../src/operators/settle.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const ok: Settled = {
  status: 'fulfilled',
  taskId: 'a',
  value: 'A',
  usage: { inputTokens: 1, outputTokens: 1 },
  attempts: 1,
  durationMs: 3,
};
const failed: Settled = {
  status: 'rejected',
  taskId: 'b',
  error: new ProviderError({ status: 500, message: 'down' }),
  attempts: 2,
  durationMs: 4,
};
const events: Record<string, TaskEvent> = {
  s: { type: 'started', taskId: 'a', waitMs: 0 },
  d: { type: 'delta', taskId: 'a', seq: 0, text: 'A' },
  A: { type: 'settled', taskId: 'a', result: ok },
  B: { type: 'settled', taskId: 'b', result: failed },
};

describe('settle', () => {
  it('keeps only the settled results, in completion order', () => {
    createTestScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('  -sdA-sB-|', events);
      const sourceSubs = '  ^-------!';
      expectObservable(source.pipe(settle())).toBe('---a--b-|', { a: ok, b: failed });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it('passes errors on and unsubscribes upstream when unsubscribed', () => {
    createTestScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('  -A-B-#', events);
      const sourceSubs = '  ^--!';
      expectObservable(
        source.pipe(
          settle(),
          map((r) => r.taskId),
        ),
        '^--!',
      ).toBe('-a-', { a: 'a' });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
      const failing = hot(' -A-#', events);
      expectObservable(failing.pipe(settle())).toBe('-a-#', { a: ok });
    });
  });
});
