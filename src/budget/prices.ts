import { createRequire } from 'node:module';
import type { Price } from '../core/usage.js';

// Costing is pure arithmetic every layer may do; the catalog behind `priceOf` stays here.
export { costOf } from '../core/usage.js';
export type { Price } from '../core/usage.js';

// The catalog (pydantic's genai-prices, every major provider's list prices, kept up to date by its
// maintainers) costs ~180 ms and ~16 MB to load, so it is required on the first price asked for rather than
// with rxagent; prices are synchronous, hence not `import()`.
const require = createRequire(import.meta.url);
type Catalog = typeof import('@pydantic/genai-prices');
let catalog: Catalog | undefined;

/** A catalog price: a number, or tiers by context length whose base tier applies below the first. */
function base(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  const tiered = (value as { base?: unknown } | null | undefined)?.base;
  return typeof tiered === 'number' ? tiered : undefined;
}

/**
 * The price of `model` per one million tokens: from `overrides`, else from the genai-prices catalog (the
 * base tier, for models whose price rises with very long contexts); `undefined` for a model neither knows —
 * never a guess. A model id may name its provider (`anthropic:claude-haiku-4-5`).
 *
 * @example
 * priceOf('gpt-4o-mini'); // { input: 0.15, output: 0.6, cachedInput: 0.075 }
 * priceOf('my-model', { 'my-model': { input: 1, output: 2 } });
 */
export function priceOf(model: string, overrides: Readonly<Record<string, Price>> = {}): Price | undefined {
  if (Object.hasOwn(overrides, model)) return overrides[model];
  catalog ??= require('@pydantic/genai-prices') as Catalog;
  const colon = model.indexOf(':');
  const options = colon > 0 ? { providerId: model.slice(0, colon) } : undefined;
  const id = colon > 0 ? model.slice(colon + 1) : model;
  if (id === '') return undefined;
  const found = catalog.calcPrice({ input_tokens: 0, output_tokens: 0 }, id, options);
  if (found === null) return undefined;
  const prices = found.model_price;
  const input = base(prices['input_mtok']);
  const output = base(prices['output_mtok']);
  if (input === undefined || output === undefined) return undefined;
  const cachedInput = base(prices['cache_read_mtok']);
  const cacheWrite = base(prices['cache_write_mtok']);
  return {
    input,
    output,
    ...(cachedInput === undefined ? {} : { cachedInput }),
    ...(cacheWrite === undefined ? {} : { cacheWrite }),
  };
}
