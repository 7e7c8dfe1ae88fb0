import { z } from 'zod';
import { ValidationError } from './errors/index.js';
import type { ChatMessage, Task, ToolCall, Usage } from './types.js';

/** A tool call as a model produced it. */
export const ToolCallSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});

/** One chat message. */
export const ChatMessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  toolCallId: z.string().exactOptional(),
  toolCalls: z.array(ToolCallSchema).exactOptional(),
});

/** A task arriving from outside: a JSONL line, a WebSocket frame, a Redis entry. Unknown keys are refused. */
export const TaskSchema = z.strictObject({
  id: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(ChatMessageSchema).min(1)]),
  maxOutputTokens: z.number().int().positive().exactOptional(),
  priority: z.number().exactOptional(),
  meta: z.unknown().exactOptional(),
});

/** Token usage of one run. */
export const UsageSchema = z.strictObject({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  cost: z.number().nonnegative().exactOptional(),
});

/** The outcome of parsing outside input: expected failures are values, not exceptions. */
export type ParseResult<T> = { success: true; data: T } | { success: false; error: ValidationError };

/**
 * Checks a task that came from outside.
 *
 * @example
 * const r = parseTask(JSON.parse(line), 'line 3');
 * if (!r.success) console.error(r.error.message);
 */
export function parseTask(input: unknown, source?: string): ParseResult<Task> {
  const result = TaskSchema.safeParse(input);
  if (result.success) return { success: true, data: result.data };
  const where = source === undefined ? '' : ` (${source})`;
  return {
    success: false,
    error: new ValidationError({
      issues: result.error.issues,
      ...(source === undefined ? {} : { source }),
      message: `Invalid task${where}: ${z.prettifyError(result.error)}`,
    }),
  };
}

// The schemas and the hand-written interfaces must agree; these lines fail to compile when they drift.
type Assignable<A extends B, B> = A;
export type _TaskMatches = Assignable<z.infer<typeof TaskSchema>, Task>;
export type _ChatMessageMatches = Assignable<z.infer<typeof ChatMessageSchema>, ChatMessage>;
export type _ToolCallMatches = Assignable<z.infer<typeof ToolCallSchema>, ToolCall>;
export type _UsageMatches = Assignable<z.infer<typeof UsageSchema>, Usage>;
