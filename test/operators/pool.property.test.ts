import fc from 'fast-check';
import {
  NEVER,
  Observable,
  concat,
  defer,
  finalize,
  ignoreElements,
  map,
  mergeMap,
  of,
  tap,
  throwError,
  timer,
} from 'rxjs';
import type { Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors/index.js';
import type { AgentEvent, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { retryBackoff } from '../../src/operators/retry-backoff.js';
import { timeoutWith } from '../../src/operators/timeout-with.js';
import { arrivals } from '../support/arrivals.js';

type Kind = 'ok' | 'throw' | 'error' | 'hang' | 'slow' | 'empty' | 'burst';

const TIMEOUT = 15;

const workload = fc.record({
  concurrency: fc.integer({ min: 1, max: 4 }),
  queueLimit: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant(Number.POSITIVE_INFINITY)),
  overflow: fc.constantFrom('reject' as const, 'drop-oldest' as const, 'drop-newest' as const),
  tasks: fc.array(
    fc.record({
      gap: fc.integer({ min: 0, max: 6 }),
      kind: fc.constantFrom<Kind>('ok', 'ok', 'throw', 'error', 'hang', 'slow', 'empty', 'burst'),
      latency: fc.integer({ min: 1, max: 10 }),
      priority: fc.integer({ min: 0, max: 2 }),
    }),
    { minLength: 1, maxLength: 15 },
  ),
  unsubscribeAt: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
  // Leaving on the n-th event, synchronously, possibly while a run is emitting as it is subscribed.
  unsubscribeAfterEvents: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
});

describe('pool (property)', () => {
  it('settles every task that entered exactly once, within the limit, and leaves nothing behind', () => {
    fc.assert(
      fc.property(workload, (w) => {
        const { concurrency, queueLimit, overflow, tasks, unsubscribeAt, unsubscribeAfterEvents } = w;
        const scheduler = new TestScheduler((a, b) => {
          expect(a).toEqual(b);
        });
        const signals = new Map<string, AbortSignal>();
        let running = 0;
        let peak = 0;
        let arrived = 0;
        const leftovers: number[] = [];
        const noActionsLeft = (): void => {
          leftovers.push(scheduler.actions.filter((a) => !a.closed).length);
        };

        let at = 0;
        const schedule = tasks.map((t, i) => ({ ...t, id: `t${i}`, at: (at += t.gap) }));
        const source = arrivals(
          scheduler,
          schedule.map((t) => ({ task: { id: t.id, input: t.kind, priority: t.priority }, at: t.at })),
        ).pipe(tap(() => arrived++));
        const byId = new Map(schedule.map((t) => [t.id, t]));

        const run = (kind: Kind, latency: number): Observable<AgentEvent | string> => {
          switch (kind) {
            case 'ok':
              return timer(latency, scheduler).pipe(map(() => 'v'));
            case 'slow':
              return timer(TIMEOUT + latency, scheduler).pipe(map(() => 'v'));
            case 'error':
              return timer(latency, scheduler).pipe(
                mergeMap(() => throwError(() => new ProviderError({ status: 500, message: 'down' }))),
              );
            case 'empty':
              return timer(latency, scheduler).pipe(ignoreElements());
            case 'burst':
              return concat(
                of<AgentEvent>({ type: 'delta', text: 'x' }),
                timer(latency, scheduler).pipe(map(() => 'v')),
              );
            case 'hang':
              return NEVER;
            case 'throw':
              throw new Error('sync');
          }
        };

        const events: TaskEvent[] = [];
        const outcome = { done: false };
        let unsubscribing: Subscription | undefined;
        let subscription: Subscription | undefined = undefined;
        subscription = source
          .pipe(
            pool(
              (task, { signal }) => {
                signals.set(task.id, signal);
                const t = byId.get(task.id)!;
                const work = run(t.kind, t.latency);
                return defer(() => {
                  peak = Math.max(peak, ++running);
                  return work;
                }).pipe(
                  timeoutWith({ total: TIMEOUT, scheduler }),
                  finalize(() => {
                    running--;
                  }),
                  // Failed attempts wait for a retry timer, which cancellation must clear.
                  retryBackoff<AgentEvent | string>({ maxRetries: 1, baseDelayMs: 4, jitter: 0, scheduler }),
                );
              },
              { concurrency, queueLimit, overflow, scheduler },
            ),
          )
          .subscribe({
            next: (e) => {
              events.push(e);
              if (events.length === unsubscribeAfterEvents) {
                subscription?.unsubscribe();
                unsubscribing?.unsubscribe();
                // Checked once the run that emitted this event has unwound, as on completion.
                scheduler.schedule(noActionsLeft);
              }
            },
            complete: () => {
              outcome.done = true;
              unsubscribing?.unsubscribe();
              // Checked in the next action: operators release their timers just after passing on completion.
              scheduler.schedule(noActionsLeft);
            },
          });
        if (unsubscribeAt !== undefined) {
          unsubscribing = scheduler.schedule(() => {
            subscription.unsubscribe();
            noActionsLeft();
          }, unsubscribeAt);
        }
        scheduler.flush();

        const settled = new Map<string, number>();
        const started = new Set<string>();
        for (const e of events) {
          expect(byId.has(e.taskId)).toBe(true);
          if (e.type === 'started') {
            expect(started.has(e.taskId)).toBe(false);
            started.add(e.taskId);
          }
          if (e.type === 'settled') {
            expect(e.result.taskId).toBe(e.taskId);
            settled.set(e.taskId, (settled.get(e.taskId) ?? 0) + 1);
          }
        }
        expect([...settled.values()].every((n) => n === 1)).toBe(true);
        expect(peak).toBeLessThanOrEqual(concurrency);
        expect(leftovers.every((n) => n === 0)).toBe(true);
        if (outcome.done) {
          expect(settled.size).toBe(tasks.length);
          expect(running).toBe(0);
        } else {
          expect(unsubscribeAt ?? unsubscribeAfterEvents).toBeDefined();
          expect(settled.size).toBeLessThanOrEqual(arrived);
          // What started and never settled was cancelled through its signal.
          for (const id of started) {
            const signal = signals.get(id);
            // A consumer that left on `started` itself leaves no worker behind to cancel.
            if (!settled.has(id) && signal !== undefined) expect(signal.aborted).toBe(true);
          }
          expect(running).toBe(0);
        }
      }),
      { numRuns: 100 },
    );
  });
});
