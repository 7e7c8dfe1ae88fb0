import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors/index.js';
import type { AgentEvent, Task, ToolCall } from '../../src/core/types.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const task = (id: string): Task => ({ id, input: `prompt ${id}` });
const live = (): AbortSignal => new AbortController().signal;
const delta = (text: string): AgentEvent => ({ type: 'delta', text });
const done = (text: string): AgentEvent => ({ type: 'done', text, finishReason: 'stop' });

describe('marbleAgent', () => {
  it('turns letters into deltas and adds a done with their text at completion', () => {
    createTestScheduler().run((helpers) => {
      const agent = marbleAgent(helpers, { t1: '--a-b-|', t2: '-(xy)|' });
      helpers.expectObservable(agent.run(task('t1'), { signal: live() })).toBe('--a-b-(d|)', {
        a: delta('a'),
        b: delta('b'),
        d: done('ab'),
      });
      helpers.expectObservable(agent.run(task('t2'), { signal: live() })).toBe('-(xy)(d|)', {
        x: delta('x'),
        y: delta('y'),
        d: done('xy'),
      });
    });
  });

  it('uses the given values, and adds no done when the script has one', () => {
    const calls: ToolCall[] = [{ id: 'c1', name: 'search', arguments: '{}' }];
    createTestScheduler().run((helpers) => {
      const values: Record<string, AgentEvent> = {
        c: { type: 'tool-calls', calls },
        u: { type: 'usage', usage: { inputTokens: 3, outputTokens: 2 } },
        e: { type: 'done', text: 'final', finishReason: 'length' },
      };
      const agent = marbleAgent(helpers, {
        t1: { marble: '-a-u-e-|', values },
        t2: { marble: '-c|', values },
      });
      helpers
        .expectObservable(agent.run(task('t1'), { signal: live() }))
        .toBe('-a-u-e-|', { ...values, a: delta('a') });
      helpers.expectObservable(agent.run(task('t2'), { signal: live() })).toBe('-c(d|)', {
        ...values,
        d: { type: 'done', text: '', finishReason: 'tool-calls' },
      });
    });
  });

  it('errors with a retryable ProviderError by default, or with the scripted error', () => {
    const custom = new Error('custom');
    createTestScheduler().run((helpers) => {
      const agent = marbleAgent(helpers, { t1: '--a#', t2: { marble: '-#', error: custom } });
      helpers
        .expectObservable(agent.run(task('t1'), { signal: live() }))
        .toBe(
          '--a#',
          { a: delta('a') },
          new ProviderError({ status: 500, message: 'Scripted error on task "t1"', retryable: true }),
        );
      helpers.expectObservable(agent.run(task('t2'), { signal: live() })).toBe('-#', undefined, custom);
    });
  });

  it('plays one script per attempt, repeating the last', () => {
    createTestScheduler().run((helpers) => {
      const agent = marbleAgent(helpers, { t: ['-#', '--a|'] });
      const run = () => agent.run(task('t'), { signal: live() });
      helpers.expectObservable(run(), '^').toBe('-#', undefined, expect.any(ProviderError));
      helpers.expectObservable(run(), '5ms ^').toBe('5ms --a(d|)', { a: delta('a'), d: done('a') });
      helpers.expectObservable(run(), '10ms ^').toBe('10ms --a(d|)', { a: delta('a'), d: done('a') });
    });
  });

  it('records subscription, unsubscription, end and abort of every run', () => {
    const scheduler = createTestScheduler();
    const controller = new AbortController();
    const agent = scheduler.run((helpers) => {
      const agent = marbleAgent(helpers, { t1: '--a-b-|', t2: '-a-b-c-|' });
      helpers.expectObservable(agent.run(task('t1'), { signal: live() }), ' 2ms ^').toBe('2ms --a-b-(d|)', {
        a: delta('a'),
        b: delta('b'),
        d: done('ab'),
      });
      helpers.expectObservable(agent.run(task('t2'), { signal: controller.signal }), '^--!').toBe('-a-', {
        a: delta('a'),
      });
      scheduler.schedule(() => {
        controller.abort();
      }, 3);
      return agent;
    });
    expect(agent.runs.map(({ signal: _signal, ...run }) => ({ ...run }))).toEqual([
      { taskId: 't2', attempt: 1, subscribedAt: 0, unsubscribedAt: 3, endedAt: undefined, aborted: true },
      { taskId: 't1', attempt: 1, subscribedAt: 2, unsubscribedAt: undefined, endedAt: 8, aborted: false },
    ]);
  });

  it('plays the fallback for unknown tasks, and errors without one', () => {
    createTestScheduler().run((helpers) => {
      const agent = marbleAgent(helpers, {}, { fallback: '-z|' });
      helpers.expectObservable(agent.run(task('any'), { signal: live() })).toBe('-z(d|)', {
        z: delta('z'),
        d: done('z'),
      });
      const strict = marbleAgent(helpers, {});
      helpers
        .expectObservable(strict.run(task('any'), { signal: live() }))
        .toBe(
          '#',
          undefined,
          new Error('marbleAgent has no script for task "any"; add one or set `fallback`'),
        );
      expect(strict.runs).toEqual([]);
    });
  });

  it('rejects bad arguments at creation', () => {
    createTestScheduler().run((helpers) => {
      expect(() => marbleAgent({} as typeof helpers, {})).toThrow(
        'Expected `helpers` to be the TestScheduler run helpers, got an object',
      );
      expect(() => marbleAgent(helpers, { t: 3 as unknown as string })).toThrow(
        'Expected `scripts.t` to be a marble string or `{ marble, values?, error? }`, got 3 (number)',
      );
      expect(() => marbleAgent(helpers, { t: [] })).toThrow(
        'Expected `scripts.t` to hold at least one script',
      );
      expect(() => marbleAgent(helpers, 'x' as unknown as Record<string, string>)).toThrow(TypeError);
      expect(() => marbleAgent(helpers, {}, { scheduler: Date as never })).toThrow(
        'Expected `scheduler` to be an RxJS scheduler (such as asyncScheduler), got a function',
      );
    });
  });
});
