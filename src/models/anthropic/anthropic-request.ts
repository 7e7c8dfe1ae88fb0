import type {
  ContentBlockParam,
  MessageCreateParamsStreaming,
  MessageParam,
  TextBlockParam,
  Tool,
  ToolChoice,
  ToolResultBlockParam,
} from '@anthropic-ai/sdk/resources/messages';
import { ValidationError } from '../../core/errors/index.js';
import type { ChatMessage, Task, TaskParams } from '../../core/types.js';
import { unsupportedParams, type ParamName } from '../params.js';

/** The per-task `params` `anthropicModel` honours; the Messages API has no `seed`. */
export const ANTHROPIC_PARAMS: readonly ParamName[] = [
  'model',
  'temperature',
  'topP',
  'stop',
  'responseFormat',
  'tools',
  'toolChoice',
  'providerOptions',
];

/** Request fields rxagent owns: budgets and prices read the model and the output cap from the task. */
const OWN_FIELDS: readonly string[] = ['model', 'max_tokens', 'stream'];

const SOURCE = 'anthropicModel';

/**
 * The streaming Messages request for `task`, or the `ValidationError` that says why it cannot be sent:
 * a parameter the API has no equivalent for, a conversation the API cannot take, or `providerOptions` that
 * would override what rxagent decides.
 *
 * @param model - The model for tasks whose `params` name none.
 * @param maxTokens - `max_tokens` for tasks that set no `maxOutputTokens`.
 */
export function requestFor(
  task: Task,
  model: string,
  maxTokens: number,
): MessageCreateParamsStreaming | ValidationError {
  const refused = unsupportedParams(task, ANTHROPIC_PARAMS, SOURCE);
  if (refused !== undefined) return refused;
  const params: TaskParams = task.params ?? {};
  try {
    const { system, messages } = toAnthropicMessages(task.input);
    const extra = providerOptionsOf(task, params);
    const format = outputFormat(task, params);
    const outputConfig = {
      ...(format === undefined ? {} : { format }),
      ...(isRecord(extra['output_config']) ? extra['output_config'] : {}),
    };
    return {
      model: params.model ?? model,
      max_tokens: task.maxOutputTokens ?? maxTokens,
      messages,
      ...(system === undefined ? {} : { system }),
      ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
      ...(params.topP === undefined ? {} : { top_p: params.topP }),
      ...(params.stop === undefined ? {} : { stop_sequences: [...params.stop] }),
      ...(params.tools === undefined ? {} : { tools: params.tools.map(toTool) }),
      ...(params.toolChoice === undefined ? {} : { tool_choice: toToolChoice(params.toolChoice) }),
      ...extra,
      ...(Object.keys(outputConfig).length === 0 ? {} : { output_config: outputConfig }),
      stream: true,
    } as MessageCreateParamsStreaming;
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
}

function invalid(path: (string | number)[], message: string): ValidationError {
  return new ValidationError({ issues: [{ code: 'custom', path, message }], source: SOURCE, message });
}

/** `providerOptions.anthropic`, merged into the request as is, except for the fields rxagent owns. */
function providerOptionsOf(task: Task, params: TaskParams): Record<string, unknown> {
  const extra = params.providerOptions?.['anthropic'] ?? {};
  const owned = Object.keys(extra).find((key) => OWN_FIELDS.includes(key));
  if (owned !== undefined) {
    const instead =
      owned === 'model'
        ? '`params.model`'
        : owned === 'max_tokens'
          ? 'the task’s `maxOutputTokens`'
          : 'nothing: runs always stream';
    throw invalid(
      ['params', 'providerOptions', 'anthropic', owned],
      `Task "${task.id}" sets \`providerOptions.anthropic.${owned}\`, which anthropicModel decides; use ${instead}`,
    );
  }
  return extra;
}

/** `responseFormat` as Anthropic's structured outputs (`output_config.format`), which take a schema only. */
function outputFormat(task: Task, params: TaskParams): { type: 'json_schema'; schema: object } | undefined {
  const format = params.responseFormat;
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json_object') {
    throw invalid(
      ['params', 'responseFormat', 'type'],
      `Task "${task.id}" asks for \`responseFormat: { type: 'json_object' }\`, which anthropicModel cannot honour: Anthropic's structured outputs need a schema; give \`{ type: 'json_schema', name, schema }\``,
    );
  }
  // Anthropic's format has no name or description, and is always held to the schema (`strict`).
  return { type: 'json_schema', schema: { ...format.schema } };
}

function toTool(spec: NonNullable<TaskParams['tools']>[number]): Tool {
  return {
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    input_schema: { ...spec.parameters } as Tool.InputSchema,
    ...(spec.strict === undefined ? {} : { strict: spec.strict }),
  };
}

function toToolChoice(choice: NonNullable<TaskParams['toolChoice']>): ToolChoice {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  return { type: 'tool', name: choice.name };
}

/**
 * Maps rxagent's conversation to Anthropic's: leading system messages become `system`, an assistant message
 * with tool calls becomes `tool_use` blocks, and the tool messages that answer them become `tool_result`
 * blocks of one user message (a user message right after them joins it), as the API wants every result of
 * a parallel call in the next user turn.
 */
export function toAnthropicMessages(input: Task['input']): {
  system: string | TextBlockParam[] | undefined;
  messages: MessageParam[];
} {
  if (typeof input === 'string') return { system: undefined, messages: [{ role: 'user', content: input }] };
  const systems: string[] = [];
  const messages: MessageParam[] = [];
  let results: ContentBlockParam[] | undefined;
  input.forEach((message, index) => {
    if (message.role === 'system') {
      if (messages.length > 0 || results !== undefined) {
        throw invalid(
          ['input', index, 'role'],
          `A system message must come before the conversation (input[${index}]): Anthropic takes one system prompt, sent apart from the messages`,
        );
      }
      systems.push(message.content);
      return;
    }
    if (message.role === 'tool') {
      if (results === undefined) {
        results = [];
        messages.push({ role: 'user', content: results });
      }
      results.push(toolResult(message, index));
      return;
    }
    if (message.role === 'user' && results !== undefined) {
      results.push({ type: 'text', text: message.content });
      results = undefined;
      return;
    }
    results = undefined;
    messages.push(
      message.role === 'user' ? { role: 'user', content: message.content } : assistant(message, index),
    );
  });
  const system =
    systems.length === 0
      ? undefined
      : systems.length === 1
        ? systems[0]
        : systems.map((text): TextBlockParam => ({ type: 'text', text }));
  return { system, messages };
}

function toolResult(message: ChatMessage, index: number): ToolResultBlockParam {
  if (message.toolCallId === undefined || message.toolCallId === '') {
    throw invalid(
      ['input', index, 'toolCallId'],
      `A tool message needs \`toolCallId\`, the id of the call it answers (input[${index}])`,
    );
  }
  return { type: 'tool_result', tool_use_id: message.toolCallId, content: message.content };
}

function assistant(message: ChatMessage, index: number): MessageParam {
  const calls = message.toolCalls ?? [];
  if (calls.length === 0) return { role: 'assistant', content: message.content };
  const content: ContentBlockParam[] =
    message.content === '' ? [] : [{ type: 'text', text: message.content }];
  calls.forEach((call, j) => {
    content.push({
      type: 'tool_use',
      id: call.id,
      name: call.name,
      input: toolInput(call.arguments, index, j),
    });
  });
  return { role: 'assistant', content };
}

/** A call's JSON arguments as the object Anthropic's `tool_use.input` must be; `''` is no arguments. */
function toolInput(text: string, index: number, call: number): Record<string, unknown> {
  if (text.trim() === '') return {};
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    input = undefined;
  }
  if (!isRecord(input)) {
    throw invalid(
      ['input', index, 'toolCalls', call, 'arguments'],
      `Tool call arguments must be a JSON object for Anthropic's tool_use blocks (input[${index}].toolCalls[${call}]), got ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  return input;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
