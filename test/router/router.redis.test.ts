// Two routers, as two processes would, share each deployment's budget through redisStore with a key per
// deployment: together they use each deployment's whole limit, and never more.
import { defer, from, of, type Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import type { Agent, AgentEvent, Task } from '../../src/core/types.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { redisStore, type RedisStore } from '../../src/redis/index.js';
import { router, type Router } from '../../src/router/index.js';
import { describeRedis, startRedis, type RedisServer } from '../support/redis-server.js';

/** A provider that counts the requests it admits. */
function provider(): Agent & { admitted: number } {
  const agent = {
    admitted: 0,
    run: (task: Task) =>
      defer(() => {
        agent.admitted++;
        return of<AgentEvent>({ type: 'done', text: task.id, finishReason: 'stop' });
      }),
  };
  return agent;
}

describeRedis('router with redisStore budgets', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.close();
  });

  describe('two processes', () => {
    it('share each deployment’s limit through a key per deployment', async () => {
      const east = provider();
      const west = provider();
      const stores: RedisStore[] = [];
      const processRouter = (): Router => {
        const store = redisStore({ url: server.url });
        stores.push(store);
        // A whole minute of burst: every grant the limit allows comes at once, so the count is exact.
        const budget = (tokensPerMinute: number, key: string) =>
          createBudget({ tokensPerMinute, burst: 60, store, key });
        return router({
          deployments: [
            { id: 'east', agent: east, budget: budget(600, 'router-test:east') },
            { id: 'west', agent: west, budget: budget(300, 'router-test:west') },
          ],
          countTokens: () => 0,
          warn: () => undefined,
        });
      };
      const routers = [processRouter(), processRouter()];
      const subscriptions: Subscription[] = [];
      let settled = 0;
      let allGranted!: () => void;
      // 18 is all the two limits allow in the first minute: the rest wait for the next one.
      const granted = new Promise<void>((resolve) => {
        allGranted = resolve;
      });
      try {
        // 50 tokens a task: east takes 12 a minute and west 6, whichever process asks.
        routers.forEach((agent, p) => {
          const tasks = Array.from({ length: 15 }, (_, i) => ({
            id: `p${p}-${i}`,
            input: 'x',
            maxOutputTokens: 50,
          }));
          subscriptions.push(
            from(tasks)
              .pipe(runAgents(agent, { concurrency: 15 }))
              .subscribe((event) => {
                if (event.type === 'settled' && ++settled === 18) allGranted();
              }),
          );
        });
        await granted;
        expect({ east: east.admitted, west: west.admitted, settled }).toEqual({
          east: 12,
          west: 6,
          settled: 18,
        });
      } finally {
        for (const subscription of subscriptions) subscription.unsubscribe();
        await Promise.all(stores.map((store) => store.close()));
      }
    }, 20_000);
  });
});
