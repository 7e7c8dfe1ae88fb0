import { costOf } from '../budget/prices.js';
import type { Price } from '../budget/prices.js';
import type { AllSettled } from '../operators/all-settled.js';
import { NO_USAGE, addUsage } from '../core/usage.js';
import type { Usage } from '../core/types.js';

/** What the summary knows beyond the settled results. */
export interface SummaryExtras {
  /** The price of the model, for usage the provider did not price. */
  readonly price?: Price | undefined;
  /** Time the tasks spent waiting for the budget (from `admitted` events): neither the model's nor saved. */
  readonly budgetWaitMs?: number | undefined;
}

/** Kinds of failure listed with their message; the rest are counted in one line. */
const KINDS_SHOWN = 5;
/** Task ids named as examples of each kind. */
const EXAMPLES = 3;

/**
 * The end-of-run summary: outcomes by error code, then each distinct failure with its message, how many met
 * it and which tasks (a few), tokens, cost (the usage's own, else priced with `price`), and the wall time
 * against running the same tasks one after another (the sum of their durations, less their budget waits),
 * when any task succeeded.
 *
 * @example
 * formatSummary(all, 1200, { price: priceOf('gpt-4o-mini') });
 * // '18/20 completed: 18 fulfilled, 2 rejected (E_TIMEOUT ×2)\n  E_TIMEOUT ×2: … (tasks q3, q9)\ntokens: …\n'
 */
export function formatSummary(all: AllSettled<unknown>, wallMs: number, extras: SummaryExtras = {}): string {
  const { price } = extras;
  const byCode = new Map<string, number>();
  const kinds = new Map<string, { count: number; examples: string[] }>();
  let usage: Usage = NO_USAGE;
  let cost = 0;
  let sequentialMs = 0;
  for (const result of all.results) {
    sequentialMs += result.durationMs;
    if (result.usage !== undefined) {
      usage = addUsage(usage, result.usage);
      cost += result.usage.cost ?? (price === undefined ? 0 : costOf(price, result.usage));
    }
    if (result.status === 'fulfilled') continue;
    const { code } = result.error;
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    // Messages name their task; without it, tasks that failed the same way read the same.
    const key = `${code}: ${clip(oneLine(result.error.message.replaceAll(JSON.stringify(result.taskId), '"…"')))}`;
    const kind = kinds.get(key) ?? { count: 0, examples: [] };
    kind.count++;
    if (kind.examples.length < EXAMPLES) kind.examples.push(result.taskId);
    kinds.set(key, kind);
  }
  const codes = [...byCode].map(([code, n]) => `${code} ×${n}`).join(', ');
  const priced = price !== undefined || all.results.some((r) => r.usage?.cost !== undefined);
  const lines = [
    `${all.summary}: ${all.fulfilled} fulfilled, ${all.rejected} rejected${codes === '' ? '' : ` (${codes})`}`,
    ...failureLines(kinds),
    `tokens: ${tokens(usage)}; cost ${priced ? `$${cost.toFixed(4)}` : 'not priced'}`,
  ];
  const modelMs = sequentialMs - (extras.budgetWaitMs ?? 0);
  if (all.fulfilled > 0 && wallMs > 0) {
    lines.push(
      `wall time ${seconds(wallMs)} against ${seconds(modelMs)} one after another (${(modelMs / wallMs).toFixed(1)}× faster)`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `  E_PROVIDER ×3: Provider answered 401: Incorrect API key provided. (tasks a, b, c)`, most frequent first. */
function failureLines(kinds: Map<string, { count: number; examples: string[] }>): string[] {
  const sorted = [...kinds].sort(([, a], [, b]) => b.count - a.count);
  const lines = sorted.slice(0, KINDS_SHOWN).map(([key, { count, examples }]) => {
    const [code, ...message] = key.split(': ');
    const more = count > examples.length ? ', …' : '';
    return `  ${code} ×${count}: ${message.join(': ')} (task${count > 1 ? 's' : ''} ${examples.join(', ')}${more})`;
  });
  const rest = sorted.slice(KINDS_SHOWN);
  if (rest.length > 0) {
    const count = rest.reduce((sum, [, kind]) => sum + kind.count, 0);
    lines.push(`  … and ${count} more failure(s) of ${rest.length} other kind(s): see the results file`);
  }
  return lines;
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

/** A zod report spans lines; a summary or a stderr note gets one line per failure. */
export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(' ');
}

/** Long provider messages (a whole HTML error page) are cut; the results file keeps them whole. */
function clip(message: string, max = 240): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}
