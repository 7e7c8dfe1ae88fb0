import { describe, expect, it } from 'vitest';
import { formatSummary } from '../../src/cli/summary.js';
import { CancelledError, TimeoutError } from '../../src/core/errors/index.js';
import type { Settled } from '../../src/core/types.js';
import type { AllSettled } from '../../src/operators/all-settled.js';

function collected(results: Settled[]): AllSettled {
  const fulfilled = results.filter((r) => r.status === 'fulfilled').length;
  return {
    results,
    fulfilled,
    rejected: results.length - fulfilled,
    total: results.length,
    summary: `${fulfilled}/${results.length} completed`,
  };
}

const ok = (taskId: string, durationMs: number): Settled => ({
  status: 'fulfilled',
  taskId,
  value: 'x',
  usage: { inputTokens: 1000, outputTokens: 500 },
  attempts: 1,
  durationMs,
});

describe('formatSummary', () => {
  it('counts rejections by code, sums tokens, prices them, and compares with sequential time', () => {
    const all = collected([
      ok('a', 1000),
      ok('b', 3000),
      {
        status: 'rejected',
        taskId: 'c',
        error: new TimeoutError({ limit: 'total', ms: 5, seen: 0, message: 'late' }),
        attempts: 3,
        durationMs: 2000,
      },
      {
        status: 'rejected',
        taskId: 'd',
        error: new CancelledError({ reason: 'closed', message: 'stop' }),
        attempts: 0,
        durationMs: 0,
      },
      {
        status: 'rejected',
        taskId: 'e',
        error: new CancelledError({ reason: 'closed', message: 'stop' }),
        attempts: 0,
        durationMs: 0,
      },
    ]);
    expect(formatSummary(all, 2000, { input: 1, output: 2 })).toBe(
      [
        '2/5 completed: 2 fulfilled, 3 rejected (E_TIMEOUT ×1, E_CANCELLED ×2)',
        'tokens: 2000 in, 1000 out; cost $0.0040',
        'wall time 2.0s against 6.0s one after another (3.0× faster)',
        '',
      ].join('\n'),
    );
  });

  it('shows cached, cache-write and reasoning tokens when the provider reported them', () => {
    const cachedRun: Settled = {
      status: 'fulfilled',
      taskId: 'k',
      value: 'x',
      usage: { inputTokens: 9_632, cachedInputTokens: 6_289, cacheWriteTokens: 3_337, outputTokens: 300 },
      attempts: 1,
      durationMs: 10,
    };
    const reasoningRun: Settled = {
      ...cachedRun,
      taskId: 'r',
      usage: { inputTokens: 368, cachedInputTokens: 320, outputTokens: 83, reasoningTokens: 39 },
    };
    expect(formatSummary(collected([cachedRun, reasoningRun]), 10)).toContain(
      'tokens: 10000 in (6609 cached, 3337 written to cache), 383 out (39 reasoning); cost not priced',
    );
  });

  it('says when the cost is not known', () => {
    expect(formatSummary(collected([ok('a', 10)]), 10)).toContain('cost not priced');
  });
});
