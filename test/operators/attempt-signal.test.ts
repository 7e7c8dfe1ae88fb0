// Every attempt of a run gets an AbortSignal of its own, aborted whenever that attempt is stopped from
// outside, so a provider request never outlives the attempt that made it (and is never billed past it).
import { NEVER, Observable, Subject, VirtualTimeScheduler, firstValueFrom, from, of, toArray } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { CancelledError } from '../../src/core/errors/index.js';
import type { Agent, AgentEvent, Task } from '../../src/core/types.js';
import { withSignal } from '../../src/core/with-signal.js';
import { AgentPool } from '../../src/operators/agent-pool.js';
import { agentLoop } from '../../src/operators/agent-loop.js';
import { dag } from '../../src/operators/dag.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { defineTool } from '../../src/tools/define-tool.js';
import type { PlanNode } from '../../src/tools/plan.js';
import { z } from 'zod';

/** An agent whose runs never answer, recording each attempt's signal and how many were aborted. */
function hangingAgent() {
  const signals: AbortSignal[] = [];
  const agent: Agent = {
    run: (_task, { signal }) =>
      new Observable<AgentEvent>(() => {
        signals.push(signal);
      }),
  };
  return { agent, signals, aborted: () => signals.filter((s) => s.aborted).length };
}

const tasks = (n: number): Task[] => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, input: 'x' }));

describe('withSignal', () => {
  it('aborts the signal of a subscription stopped early, never one that ended, and follows its parent', () => {
    const signals: AbortSignal[] = [];
    const source = withSignal(
      (signal) => {
        signals.push(signal);
        return signals.length === 1 ? NEVER : of(1);
      },
      undefined,
      () => 'stopped',
    );
    source.subscribe().unsubscribe();
    source.subscribe().unsubscribe();
    expect(signals.map((s) => [s.aborted, s.reason as unknown])).toEqual([
      [true, 'stopped'],
      [false, undefined],
    ]);
    const parent = new AbortController();
    let inner: AbortSignal | undefined;
    withSignal((signal) => {
      inner = signal;
      return NEVER;
    }, parent.signal).subscribe();
    parent.abort('parent gone');
    expect(inner?.reason).toBe('parent gone');
    expect(() => withSignal(() => NEVER, parent.signal).subscribe()).not.toThrow();
  });

  it('turns a start that throws into an error', async () => {
    const boom = withSignal(() => {
      throw new Error('boom');
    });
    await expect(firstValueFrom(boom)).rejects.toThrow('boom');
  });
});

describe('signals cost nothing when unused', () => {
  it('makes no AbortController for runs that never read their signal', () => {
    let made = 0;
    const Original = globalThis.AbortController;
    vi.stubGlobal(
      'AbortController',
      class extends Original {
        constructor() {
          super();
          made++;
        }
      },
    );
    const settled: string[] = [];
    try {
      const agent: Agent = { run: () => of<AgentEvent>({ type: 'done', text: 'x', finishReason: 'stop' }) };
      from(tasks(20))
        .pipe(runAgents(agent, { concurrency: 5 }))
        .subscribe((event) => {
          if (event.type === 'settled') settled.push(event.result.status);
        });
    } finally {
      vi.unstubAllGlobals();
    }
    expect(settled).toEqual(Array(20).fill('fulfilled'));
    expect(made).toBe(0);
  });
});

describe('each attempt aborts its own signal', () => {
  it('runAgents: a timed-out attempt aborts, and so does its retry (6 tasks, 1 retry: 12 aborts)', () => {
    const scheduler = new VirtualTimeScheduler();
    const { agent, signals, aborted } = hangingAgent();
    const settled: string[] = [];
    from(tasks(6))
      .pipe(runAgents(agent, { timeoutMs: 15, retry: { maxRetries: 1, baseDelayMs: 0 }, scheduler }))
      .subscribe((event) => {
        if (event.type === 'settled' && event.result.status === 'rejected')
          settled.push(event.result.error.code);
      });
    scheduler.flush();
    expect(settled).toEqual(Array(6).fill('E_TIMEOUT'));
    expect(signals).toHaveLength(12);
    expect(aborted()).toBe(12);
    expect(signals[0]!.reason).toBeInstanceOf(CancelledError);
    expect(new Set(signals).size).toBe(12);
  });

  it('runAgents: unsubscribing the stream aborts every running attempt', () => {
    const { agent, signals, aborted } = hangingAgent();
    const subscription = from(tasks(3))
      .pipe(runAgents(agent, { concurrency: 3 }))
      .subscribe();
    expect(signals).toHaveLength(3);
    subscription.unsubscribe();
    expect(aborted()).toBe(3);
  });

  it('AgentPool: a cancelled stream, a drain deadline and close each abort the attempt', async () => {
    const { agent, signals } = hangingAgent();
    const pool = new AgentPool({ agent, concurrency: 3, retry: false });
    pool.stream('streamed').subscribe().unsubscribe();
    expect(signals[0]?.aborted).toBe(true);
    const drained = pool.submit('drained').catch((error: unknown) => error);
    const drain = pool.drain({ deadlineMs: 5 });
    expect(await drained).toMatchObject({ code: 'E_CANCELLED', info: { reason: 'drain-deadline' } });
    await drain;
    expect(signals[1]?.aborted).toBe(true);
    const closing = new AgentPool({ agent, retry: false });
    const closed = closing.submit('closed').catch(() => undefined);
    closing.close();
    await closed;
    expect(signals[2]?.aborted).toBe(true);
  });

  it('dag: fail-fast aborts the running tools', async () => {
    const started = new Subject<AbortSignal>();
    const hang = defineTool({
      name: 'hang',
      input: z.object({}),
      run: (_args, { signal }) =>
        new Observable<string>(() => {
          started.next(signal);
        }),
    });
    const fail = defineTool({
      name: 'fail',
      input: z.object({}),
      run: () => Promise.reject(new Error('down')),
    });
    const signals: AbortSignal[] = [];
    started.subscribe((s) => signals.push(s));
    const plan: PlanNode[] = [
      { id: 'a', tool: 'hang', args: {} },
      { id: 'b', tool: 'hang', args: {} },
      { id: 'c', tool: 'fail', args: {} },
    ];
    const results = await firstValueFrom(
      from(plan).pipe(dag([hang, fail], { onFailure: 'fail-fast' }), toArray()),
    );
    expect(results.filter((e) => e.type === 'node-settled')).toHaveLength(3);
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('agentLoop: unsubscribing mid-step aborts the model call', () => {
    const { agent, aborted } = hangingAgent();
    const subscription = agentLoop(agent, [], { maxSteps: 2 })({ id: 'loop', input: 'x' }).subscribe();
    subscription.unsubscribe();
    expect(aborted()).toBe(1);
  });
});
