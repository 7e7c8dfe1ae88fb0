import { from, map, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { estimateTokens } from '../../src/budget/estimate.js';
import { memoryStore } from '../../src/budget/memory-store.js';
import type { BudgetStore } from '../../src/budget/store.js';
import { ProviderError } from '../../src/core/errors/index.js';
import type { AgentEvent, Settled } from '../../src/core/types.js';
import { simulatedModel } from '../../src/models/simulated.js';
import type { SimulatedAgent } from '../../src/models/simulated.js';
import { countTokens } from '../../src/models/simulated-text.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { settle } from '../../src/operators/settle.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import type { MarbleAgent } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';
import { tasks, view } from '../support/task-events.js';

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

  it('numbers its own retries after those the agent made on its own, as a router moving a task does', () => {
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable } = helpers;
      const moved: AgentEvent = {
        type: 'retry',
        attempt: 2,
        delayMs: 0,
        error: new ProviderError({ status: 401, message: 'bad key' }),
      };
      const agent = marbleAgent(helpers, { a: [{ marble: '-m-#', values: { m: moved } }, '-x|'] });
      const source = hot('-a|', tasks('a'));
      const result = source.pipe(
        runAgents(agent, { retry: { maxRetries: 1, baseDelayMs: 1, jitter: 0 } }),
        map(view),
      );
      expectObservable(result).toBe('-sm-r-d(S|)', {
        s: 'a>',
        m: 'a!retry2:0',
        r: 'a!retry3:1',
        d: 'a~x',
        S: 'a=x#3@6',
      });
    });
  });

  it('reports to a simulated model the attempt each retry is, and counts them in the result', () => {
    const seen: number[] = [];
    let results: Settled[] = [];
    createTestScheduler().run(() => {
      const model = simulatedModel({
        latency: 5,
        outputTokens: 2,
        failures: {
          on: (_task, attempt) => {
            seen.push(attempt);
            return attempt < 3 ? 'error' : 'none';
          },
        },
      });
      from([{ id: 'a', input: 'hello' }])
        .pipe(runAgents(model, { retry: { maxRetries: 2, baseDelayMs: 10, jitter: 0 } }), settle(), toArray())
        .subscribe((r) => (results = r));
    });
    expect(seen).toEqual([1, 2, 3]);
    // Attempts at 0, 15 (fails at 5, waits 10) and 40 (fails at 20, waits 20); the third streams its two
    // tokens at 45 and 65 (50 tokens per second).
    expect(results).toMatchObject([{ status: 'fulfilled', attempts: 3, durationMs: 65 }]);
  });

  it('with a budget, keeps every 60 s window of the provider within its limit, retries included: no 429', () => {
    const limit = 6_000;
    let grants = 0;
    let results: Settled[] = [];
    let model!: SimulatedAgent;
    createTestScheduler().run(() => {
      model = simulatedModel({
        seed: 3,
        latency: { minMs: 100, maxMs: 400 },
        tokensPerSecond: 100,
        rateLimit: { tokensPerMinute: limit },
        // Every fourth task fails once, after the provider has counted it: its retry must wait its turn.
        failures: { on: (task, attempt) => (attempt === 1 && Number(task.id) % 4 === 0 ? 'error' : 'none') },
      });
      const store = memoryStore();
      const counting: BudgetStore = {
        ...store,
        acquire: (...args) => store.acquire(...args).pipe(tap((r) => (grants += r.granted ? 1 : 0))),
      };
      const budget = createBudget({ tokensPerMinute: limit, store: counting });
      const tasks = Array.from({ length: 40 }, (_, i) => ({
        id: String(i),
        input: `Question ${i}: how do streams compose?`,
        maxOutputTokens: 200,
      }));
      from(tasks)
        .pipe(
          runAgents(model, {
            concurrency: 8,
            budget,
            // What the simulated provider charges at admission: its token count plus the reserved output.
            estimate: (task) => estimateTokens(task, { countTokens }),
            retry: { maxRetries: 2, baseDelayMs: 100, jitter: 0 },
          }),
          settle(),
          toArray(),
        )
        .subscribe((r) => (results = r));
    });
    const { admitted, rateLimited } = model.stats;
    expect(rateLimited).toBe(0);
    expect(results).toHaveLength(40);
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results.filter((r) => r.attempts === 2)).toHaveLength(10);
    // 40 first attempts and 10 retries, each granted by the budget before the provider saw it.
    expect(admitted).toHaveLength(50);
    expect(grants).toBe(50);
    for (const { at } of admitted) {
      const inWindow = admitted.filter((a) => a.at > at - 60_000 && a.at <= at);
      expect(inWindow.reduce((sum, a) => sum + a.tokens, 0)).toBeLessThanOrEqual(limit);
    }
    // More than a minute's worth of tokens, so the limit was what paced the runs.
    expect(admitted.reduce((sum, a) => sum + a.tokens, 0)).toBeGreaterThan(limit);
    expect(admitted.at(-1)!.at).toBeGreaterThan(60_000);
  });

  it('says when a budget let each attempt go and how long it held it back, which an unbudgeted run does not', () => {
    const seen: string[] = [];
    const scheduler = createTestScheduler();
    scheduler.run(({ cold }) => {
      const done: AgentEvent = { type: 'done', text: 'ok', finishReason: 'stop' };
      const agent = { run: () => cold<AgentEvent>('5ms (d|)', { d: done }) };
      const budget = createBudget({ requestsPerMinute: 1 });
      from([
        { id: 'a', input: 'a' },
        { id: 'b', input: 'b' },
      ])
        .pipe(runAgents(agent, { concurrency: 2, budget }))
        .subscribe((event) => seen.push(`${scheduler.now()} ${view(event)}`));
      from([{ id: 'c', input: 'c' }])
        .pipe(runAgents(agent))
        .subscribe((event) => seen.push(`${scheduler.now()} ${view(event)}`));
    });
    expect(seen).toEqual([
      '0 a>',
      '0 a!admitted1:0',
      '0 b>',
      '0 c>',
      '5 a=ok#1@5',
      '5 c=ok#1@5',
      '60000 b!admitted1:60000',
      '60005 b=ok#1@60005',
    ]);
  });

  it('checks its arguments when created', () => {
    expect(() => runAgents({} as never)).toThrow('Expected `agent` to be an Agent');
    const agent = { run: () => undefined as never };
    expect(() => runAgents(agent, { timeoutMs: 1, timeout: { total: 1 } })).toThrow('not both');
    expect(() => runAgents(agent, { timeout: {} })).toThrow('No timeout provided');
    expect(() => runAgents(agent, { retry: { maxRetries: -1 } })).toThrow(TypeError);
    expect(() => runAgents(agent, { concurrency: 0 })).toThrow(TypeError);
    expect(() => runAgents(agent, { timeoutMS: 5 } as never)).toThrow(
      /^Unknown option `timeoutMS` for runAgents; expected one of `concurrency`, .*`timeoutMs`/,
    );
  });
});
