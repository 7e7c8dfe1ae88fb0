import fc from 'fast-check';
import { Observable } from 'rxjs';
import type { SchedulerAction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors/index.js';
import type { Agent, AgentEvent, TaskEvent } from '../../src/core/types.js';
import { poolEngine } from '../../src/operators/internal/pool-engine.js';
import { runAgentsOptions } from '../../src/operators/run-agents.js';
import { arrivals, cancels, type Arrival } from '../support/arrivals.js';

type Kind = 'ok' | 'error' | 'hang' | 'cut';

/** How one request plays out at the model: its first event `latency` after it arrives (×10 for a straggler). */
const request = fc.record({
  kind: fc.constantFrom<Kind>('ok', 'ok', 'ok', 'error', 'hang', 'cut'),
  latency: fc.integer({ min: 1, max: 12 }),
  straggler: fc.boolean(),
  tokens: fc.integer({ min: 1, max: 3 }),
});

const workload = fc.record({
  concurrency: fc.integer({ min: 1, max: 8 }),
  after: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 15 }) },
    { weight: 1, arbitrary: fc.constant('p50' as const) },
  ),
  maxExtra: fc.constantFrom(0.1, 0.25, 0.5, 1, 1),
  maxRetries: fc.integer({ min: 0, max: 2 }),
  timeout: fc.option(fc.integer({ min: 5, max: 60 }), { nil: undefined }),
  tasks: fc.array(
    fc.record({
      gap: fc.integer({ min: 0, max: 6 }),
      // The requests of its attempts, hedges included, in the order they reach the model; the last repeats.
      requests: fc.array(request, { minLength: 1, maxLength: 4 }),
      cancelAt: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined, freq: 3 }),
    }),
    { minLength: 1, maxLength: 25 },
  ),
  unsubscribeAt: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined, freq: 3 }),
});

interface ModelRun {
  readonly signal: AbortSignal;
  readonly hedge: boolean;
  ended: boolean;
  unsubscribed: boolean;
}

describe('runAgents hedge (property)', () => {
  it('settles every task once, keeps requests within the limit and hedges within maxExtra, leaves nothing behind', () => {
    fc.assert(
      fc.property(workload, (w) => {
        const scheduler = new TestScheduler((a, b) => {
          expect(a).toEqual(b);
        });
        const runs: ModelRun[] = [];
        const nth = new Map<string, number>();
        let inFlight = 0;
        let peak = 0;
        // Set by the pool's `monitor` when a hedge starts: the next request to reach the model is that hedge,
        // as nothing stands between them without a budget.
        let hedging = false;
        let hedged = 0;
        const plans = new Map(w.tasks.map((t, i) => [`t${i}`, t.requests]));

        const agent: Agent = {
          run: (task, { signal }) =>
            new Observable<AgentEvent>((subscriber) => {
              const n = (nth.get(task.id) ?? 0) + 1;
              nth.set(task.id, n);
              const list = plans.get(task.id) ?? [];
              const plan = list[Math.min(n, list.length) - 1] ?? {
                kind: 'hang',
                latency: 1,
                straggler: false,
                tokens: 1,
              };
              const run: ModelRun = { signal, hedge: hedging, ended: false, unsubscribed: false };
              hedging = false;
              runs.push(run);
              peak = Math.max(peak, ++inFlight);
              const first = plan.latency * (plan.straggler ? 10 : 1);
              const end = (error?: unknown): void => {
                run.ended = true;
                if (error === undefined) subscriber.complete();
                else subscriber.error(error);
              };
              const action = scheduler.schedule(
                function (this: SchedulerAction<number>, i = 0) {
                  if (plan.kind === 'error') {
                    end(new ProviderError({ status: 500, message: 'down' }));
                    return;
                  }
                  if (plan.kind === 'hang') return;
                  subscriber.next({ type: 'delta', text: String(i) });
                  if (plan.kind === 'cut') {
                    end(new ProviderError({ status: 500, type: 'stream_cut', message: 'cut' }));
                    return;
                  }
                  if (i + 1 < plan.tokens) return this.schedule(i + 1, 1);
                  subscriber.next({ type: 'done', text: 'done', finishReason: 'stop' });
                  end();
                },
                first,
                0,
              );
              return () => {
                inFlight--;
                if (!run.ended) run.unsubscribed = true;
                action.unsubscribe();
              };
            }),
        };

        const options = runAgentsOptions(agent, {
          concurrency: w.concurrency,
          scheduler,
          retry: { maxRetries: w.maxRetries, baseDelayMs: 2, jitter: 0, scheduler },
          ...(w.timeout === undefined ? {} : { timeout: { total: w.timeout } }),
          hedge: { after: w.after, maxExtra: w.maxExtra },
          monitor: (state) => {
            if ((state.hedged ?? 0) > hedged) hedging = true;
            hedged = state.hedged ?? 0;
          },
        });

        let at = 0;
        const schedule: Arrival[] = w.tasks.map((t, i) => {
          at += t.gap;
          return {
            task: { id: `t${i}`, input: 'x' },
            at,
            cancelAt: t.cancelAt === undefined ? undefined : at + t.cancelAt,
          };
        });

        const events: TaskEvent[] = [];
        const outcome = { done: false };
        const subscription = poolEngine(arrivals(scheduler, schedule), {
          ...options,
          cancel: cancels(scheduler, schedule),
        }).subscribe({
          next: (event) => events.push(event),
          complete: () => {
            outcome.done = true;
          },
        });
        if (w.unsubscribeAt !== undefined)
          scheduler.schedule(() => {
            subscription.unsubscribe();
          }, w.unsubscribeAt);
        scheduler.flush();
        // Without a timeout a request may hang for good: leaving lets it go, as a consumer would.
        subscription.unsubscribe();

        const settled = new Map<string, number>();
        for (const e of events)
          if (e.type === 'settled') settled.set(e.taskId, (settled.get(e.taskId) ?? 0) + 1);
        expect([...settled.values()].every((n) => n === 1)).toBe(true);
        if (outcome.done) expect(settled.size).toBe(w.tasks.length);
        else expect(w.unsubscribeAt !== undefined || w.timeout === undefined).toBe(true);
        // A hedge takes a slot as a task does.
        expect(peak).toBeLessThanOrEqual(w.concurrency);
        const hedges = events.filter((e) => e.type === 'hedge').length;
        expect(hedges).toBe(hedged);
        expect(runs.filter((r) => r.hedge)).toHaveLength(hedges);
        const primaries = runs.length - hedges;
        expect(hedges).toBeLessThanOrEqual(w.maxExtra * primaries + 1e-9);
        // Whatever was stopped before it ended was aborted; nothing is left running or scheduled.
        for (const run of runs) if (run.unsubscribed) expect(run.signal.aborted).toBe(true);
        expect(inFlight).toBe(0);
        expect(scheduler.actions.filter((a) => !a.closed)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
