import { costOf } from '../budget/prices.js';
import type { Price } from '../budget/prices.js';
import type { AllSettled } from '../operators/all-settled.js';
import { NO_USAGE, addUsage } from '../core/usage.js';
import type { Usage } from '../core/types.js';

/**
 * The end-of-run summary: outcomes by error code, tokens, cost (the usage's own, else priced with `price`),
 * and the wall time against running the same tasks one after another (the sum of their durations).
 *
 * @example
 * formatSummary(all, 1200, priceOf('gpt-4o-mini'));
 * // '18/20 completed: 18 fulfilled, 2 rejected (E_TIMEOUT ×2)\ntokens: …\nwall time 1.2s against 9.8s …\n'
 */
export function formatSummary(all: AllSettled<unknown>, wallMs: number, price?: Price): string {
  const byCode = new Map<string, number>();
  let usage: Usage = NO_USAGE;
  let cost = 0;
  let sequentialMs = 0;
  for (const result of all.results) {
    sequentialMs += result.durationMs;
    if (result.usage !== undefined) {
      usage = addUsage(usage, result.usage);
      cost += result.usage.cost ?? (price === undefined ? 0 : costOf(price, result.usage));
    }
    if (result.status === 'rejected') byCode.set(result.error.code, (byCode.get(result.error.code) ?? 0) + 1);
  }
  const codes = [...byCode].map(([code, n]) => `${code} ×${n}`).join(', ');
  const priced = price !== undefined || all.results.some((r) => r.usage?.cost !== undefined);
  const speedUp = wallMs > 0 ? `${(sequentialMs / wallMs).toFixed(1)}×` : 'n/a';
  const lines = [
    `${all.summary}: ${all.fulfilled} fulfilled, ${all.rejected} rejected${codes === '' ? '' : ` (${codes})`}`,
    `tokens: ${tokens(usage)}; cost ${priced ? `$${cost.toFixed(4)}` : 'not priced'}`,
    `wall time ${seconds(wallMs)} against ${seconds(sequentialMs)} one after another (${speedUp} faster)`,
  ];
  return `${lines.join('\n')}\n`;
}

/** `1200 in (800 cached, 100 written to cache), 300 out (120 reasoning)`, each part only when known. */
function tokens(usage: Usage): string {
  const input = [
    usage.cachedInputTokens === undefined ? '' : `${usage.cachedInputTokens} cached`,
    usage.cacheWriteTokens === undefined ? '' : `${usage.cacheWriteTokens} written to cache`,
  ].filter((part) => part !== '');
  const reasoning = usage.reasoningTokens === undefined ? '' : ` (${usage.reasoningTokens} reasoning)`;
  const cached = input.length === 0 ? '' : ` (${input.join(', ')})`;
  return `${usage.inputTokens} in${cached}, ${usage.outputTokens} out${reasoning}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
