import { createRequire } from 'node:module';
import type { ChatMessage, Task } from '../core/types.js';

// gpt-tokenizer's encoding costs ~75 MB and ~300 ms to load, so it is required on the first estimate rather
// than with rxagent (estimates are synchronous, hence not `import()`).
const require = createRequire(import.meta.url);
let encode: ((text: string) => readonly number[]) | undefined;

/** Output tokens reserved for a task that sets no `maxOutputTokens` and no `defaultMaxOutputTokens`. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 1024;

// OpenAI's documented chat accounting: each message adds 3 tokens of framing, the reply is primed with 3.
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

/** Options of {@link estimateTokens}. */
export interface EstimateOptions {
  /** Output tokens to reserve when the task sets no `maxOutputTokens`. @defaultValue 1024 */
  readonly defaultMaxOutputTokens?: number;
  /**
   * Counts the tokens of a text. Pass the provider's own counting when it differs from the o200k
   * tokenizer (such as `ceil(characters / 4)`), so the budget charges what the provider charges.
   * @defaultValue `encode(text).length` with gpt-tokenizer's o200k_base encoding
   */
  readonly countTokens?: (text: string) => number;
}

function tokenizerCount(text: string): number {
  encode ??= (require('gpt-tokenizer') as typeof import('gpt-tokenizer')).encode;
  return encode(text).length;
}

function countMessage(message: ChatMessage, count: (text: string) => number): number {
  const calls = (message.toolCalls ?? []).reduce((sum, c) => sum + count(c.name) + count(c.arguments), 0);
  return PER_MESSAGE + count(message.content) + calls;
}

/**
 * The tokens a run of `task` will be charged at most: its input counted with a real tokenizer, plus the
 * output it may produce (`task.maxOutputTokens`, else `defaultMaxOutputTokens`, else 1024). Providers
 * charge rate limits this way at admission, so it is what `throttleBudget` reserves.
 *
 * @example
 * const cost = estimateTokens({ input: 'Summarise this', maxOutputTokens: 200 }); // 204
 * tasks$.pipe(pool((task, ctx) => agent.run(task, ctx).pipe(throttleBudget(budget, { cost: estimateTokens(task) }))));
 */
export function estimateTokens(
  task: Pick<Task, 'input' | 'maxOutputTokens'>,
  options: EstimateOptions = {},
): number {
  const count = options.countTokens ?? tokenizerCount;
  const input =
    typeof task.input === 'string'
      ? count(task.input)
      : task.input.reduce((sum, m) => sum + countMessage(m, count), REPLY_PRIMING);
  return input + (task.maxOutputTokens ?? options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS);
}
