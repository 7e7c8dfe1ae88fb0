import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { TaskEvent } from '../../src/core/types.js';
import { formatProgress, progress } from '../../src/sinks/progress.js';

const ok = (taskId: string): TaskEvent => ({
  type: 'settled',
  taskId,
  result: {
    status: 'fulfilled',
    taskId,
    value: '',
    usage: { inputTokens: 10, outputTokens: 20 },
    attempts: 1,
    durationMs: 1,
  },
});

function capture(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 120, write: (text: string) => writes.push(text) } };
}

describe('progress', () => {
  it('passes events through and redraws at most every intervalMs, once more at the end', () => {
    const scheduler = new TestScheduler((a, b) => {
      expect(a).toEqual(b);
    });
    const out = capture(true);
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const values = { s: { type: 'started', taskId: 'a', waitMs: 0 } as TaskEvent, a: ok('a'), b: ok('b') };
      const source = cold('  s 999ms a 999ms b 1999ms |', values);
      const subs = '        ^ 3999ms !';
      const result = source.pipe(progress({ total: 4, stream: out.stream, intervalMs: 1000, scheduler }));
      expectObservable(result).toBe('s 999ms a 999ms b 1999ms |', values);
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
    const lines = out.writes.map((w) => w.replace('\r\x1b[2K', ''));
    expect(lines).toEqual([
      '[--------------------] 0/4 0.0/s 0 tok/min',
      '[##########----------] 2/4 1.0/s 1.8k tok/min ETA 2s',
      '[##########----------] 2/4 0.5/s 900 tok/min ETA 4s\n',
    ]);
  });

  it('shows the spend, priced from usage when runs report no cost, and draws 80 columns for width 0', () => {
    const scheduler = new TestScheduler((a, b) => {
      expect(a).toEqual(b);
    });
    const writes: string[] = [];
    const stream = { isTTY: true, columns: 0, write: (text: string) => writes.push(text) };
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 999ms b |', { a: ok('a'), b: ok('b') });
      const price = (usage: { inputTokens: number; outputTokens: number }) =>
        (usage.inputTokens + usage.outputTokens) / 1000;
      const result = source.pipe(progress({ total: 2, stream, intervalMs: 5000, scheduler, price }));
      expectObservable(result).toBe('a 999ms b |', { a: ok('a'), b: ok('b') });
    });
    expect(writes.at(-1)).toBe('\r\x1b[2K[####################] 2/2 2.0/s 3.6k tok/min $0.0600\n');
    expect(() => progress({ price: 5 as never })).toThrow(
      'Expected `price` to be a function, got 5 (number)',
    );
  });

  it('shows queue depth from state$, and draws nothing on a non-terminal unless forced', () => {
    const scheduler = new TestScheduler((a, b) => {
      expect(a).toEqual(b);
    });
    const quiet = capture(false);
    const forced = capture(false);
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 99ms |', { a: ok('a') });
      expectObservable(source.pipe(progress({ stream: quiet.stream, scheduler }))).toBe('a 99ms |', {
        a: ok('a'),
      });
      const state$ = new Subject<{ queued: number; inFlight: number }>();
      const result = source.pipe(progress({ stream: forced.stream, force: true, scheduler, state$ }));
      scheduler.schedule(() => {
        state$.next({ queued: 7, inFlight: 2 });
      }, 50);
      expectObservable(result).toBe('a 99ms |', { a: ok('a') });
    });
    expect(quiet.writes).toEqual([]);
    expect(forced.writes.at(-1)).toBe('1 done 10.0/s 18.0k tok/min q 7 run 2\n');
  });

  it('formats long runs and fits the terminal width', () => {
    const snapshot = {
      done: 10,
      failed: 2,
      total: 100_000,
      queued: 3,
      inFlight: 1,
      elapsedMs: 10_000,
      tokens: 1e7,
    };
    expect(formatProgress(snapshot, 200)).toBe(
      '[--------------------] 10/100000 2 failed 1.0/s 60.0M tok/min q 3 run 1 ETA 27h46m',
    );
    expect(formatProgress(snapshot, 20)).toHaveLength(19);
    expect(() => progress({ intervalMs: 0 })).toThrow(
      'Expected `intervalMs` to be an integer from 1 and up, got 0 (number)',
    );
  });
});
