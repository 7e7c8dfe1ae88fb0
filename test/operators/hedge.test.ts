import { EMPTY, from, map, mergeMap, takeWhile, type Observable } from 'rxjs';
import type { RunHelpers } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { CancelledError, RateLimitError } from '../../src/core/errors/index.js';
import { AgentPool } from '../../src/operators/agent-pool.js';
import type { PoolState } from '../../src/operators/pool.js';
import { runAgents } from '../../src/operators/run-agents.js';
import type { HedgeConfig, RunAgentsConfig } from '../../src/operators/run-agents.js';
import { router } from '../../src/router/router.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import type { MarbleAgent } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';
import type { TaskEvent } from '../../src/core/types.js';
import { tasks, view } from '../support/task-events.js';

/** Each event as `frame view`, and `frame |` at the end: for runs whose events are too close for a marble. */
function play(build: (helpers: RunHelpers) => Observable<TaskEvent>): string[] {
  const scheduler = createTestScheduler();
  const seen: string[] = [];
  scheduler.run((helpers) => {
    build(helpers).subscribe({
      next: (event) => seen.push(`${scheduler.now()} ${view(event)}`),
      complete: () => seen.push(`${scheduler.now()} |`),
    });
  });
  return seen;
}

/** Every hedge earns its token at once, so a single task can be hedged. */
const eager: RunAgentsConfig = { concurrency: 4, retry: false, hedge: { after: 3, maxExtra: 1 } };

/** A budget's estimate that needs no tokenizer. */
const estimate = (): number => 10;

/** Each run as `[attempt, subscribed, unsubscribed, aborted]`. */
const runsOf = (agent: MarbleAgent): unknown[] =>
  agent.runs.map((r) => [r.attempt, r.subscribedAt, r.unsubscribedAt, r.aborted]);

describe('runAgents hedge', () => {
  it('starts a second attempt at the delay; the first with a token wins, the other is unsubscribed and aborted', () => {
    let agent!: MarbleAgent;
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable, expectSubscriptions } = helpers;
      agent = marbleAgent(helpers, { a: ['--------x|', '-y|'] });
      const source = hot('  -a|', tasks('a'));
      const sourceSubs = '  ^-!';
      expectObservable(source.pipe(runAgents(agent, eager), map(view))).toBe('-s--hd(S|)', {
        s: 'a>',
        h: 'a!hedge2:3',
        d: 'a~y',
        S: 'a=y#2@5',
      });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
    expect(runsOf(agent)).toEqual([
      [1, 1, 5, true],
      [2, 4, undefined, false],
    ]);
    const reason: unknown = agent.runs[0]?.signal.reason;
    expect(reason).toBeInstanceOf(CancelledError);
    expect((reason as CancelledError).message).toBe(
      'Attempt of task "a" was stopped: another attempt answered first',
    );
  });

  it('lets the first attempt win when its token comes before the hedge’s, and stops the hedge', () => {
    let agent!: MarbleAgent;
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable } = helpers;
      agent = marbleAgent(helpers, { a: ['------x|', '-----y|'] });
      expectObservable(hot('-a|', tasks('a')).pipe(runAgents(agent, eager), map(view))).toBe('-s--h--d(S|)', {
        s: 'a>',
        h: 'a!hedge2:3',
        d: 'a~x',
        S: 'a=x#2@7',
      });
    });
    expect(runsOf(agent)).toEqual([
      [1, 1, undefined, false],
      [2, 4, 7, true],
    ]);
  });

  it('goes on with the other attempt when one fails during the race', () => {
    createTestScheduler().run((helpers) => {
      const { hot, expectObservable } = helpers;
      const agent = marbleAgent(helpers, { a: ['-----#', '----y|'] });
      expectObservable(hot('-a|', tasks('a')).pipe(runAgents(agent, eager), map(view))).toBe(
        '-s--h---d(S|)',
        { s: 'a>', h: 'a!hedge2:3', d: 'a~y', S: 'a=y#2@8' },
      );
    });
  });

  it('never hedges a task past its first token, nor once it streamed text and is tried again', () => {
    let agent!: MarbleAgent;
    const seen = play((helpers) => {
      agent = marbleAgent(helpers, { a: '-x--------y|', b: ['-x#', '--------z|'] });
      const config: RunAgentsConfig = {
        ...eager,
        retry: { maxRetries: 1, baseDelayMs: 1, jitter: 0, replay: true },
      };
      return helpers.hot('-(ab)|', tasks('ab')).pipe(runAgents(agent, config));
    });
    expect(seen).toEqual([
      '1 a>',
      '1 b>',
      '2 a~x',
      '2 b~x',
      '3 b!retry2:1',
      '11 a~y',
      '12 a=xy#1@11',
      '12 b~z',
      '13 b=z#2@12',
      '13 |',
    ]);
    expect(agent.runs).toHaveLength(3);
  });

  it('hedges at most maxExtra of the requests, and counts its hedges in the state', () => {
    const states: PoolState[] = [];
    const seen = play((helpers) => {
      const agent = marbleAgent(helpers, {}, { fallback: '-------x|' });
      const config: RunAgentsConfig = {
        concurrency: 8,
        retry: false,
        hedge: { after: 3, maxExtra: 0.5 },
        monitor: (state) => states.push(state),
      };
      return helpers.hot('-(abcd)|', tasks('abcd')).pipe(runAgents(agent, config));
    });
    // Four requests earn two hedges: the first two tasks to reach the delay take them.
    expect(seen.filter((e) => e.includes('!hedge'))).toEqual(['4 a!hedge2:3', '4 b!hedge2:3']);
    expect(seen.filter((e) => e.includes('='))).toEqual(['9 a=x#2@8', '9 b=x#2@8', '9 c=x#1@8', '9 d=x#1@8']);
    expect(states.at(-1)?.hedged).toBe(2);
  });

  it('takes a free slot for a hedge, never one a task waits for, and gives it back when the race ends', () => {
    const two: RunAgentsConfig = { ...eager, concurrency: 2 };
    // a's hedge takes the second slot at 4; b, arriving at 5, starts when a's race ends at 7.
    const hedged = play((helpers) => {
      const agent = marbleAgent(helpers, { a: ['--------x|', '---y|'], b: '-z|' });
      return helpers.hot('-a---b|', tasks('ab')).pipe(runAgents(agent, two));
    });
    expect(hedged).toEqual([
      '1 a>',
      '4 a!hedge2:3',
      '7 b>',
      '7 a~y',
      '8 a=y#2@7',
      '8 b~z',
      '9 b=z#1@2',
      '9 |',
    ]);
    // With both slots taken by tasks, nothing is hedged.
    const full = play((helpers) => {
      const agent = marbleAgent(helpers, { a: '--------x|', c: '--------w|' });
      return helpers.hot('-(ac)|', tasks('ac')).pipe(runAgents(agent, two));
    });
    expect(full.filter((e) => e.includes('!hedge'))).toEqual([]);
  });

  it('does not hedge while the budget cools down after a 429', () => {
    const limited = new RateLimitError({
      limit: 'requests',
      retryAfterMs: 20,
      status: 429,
      message: 'Too many requests',
    });
    // b's 429 at 2 puts the budget in cooldown until 22: a, due for a hedge at 4, is not hedged.
    const cooling = play((helpers) => {
      const agent = marbleAgent(helpers, { a: ['------x|', '-y|'], b: { marble: '-#', error: limited } });
      const budget = createBudget({ requestsPerMinute: 6_000 });
      return helpers.hot('-(ab)|', tasks('ab')).pipe(runAgents(agent, { ...eager, budget, estimate }));
    });
    expect(cooling).toEqual([
      '1 a>',
      '1 a!admitted1:0',
      '1 b>',
      '1 b!admitted1:0',
      '2 b!E_RATE_LIMITED#1',
      '7 a~x',
      '8 a=x#1@7',
      '8 |',
    ]);
    // The same without the 429: a is hedged at 4, and the budget admits the hedge as attempt 2.
    const calm = play((helpers) => {
      const agent = marbleAgent(helpers, { a: ['------x|', '-y|'], b: '-z|' });
      const budget = createBudget({ requestsPerMinute: 6_000 });
      return helpers.hot('-(ab)|', tasks('ab')).pipe(runAgents(agent, { ...eager, budget, estimate }));
    });
    expect(calm.filter((e) => e.startsWith('4') || e.includes('a='))).toEqual([
      '4 a!hedge2:3',
      '4 a!admitted2:0',
      '6 a=y#2@5',
    ]);
  });

  it('counts the delay from when the budget granted the request, not from the start of the wait', () => {
    let agent!: MarbleAgent;
    const seen = play((helpers) => {
      agent = marbleAgent(helpers, { a: '-x|', b: ['--------x|', '-y|'] });
      // One request a second: b waits for its grant, and so does its hedge.
      const budget = createBudget({ requestsPerMinute: 60 });
      return helpers.hot('-(ab)|', tasks('ab')).pipe(runAgents(agent, { ...eager, budget, estimate }));
    });
    const granted = agent.runs[1]?.subscribedAt ?? 0;
    expect(granted).toBeGreaterThan(900);
    expect(seen.filter((e) => e.includes('b!') || e.includes('b='))).toEqual([
      `${granted} b!admitted1:${granted - 1}`,
      `${granted + 3} b!hedge2:3`,
      `${granted + 9} b=x#2@${granted + 8}`,
    ]);
    // The hedge was still waiting for the budget when b's first attempt answered: it never reached the model.
    expect(runsOf(agent)).toEqual([
      [1, 1, undefined, false],
      [1, granted, undefined, false],
    ]);
  });

  it("reads 'pNN' from the times to first token measured, and waits for enough of them", () => {
    const seen = play((helpers) => {
      const ids = Array.from({ length: 20 }, (_, i) => `t${i}`);
      const slow = ['--------x|', '-y|'];
      const agent = marbleAgent(helpers, {
        ...Object.fromEntries(ids.map((id) => [id, '--x|'])),
        e: slow,
        s: slow,
      });
      const config: RunAgentsConfig = { concurrency: 30, retry: false, hedge: { after: 'p50', maxExtra: 1 } };
      // e starts with the 20 fast tasks, before any first token is measured; s once 20 are.
      const batches = { a: [...ids, 'e'].map((id) => ({ id, input: id })), b: [{ id: 's', input: 's' }] };
      return helpers.hot('-a--------b|', batches).pipe(
        mergeMap((batch) => from(batch)),
        runAgents(agent, config),
      );
    });
    expect(seen.filter((e) => e.includes('!hedge') || /^\d+ [es]=/.test(e))).toEqual([
      '10 e=x#1@9',
      '12 s!hedge2:2',
      '14 s=y#2@4',
    ]);
  });

  it('leaves nothing behind when the consumer leaves on the hedge event', () => {
    let agent!: MarbleAgent;
    const scheduler = createTestScheduler();
    scheduler.run((helpers) => {
      agent = marbleAgent(helpers, { a: ['--------x|', '-y|'] });
      const { hot, expectObservable } = helpers;
      const events$ = hot('-a|', tasks('a')).pipe(
        runAgents(agent, eager),
        takeWhile((e) => e.type !== 'hedge'),
        map(view),
      );
      expectObservable(events$).toBe('-s--|', { s: 'a>' });
    });
    expect(runsOf(agent)).toEqual([[1, 1, 4, true]]);
    expect(scheduler.actions.filter((a) => !a.closed)).toEqual([]);
  });

  it('settles a hedged task cancelled mid-race once, aborting both attempts (AgentPool)', async () => {
    let agent!: MarbleAgent;
    let pool!: AgentPool;
    createTestScheduler().run((helpers) => {
      agent = marbleAgent(helpers, { a: ['--------x|', '--------y|'] });
      pool = new AgentPool({ agent, ...eager });
      const subscription = pool.stream({ id: 'a', input: 'a' }).subscribe();
      helpers.cold('------|').subscribe({
        complete: () => {
          subscription.unsubscribe();
        },
      });
    });
    expect(runsOf(agent)).toEqual([
      [1, 0, 6, true],
      [2, 3, 6, true],
    ]);
    expect(pool.state).toMatchObject({ completed: 0, failed: 1, inFlight: 0, hedged: 1 });
    await pool.drain();
  });

  it('with a router, sends the hedge to another deployment than the attempt it races', () => {
    const seen = play((helpers) => {
      const agent = router({
        deployments: [
          { id: 'a', agent: marbleAgent(helpers, {}, { fallback: '--------x|' }) },
          { id: 'b', agent: marbleAgent(helpers, {}, { fallback: '-y|' }) },
        ],
        strategy: 'ordered',
        countTokens: () => 0,
      });
      return helpers.hot('-t|', tasks('t')).pipe(runAgents(agent, eager));
    });
    expect(seen).toEqual([
      '1 t>',
      '1 t!route1:a',
      '4 t!hedge2:3',
      '4 t!route2:b',
      '5 t~y',
      '6 t=y#2@5',
      '6 |',
    ]);
  });

  it('with a router, counts the delay from the route, not from the wait for a deployment', () => {
    const seen = play((helpers) => {
      const agent = router({
        deployments: [
          {
            id: 'a',
            agent: marbleAgent(helpers, { t: '-x|', u: '--------x|' }),
            budget: createBudget({ requestsPerMinute: 60 }),
          },
        ],
        countTokens: () => 0,
      });
      return helpers.hot('-(tu)|', tasks('tu')).pipe(runAgents(agent, eager));
    });
    const routed = Number(seen.find((e) => e.endsWith('u!route1:a'))?.split(' ')[0]);
    expect(routed).toBeGreaterThan(900);
    expect(seen.filter((e) => e.includes('u!') || e.includes('u='))).toEqual([
      `${routed} u!route1:a`,
      `${routed + 3} u!hedge2:3`,
      `${routed + 9} u=x#2@${routed + 8}`,
    ]);
  });

  it('checks `hedge` when created', () => {
    const agent = { run: () => EMPTY };
    const bad: [unknown, string][] = [
      [{ after: 'p100' }, 'Expected `hedge.after` to be milliseconds (a number from 0) or a percentile'],
      [{ after: -1 }, 'got -1 (number)'],
      [{ after: '95%' }, 'got "95%" (string)'],
      [{ maxExtra: 0 }, 'Expected `hedge.maxExtra` to be a share of requests above 0 and at most 1, got 0'],
      [{ maxExtra: 1.5 }, 'got 1.5 (number)'],
      [{ delay: 3 }, 'Unknown option `delay` for runAgents `hedge`'],
      [true, 'Expected `hedge` to be'],
    ];
    for (const [hedge, message] of bad) {
      expect(() => runAgents(agent, { hedge: hedge as HedgeConfig })).toThrow(message);
    }
    expect(() => runAgents(agent, { hedge: {} })).not.toThrow();
    expect(() => runAgents(agent, { hedge: { after: 'p99.9', maxExtra: 1 } })).not.toThrow();
  });
});
