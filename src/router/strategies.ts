import { priceOf, type Price } from '../budget/prices.js';
import type { Task } from '../core/types.js';
import type { RouterStrategy } from './config.js';
import type { Deployment } from './deployment.js';

/** What a strategy may weigh besides the deployments themselves. */
export interface RankContext {
  readonly task: Task;
  /** The task's estimated input tokens, and the output a deployment reserves for it. */
  readonly inputTokens: () => number;
  readonly outputTokens: (deployment: Deployment) => number;
  /** Output tokens of a typical answer, for the per-token part of a latency estimate. */
  readonly typicalOutputTokens: number;
  readonly random: () => number;
  readonly priceOf: (deployment: Deployment, model: string | undefined) => Price | undefined;
}

/**
 * Orders `candidates` best first by `strategy`; equally good ones keep their order in `deployments`. The
 * router asks their budgets in this order, so the best of those that can grant at once gets the attempt.
 */
export function rank(
  strategy: RouterStrategy,
  candidates: readonly Deployment[],
  context: RankContext,
): Deployment[] {
  if (candidates.length < 2) return [...candidates];
  const by = (score: (d: Deployment) => number): Deployment[] =>
    candidates
      .map((d) => ({ d, score: score(d) }))
      .sort((a, b) => a.score - b.score || a.d.order - b.d.order)
      .map(({ d }) => d);
  switch (strategy) {
    case 'ordered':
      return by(() => 0);
    case 'most-headroom':
      return by((d) => -d.headroom);
    case 'least-busy':
      return by((d) => d.inFlight);
    case 'lowest-latency':
      // Not yet measured scores 0, so every deployment is tried before the estimates decide.
      return by((d) => (d.ttft.value ?? 0) + (d.msPerToken.value ?? 0) * context.typicalOutputTokens);
    case 'lowest-cost': {
      const model = context.task.params?.model;
      return by((d) => {
        const price = context.priceOf(d, model);
        if (price === undefined) return Number.POSITIVE_INFINITY;
        return context.inputTokens() * price.input + context.outputTokens(d) * price.output;
      });
    }
    case 'weighted':
      // Efraimidis–Spirakis: sorting by u^(1/w) draws an order in which each comes first in proportion to w.
      return by((d) => -(context.random() ** (1 / d.weight)));
  }
}

/** A price cache for `'lowest-cost'`: the deployment's own, else the catalog's for its model or the task's. */
export function pricing(): (deployment: Deployment, model: string | undefined) => Price | undefined {
  const cache = new Map<string, Price | undefined>();
  return (deployment, taskModel) => {
    if (deployment.price !== undefined) return deployment.price;
    const model = deployment.model ?? taskModel;
    if (model === undefined) return undefined;
    if (!cache.has(model)) cache.set(model, priceOf(model));
    return cache.get(model);
  };
}
