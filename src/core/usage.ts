import type { Usage } from './types.js';

/** The usage of a run that used nothing (a task that never ran, a tool without a model). */
export const NO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0 });

/** Input plus output tokens of a usage, 0 when there is none: what per-minute token limits count. */
export function usageTokens(usage: Usage | undefined): number {
  return usage === undefined ? 0 : usage.inputTokens + usage.outputTokens;
}

/**
 * The sum of two usages; `cost` is present when either has one.
 *
 * @example
 * addUsage({ inputTokens: 3, outputTokens: 5 }, { inputTokens: 1, outputTokens: 2, cost: 0.01 });
 * // { inputTokens: 4, outputTokens: 7, cost: 0.01 }
 */
export function addUsage(a: Usage, b: Usage): Usage {
  const cost = a.cost === undefined && b.cost === undefined ? undefined : (a.cost ?? 0) + (b.cost ?? 0);
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    ...(cost === undefined ? {} : { cost }),
  };
}
