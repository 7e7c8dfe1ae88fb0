import { from, map, of, tap, toArray, type Observable } from 'rxjs';
import type { RunHelpers } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import type { BudgetState } from '../../src/budget/create-budget.js';
import { ProviderError, RateLimitError, RefusalError } from '../../src/core/errors/index.js';
import type { Agent, AgentEvent, Settled, Task, TaskEvent } from '../../src/core/types.js';
import { runAgents } from '../../src/operators/run-agents.js';
import type { RunAgentsConfig } from '../../src/operators/run-agents.js';
import { router } from '../../src/router/index.js';
import type { DeploymentConfig, RouterConfig, RouterState } from '../../src/router/index.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import type { MarbleAgent, MarbleScript } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const task = (id: string, maxOutputTokens?: number): Task =>
  maxOutputTokens === undefined ? { id, input: id } : { id, input: id, maxOutputTokens };
const tasks = (ids: string, maxOutputTokens?: number): Record<string, Task> =>
  Object.fromEntries(Array.from(ids).map((id) => [id, task(id, maxOutputTokens)]));

/** One short string per event: `t>` started, `t@a1` routed to a (attempt 1), `t!retry2:0`, `t=x#2` fulfilled… */
function view(event: TaskEvent): string {
  switch (event.type) {
    case 'started':
      return `${event.taskId}>`;
    case 'route':
      return `${event.taskId}@${event.deployment}${event.attempt}`;
    case 'admitted':
      return `${event.taskId}!admitted${event.attempt}:${event.waitMs}`;
    case 'delta':
      return `${event.taskId}~${event.text}`;
    case 'retry':
      return `${event.taskId}!retry${event.attempt}:${event.delayMs}`;
    case 'hedge':
      return `${event.taskId}!hedge${event.attempt}`;
    case 'tool':
      return `${event.taskId}!tool`;
    case 'settled':
      return event.result.status === 'fulfilled'
        ? `${event.taskId}=${event.result.value}#${event.result.attempts}`
        : `${event.taskId}!${event.result.error.code}#${event.result.attempts}`;
  }
}

/** A deployment whose every run plays `script`. */
function scripted(helpers: RunHelpers, script: string | MarbleScript): MarbleAgent {
  return marbleAgent(helpers, {}, { fallback: script });
}

/** A router that tells nobody, with the given deployments and options. */
function quietRouter(deployments: DeploymentConfig[], options: Omit<RouterConfig, 'deployments'> = {}) {
  const warnings: string[] = [];
  const agent = router({
    deployments,
    warn: (message) => warnings.push(message),
    countTokens: () => 0,
    ...options,
  });
  return { agent, warnings };
}

/** Collects where each task's attempts went, in order: `t:a`. */
function routesOf(events$: Observable<TaskEvent>, routes: string[]): Observable<TaskEvent> {
  return events$.pipe(
    tap((event) => {
      if (event.type === 'route') routes.push(`${event.taskId}:${event.deployment}`);
    }),
  );
}

const fast: RunAgentsConfig = { retry: { maxRetries: 3, baseDelayMs: 1, jitter: 0 } };

describe('router', () => {
  describe('strategies', () => {
    it("'ordered' sends each attempt to the first deployment that can take it, and says where with a route event", () => {
      createTestScheduler().run((helpers) => {
        const { hot, expectObservable, expectSubscriptions } = helpers;
        const a = scripted(helpers, '----x|');
        const b = scripted(helpers, '----y|');
        const { agent } = quietRouter(
          [
            { id: 'a', agent: a },
            { id: 'b', agent: b },
          ],
          { strategy: 'ordered' },
        );
        const source = hot('-t|', tasks('t'));
        expectObservable(source.pipe(runAgents(agent), map(view))).toBe('-(sR)d(S|)', {
          s: 't>',
          R: 't@a1',
          d: 't~x',
          S: 't=x#1',
        });
        expectSubscriptions(source.subscriptions).toBe('^-!');
      });
    });

    it("'most-headroom' picks the deployment whose budget has the largest share of its limit left", () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        // Burst buckets of 1,000 and 2,000 tokens; each task reserves 500.
        const { agent } = quietRouter([
          { id: 'a', agent: scripted(helpers, '-x|'), budget: createBudget({ tokensPerMinute: 60_000 }) },
          { id: 'b', agent: scripted(helpers, '-y|'), budget: createBudget({ tokensPerMinute: 120_000 }) },
        ]);
        routesOf(helpers.hot('-(tuvw)|', tasks('tuvw', 500)).pipe(runAgents(agent)), routes).subscribe();
      });
      // a and b start full (a tie: a); then a has 1/2 left and b all; b 3/4; then 1/2 each (a tie: a).
      expect(routes).toEqual(['t:a', 'u:b', 'v:b', 'w:a']);
    });

    it("'least-busy' picks the deployment with the fewest attempts in flight", () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const { agent } = quietRouter(
          [
            { id: 'a', agent: scripted(helpers, '--------x|') },
            { id: 'b', agent: scripted(helpers, '-y|') },
          ],
          { strategy: 'least-busy' },
        );
        routesOf(helpers.hot('-tu---v|', tasks('tuv')).pipe(runAgents(agent)), routes).subscribe();
      });
      // u goes to b while t runs on a; when v comes, b is free again and a still busy.
      expect(routes).toEqual(['t:a', 'u:b', 'v:b']);
    });

    it("'lowest-latency' tries each deployment, then prefers the fastest to first token", () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const { agent } = quietRouter(
          [
            { id: 'a', agent: scripted(helpers, '---x|') },
            { id: 'b', agent: scripted(helpers, '-y|') },
          ],
          { strategy: 'lowest-latency' },
        );
        routesOf(helpers.hot('-t-----u---v---w|', tasks('tuvw')).pipe(runAgents(agent)), routes).subscribe();
      });
      // a measured at 3 ms to first token; b, not measured yet, comes next; then b at 1 ms wins.
      expect(routes).toEqual(['t:a', 'u:b', 'v:b', 'w:b']);
    });

    it("'lowest-cost' picks the cheapest price for the task, and a deployment without one last", () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const { agent } = quietRouter(
          [
            { id: 'unpriced', agent: scripted(helpers, '-x|') },
            { id: 'dear', agent: scripted(helpers, '-x|'), price: { input: 2.5, output: 10 } },
            { id: 'cheap', agent: scripted(helpers, '-x|'), price: { input: 0.15, output: 0.6 } },
          ],
          { strategy: 'lowest-cost', countTokens: (text) => text.length },
        );
        routesOf(helpers.hot('-t|', tasks('t', 100)).pipe(runAgents(agent)), routes).subscribe();
      });
      expect(routes).toEqual(['t:cheap']);
    });

    it("'weighted' draws deployments in proportion to their weight", () => {
      let seed = 7;
      const random = (): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const done: Agent = { run: () => of<AgentEvent>({ type: 'done', text: 'ok', finishReason: 'stop' }) };
      const { agent } = quietRouter(
        [
          { id: 'a', agent: done, weight: 1 },
          { id: 'b', agent: done, weight: 3 },
        ],
        { strategy: 'weighted', random },
      );
      const counts = { a: 0, b: 0 };
      from(Array.from({ length: 4000 }, (_, i) => task(`t${i}`)))
        .pipe(runAgents(agent, { concurrency: 1 }))
        .subscribe((event) => {
          if (event.type === 'route') counts[event.deployment as 'a' | 'b']++;
        });
      expect(counts.a + counts.b).toBe(4000);
      expect(counts.b / 4000).toBeGreaterThan(0.72);
      expect(counts.b / 4000).toBeLessThan(0.78);
    });
  });

  describe('cooldowns', () => {
    it('cools a deployment past allowedFails within windowMs, sends attempts elsewhere meanwhile, and takes it back after cooldownMs', () => {
      const routes: string[] = [];
      const cooling: (number | null)[] = [];
      let a!: MarbleAgent;
      createTestScheduler().run((helpers) => {
        a = scripted(helpers, '-#');
        const { agent } = quietRouter(
          [
            { id: 'a', agent: a },
            { id: 'b', agent: scripted(helpers, '-y|') },
          ],
          { strategy: 'ordered', cooldown: { allowedFails: 1, windowMs: 100, cooldownMs: 20 } },
        );
        agent.state$.subscribe((s) => cooling.push(s.deployments[0]!.coolingUntil));
        const source = helpers.hot('-t----u---v-------------------w|', tasks('tuvw'));
        routesOf(source.pipe(runAgents(agent, fast)), routes).subscribe();
      });
      // t fails on a at 2 (one failure: allowed) and its retry goes to b; u fails on a at 7 (two: a cools
      // until 27), and v at 10 goes straight to b; w at 30 finds a back (and fails there again).
      expect(routes).toEqual(['t:a', 't:b', 'u:a', 'u:b', 'v:b', 'w:a', 'w:b']);
      expect(a.runs.map((r) => r.subscribedAt)).toEqual([1, 6, 30]);
      expect(cooling).toContain(27);
      expect(cooling.at(-1)).toBeNull();
    });

    it.each([
      [0.5, 'k:a'],
      [0, 'k:b'],
    ])(
      'with failureRate %s, keeps in service a deployment whose few failures are among many successes (%s)',
      (failureRate, last) => {
        const routes: string[] = [];
        createTestScheduler().run((helpers) => {
          const fails = Object.fromEntries(Array.from('ghij').map((id) => [id, '-#']));
          const { agent } = quietRouter(
            [
              { id: 'a', agent: marbleAgent(helpers, fails, { fallback: '-x|' }) },
              { id: 'b', agent: scripted(helpers, '-y|') },
            ],
            {
              strategy: 'ordered',
              cooldown: { allowedFails: 3, windowMs: 1_000, cooldownMs: 100, failureRate },
            },
          );
          const source = helpers.hot('-a---b---c---d---e---f---g---h---i---j---k|', tasks('abcdefghijk'));
          routesOf(source.pipe(runAgents(agent, fast)), routes).subscribe();
        });
        // Four failures (more than allowedFails) among ten attempts: 40 %, below the default 50 %.
        expect(routes.at(-1)).toBe(last);
      },
    );

    it('cools a deployment that answered 429 for its retryAfterMs, and lets the retry go elsewhere at once', () => {
      const routes: string[] = [];
      let errors: unknown[] = [];
      createTestScheduler().run((helpers) => {
        const limited = new RateLimitError({ limit: 'tokens', retryAfterMs: 50, status: 429 });
        const a = scripted(helpers, { marble: '#', error: limited });
        const { agent } = quietRouter(
          [
            { id: 'a', agent: a },
            { id: 'b', agent: scripted(helpers, '-y|') },
          ],
          { strategy: 'ordered', cooldown: { allowedFails: 5 } },
        );
        const source = helpers.hot('-t 10ms u 50ms v|', tasks('tuv'));
        routesOf(source.pipe(runAgents(agent, fast)), routes)
          .pipe(toArray())
          .subscribe((events) => {
            errors = events.flatMap((e) => (e.type === 'retry' ? [e.error] : []));
          });
      });
      // t's retry waits the pool's 1 ms, not 50; u (at 12) finds a cooling; v (at 63) finds it back.
      expect(routes).toEqual(['t:a', 't:b', 'u:b', 'v:a', 'v:b']);
      expect(errors[0]).toBeInstanceOf(RateLimitError);
      expect((errors[0] as RateLimitError).retryAfterMs).toBe(0);
      expect((errors[0] as RateLimitError).message).toMatch(/^Deployment "a" is rate limited/);
    });

    it('holds a cooldown across retries: with every deployment cooling, the attempt waits for the first back', () => {
      createTestScheduler().run((helpers) => {
        const { hot, expectObservable } = helpers;
        const limited = new RateLimitError({ limit: 'tokens', retryAfterMs: 8, status: 429 });
        const { agent } = quietRouter(
          [{ id: 'a', agent: marbleAgent(helpers, { t: [{ marble: '#', error: limited }, '-x|'] }) }],
          { cooldown: { allowedFails: 5 } },
        );
        // The 429 at 1 says 8 ms; the router says so too (nothing else can serve), and the pool waits that long.
        expectObservable(hot('-t|', tasks('t')).pipe(runAgents(agent, fast), map(view))).toBe(
          '-(sRr)---Qd(S|)',
          { s: 't>', R: 't@a1', r: 't!retry2:8', Q: 't@a2', d: 't~x', S: 't=x#2' },
        );
      });
    });
  });

  describe('failures that move the task at once', () => {
    const contextError = new ProviderError({
      status: 400,
      type: 'invalid_request_error',
      code: 'context_length_exceeded',
      message: "Provider answered 400: This model's maximum context length is 8192 tokens",
    });

    it('sends a prompt too long for the context window to `fallbacks.contextWindow`, in the same run', () => {
      createTestScheduler().run((helpers) => {
        const { hot, expectObservable } = helpers;
        const { agent } = quietRouter(
          [
            { id: 'small', agent: scripted(helpers, { marble: '-----#', error: contextError }) },
            { id: 'other', agent: scripted(helpers, '-y|') },
            { id: 'long', agent: scripted(helpers, '----z|'), role: 'fallback' },
          ],
          { strategy: 'ordered', fallbacks: { contextWindow: ['long'] } },
        );
        // Not to `other`, a primary with the same window: the fallback list decides.
        expectObservable(hot('-t|', tasks('t')).pipe(runAgents(agent, fast), map(view))).toBe(
          '-(sR)-(rQ)d(S|)',
          { s: 't>', R: 't@small1', r: 't!retry2:0', Q: 't@long2', d: 't~z', S: 't=z#2' },
        );
      });
    });

    it("sends a refusal to `fallbacks.contentPolicy` (Anthropic's prompt-too-long wording counts as context window)", () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const refusal = new RefusalError({ reason: 'refusal', refusal: 'I cannot help', model: 'm' });
        const tooLong = new ProviderError({
          status: 400,
          type: 'invalid_request_error',
          message: 'Provider answered 400: prompt is too long: 215000 tokens > 200000 maximum',
        });
        const { agent } = quietRouter(
          [
            {
              id: 'strict',
              agent: marbleAgent(helpers, {
                t: { marble: '-#', error: refusal },
                u: { marble: '-#', error: tooLong },
              }),
            },
            { id: 'lenient', agent: scripted(helpers, '-y|'), role: 'fallback' },
            { id: 'long', agent: scripted(helpers, '-z|'), role: 'fallback' },
          ],
          { strategy: 'ordered', fallbacks: { contentPolicy: ['lenient'], contextWindow: ['long'] } },
        );
        routesOf(helpers.hot('-tu|', tasks('tu')).pipe(runAgents(agent, fast)), routes).subscribe();
      });
      expect(routes).toEqual(['t:strict', 'u:strict', 't:lenient', 'u:long']);
    });

    it('without fallbacks for the kind, settles the failure as it is: nothing retries it', () => {
      createTestScheduler().run((helpers) => {
        const { hot, expectObservable } = helpers;
        const { agent } = quietRouter([
          { id: 'small', agent: scripted(helpers, { marble: '-----#', error: contextError }) },
          { id: 'other', agent: scripted(helpers, '-y|') },
        ]);
        expectObservable(hot('-t|', tasks('t')).pipe(runAgents(agent, fast), map(view))).toBe('-(sR)-(S|)', {
          s: 't>',
          R: 't@small1',
          S: 't!E_PROVIDER#1',
        });
      });
    });

    it('takes a deployment that answers 401 out of service until reconfigured, says so once, and moves its tasks', () => {
      const routes: string[] = [];
      let warnings: string[] = [];
      let down: RouterState | undefined;
      createTestScheduler().run((helpers) => {
        const denied = new ProviderError({
          status: 401,
          message: 'Provider answered 401: Incorrect API key',
        });
        const bad = scripted(helpers, { marble: '-#', error: denied });
        const quiet = quietRouter(
          [
            { id: 'a', agent: bad },
            { id: 'b', agent: scripted(helpers, '--y|') },
          ],
          { strategy: 'ordered' },
        );
        warnings = quiet.warnings;
        const { agent } = quiet;
        // t and u both go to a before its first 401; both move to b; v never tries a.
        const source = helpers.hot('-(tu)--v--------w|', tasks('tuvw'));
        routesOf(source.pipe(runAgents(agent, fast)), routes).subscribe();
        helpers.cold('-------x').subscribe(() => {
          agent.state$.subscribe((s) => (down ??= s));
        });
        helpers.cold('-----------x').subscribe(() => {
          agent.reconfigure('a', { agent: scripted(helpers, '-z|') });
        });
      });
      expect(routes).toEqual(['t:a', 'u:a', 't:b', 'u:b', 'v:b', 'w:a']);
      expect(warnings).toEqual([
        'rxagent router: deployment "a" is out of service until reconfigured (router.reconfigure(\'a\', …)): Provider answered 401: Incorrect API key',
      ]);
      expect(down?.deployments[0]).toMatchObject({
        id: 'a',
        coolingUntil: Number.POSITIVE_INFINITY,
        failed: 2,
      });
      expect(down?.deployments[0]?.coolingBecause?.info).toMatchObject({ status: 401 });
    });

    it('skips for a task a deployment whose budget could never grant it', () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const { agent } = quietRouter(
          [
            { id: 'small', agent: scripted(helpers, '-x|'), budget: createBudget({ tokensPerMinute: 600 }) },
            {
              id: 'large',
              agent: scripted(helpers, '-y|'),
              budget: createBudget({ tokensPerMinute: 60_000 }),
            },
          ],
          { strategy: 'ordered' },
        );
        routesOf(
          helpers.hot('-t|', { t: task('t', 1_000) }).pipe(runAgents(agent, fast)),
          routes,
        ).subscribe();
      });
      expect(routes).toEqual(['t:large']);
    });

    it('takes a deployment whose budget has spent its maxTotalCost out of service', () => {
      const routes: string[] = [];
      const warnings: string[] = [];
      createTestScheduler().run((helpers) => {
        const prices = { m: { input: 1_000_000, output: 1_000_000 } };
        const usage: AgentEvent = { type: 'usage', usage: { inputTokens: 1, outputTokens: 1 } };
        const spender = scripted(helpers, { marble: '-u|', values: { u: usage } });
        const budget = createBudget({ maxTotalCost: 1, model: 'm', prices });
        const agent = router({
          deployments: [
            { id: 'capped', agent: spender, budget },
            { id: 'open', agent: scripted(helpers, '-y|') },
          ],
          strategy: 'ordered',
          countTokens: () => 0,
          warn: (message) => warnings.push(message),
        });
        routesOf(
          helpers.hot('-t---u|', { t: task('t', 1), u: task('u', 1) }).pipe(runAgents(agent, fast)),
          routes,
        ).subscribe();
      });
      // t spends $2 of $1 on `capped`; u is refused there and goes on to `open`.
      expect(routes).toEqual(['t:capped', 'u:open']);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/deployment "capped" is out of service until reconfigured/);
    });
  });

  describe('waiting', () => {
    it('waits for the first deployment that can grant, not a fixed one, and leaves the other lines', () => {
      const waiting: number[] = [];
      createTestScheduler().run((helpers) => {
        const { hot, expectObservable } = helpers;
        // Burst buckets: a 1,000 tokens refilled at 1,000/s; b 2,000 refilled at 2,000/s.
        const a = createBudget({ tokensPerMinute: 60_000 });
        const b = createBudget({ tokensPerMinute: 120_000 });
        const { agent } = quietRouter(
          [
            { id: 'a', agent: scripted(helpers, '-x|'), budget: a },
            { id: 'b', agent: scripted(helpers, '-y|'), budget: b },
          ],
          { strategy: 'ordered' },
        );
        a.state$.subscribe((s) => waiting.push(s.waiting));
        const source = hot('-(tuv)|', { t: task('t', 1_000), u: task('u', 2_000), v: task('v', 1_000) });
        // t empties a, u empties b; v waits in both lines, and b has 1,000 tokens again after 500 ms.
        expectObservable(source.pipe(runAgents(agent), map(view), toArray())).toBe('503ms (x|)', {
          x: ['t>', 't@a1', 'u>', 'u@b1', 'v>', 't~x', 'u~y', 't=x#1', 'u=y#1', 'v@b1', 'v~y', 'v=y#1'],
        });
      });
      expect(waiting.at(-1)).toBe(0);
    });

    it('leaves every budget line when the waiting attempt is unsubscribed', () => {
      const states: BudgetState[] = [];
      createTestScheduler().run((helpers) => {
        const a = createBudget({ tokensPerMinute: 60_000 });
        const b = createBudget({ tokensPerMinute: 60_000 });
        const { agent } = quietRouter([
          { id: 'a', agent: scripted(helpers, '-x|'), budget: a },
          { id: 'b', agent: scripted(helpers, '-y|'), budget: b },
        ]);
        const signal = new AbortController().signal;
        agent.run(task('t', 1_000), { signal }).subscribe();
        agent.run(task('u', 1_000), { signal }).subscribe();
        const waiting = agent.run(task('v', 1_000), { signal }).subscribe();
        b.state$.subscribe((s) => states.push(s));
        helpers.cold('---x').subscribe(() => {
          waiting.unsubscribe();
        });
      });
      expect(states[0]?.waiting).toBe(1);
      expect(states.at(-1)?.waiting).toBe(0);
    });

    it('serves fallback deployments only while no primary can', () => {
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const limited = new RateLimitError({ limit: 'tokens', retryAfterMs: 10, status: 429 });
        const { agent } = quietRouter(
          [
            { id: 'spare', agent: scripted(helpers, '-s|'), role: 'fallback' },
            {
              id: 'main',
              agent: marbleAgent(
                helpers,
                { t: [{ marble: '#', error: limited }, '-x|'] },
                { fallback: '-x|' },
              ),
            },
          ],
          { cooldown: { allowedFails: 5 } },
        );
        // t's 429 cools `main` for 10 ms: its retry, and u, go to `spare`; v (after 11) to `main` again.
        routesOf(
          helpers.hot('-t--u--------v|', tasks('tuv')).pipe(runAgents(agent, fast)),
          routes,
        ).subscribe();
      });
      expect(routes).toEqual(['t:main', 't:spare', 'u:spare', 'v:main']);
    });

    it('sends a task naming a model only to deployments that serve it', () => {
      let results: Settled[] = [];
      const routes: string[] = [];
      createTestScheduler().run((helpers) => {
        const { agent } = quietRouter(
          [
            { id: 'mini', agent: scripted(helpers, '-x|'), models: ['gpt-4o-mini'] },
            { id: 'big', agent: scripted(helpers, '-y|'), models: ['gpt-4o'] },
          ],
          { strategy: 'ordered' },
        );
        const source = helpers.hot('-tu|', {
          t: { id: 't', input: 't', params: { model: 'gpt-4o' } },
          u: { id: 'u', input: 'u', params: { model: 'o3' } },
        });
        routesOf(source.pipe(runAgents(agent, fast)), routes)
          .pipe(
            map((e) => e),
            toArray(),
          )
          .subscribe((events) => {
            results = events.flatMap((e) => (e.type === 'settled' ? [e.result] : []));
          });
      });
      expect(routes).toEqual(['t:big']);
      expect(results.find((r) => r.taskId === 'u')).toMatchObject({
        status: 'rejected',
        attempts: 1,
        error: {
          code: 'E_VALIDATION',
          message: expect.stringMatching(/^No deployment serves model "o3"/) as unknown,
        },
      });
    });
  });

  describe('timeouts', () => {
    it('counts an attempt a timeout stopped against its deployment once the task is tried again', () => {
      const routes: string[] = [];
      let a!: MarbleAgent;
      createTestScheduler().run((helpers) => {
        a = scripted(helpers, '-');
        const { agent } = quietRouter(
          [
            { id: 'a', agent: a },
            { id: 'b', agent: scripted(helpers, '-y|') },
          ],
          { strategy: 'ordered', cooldown: { allowedFails: 0, cooldownMs: 100 } },
        );
        routesOf(
          helpers.hot('-t------u|', tasks('tu')).pipe(runAgents(agent, { ...fast, timeoutMs: 3 })),
          routes,
        ).subscribe();
      });
      // t hangs on a and times out at 4; its retry goes to b, and a (no failure allowed) cools: u goes to b.
      expect(routes).toEqual(['t:a', 't:b', 'u:b']);
      expect(a.runs[0]).toMatchObject({ subscribedAt: 1, unsubscribedAt: 4, aborted: true });
    });
  });

  describe('state$', () => {
    it('shows each deployment in flight, its headroom, latency and counts', () => {
      let last: RouterState | undefined;
      const inFlight: number[] = [];
      createTestScheduler().run((helpers) => {
        const { agent } = quietRouter([
          { id: 'a', agent: scripted(helpers, '--x|'), budget: createBudget({ tokensPerMinute: 60_000 }) },
        ]);
        agent.state$.subscribe((s) => {
          last = s;
          inFlight.push(s.deployments[0]!.inFlight);
        });
        helpers.hot('-t|', tasks('t', 250)).pipe(runAgents(agent)).subscribe();
      });
      expect(inFlight).toEqual([0, 1, 0]);
      expect(last).toEqual({
        waiting: 0,
        deployments: [
          {
            id: 'a',
            role: 'primary',
            inFlight: 0,
            headroom: expect.closeTo(0.75, 2) as unknown,
            coolingUntil: null,
            coolingBecause: null,
            attempts: 1,
            fulfilled: 1,
            failed: 0,
            p50LatencyMs: 3,
            ttftMs: 2,
            msPerToken: null,
          },
        ],
      });
    });
  });

  describe('configuration', () => {
    const agent: Agent = { run: () => of<AgentEvent>({ type: 'done', text: '', finishReason: 'stop' }) };
    it.each<[string, unknown, RegExp]>([
      [
        'no deployments',
        { deployments: [] },
        /^Expected `deployments` to be an array of at least one deployment, got an array$/,
      ],
      [
        'a duplicate id',
        {
          deployments: [
            { id: 'a', agent },
            { id: 'a', agent },
          ],
        },
        /^Expected `deployments\[1\]\.id` to be unique, got "a" \(string\), the id of `deployments\[0\]` too$/,
      ],
      [
        'a fallback naming nothing',
        { deployments: [{ id: 'a', agent }], fallbacks: { contextWindow: ['b'] } },
        /^Expected `fallbacks\.contextWindow\[0\]` to be the id of a deployment \("a"\), got "b" \(string\)$/,
      ],
      [
        'a weight of 0',
        { deployments: [{ id: 'a', agent, weight: 0 }] },
        /^Expected `deployments\[0\]\.weight` to be a finite number above 0, got 0 \(number\)$/,
      ],
      [
        'only fallbacks',
        { deployments: [{ id: 'a', agent, role: 'fallback' }] },
        /at least one deployment with `role: 'primary'`/,
      ],
      ['no agent', { deployments: [{ id: 'a' }] }, /^Expected `deployments\[0\]\.agent` to be an Agent/],
      [
        'an empty id',
        { deployments: [{ id: '', agent }] },
        /^Expected `deployments\[0\]\.id` to be a non-empty string, got "" \(string\)$/,
      ],
      [
        'a budget that is not one',
        { deployments: [{ id: 'a', agent, budget: {} }] },
        /^Expected `deployments\[0\]\.budget` to be a Budget/,
      ],
      [
        'an unknown strategy',
        { deployments: [{ id: 'a', agent }], strategy: 'fastest' },
        /^Expected `strategy` to be one of 'most-headroom', /,
      ],
      [
        'a failureRate above 1',
        { deployments: [{ id: 'a', agent }], cooldown: { failureRate: 1.5 } },
        /^Expected `cooldown\.failureRate` to be a number from 0 to 1, got 1\.5 \(number\)$/,
      ],
      [
        'a negative allowedFails',
        { deployments: [{ id: 'a', agent }], cooldown: { allowedFails: -1 } },
        /^Expected `cooldown\.allowedFails` to be an integer from 0 and up/,
      ],
      [
        'an unknown option',
        { deployments: [{ id: 'a', agent }], retries: 2 },
        /^Unknown option `retries` for router/,
      ],
      [
        'an unknown deployment option',
        { deployments: [{ id: 'a', agent, key: 'k' }] },
        /^Unknown option `key` for router `deployments\[0\]`/,
      ],
    ])('throws a TypeError naming the field for %s', (_name, config, message) => {
      expect(() => router(config as RouterConfig)).toThrow(TypeError);
      expect(() => router(config as RouterConfig)).toThrow(message);
    });

    it('refuses to reconfigure a deployment it does not have', () => {
      const r = router({ deployments: [{ id: 'a', agent }] });
      expect(() => {
        r.reconfigure('b');
      }).toThrow(/^Expected `id` to name a deployment \("a"\), got "b" \(string\)$/);
    });

    it('reports the largest output cap of its deployments', () => {
      const r = router({
        deployments: [
          { id: 'a', agent: { ...agent, maxOutputTokens: 256 } },
          { id: 'b', agent: { ...agent, maxOutputTokens: 4096 } },
        ],
      });
      expect(r.maxOutputTokens).toBe(4096);
    });
  });
});
