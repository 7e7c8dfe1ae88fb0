import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Task, TaskEvent } from '../../src/core/types.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { settle } from '../../src/operators/settle.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import type { MarbleAgent } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const tasks = (ids: string): Record<string, Task> =>
  Object.fromEntries(Array.from(ids).map((id) => [id, { id, input: id }]));

function view(event: TaskEvent): string {
  switch (event.type) {
    case 'started':
      return `${event.taskId}>`;
    case 'delta':
      return `${event.taskId}~${event.text}`;
    case 'retry':
      return `${event.taskId}!retry${event.attempt}:${event.delayMs}`;
    case 'tool':
      return `${event.taskId}!tool`;
    case 'settled':
      return event.result.status === 'fulfilled'
        ? `${event.taskId}=${event.result.value}#${event.result.attempts}@${event.result.durationMs}`
        : `${event.taskId}!${event.result.error.code}#${event.result.attempts}`;
  }
}

describe('runAgents', () => {
  it('times out each attempt and retries it, re-running the model', () => {
    let agent!: MarbleAgent;
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable, expectSubscriptions } = helpers;
      agent = marbleAgent(helpers, { a: ['------a|', '-x|'] });
      const source = hot('  -a|', tasks('a'));
      const sourceSubs = '  ^-!';
      const result = source.pipe(
        runAgents(agent, { timeout: { total: 3 }, retry: { maxRetries: 2, baseDelayMs: 2, jitter: 0 } }),
        map(view),
      );
      expectObservable(result).toBe('-s--r--d(S|)', {
        s: 'a>',
        r: 'a!retry2:2',
        d: 'a~x',
        S: 'a=x#2@7',
      });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
    expect(agent.runs.map((r) => [r.attempt, r.subscribedAt, r.unsubscribedAt])).toEqual([
      [1, 1, 4],
      [2, 6, undefined],
    ]);
  });

  it('settles a timeout with where the pool stood when retries are off, and goes on', () => {
    const messages: string[] = [];
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable } = helpers;
      const agent = marbleAgent(helpers, { a: '-----a|', b: '-b|' });
      const source = hot('-ab|', tasks('ab'));
      const result = source.pipe(
        runAgents(agent, { concurrency: 1, timeoutMs: 3, retry: false }),
        settle(),
        map((r) => {
          if (r.status === 'rejected') messages.push(r.error.message);
          return r.status === 'fulfilled' ? `${r.taskId}=${r.value}` : `${r.taskId}!${r.error.code}`;
        }),
      );
      expectObservable(result).toBe('----x-(y|)', { x: 'a!E_TIMEOUT', y: 'b=b' });
    });
    expect(messages[0]).toMatch(/\(pool had 1 running, 1 waiting\)$/);
  });

  it('gives up after maxRetries with the last error and counts the attempts', () => {
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable } = helpers;
      const agent = marbleAgent(helpers, { a: '-#' });
      const source = hot('-a|', tasks('a'));
      const result = source.pipe(
        runAgents(agent, { retry: { maxRetries: 1, baseDelayMs: 1, jitter: 0 } }),
        map(view),
      );
      expectObservable(result).toBe('-sr-(x|)', { s: 'a>', r: 'a!retry2:1', x: 'a!E_PROVIDER#2' });
    });
  });

  it('checks its arguments when created', () => {
    expect(() => runAgents({} as never)).toThrow('Expected `agent` to be an Agent');
    const agent = { run: () => undefined as never };
    expect(() => runAgents(agent, { timeoutMs: 1, timeout: { total: 1 } })).toThrow('not both');
    expect(() => runAgents(agent, { timeout: {} })).toThrow('No timeout provided');
    expect(() => runAgents(agent, { retry: { maxRetries: -1 } })).toThrow(TypeError);
    expect(() => runAgents(agent, { concurrency: 0 })).toThrow(TypeError);
  });
});
