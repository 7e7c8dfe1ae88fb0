import type { Observable } from 'rxjs';
import type { Agent } from '../core/types.js';
import { resolveRouterConfig, type RouterConfig } from './config.js';
import { RouterEngine, type DeploymentChanges, type RouterState } from './router-engine.js';

/** The agent `router` returns: an `Agent` over many deployments, with their state and a way back into service. */
export interface Router extends Agent {
  /** Per deployment: in flight, headroom, cooldown, latency, counts; on every routing change, the latest first. */
  readonly state$: Observable<RouterState>;
  /** The largest output cap of the deployments' agents (1,024 for one that names none). */
  readonly maxOutputTokens: number;
  /**
   * Puts deployment `id` back in service, with a new `agent` or `budget` when given, and forgets its failures:
   * after a 401 once its key is fixed, or to end a cooldown early. Throws `TypeError` for an unknown id.
   */
  reconfigure(id: string, changes?: DeploymentChanges): void;
}

/**
 * Spreads attempts over several deployments (API keys, regions, providers) as one `Agent`, so `runAgents`,
 * `pool`, `AgentPool`, `agentLoop`, `dag` and the gateway work with it unchanged. Each attempt (each `run`
 * call: the pool retries by calling `run` again) goes to a deployment that can serve the task's model, is in
 * service, and whose budget grants it: the strategy's best of those that can at once, else the first that
 * can. Every task settles exactly once, whichever deployments it went through.
 *
 * ```
 * task t:   -t-------------------
 * east:     -t#                    attempt 1 fails (5xx): counted against east
 * west:     ----t--x--|            attempt 2, the pool's retry, goes where t has not failed
 * events:   -a-r-b-x--S            a route east #1, r retry, b route west #2, x delta, S settled (2 attempts)
 * ```
 *
 * - A retryable failure (429, 5xx, a timeout, a cut stream) counts against its deployment, and the task's
 *   next attempt goes to another deployment while one can serve. More than `allowedFails` failures within
 *   `windowMs`, if they are also `failureRate` of its attempts there, cool a deployment for `cooldownMs`,
 *   or for a 429's `retryAfterMs` when longer; any 429 cools it at least for its `retryAfterMs`, and pauses
 *   its budget only. A 429 comes out of the router with the `retryAfterMs` of the router as a whole: 0
 *   while another deployment can serve.
 * - A deployment that cannot serve anyone (401, 403, `insufficient_quota`, a 429 the provider says not to
 *   retry, its budget's `maxTotalCost` spent) is out of service until `reconfigure`, said once through `warn`; one that cannot serve this task
 *   (a request larger than its limit, parameters its model does not take) is skipped for it; a prompt too
 *   long for the context window or refused for its content goes to `fallbacks.contextWindow` /
 *   `fallbacks.contentPolicy`, in their order. These move the task within the same `run`, with a `retry`
 *   notice (`delayMs: 0`), unless output already went out.
 * - `role: 'fallback'` deployments serve only when no primary can. Cooldowns hold across retries and
 *   fallbacks alike.
 * - Each attempt emits `{ type: 'route', deployment, attempt }` before its events; the pool passes it on as
 *   a task event, and the gateway and dashboard show it. `attempt` counts every attempt of the task, so the
 *   last `route` before `settled` names where it ended, and the `retry` notices say why it moved.
 * - What the router knows of a task (where it failed, where it cannot go) is kept by the task object the
 *   pool hands to each attempt, and let go with it.
 * - An attempt stopped from outside (a `timeoutWith` or `runAgents` timeout) counts against its deployment
 *   once the task is tried again. Each deployment's budget reserves the task's input (`countTokens`) plus
 *   its output cap; a timeout around the router also counts the wait for a deployment.
 *
 * Bad configuration (no deployments, a duplicate id, a fallback that names no deployment, a weight ≤ 0,
 * only fallbacks) throws a `TypeError` naming the field.
 *
 * @example
 * const agent = router({
 *   deployments: [
 *     { id: 'east', agent: simulatedModel({ seed: 1 }), budget: createBudget({ tokensPerMinute: 90_000 }) },
 *     { id: 'west', agent: simulatedModel({ seed: 2 }), budget: createBudget({ tokensPerMinute: 60_000 }) },
 *     { id: 'spare', agent: simulatedModel({ seed: 3 }), role: 'fallback' },
 *   ],
 *   strategy: 'most-headroom',
 *   cooldown: { allowedFails: 3, windowMs: 60_000, cooldownMs: 30_000 },
 * });
 * from(tasks).pipe(runAgents(agent, { concurrency: 32 })).subscribe();
 * agent.state$.subscribe((s) => console.log(s.deployments.map((d) => `${d.id} ${d.inFlight}`).join(' · ')));
 */
export function router(config: RouterConfig): Router {
  const engine = new RouterEngine(resolveRouterConfig(config));
  return {
    run: (task, context) => engine.run(task, context),
    get maxOutputTokens(): number {
      return engine.maxOutputTokens;
    },
    state$: engine.state$,
    reconfigure: (id, changes) => {
      engine.reconfigure(id, changes);
    },
  };
}
