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
    expect(formatSummary(all, 2000, { price: { input: 1, output: 2 } })).toBe(
      [
        '2/5 completed: 2 fulfilled, 3 rejected (E_TIMEOUT ×1, E_CANCELLED ×2)',
        '  E_CANCELLED ×2: stop (tasks d, e)',
        '  E_TIMEOUT ×1: late (task c)',
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

  it('lists each kind of failure once, whichever task it named, with a few examples, most frequent first', () => {
    const failed = (taskId: string, message: string): Settled => ({
      status: 'rejected',
      taskId,
      error: new CancelledError({ reason: 'closed', taskId, message }),
      attempts: 1,
      durationMs: 5,
    });
    const many = Array.from({ length: 5 }, (_, i) =>
      failed(`q${i}`, `Task "q${i}" was cancelled:\n  interrupted`),
    );
    const kinds = Array.from({ length: 6 }, (_, i) =>
      failed(`k${i}`, `kind ${i} ${'x'.repeat(i === 0 ? 300 : 1)}`),
    );
    const text = formatSummary(collected([...many, ...kinds]), 10);
    const lines = text.split('\n');
    expect(lines[1]).toBe('  E_CANCELLED ×5: Task "…" was cancelled: interrupted (tasks q0, q1, q2, …)');
    // A long message is cut; the results file keeps it whole.
    expect(lines[2]).toMatch(/^ {2}E_CANCELLED ×1: kind 0 x+… \(task k0\)$/);
    expect(lines[2]!.length).toBeLessThan(300);
    expect(lines[6]).toBe('  … and 2 more failure(s) of 2 other kind(s): see the results file');
  });

  it('leaves budget waits out of the time saved, and claims none when nothing succeeded', () => {
    const all = collected([ok('a', 4000), ok('b', 4000)]);
    expect(formatSummary(all, 2000, { budgetWaitMs: 2000 })).toContain(
      'wall time 2.0s against 6.0s one after another (3.0× faster)',
    );
    const failed: Settled = {
      status: 'rejected',
      taskId: 'c',
      error: new TimeoutError({ limit: 'total', ms: 5, seen: 0, message: 'late' }),
      attempts: 1,
      durationMs: 5,
    };
    expect(formatSummary(collected([failed]), 10)).not.toContain('faster');
    expect(formatSummary(collected([]), 0)).not.toContain('faster');
  });

  it('says when the cost is not known', () => {
    expect(formatSummary(collected([ok('a', 10)]), 10)).toContain('cost not priced');
  });
});
