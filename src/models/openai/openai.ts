import type OpenAI from 'openai';
import type { APIError, ClientOptions } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import { asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import { expectPeer } from '../../core/peer.js';
import type { Agent, AgentEvent, FinishReason, RunContext, Task, ToolCall, Usage } from '../../core/types.js';
import {
  describe,
  expectConfig,
  expectInteger,
  expectKnownKeys,
  expectOneOf,
  expectScheduler,
} from '../../core/validate.js';
import type { Refusal } from './openai-errors.js';
import { nonEmpty, resolveEndpoint } from '../endpoint.js';
import { loadSdk, type Sdk } from './sdk.js';
import { chatRequestBody } from './chat-request.js';
import {
  abortedRun,
  emitLimits,
  providerRequest,
  readDeltas,
  type EventSink,
  type Progress,
} from '../provider-request.js';

/** Configuration of {@link openaiModel}. */
export interface OpenAIModelConfig {
  /**
   * The model name sent with every request; required when `RXAGENT_MODEL` is not set.
   * @defaultValue the `RXAGENT_MODEL` environment variable
   */
  readonly model?: string;
  /**
   * The API key. Servers that need none (a local vLLM or Ollama) may go without when `baseURL` is set.
   * @defaultValue the `OPENAI_API_KEY` environment variable
   */
  readonly apiKey?: string;
  /**
   * Any OpenAI-compatible endpoint, including its `/v1`.
   * @defaultValue the `OPENAI_BASE_URL` environment variable, else `https://api.openai.com/v1`
   */
  readonly baseURL?: string;
  /**
   * A ready client (Azure, a proxy, custom fetch). It keeps its own retry setting, so create it with
   * `maxRetries: 0` unless you want the SDK's retries on top of rxagent's. Excludes `apiKey` and `baseURL`.
   * @defaultValue a client made from `apiKey` and `baseURL` with `maxRetries: 0`
   */
  readonly client?: OpenAI;
  /** Output cap for tasks that set no `maxOutputTokens`. @defaultValue none: the provider's own default */
  readonly defaultMaxOutputTokens?: number;
  /**
   * The request field that carries the output cap. OpenAI's reasoning models accept only
   * `max_completion_tokens`; some older compatible servers know only `max_tokens`.
   * @defaultValue 'max_completion_tokens'
   */
  readonly maxTokensField?: 'max_completion_tokens' | 'max_tokens';
  /** Extra request fields (`tools`, `temperature`, server-specific options), merged into every request. @defaultValue {} */
  readonly extraBody?: Readonly<Record<string, unknown>>;
  /** Where the environment variables are read. @defaultValue process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The clock used to turn an HTTP-date `retry-after` into a delay. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Long enough never to fire: time limits belong to `timeoutWith`, which can tell first-token from idle time. */
const SDK_TIMEOUT_MS = 2_147_483_647;

/**
 * An `Agent` backed by the official `openai` SDK: it streams chat completions from OpenAI or any
 * OpenAI-compatible server and emits `rate-limits` (from the `x-ratelimit-*` headers), `delta`s,
 * `tool-calls`, `usage` and `done`. Unsubscribing aborts the HTTP request. SDK errors become
 * `RateLimitError` / `ProviderError`; the SDK's own retries are off because `retryBackoff` and the budget
 * do that work.
 *
 * @example
 * const agent = openaiModel({ model: 'gpt-4o-mini' });
 * agent.run({ id: 't1', input: 'Say hi' }, { signal: new AbortController().signal }).subscribe(console.log);
 */
export function openaiModel(config: OpenAIModelConfig = {}): Agent {
  expectConfig('config', config);
  expectKnownKeys('openaiModel', config, [
    'model',
    'apiKey',
    'baseURL',
    'client',
    'defaultMaxOutputTokens',
    'maxTokensField',
    'extraBody',
    'env',
    'scheduler',
  ]);
  const env = config.env ?? process.env;
  const model = config.model ?? nonEmpty(env['RXAGENT_MODEL']);
  if (typeof model !== 'string' || model === '') {
    throw new TypeError(
      `Expected \`model\` to be a non-empty string, got ${describe(model)}. Pass \`model\` or set RXAGENT_MODEL.`,
    );
  }
  const defaultMax =
    config.defaultMaxOutputTokens === undefined
      ? undefined
      : expectInteger('defaultMaxOutputTokens', config.defaultMaxOutputTokens, 1);
  const maxField = expectOneOf('maxTokensField', config.maxTokensField ?? 'max_completion_tokens', [
    'max_completion_tokens',
    'max_tokens',
  ]);
  if (config.extraBody !== undefined) expectConfig('extraBody', config.extraBody);
  const extraBody = config.extraBody ?? {};
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  validateClientConfig(config);
  const options = config.client === undefined ? clientOptions(config, env) : undefined;
  expectPeer('openai', 'openaiModel');
  let client = config.client;
  const clientOf = (sdk: Sdk): OpenAI => (client ??= new sdk.OpenAI(options));

  return {
    ...(defaultMax === undefined ? {} : { maxOutputTokens: defaultMax }),
    run(task: Task, context: RunContext): Observable<AgentEvent> {
      return providerRequest(context, (signal, sink) => {
        const body = {
          ...extraBody,
          ...chatRequestBody(task, { model, maxOutputTokens: defaultMax, maxTokensField: maxField }),
          // rxagent reads a stream, with its usage, whatever a task's provider options say.
          stream: true,
          stream_options: { include_usage: true },
        };
        loadSdk().then(
          (sdk) => stream(sdk, clientOf(sdk), body, task, signal, sink, scheduler),
          (error: unknown) => {
            sink.error(error);
          },
        );
      });
    },
  };
}

export function clientOptions(
  config: OpenAIModelConfig,
  env: Readonly<Record<string, string | undefined>>,
): ClientOptions {
  return {
    ...resolveEndpoint(config, env, {
      host: 'api.openai.com',
      defaultURL: 'https://api.openai.com/v1',
      keyVariable: 'OPENAI_API_KEY',
      urlVariable: 'OPENAI_BASE_URL',
      keyless: 'a server',
    }),
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
  };
}

function validateClientConfig(config: OpenAIModelConfig): void {
  if (config.client === undefined) return;
  if (config.apiKey !== undefined || config.baseURL !== undefined) {
    throw new TypeError(
      'Pass either `client` or `apiKey`/`baseURL`, not both: a ready client already has its own key and URL.',
    );
  }
  const create = (config.client as { chat?: { completions?: { create?: unknown } } } | null)?.chat
    ?.completions?.create;
  if (typeof create !== 'function') {
    throw new TypeError(`Expected \`client\` to be an OpenAI client, got ${describe(config.client)}`);
  }
}

async function stream(
  sdk: Sdk,
  client: OpenAI,
  body: Record<string, unknown>,
  task: Task,
  signal: AbortSignal,
  subscriber: EventSink,
  scheduler: SchedulerLike,
): Promise<void> {
  const progress: Progress = { chunks: 0, partialText: '' };
  const run = new ChunkAssembler(typeof body['model'] === 'string' ? body['model'] : '');
  try {
    const params = body as unknown as ChatCompletionCreateParamsStreaming;
    const { data, response } = await client.chat.completions.create(params, { signal }).withResponse();
    emitLimits(response.headers, subscriber, scheduler.now());
    if (!(await readDeltas(data, (chunk) => run.add(chunk), subscriber, progress))) return;
    if (signal.aborted) throw signal.reason;
    const finish = run.finishReason;
    if (finish === undefined) throw sdk.errors.incompleteStreamError(progress);
    const refused = run.refused();
    if (refused !== undefined) {
      // The provider bills a refusal like any answer, so the budget still hears of its usage.
      if (run.usage !== undefined) subscriber.next({ type: 'usage', usage: run.usage });
      subscriber.error(sdk.errors.refusalError(task.id, refused, progress));
      return;
    }
    const calls = run.toolCalls();
    if (calls.length > 0) subscriber.next({ type: 'tool-calls', calls });
    if (run.usage !== undefined) subscriber.next({ type: 'usage', usage: run.usage });
    subscriber.next({ type: 'done', text: progress.partialText, finishReason: finish });
    subscriber.complete();
  } catch (error) {
    if (subscriber.closed) return;
    if (signal.aborted) {
      subscriber.error(abortedRun(task.id));
      return;
    }
    if (error instanceof sdk.APIError) emitLimits((error as APIError).headers, subscriber, scheduler.now());
    subscriber.error(sdk.errors.toProviderError(error, progress, scheduler.now()));
  }
}

/**
 * Collects one streamed completion: text, refusal text, tool-call fragments merged by index, usage, finish
 * reason, and the model that answered.
 */
class ChunkAssembler {
  finishReason: FinishReason | undefined;
  usage: Usage | undefined;
  readonly #calls = new Map<number, { id: string; name: string; arguments: string }>();
  /** The refusal streamed in `delta.refusal`; some servers send `refusal: ""` beside ordinary answers. */
  #refusal = '';
  /** The model named by the answer's chunks; the requested one until a chunk names it. */
  #model: string;

  constructor(requestedModel: string) {
    this.#model = requestedModel;
  }

  /** Takes a chunk in; returns the text it adds. */
  add(chunk: ChatCompletionChunk): string {
    // Servers that report usage in every chunk send running totals, so the last one wins.
    if (chunk.usage != null) {
      const cached = chunk.usage.prompt_tokens_details?.cached_tokens;
      const reasoning = chunk.usage.completion_tokens_details?.reasoning_tokens;
      this.usage = {
        inputTokens: chunk.usage.prompt_tokens,
        outputTokens: chunk.usage.completion_tokens,
        ...(cached == null ? {} : { cachedInputTokens: cached }),
        ...(reasoning == null ? {} : { reasoningTokens: reasoning }),
      };
    }
    // Azure's content-filter annotations name no model ('').
    if (chunk.model) this.#model = chunk.model;
    let text = '';
    for (const choice of chunk.choices) {
      // Only the first choice is a run's answer; `n > 1` through `extraBody` is not supported.
      if (choice.index !== 0) continue;
      // Azure's content-filter annotations carry no `delta`, though the SDK's type says there always is one.
      const delta: Partial<ChatCompletionChunk.Choice.Delta> =
        (choice as { delta?: ChatCompletionChunk.Choice.Delta }).delta ?? {};
      text += delta.content ?? '';
      this.#refusal += delta.refusal ?? '';
      for (const fragment of delta.tool_calls ?? []) this.#addFragment(fragment);
      if (choice.finish_reason != null) this.finishReason = mapFinishReason(choice.finish_reason);
    }
    return text;
  }

  /** Whether the model declined (it streamed a refusal) or a content filter stopped it, and what it said. */
  refused(): Refusal | undefined {
    if (this.#refusal !== '') return { reason: 'refusal', refusal: this.#refusal, model: this.#model };
    if (this.finishReason === 'content-filter')
      return { reason: 'content-filter', refusal: '', model: this.#model };
    return undefined;
  }

  toolCalls(): ToolCall[] {
    return [...this.#calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => ({ ...call, id: call.id === '' ? `call_${index}` : call.id }));
  }

  #addFragment(fragment: ChatCompletionChunk.Choice.Delta.ToolCall): void {
    const call = this.#calls.get(fragment.index) ?? { id: '', name: '', arguments: '' };
    // The id and name come whole in the first fragment; the arguments come in pieces.
    if (fragment.id !== undefined && fragment.id !== '') call.id = fragment.id;
    if (fragment.function?.name !== undefined && fragment.function.name !== '')
      call.name = fragment.function.name;
    call.arguments += fragment.function?.arguments ?? '';
    this.#calls.set(fragment.index, call);
  }
}

export function mapFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      return 'other';
  }
}
