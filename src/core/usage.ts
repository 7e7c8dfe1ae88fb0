import type { Usage } from './types.js';

/** The usage of a run that used nothing (a task that never ran, a tool without a model). */
export const NO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0 });

/** Input plus output tokens of a usage, 0 when there is none: what per-minute token limits count. */
export function usageTokens(usage: Usage | undefined): number {
  return usage === undefined ? 0 : usage.inputTokens + usage.outputTokens;
}

/**
 * The sum of two usages; `cost` and the cache and reasoning counts are present when either has them.
 *
 * @example
 * addUsage({ inputTokens: 3, outputTokens: 5 }, { inputTokens: 1, outputTokens: 2, cost: 0.01 });
 * // { inputTokens: 4, outputTokens: 7, cost: 0.01 }
 */
export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    ...sum('cachedInputTokens', a, b),
    ...sum('cacheWriteTokens', a, b),
    ...sum('reasoningTokens', a, b),
    ...sum('cost', a, b),
  };
}

type Optional = 'cachedInputTokens' | 'cacheWriteTokens' | 'reasoningTokens' | 'cost';

function sum<K extends Optional>(key: K, a: Usage, b: Usage): Partial<Record<K, number>> {
  const x = a[key];
  const y = b[key];
  if (x === undefined && y === undefined) return {};
  return { [key]: (x ?? 0) + (y ?? 0) } as Partial<Record<K, number>>;
}

/**
 * Dollars per one million tokens. Cached input tokens are billed at `cachedInput` and tokens written to the
 * cache at `cacheWrite` when given, else at `input`; reasoning tokens are output tokens.
 */
export interface Price {
  readonly input: number;
  readonly output: number;
  readonly cachedInput?: number;
  readonly cacheWrite?: number;
}

/**
 * Dollars a run costs at `price`: uncached input, cache reads and cache writes each at their own rate, and
 * output (reasoning included).
 *
 * @example
 * costOf({ input: 0.15, output: 0.6 }, { inputTokens: 1_000, outputTokens: 500 }); // 0.00045
 */
export function costOf(
  price: Price,
  usage: Pick<Usage, 'inputTokens' | 'outputTokens' | 'cachedInputTokens' | 'cacheWriteTokens'>,
): number {
  const cached = usage.cachedInputTokens ?? 0;
  const written = usage.cacheWriteTokens ?? 0;
  const uncached = Math.max(0, usage.inputTokens - cached - written);
  return (
    (uncached * price.input +
      cached * (price.cachedInput ?? price.input) +
      written * (price.cacheWrite ?? price.input) +
      usage.outputTokens * price.output) /
    1_000_000
  );
}
