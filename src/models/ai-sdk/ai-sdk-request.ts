import type {
  LanguageModelV2CallOptions,
  LanguageModelV2CallWarning,
  LanguageModelV3CallOptions,
  LanguageModelV3FunctionTool,
  SharedV2ProviderOptions,
  SharedV3Warning,
} from '@ai-sdk/provider';
import { ValidationError } from '../../core/errors/index.js';
import type { ChatMessage, Task, TaskParams } from '../../core/types.js';
import { unsupportedParams, type ParamName } from '../params.js';

// The prompt and call options are built in the part of the V3 and V2 shapes that the two share, so one
// builder serves both specification versions.

interface TextPart {
  readonly type: 'text';
  readonly text: string;
}

interface ToolCallPart {
  readonly type: 'tool-call';
  readonly toolCallId: string;
  readonly toolName: string;
  readonly input: unknown;
}

interface ToolResultPart {
  readonly type: 'tool-result';
  readonly toolCallId: string;
  readonly toolName: string;
  readonly output: { readonly type: 'text'; readonly value: string };
}

/** A message of the AI SDK's prompt, in the subset rxagent's `ChatMessage` maps to. */
export type PromptMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: TextPart[] }
  | { role: 'assistant'; content: (TextPart | ToolCallPart)[] }
  | { role: 'tool'; content: ToolResultPart[] };

/** The call options rxagent sets, each in the shape both specification versions accept. */
export interface CallOptions {
  prompt: PromptMessage[];
  abortSignal: AbortSignal;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
  seed?: number;
  responseFormat?: NonNullable<LanguageModelV3CallOptions['responseFormat']>;
  tools?: FunctionTool[];
  toolChoice?: NonNullable<LanguageModelV3CallOptions['toolChoice']>;
  providerOptions?: SharedV2ProviderOptions;
  headers?: Record<string, string>;
}

/** `strict` exists in V3 only, so a V2 model gets no `strict: true` (the task is refused instead). */
type FunctionTool = Pick<LanguageModelV3FunctionTool, 'type' | 'name' | 'inputSchema'> & {
  description?: string;
  strict?: boolean;
};

// These lines fail to compile when the shared subset stops fitting either version.
type Assignable<A extends B, B> = A;
export type _FitsV3 = Assignable<CallOptions, LanguageModelV3CallOptions>;
export type _FitsV2 = Assignable<CallOptions, LanguageModelV2CallOptions>;

/** Every per-task parameter is passed through; `model` only when it names the model object's own id. */
const AI_SDK_PARAMS: readonly ParamName[] = [
  'model',
  'temperature',
  'topP',
  'stop',
  'seed',
  'responseFormat',
  'tools',
  'toolChoice',
  'providerOptions',
];

/** What the agent adds to every call. */
export interface CallDefaults {
  readonly maxOutputTokens: number | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly providerOptions: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;
}

/**
 * The call options for one task, or the `ValidationError` that refuses it before anything is sent: a
 * `params.model` other than the model object's id, a parameter rxagent does not know, a malformed
 * conversation.
 */
export function callOptions(
  task: Task,
  model: { readonly modelId: string; readonly specificationVersion: 'v2' | 'v3' },
  name: string,
  defaults: CallDefaults,
  abortSignal: AbortSignal,
): CallOptions | ValidationError {
  const params: TaskParams = task.params ?? {};
  if (params.model !== undefined && params.model !== model.modelId) {
    return invalid(
      ['params', 'model'],
      `Task "${task.id}" asks for model "${params.model}", but ${name} runs "${model.modelId}" only: an AI SDK model object has a fixed model id. Make one aiSdkModel per model.`,
      name,
    );
  }
  if (model.specificationVersion === 'v2' && params.tools?.some((tool) => tool.strict === true) === true) {
    return invalid(
      ['params', 'tools'],
      `Task "${task.id}" asks for strict tools, which ${name} cannot honour: LanguageModelV2 has no \`strict\``,
      name,
    );
  }
  const refused = unsupportedParams(task, AI_SDK_PARAMS, name);
  if (refused !== undefined) return refused;
  const prompt = toPrompt(task.input, name);
  if (prompt instanceof ValidationError) return prompt;
  const maxOutputTokens = task.maxOutputTokens ?? defaults.maxOutputTokens;
  const providerOptions = mergeProviderOptions(defaults.providerOptions, params.providerOptions);
  return {
    prompt,
    abortSignal,
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
    ...(params.topP === undefined ? {} : { topP: params.topP }),
    ...(params.stop === undefined ? {} : { stopSequences: [...params.stop] }),
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    ...(params.responseFormat === undefined ? {} : { responseFormat: responseFormat(params) }),
    ...(params.tools === undefined
      ? {}
      : { tools: params.tools.map((tool) => toFunctionTool(tool, model.specificationVersion)) }),
    ...(params.toolChoice === undefined ? {} : { toolChoice: toolChoice(params.toolChoice) }),
    ...(providerOptions === undefined ? {} : { providerOptions }),
    ...(defaults.headers === undefined ? {} : { headers: { ...defaults.headers } }),
  };
}

function responseFormat(params: TaskParams): NonNullable<CallOptions['responseFormat']> {
  const format = params.responseFormat;
  switch (format?.type) {
    case undefined:
    case 'text':
      return { type: 'text' };
    case 'json_object':
      return { type: 'json' };
    case 'json_schema':
      // `strict` has no place in the AI SDK's call options: providers that have it take it as a provider
      // option (`strictJsonSchema` of the OpenAI providers, on by default there).
      return {
        type: 'json',
        schema: format.schema,
        name: format.name,
        ...(format.description === undefined ? {} : { description: format.description }),
      };
  }
}

function toFunctionTool(tool: NonNullable<TaskParams['tools']>[number], version: 'v2' | 'v3'): FunctionTool {
  return {
    type: 'function',
    name: tool.name,
    inputSchema: tool.parameters,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    ...(tool.strict === undefined || version === 'v2' ? {} : { strict: tool.strict }),
  };
}

function toolChoice(choice: NonNullable<TaskParams['toolChoice']>): NonNullable<CallOptions['toolChoice']> {
  return typeof choice === 'string' ? { type: choice } : { type: 'tool', toolName: choice.name };
}

/** The agent's provider options under the task's: per provider key, the task's settings win. */
function mergeProviderOptions(
  defaults: CallDefaults['providerOptions'],
  task: TaskParams['providerOptions'],
): SharedV2ProviderOptions | undefined {
  if (defaults === undefined && task === undefined) return undefined;
  const merged: Record<string, Record<string, unknown>> = {};
  for (const source of [defaults, task]) {
    for (const [provider, options] of Object.entries(source ?? {})) {
      merged[provider] = { ...merged[provider], ...options };
    }
  }
  // JSON by contract (the task schema checks it for tasks from outside); providers validate their own keys.
  return merged as SharedV2ProviderOptions;
}

/** Maps rxagent's messages to the AI SDK's prompt; a bare prompt becomes one user message. */
export function toPrompt(input: Task['input'], name: string): PromptMessage[] | ValidationError {
  if (typeof input === 'string') return [{ role: 'user', content: [{ type: 'text', text: input }] }];
  // A tool result must name its tool; rxagent's tool messages carry only the call's id, so the name comes
  // from the assistant message that made the call.
  const toolNames = new Map<string, string>();
  const prompt: PromptMessage[] = [];
  for (const [index, message] of input.entries()) {
    const mapped = toMessage(message, index, toolNames, name);
    if (mapped instanceof ValidationError) return mapped;
    prompt.push(mapped);
  }
  return prompt;
}

function toMessage(
  message: ChatMessage,
  index: number,
  toolNames: Map<string, string>,
  name: string,
): PromptMessage | ValidationError {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return { role: 'user', content: [{ type: 'text', text: message.content }] };
    case 'assistant': {
      const content: (TextPart | ToolCallPart)[] =
        message.content === '' ? [] : [{ type: 'text', text: message.content }];
      for (const [position, call] of (message.toolCalls ?? []).entries()) {
        let input: unknown;
        try {
          input = JSON.parse(call.arguments);
        } catch {
          return invalid(
            ['input', index, 'toolCalls', position, 'arguments'],
            `The arguments of tool call "${call.id}" (input[${index}]) are not JSON: the AI SDK sends a call's input as an object`,
            name,
          );
        }
        toolNames.set(call.id, call.name);
        content.push({ type: 'tool-call', toolCallId: call.id, toolName: call.name, input });
      }
      return { role: 'assistant', content };
    }
    case 'tool': {
      const id = message.toolCallId;
      if (id === undefined || id === '') {
        return invalid(
          ['input', index, 'toolCallId'],
          `A tool message needs \`toolCallId\`, the id of the call it answers (input[${index}])`,
          name,
        );
      }
      const toolName = toolNames.get(id);
      if (toolName === undefined) {
        return invalid(
          ['input', index, 'toolCallId'],
          `The tool message input[${index}] answers call "${id}", which no earlier assistant message made`,
          name,
        );
      }
      return {
        role: 'tool',
        content: [
          { type: 'tool-result', toolCallId: id, toolName, output: { type: 'text', value: message.content } },
        ],
      };
    }
  }
}

function invalid(path: (string | number)[], message: string, name: string): ValidationError {
  return new ValidationError({ issues: [{ code: 'custom', path, message }], source: name, message });
}

/** The call option a parameter becomes, as providers name it in their warnings. */
const FEATURE_PARAM: Readonly<Record<string, ParamName>> = {
  temperature: 'temperature',
  topP: 'topP',
  stopSequences: 'stop',
  seed: 'seed',
  responseFormat: 'responseFormat',
  tools: 'tools',
  toolChoice: 'toolChoice',
};

/**
 * The `ValidationError` for the first warning saying the provider dropped or changed a parameter the task set
 * (Anthropic has no `seed`; an OpenAI-compatible server without structured outputs ignores a JSON schema), so
 * that a parameter is never silently lost. Warnings about what the task did not ask for pass.
 */
export function refusedByWarnings(
  warnings: readonly (SharedV3Warning | LanguageModelV2CallWarning)[],
  task: Task,
  name: string,
): ValidationError | undefined {
  const params = task.params ?? {};
  for (const warning of warnings) {
    const feature = unsupportedFeature(warning);
    if (feature === undefined) continue;
    const param = feature.startsWith('providerOptions') ? 'providerOptions' : FEATURE_PARAM[feature];
    if (param === undefined || params[param] === undefined) continue;
    const said = (warning as { readonly details?: string }).details;
    const details = said === undefined ? '' : `: ${said}`;
    const message = `${name} cannot honour \`params.${param}\` of task "${task.id}"${details}`;
    return new ValidationError({
      issues: [{ code: 'custom', path: ['params', param], message }],
      source: name,
      message,
    });
  }
  return undefined;
}

function unsupportedFeature(warning: SharedV3Warning | LanguageModelV2CallWarning): string | undefined {
  switch (warning.type) {
    case 'unsupported':
      return warning.feature;
    case 'unsupported-setting':
      // Typed as an `Omit` of the option names by mistake; it is the name of one option.
      return String(warning.setting);
    case 'unsupported-tool':
      return 'tools';
    default:
      return undefined;
  }
}
