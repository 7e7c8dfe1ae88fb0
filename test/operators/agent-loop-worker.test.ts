import { NEVER, from, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AgentEvent, Settled, TaskEvent } from '../../src/core/types.js';
import { agentLoopWorker } from '../../src/operators/agent-loop-worker.js';
import { pool } from '../../src/operators/pool.js';
import { defineTool } from '../../src/tools/define-tool.js';
import { call, fakeAgent, wait } from './fixtures/fake-agent.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

function show(event: TaskEvent): string {
  switch (event.type) {
    case 'started':
      return 'started';
    case 'delta':
      return `delta ${event.seq} ${event.text}`;
    case 'tool':
      return `tool ${event.calls.map((c) => c.id).join(',')}`;
    case 'retry':
      return 'retry';
    case 'route':
      return `route ${event.deployment}`;
    case 'admitted':
      return `${event.taskId}!admitted${event.attempt}:${event.waitMs}`;
    case 'hedge':
      return 'hedge';
    case 'settled':
      return `settled ${event.result.status}`;
  }
}

describe('agentLoopWorker', () => {
  it('streams every step’s deltas and tool calls through the pool and settles the final answer', () => {
    let result: Settled | undefined;
    const { agent } = fakeAgent((_messages, step) =>
      step === 1
        ? testScheduler.createColdObservable<AgentEvent>('-a-(tTu|)', {
            a: { type: 'delta', text: 'let me wait' },
            t: { type: 'tool-calls', calls: [call('c1', '{"ms":3}')] },
            T: { type: 'tool-calls', calls: [call('c2', '{"ms":2}')] },
            u: { type: 'usage', usage: { inputTokens: 10, outputTokens: 4, cost: 1 } },
          })
        : testScheduler.createColdObservable<AgentEvent>('-b-(du|)', {
            b: { type: 'delta', text: 'waited' },
            d: { type: 'done', text: 'waited twice', finishReason: 'stop' },
            u: { type: 'usage', usage: { inputTokens: 20, outputTokens: 3, cost: 2 } },
          }),
    );
    testScheduler.run(({ expectObservable }) => {
      const events = from([{ id: 't', input: 'wait twice' }]).pipe(
        pool(agentLoopWorker(agent, [wait], { scheduler: testScheduler }), { scheduler: testScheduler }),
        map((event) => {
          if (event.type === 'settled') result = event.result;
          return show(event);
        }),
      );
      expectObservable(events).toBe('sa-T 3ms b-(S|)', {
        s: 'started',
        a: 'delta 0 let me wait',
        T: 'tool c1,c2',
        b: 'delta 1 waited',
        S: 'settled fulfilled',
      });
    });
    expect(result).toEqual({
      status: 'fulfilled',
      taskId: 't',
      value: 'waited twice',
      usage: { inputTokens: 30, outputTokens: 7, cost: 3 },
      attempts: 1,
      durationMs: 9,
      finishReason: 'stop',
    });
  });

  it('settles a loop that reaches maxSteps as rejected E_MAX_STEPS', () => {
    let result: Settled | undefined;
    const { agent } = fakeAgent(() =>
      testScheduler.createColdObservable<AgentEvent>('-(tu|)', {
        t: { type: 'tool-calls', calls: [call('c1', '{"ms":3}')] },
        u: { type: 'usage', usage: { inputTokens: 5, outputTokens: 1 } },
      }),
    );
    testScheduler.run(({ expectObservable }) => {
      const events = from([{ id: 't', input: 'loop' }]).pipe(
        pool(agentLoopWorker(agent, [wait], { maxSteps: 2 }), { scheduler: testScheduler }),
        map((event) => {
          if (event.type === 'settled') result = event.result;
          return show(event);
        }),
      );
      expectObservable(events).toBe('sT 3ms (TS|)', { s: 'started', T: 'tool c1', S: 'settled rejected' });
    });
    expect(result).toMatchObject({
      status: 'rejected',
      taskId: 't',
      error: { code: 'E_MAX_STEPS', info: { taskId: 't', maxSteps: 2, pendingTools: ['wait'] } },
      usage: { inputTokens: 10, outputTokens: 2 },
      attempts: 1,
      durationMs: 5,
    });
  });

  it('aborts the running tools’ signals when the pool is unsubscribed mid-tool', () => {
    const toolSignals: AbortSignal[] = [];
    const hang = defineTool({
      name: 'hang',
      input: z.object({}),
      run: (_args, { signal }) => {
        toolSignals.push(signal);
        return NEVER;
      },
    });
    const { agent, signals } = fakeAgent(() =>
      testScheduler.createColdObservable<AgentEvent>('-(t|)', {
        t: { type: 'tool-calls', calls: [call('c1', '{}', 'hang'), call('c2', '{}', 'hang')] },
      }),
    );
    testScheduler.run(({ expectObservable }) => {
      const events = from([{ id: 't', input: 'hang' }]).pipe(
        pool(agentLoopWorker(agent, [hang]), { scheduler: testScheduler }),
        map(show),
      );
      expectObservable(events, '^ 5ms !').toBe('sT', { s: 'started', T: 'tool c1,c2' });
      testScheduler.schedule(() => {
        expect(toolSignals.map((s) => s.aborted)).toEqual([false, false]);
      }, 4);
    });
    expect(toolSignals.map((s) => s.aborted)).toEqual([true, true]);
    // The model call had completed, so only the tools were running to abort.
    expect(signals.map((s) => s.aborted)).toEqual([false]);
  });

  it('throws TypeError on bad arguments when created', () => {
    expect(() => agentLoopWorker({} as never, [])).toThrow('Expected `agent` to be an Agent');
    const { agent } = fakeAgent(() => NEVER);
    expect(() => agentLoopWorker(agent, [], { maxSteps: 0 })).toThrow('Expected `maxSteps` to be an integer');
  });
});
