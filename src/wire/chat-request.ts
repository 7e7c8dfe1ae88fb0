import { z, type core } from 'zod';
import type { ChatMessage, ResponseFormat, Task, TaskParams, ToolSpec } from '../core/types.js';

/** What a chat request body gives a task: everything but its id and meta. */
export type ChatRequestTask = Pick<Task, 'input' | 'maxOutputTokens' | 'params'>;

/** The outcome of reading a request body: the task's parts, or the zod issues, with paths in OpenAI's names. */
export type ChatRequestResult =
  | { readonly success: true; readonly data: ChatRequestTask }
  | { readonly success: false; readonly issues: readonly core.$ZodIssue[] };

/** A text content part; other parts (images, audio, files) cannot be sent. */
type TextPart = { readonly type: 'text'; readonly text: string };

/**
 * A message's content: a string, or an array of parts of which only text parts can be sent. Checked by hand
 * so that a refused part is named at its own path, which a union's "Invalid input" would hide.
 */
const ContentSchema = z
  .custom<string | readonly TextPart[]>(() => true)
  .check((ctx) => {
    const content: unknown = ctx.value;
    if (typeof content === 'string') return;
    if (!Array.isArray(content) || content.length === 0) {
      ctx.issues.push({
        code: 'custom',
        input: content,
        message: 'expected a string or an array of content parts',
      });
      return;
    }
    content.forEach((part: unknown, index) => {
      const type = isObject(part) ? part['type'] : undefined;
      if (type === 'text' && typeof (part as { text?: unknown }).text === 'string') return;
      ctx.issues.push({
        code: 'custom',
        input: part,
        path: [index],
        message:
          typeof type === 'string' && type !== 'text'
            ? `\`${type}\` content: rxagent sends text only, so a message with images, audio or files is not run`
            : 'expected a text part, {"type": "text", "text": "…"}',
      });
    });
  });

const ToolCallParamSchema = z.strictObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
});

const MessageSchema = z.discriminatedUnion('role', [
  z.strictObject({ role: z.enum(['system', 'developer']), content: ContentSchema }),
  z.strictObject({ role: z.literal('user'), content: ContentSchema }),
  z.strictObject({
    role: z.literal('assistant'),
    content: ContentSchema.nullish(),
    tool_calls: z.array(ToolCallParamSchema).exactOptional(),
    refusal: z.null().exactOptional(),
  }),
  z.strictObject({ role: z.literal('tool'), content: ContentSchema, tool_call_id: z.string().min(1) }),
]);

const JsonSchemaObject = z.record(z.string(), z.unknown());

const ResponseFormatParamSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string(),
      schema: JsonSchemaObject,
      description: z.string().exactOptional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const ToolParamSchema = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z.string(),
    description: z.string().exactOptional(),
    parameters: JsonSchemaObject.exactOptional(),
    strict: z.boolean().nullish(),
  }),
});

const MaxTokensSchema = z.number().int().positive().nullish();

/** The fields of a chat.completions request body that become the task's own; the rest pass through. */
const ChatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256).exactOptional(),
  messages: z.array(MessageSchema).min(1),
  max_completion_tokens: MaxTokensSchema,
  max_tokens: MaxTokensSchema,
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  response_format: ResponseFormatParamSchema.exactOptional(),
  tools: z.array(ToolParamSchema).min(1).max(128).exactOptional(),
  tool_choice: z
    .union([
      z.enum(['auto', 'none', 'required']),
      z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string().min(1) }) }),
    ])
    .exactOptional(),
});

type ChatRequest = z.infer<typeof ChatRequestSchema>;
type MessageParam = z.infer<typeof MessageSchema>;

/** Read into the task; `stream` and `stream_options` are how the answer travels, and rxagent always streams. */
const CONSUMED = new Set([
  'model',
  'messages',
  'max_completion_tokens',
  'max_tokens',
  'temperature',
  'top_p',
  'stop',
  'seed',
  'response_format',
  'tools',
  'tool_choice',
  'stream',
  'stream_options',
]);

/**
 * Reads an OpenAI chat.completions request body (the `body` of a Batch API line, a line of the cookbook's
 * parallel processor) into the parts of a task: `messages` become the input (`developer` as `system`, text
 * parts joined with a newline, `tool_calls` and `tool_call_id` as `toolCalls` and `toolCallId`),
 * `max_completion_tokens ?? max_tokens` the `maxOutputTokens`, and `model`, `temperature`, `top_p`, `stop`,
 * `seed`, `response_format`, `tools` and `tool_choice` the `params`. Every other field (`n`, `logprobs`,
 * `frequency_penalty`, …) goes to `params.providerOptions.openai` as it is, so an OpenAI model sends it
 * unchanged and any other model refuses it rather than drop it; `stream` and `stream_options` are left out,
 * as rxagent always streams. Images, audio and files cannot be sent and are refused; issue paths start with
 * `path` and use OpenAI's names.
 *
 * @example
 * const r = chatRequestToTask(line.body, ['body']);
 * if (r.success) tasks.push({ id: line.custom_id, ...r.data });
 */
export function chatRequestToTask(body: unknown, path: readonly PropertyKey[] = []): ChatRequestResult {
  const parsed = ChatRequestSchema.safeParse(body);
  if (!parsed.success) {
    return {
      success: false,
      issues: parsed.error.issues.map((issue) => ({ ...issue, path: [...path, ...issue.path] })),
    };
  }
  const request = parsed.data;
  const maxOutputTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const params = paramsOf(request);
  return {
    success: true,
    data: {
      input: request.messages.map(toChatMessage),
      ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
      ...(Object.keys(params).length === 0 ? {} : { params }),
    },
  };
}

function paramsOf(request: ChatRequest): TaskParams {
  const { model, temperature, top_p: topP, seed, stop } = request;
  const rest = Object.fromEntries(Object.entries(request).filter(([key]) => !CONSUMED.has(key)));
  return {
    ...(model === undefined ? {} : { model }),
    ...(temperature == null ? {} : { temperature }),
    ...(topP == null ? {} : { topP }),
    ...(stop == null ? {} : { stop: typeof stop === 'string' ? [stop] : stop }),
    ...(seed == null ? {} : { seed }),
    ...(request.response_format === undefined
      ? {}
      : { responseFormat: responseFormatOf(request.response_format) }),
    ...(request.tools === undefined ? {} : { tools: request.tools.map(toolSpecOf) }),
    ...(request.tool_choice === undefined
      ? {}
      : {
          toolChoice:
            typeof request.tool_choice === 'string'
              ? request.tool_choice
              : { name: request.tool_choice.function.name },
        }),
    ...(Object.keys(rest).length === 0 ? {} : { providerOptions: { openai: rest } }),
  };
}

function responseFormatOf(format: NonNullable<ChatRequest['response_format']>): ResponseFormat {
  if (format.type !== 'json_schema') return { type: format.type };
  const { name, schema, description, strict } = format.json_schema;
  return {
    type: 'json_schema',
    name,
    schema,
    ...(description === undefined ? {} : { description }),
    ...(strict == null ? {} : { strict }),
  };
}

function toolSpecOf(tool: z.infer<typeof ToolParamSchema>): ToolSpec {
  const { name, description, parameters, strict } = tool.function;
  return {
    name,
    ...(description === undefined ? {} : { description }),
    // OpenAI reads a function without `parameters` as one that takes none.
    parameters: parameters ?? { type: 'object', properties: {} },
    ...(strict == null ? {} : { strict }),
  };
}

function toChatMessage(message: MessageParam): ChatMessage {
  switch (message.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: textOf(message.content) };
    case 'user':
      return { role: 'user', content: textOf(message.content) };
    case 'tool':
      return { role: 'tool', content: textOf(message.content), toolCallId: message.tool_call_id };
    case 'assistant': {
      const calls = message.tool_calls ?? [];
      const content = message.content == null ? '' : textOf(message.content);
      if (calls.length === 0) return { role: 'assistant', content };
      return {
        role: 'assistant',
        content,
        toolCalls: calls.map((call) => ({
          id: call.id,
          name: call.function.name,
          arguments: call.function.arguments,
        })),
      };
    }
  }
}

function textOf(content: string | readonly TextPart[]): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('\n');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
