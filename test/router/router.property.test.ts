// The router's invariants over random deployments (limits, failure rates, 429 storms, bad keys), strategies
// and cancellations, in virtual time against simulated providers that count what they admit: every task
// settles exactly once; no provider's 60 s window ever holds more than its limit, and none answers 429 for
// it; and no attempt starts on a deployment while it is in cooldown.
import fc from 'fast-check';
import { VirtualTimeScheduler, defer, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { ProviderError, RateLimitError } from '../../src/core/errors/index.js';
import type { Agent, TaskEvent } from '../../src/core/types.js';
import { simulatedModel, type SimulatedAgent } from '../../src/models/simulated.js';
import { countTokens } from '../../src/models/simulated-text.js';
import type { AdmittedRequest } from '../../src/models/simulated-window.js';
import { poolEngine } from '../../src/operators/internal/pool-engine.js';
import { runAgentsOptions } from '../../src/operators/run-agents.js';
import { arrivals, cancels, type Arrival } from '../support/arrivals.js';
import { router, type RouterStrategy } from '../../src/router/index.js';

const MINUTE = 60_000;

type Fault = 'none' | 'storm' | 'auth';

const workload = fc.record({
  strategy: fc.constantFrom<RouterStrategy>(
    'most-headroom',
    'least-busy',
    'lowest-latency',
    'lowest-cost',
    'weighted',
    'ordered',
  ),
  deployments: fc.array(
    fc.record({
      tokensPerMinute: fc.integer({ min: 1_500, max: 20_000 }),
      errorRate: fc.constantFrom(0, 0, 0.1, 0.3, 0.6),
      hangRate: fc.constantFrom(0, 0, 0.05),
      fault: fc.constantFrom<Fault>('none', 'none', 'none', 'storm', 'auth'),
      fallback: fc.boolean(),
      price: fc.integer({ min: 1, max: 10 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  cooldown: fc.record({
    allowedFails: fc.integer({ min: 0, max: 4 }),
    windowMs: fc.integer({ min: 1_000, max: 60_000 }),
    cooldownMs: fc.integer({ min: 0, max: 20_000 }),
  }),
  tasks: fc.array(
    fc.record({
      gap: fc.integer({ min: 0, max: 3_000 }),
      words: fc.integer({ min: 1, max: 200 }),
      maxOutputTokens: fc.integer({ min: 20, max: 400 }),
      cancelAfter: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 25 },
  ),
  concurrency: fc.integer({ min: 1, max: 8 }),
  seed: fc.integer({ min: 0, max: 1_000 }),
});

/** The most tokens any 60 s window of admissions holds. */
function busiestMinute(admitted: readonly AdmittedRequest[]): number {
  let max = 0;
  let sum = 0;
  let tail = 0;
  for (const entry of admitted) {
    sum += entry.tokens;
    while ((admitted[tail] as AdmittedRequest).at + MINUTE <= entry.at)
      sum -= (admitted[tail++] as AdmittedRequest).tokens;
    max = Math.max(max, sum);
  }
  return max;
}

/** A deployment that answers 429 from `from` for a minute, then behaves as `model`. */
function storm(model: Agent, scheduler: VirtualTimeScheduler, from: number): Agent {
  return {
    maxOutputTokens: model.maxOutputTokens ?? 512,
    run: (task, context) =>
      defer(() => {
        const now = scheduler.now();
        if (now >= from && now < from + MINUTE) {
          return throwError(
            () => new RateLimitError({ limit: 'requests', retryAfterMs: 2_000, status: 429 }),
          );
        }
        return model.run(task, context);
      }),
  };
}

describe('router (property)', () => {
  it('settles every task once, keeps every provider within its limit, and never starts an attempt on a cooling deployment', () => {
    fc.assert(
      fc.property(workload, (w) => {
        const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
        const models: SimulatedAgent[] = [];
        const ids = w.deployments.map((_d, i) => `d${i}`);
        const deployments = w.deployments.map((d, i) => {
          const model = simulatedModel({
            seed: w.seed + i,
            scheduler,
            latency: { minMs: 100, maxMs: 800 },
            tokensPerSecond: 80,
            rateLimit: { tokensPerMinute: d.tokensPerMinute },
            failures: { errorRate: d.errorRate, hangRate: d.hangRate, status: 503 },
          });
          models.push(model);
          const denied: Agent = {
            run: () => throwError(() => new ProviderError({ status: 401, message: 'Incorrect API key' })),
          };
          const agent =
            d.fault === 'storm' ? storm(model, scheduler, 5_000) : d.fault === 'auth' ? denied : model;
          return {
            id: ids[i] as string,
            agent,
            budget: createBudget({ tokensPerMinute: d.tokensPerMinute, scheduler }),
            role: i > 0 && d.fallback ? ('fallback' as const) : ('primary' as const),
            price: { input: d.price, output: d.price * 4 },
          };
        });
        const agent = router({
          deployments,
          strategy: w.strategy,
          cooldown: w.cooldown,
          countTokens,
          random: (() => {
            let seed = w.seed + 1;
            return () => {
              seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
              return seed / 2 ** 31;
            };
          })(),
          warn: () => undefined,
          scheduler,
        });

        // The cooling state of each deployment as the router publishes it, and every route against it.
        const cooling = new Map<string, number | null>();
        const violations: string[] = [];
        agent.state$.subscribe((state) => {
          for (const d of state.deployments) cooling.set(d.id, d.coolingUntil);
        });

        let at = 0;
        const schedule: Arrival[] = w.tasks.map((t, i) => {
          at += t.gap;
          return {
            task: { id: `t${i}`, input: 'word '.repeat(t.words), maxOutputTokens: t.maxOutputTokens },
            at,
            cancelAt: t.cancelAfter === undefined ? undefined : at + t.cancelAfter,
          };
        });
        const options = runAgentsOptions(agent, {
          concurrency: w.concurrency,
          timeoutMs: 20_000,
          retry: { maxRetries: 4, baseDelayMs: 200, scheduler },
          scheduler,
        });
        const settled = new Map<string, number>();
        let completed = false;
        poolEngine(arrivals(scheduler, schedule), {
          ...options,
          cancel: cancels(scheduler, schedule),
        }).subscribe({
          next: (event: TaskEvent) => {
            if (event.type === 'settled') settled.set(event.taskId, (settled.get(event.taskId) ?? 0) + 1);
            if (event.type === 'route') {
              const until = cooling.get(event.deployment);
              if (until !== null && until !== undefined && scheduler.now() < until) {
                violations.push(
                  `${event.taskId} to ${event.deployment} at ${scheduler.now()}, cooling until ${until}`,
                );
              }
            }
          },
          complete: () => {
            completed = true;
          },
        });
        scheduler.flush();

        expect(completed).toBe(true);
        expect([...settled.values()].every((n) => n === 1)).toBe(true);
        expect(settled.size).toBe(schedule.length);
        expect(violations).toEqual([]);
        models.forEach((model, i) => {
          const limit = w.deployments[i]!.tokensPerMinute;
          expect(busiestMinute(model.stats.admitted)).toBeLessThanOrEqual(limit);
          expect(model.stats.rateLimited).toBe(0);
        });
      }),
      { numRuns: 150 },
    );
  });
});
