import { z } from 'zod';
import { ValidationError } from './errors/index.js';
import type { ChatMessage, ResponseFormat, Task, TaskParams, ToolCall, ToolSpec, Usage } from './types.js';

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

const JsonSchemaObject = z.record(z.string(), z.unknown());

/** A tool a model may call, described by JSON Schema. */
export const ToolSpecSchema = z.strictObject({
  name: z
    .string()
    .regex(
      /^[a-zA-Z0-9_-]{1,64}$/,
      'a tool name is 1 to 64 letters, digits, `_` or `-`, as providers require',
    ),
  description: z.string().exactOptional(),
  parameters: JsonSchemaObject,
  strict: z.boolean().exactOptional(),
});

/** The shape of an answer. */
export const ResponseFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
    schema: JsonSchemaObject,
    description: z.string().exactOptional(),
    strict: z.boolean().exactOptional(),
  }),
]);

/** Per-task request parameters. The output cap is the task's `maxOutputTokens`, not a parameter. */
export const TaskParamsSchema = z.strictObject({
  model: z.string().min(1).max(256).exactOptional(),
  temperature: z.number().min(0).max(2).exactOptional(),
  topP: z.number().min(0).max(1).exactOptional(),
  stop: z.array(z.string().min(1)).min(1).max(4).exactOptional(),
  seed: z.number().int().exactOptional(),
  responseFormat: ResponseFormatSchema.exactOptional(),
  tools: z.array(ToolSpecSchema).min(1).max(128).exactOptional(),
  toolChoice: z
    .union([z.enum(['auto', 'none', 'required']), z.strictObject({ name: z.string().min(1) })])
    .exactOptional(),
  providerOptions: z.record(z.string(), z.record(z.string(), z.unknown())).exactOptional(),
});

/** A task arriving from outside: a JSONL line, a WebSocket frame, a Redis entry. Unknown keys are refused. */
export const TaskSchema = z.strictObject({
  id: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(ChatMessageSchema).min(1)]),
  maxOutputTokens: z.number().int().positive().exactOptional(),
  priority: z.number().exactOptional(),
  meta: z.unknown().exactOptional(),
  params: TaskParamsSchema.exactOptional(),
});

/** Token usage of one run. */
export const UsageSchema = z.strictObject({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  cachedInputTokens: z.number().int().nonnegative().exactOptional(),
  cacheWriteTokens: z.number().int().nonnegative().exactOptional(),
  reasoningTokens: z.number().int().nonnegative().exactOptional(),
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
export type _TaskParamsMatches = Assignable<z.infer<typeof TaskParamsSchema>, TaskParams>;
export type _ToolSpecMatches = Assignable<z.infer<typeof ToolSpecSchema>, ToolSpec>;
export type _ResponseFormatMatches = Assignable<z.infer<typeof ResponseFormatSchema>, ResponseFormat>;
