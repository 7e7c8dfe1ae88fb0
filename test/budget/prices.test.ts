// Prices come from the genai-prices catalog (list prices in dollars per 1M tokens, as published by each
// provider); an unknown model has none, and usage is priced with cache reads and writes at their own rates.
import { describe, expect, it } from 'vitest';
import { costOf, priceOf } from '../../src/budget/prices.js';

describe('priceOf', () => {
  it('takes overrides first, then the catalog, else undefined — never a guess', () => {
    expect(priceOf('gpt-4o', { 'gpt-4o': { input: 1, output: 2 } })).toEqual({ input: 1, output: 2 });
    expect(priceOf('gpt-4o-mini')).toEqual({ input: 0.15, output: 0.6, cachedInput: 0.075 });
    expect(priceOf('claude-haiku-4-5')).toEqual({ input: 1, output: 5, cachedInput: 0.1, cacheWrite: 1.25 });
    // Prices that rise past a context length: the base tier.
    expect(priceOf('anthropic:claude-sonnet-4-5')).toEqual({
      input: 3,
      output: 15,
      cachedInput: 0.3,
      cacheWrite: 3.75,
    });
    expect(priceOf('no-such-model')).toBeUndefined();
    expect(priceOf('toString')).toBeUndefined();
    expect(priceOf('anthropic:')).toBeUndefined();
  });
});

describe('costOf', () => {
  it('prices uncached input, cache reads, cache writes and output each at their rate', () => {
    expect(
      costOf({ input: 0.15, output: 0.6 }, { inputTokens: 1_000_000, outputTokens: 500_000 }),
    ).toBeCloseTo(0.45);
    const sonnet = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75 };
    // 9,632 input tokens of which 6,289 read from and 3,337 written to the cache (the AI SDK's recorded
    // Anthropic prompt-cache stream), 100 output tokens.
    const usage = {
      inputTokens: 9_632,
      cachedInputTokens: 6_289,
      cacheWriteTokens: 3_337,
      outputTokens: 100,
    };
    expect(costOf(sonnet, usage)).toBeCloseTo((6 * 3 + 6_289 * 0.3 + 3_337 * 3.75 + 100 * 15) / 1e6, 12);
    // Without cache rates, cached tokens cost what input costs.
    expect(costOf({ input: 1, output: 1 }, usage)).toBeCloseTo((9_632 + 100) / 1e6, 12);
  });
});
