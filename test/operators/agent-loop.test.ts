import { NEVER, map, throwError, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AgentEvent } from '../../src/core/types.js';
import { agentLoop } from '../../src/operators/agent-loop.js';
import type { AgentLoopEvent } from '../../src/operators/agent-loop.js';
import { defineTool } from '../../src/tools/define-tool.js';
import { call, fakeAgent, wait } from './fixtures/fake-agent.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

function show(event: AgentLoopEvent): string {
  switch (event.type) {
    case 'step':
      return `step ${event.step}`;
    case 'agent':
      return event.event.type;
    case 'tool':
      return event.event.type === 'node-started'
        ? `>${event.event.id}`
        : `${event.event.id} ${event.event.result.status}`;
    case 'settled':
      return `settled ${event.result.status}`;
  }
}

describe('agentLoop', () => {
  it('runs one message’s tool calls at once, returns results as tool messages, and asks again', () => {
    let final: AgentLoopEvent | undefined;
    const { agent, seen } = fakeAgent((_messages, step) =>
      step === 1
        ? testScheduler.createColdObservable<AgentEvent>('--(t|)', {
            t: { type: 'tool-calls', calls: [call('c1', '{"ms":30}'), call('c2', '{"ms":20}')] },
          })
        : testScheduler.createColdObservable<AgentEvent>('-----(d|)', {
            d: { type: 'done', text: 'both waited', finishReason: 'stop' },
          }),
    );
    testScheduler.run(({ expectObservable }) => {
      const solve = agentLoop(agent, [wait], { scheduler: testScheduler });
      const result = solve({ id: 't', input: 'wait twice' }).pipe(
        map((event) => {
          if (event.type === 'settled') final = event;
          return show(event);
        }),
      );
      const expected = 's-(tab) 15ms B 9ms (Ax) 1ms (dS|)';
      const values = {
        s: 'step 1',
        t: 'tool-calls',
        a: '>c1',
        b: '>c2',
        B: 'c2 fulfilled',
        A: 'c1 fulfilled',
        d: 'done',
        x: 'step 2',
        S: 'settled fulfilled',
      };
      expectObservable(result).toBe(expected, values);
    });
    expect(seen[1]).toEqual([
      { role: 'user', content: 'wait twice' },
      { role: 'assistant', content: '', toolCalls: [call('c1', '{"ms":30}'), call('c2', '{"ms":20}')] },
      { role: 'tool', toolCallId: 'c1', content: '{"waited":30}' },
      { role: 'tool', toolCallId: 'c2', content: '{"waited":20}' },
    ]);
    expect(final).toMatchObject({
      result: { status: 'fulfilled', taskId: 't', value: 'both waited', durationMs: 37 },
      messages: [...(seen[1] ?? []), { role: 'assistant', content: 'both waited' }],
    });
  });

  it('runs the calls of a `parallel: false` tool in one message one after the other', () => {
    const save = defineTool({
      name: 'save',
      input: z.object({ ms: z.number() }),
      parallel: false,
      run: ({ ms }) => timer(ms).pipe(map(() => 'saved')),
    });
    const { agent } = fakeAgent((_messages, step) =>
      testScheduler.createColdObservable<AgentEvent>(
        '(x|)',
        step === 1
          ? {
              x: {
                type: 'tool-calls',
                calls: [call('c1', '{"ms":10}', 'save'), call('c2', '{"ms":10}', 'save')],
              },
            }
          : { x: { type: 'done', text: 'ok', finishReason: 'stop' } },
      ),
    );
    testScheduler.run(({ expectObservable }) => {
      const result = agentLoop(agent, [save], { scheduler: testScheduler })({ id: 't', input: 'save twice' });
      const expected = '(sta) 5ms (Ab) 6ms (BxdS|)';
      const values = {
        s: 'step 1',
        t: 'tool-calls',
        a: '>c1',
        A: 'c1 fulfilled',
        b: '>c2',
        B: 'c2 fulfilled',
        x: 'step 2',
        d: 'done',
        S: 'settled fulfilled',
      };
      expectObservable(result.pipe(map(show))).toBe(expected, values);
    });
  });

  it('hands bad arguments and unknown tools back to the model as error tool messages', () => {
    const { agent, seen } = fakeAgent((_messages, step) =>
      testScheduler.createColdObservable<AgentEvent>(
        '(x|)',
        step === 1
          ? {
              x: {
                type: 'tool-calls',
                calls: [
                  call('a', '{bad'),
                  call('b', '{"ms":"no"}'),
                  call('c', '{}', 'nope'),
                  call('d', '[1]'),
                  call('a', '{}'),
                ],
              },
            }
          : { x: { type: 'done', text: 'sorry', finishReason: 'stop' } },
      ),
    );
    testScheduler.run(({ expectObservable }) => {
      const result = agentLoop(agent, [wait])({ id: 't', input: 'go' });
      expectObservable(result.pipe(map((event) => event.type === 'settled'))).toBe('(ffffffffft|)', {
        f: false,
        t: true,
      });
    });
    const toolMessages = seen[1]?.filter((m) => m.role === 'tool').map((m) => [m.toolCallId, m.content]);
    expect(toolMessages?.map(([id, content]) => `${id} ${content?.split(':')[0]}`)).toEqual([
      'a Error E_VALIDATION',
      'b Error E_VALIDATION',
      'c Error E_UNKNOWN_TOOL',
      'd Error E_VALIDATION',
      'a Error E_DUPLICATE_ID',
    ]);
    expect(toolMessages?.[0]?.[1]).toContain('are not valid JSON');
    expect(toolMessages?.[1]?.[1]).toContain('ms');
  });

  it('settles rejected with E_MAX_STEPS when the model keeps asking for tools', () => {
    let final: AgentLoopEvent | undefined;
    const { agent, seen } = fakeAgent(() =>
      testScheduler.createColdObservable<AgentEvent>('-----(t|)', {
        t: { type: 'tool-calls', calls: [call('c', '{"ms":5}')] },
      }),
    );
    testScheduler.run(({ expectObservable }) => {
      const result = agentLoop(agent, [wait], { maxSteps: 2 })({ id: 't', input: 'loop' }).pipe(
        map((event) => {
          if (event.type === 'settled') final = event;
          return show(event);
        }),
      );
      const expected = 's 4ms (ta) 1ms (Ax) 1ms (tS|)';
      const values = {
        s: 'step 1',
        t: 'tool-calls',
        a: '>c',
        A: 'c fulfilled',
        x: 'step 2',
        S: 'settled rejected',
      };
      expectObservable(result).toBe(expected, values);
    });
    expect(seen).toHaveLength(2);
    expect(
      final?.type === 'settled' && final.result.status === 'rejected' && final.result.error,
    ).toMatchObject({
      code: 'E_MAX_STEPS',
      info: { taskId: 't', maxSteps: 2, pendingTools: ['wait'] },
      message: 'agentLoop stopped after 2 steps without a final answer; the model still asked for wait',
    });
  });

  it('settles a model failure as rejected and aborts the model when unsubscribed', () => {
    const failing = fakeAgent(() => throwError(() => new Error('provider down')));
    testScheduler.run(({ expectObservable }) => {
      const result = agentLoop(failing.agent, [])({ id: 't', input: 'x' }).pipe(map(show));
      expectObservable(result).toBe('(sS|)', { s: 'step 1', S: 'settled rejected' });
    });
    const hanging = fakeAgent(() => NEVER);
    testScheduler.run(({ expectObservable }) => {
      expectObservable(agentLoop(hanging.agent, [])({ id: 't', input: 'x' }).pipe(map(show)), '^ 9ms !').toBe(
        's',
        {
          s: 'step 1',
        },
      );
    });
    expect(hanging.signals[0]?.aborted).toBe(true);
  });

  it('throws TypeError on bad arguments', () => {
    const { agent } = fakeAgent(() => NEVER);
    expect(() => agentLoop({} as never, [])).toThrow('Expected `agent` to be an Agent');
    expect(() => agentLoop(agent, [], { maxSteps: 0 })).toThrow(
      'Expected `maxSteps` to be an integer from 1',
    );
    expect(() => agentLoop(agent, [], { steps: 3 } as never)).toThrow('Unknown option `steps` for agentLoop');
  });
});
