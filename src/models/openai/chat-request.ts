import type { ResponseFormat, Task, TaskParams, ToolSpec } from '../../core/types.js';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { ValidationError } from '../../core/errors/index.js';
import type { ChatMessage } from '../../core/types.js';

/** What a request body falls back on for what a task does not say. */
export interface ChatRequestDefaults {
  /** The model for tasks whose `params.model` names none. */
  readonly model: string;
  /** The output cap for tasks that set no `maxOutputTokens`; none leaves it to the provider. */
  readonly maxOutputTokens: number | undefined;
  /** The field that carries the cap: `max_completion_tokens`, or `max_tokens` for older servers. */
  readonly maxTokensField: 'max_completion_tokens' | 'max_tokens';
}

/**
 * The Chat Completions request body for a task, in OpenAI's names: its messages, the model (`params.model`
 * else the default), the output cap, and every per-task parameter (`topP` → `top_p`, `responseFormat` →
 * `response_format`, `tools` as function tools, `toolChoice` → `tool_choice`), with `providerOptions.openai`
 * merged in last, as is. Throws `ValidationError` for a conversation OpenAI would refuse (a tool message
 * without `toolCallId`).
 *
 * @example
 * chatRequestBody({ id: 'a', input: 'Hi', maxOutputTokens: 50, params: { temperature: 0 } },
 *   { model: 'gpt-4o-mini', maxOutputTokens: undefined, maxTokensField: 'max_completion_tokens' });
 * // { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 50, temperature: 0 }
 */
export function chatRequestBody(task: Task, defaults: ChatRequestDefaults): Record<string, unknown> {
  const params: TaskParams = task.params ?? {};
  const maxTokens = task.maxOutputTokens ?? defaults.maxOutputTokens;
  return {
    model: params.model ?? defaults.model,
    messages: toOpenAIMessages(task.input),
    ...(maxTokens === undefined ? {} : { [defaults.maxTokensField]: maxTokens }),
    ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
    ...(params.topP === undefined ? {} : { top_p: params.topP }),
    ...(params.stop === undefined ? {} : { stop: params.stop }),
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    ...(params.responseFormat === undefined
      ? {}
      : { response_format: responseFormat(params.responseFormat) }),
    ...(params.tools === undefined ? {} : { tools: params.tools.map(tool) }),
    ...(params.toolChoice === undefined ? {} : { tool_choice: toolChoice(params.toolChoice) }),
    ...params.providerOptions?.['openai'],
  };
}

function responseFormat(format: ResponseFormat): Record<string, unknown> {
  if (format.type !== 'json_schema') return { type: format.type };
  const { type, ...schema } = format;
  return { type, json_schema: schema };
}

function tool(spec: ToolSpec): Record<string, unknown> {
  return { type: 'function', function: spec };
}

function toolChoice(choice: NonNullable<TaskParams['toolChoice']>): unknown {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

/** Maps rxagent's messages to OpenAI's; a bare prompt becomes one user message. */
export function toOpenAIMessages(input: Task['input']): ChatCompletionMessageParam[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  return input.map((message, index) => toOpenAIMessage(message, index));
}

function toOpenAIMessage(message: ChatMessage, index: number): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return { role: 'user', content: message.content };
    case 'tool':
      if (message.toolCallId === undefined || message.toolCallId === '') {
        const text = `A tool message needs \`toolCallId\`, the id of the call it answers (input[${index}])`;
        throw new ValidationError({
          issues: [{ code: 'custom', path: ['input', index, 'toolCallId'], message: text }],
          source: 'openaiModel',
          message: text,
        });
      }
      return { role: 'tool', content: message.content, tool_call_id: message.toolCallId };
    case 'assistant': {
      const calls = message.toolCalls ?? [];
      if (calls.length === 0) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        // OpenAI wants null, not '', beside tool calls.
        content: message.content === '' ? null : message.content,
        tool_calls: calls.map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: call.arguments },
        })),
      };
    }
  }
}
