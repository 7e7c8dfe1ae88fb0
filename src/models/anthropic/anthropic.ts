import type Anthropic from '@anthropic-ai/sdk';
import type { APIError, ClientOptions } from '@anthropic-ai/sdk';
import type {
  MessageCreateParamsStreaming,
  MessageDeltaUsage,
  RawMessageStreamEvent,
  Usage as AnthropicUsage,
} from '@anthropic-ai/sdk/resources/messages';
import { asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import { ValidationError } from '../../core/errors/index.js';
import { expectPeer } from '../../core/peer.js';
import type { Agent, AgentEvent, FinishReason, RunContext, Task, ToolCall, Usage } from '../../core/types.js';
import {
  describe,
  expectConfig,
  expectInteger,
  expectKnownKeys,
  expectScheduler,
} from '../../core/validate.js';
import type { Refusal } from './anthropic-errors.js';
import { requestFor } from './anthropic-request.js';
import {
  abortedRun,
  emitLimits,
  providerRequest,
  readDeltas,
  type EventSink,
  type Progress,
} from '../provider-request.js';
import { resolveEndpoint } from '../endpoint.js';
import { loadSdk, type Sdk } from './sdk.js';

/**
 * The output cap `anthropicModel` sends for tasks that set no `maxOutputTokens` when its config gives no
 * `maxTokens`: the API requires one, and 4,096 is within every Claude model's limit.
 */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4_096;

/** Configuration of {@link anthropicModel}. */
export interface AnthropicModelConfig {
  /** The model for tasks whose `params` name none, such as `'claude-sonnet-5'`. */
  readonly model: string;
  /**
   * `max_tokens` for tasks that set no `maxOutputTokens`; the agent's `maxOutputTokens`, which budgets reserve
   * (Anthropic charges its output-token limit with it when a request starts).
   * @defaultValue {@link DEFAULT_ANTHROPIC_MAX_TOKENS} (4096)
   */
  readonly maxTokens?: number;
  /**
   * The API key. A gateway that needs none may go without when `baseURL` is set.
   * @defaultValue the `ANTHROPIC_API_KEY` environment variable
   */
  readonly apiKey?: string;
  /**
   * The API's origin, without `/v1` (a proxy, a gateway, a local test server).
   * @defaultValue the `ANTHROPIC_BASE_URL` environment variable, else `https://api.anthropic.com`
   */
  readonly baseURL?: string;
  /**
   * A ready client (custom fetch, headers, credentials). It keeps its own retry, timeout and telemetry
   * settings, so create it with `maxRetries: 0` unless you want the SDK's retries on top of rxagent's.
   * Excludes `apiKey`, `baseURL` and `telemetry`.
   * @defaultValue a client made from `apiKey` and `baseURL` with `maxRetries: 0`
   */
  readonly client?: Anthropic;
  /**
   * Let the SDK emit its OpenTelemetry spans and propagate trace context, as it does by default; off, the
   * client is made with `openTelemetry: false`.
   * @defaultValue false
   */
  readonly telemetry?: boolean;
  /** Where the environment variables are read. @defaultValue process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The clock that turns `retry-after` dates and RFC 3339 rate-limit resets into delays. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Long enough never to fire: time limits belong to `timeoutWith`, which can tell first-token from idle time. */
const SDK_TIMEOUT_MS = 2_147_483_647;

/**
 * An `Agent` backed by the official `@anthropic-ai/sdk`: it streams the Messages API and emits `rate-limits`
 * (from the `anthropic-ratelimit-*` headers), text `delta`s, `tool-calls` (assembled from `tool_use` blocks),
 * `usage` (cache reads and writes included) and `done`. Per-task `params` become request fields; `seed`, which
 * the API lacks, fails the task with a `ValidationError`. A refusal fails it with `RefusalError`. Unsubscribing
 * aborts the HTTP request. SDK errors become `RateLimitError` / `ProviderError`; the SDK's own retries are off
 * because `retryBackoff` and the budget do that work.
 *
 * @example
 * const claude = anthropicModel({ model: 'claude-sonnet-5', maxTokens: 1024 });
 * claude.run({ id: 't1', input: 'Say hi' }, { signal: new AbortController().signal }).subscribe(console.log);
 */
export function anthropicModel(config: AnthropicModelConfig): Agent {
  expectConfig('config', config);
  expectKnownKeys('anthropicModel', config, [
    'model',
    'maxTokens',
    'apiKey',
    'baseURL',
    'client',
    'telemetry',
    'env',
    'scheduler',
  ]);
  const { model } = config as { model: unknown };
  if (typeof model !== 'string' || model.trim() === '') {
    throw new TypeError(
      `Expected \`model\` to be a non-empty string such as 'claude-sonnet-5', got ${describe(model)}`,
    );
  }
  const maxTokens = expectInteger('maxTokens', config.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS, 1);
  if (config.telemetry !== undefined && typeof config.telemetry !== 'boolean') {
    throw new TypeError(`Expected \`telemetry\` to be a boolean, got ${describe(config.telemetry)}`);
  }
  const env = config.env ?? process.env;
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  validateClientConfig(config);
  const options = config.client === undefined ? clientOptions(config, env) : undefined;
  expectPeer('@anthropic-ai/sdk', 'anthropicModel');
  let client = config.client;
  const clientOf = (sdk: Sdk): Anthropic => (client ??= new sdk.Anthropic(options));

  return {
    maxOutputTokens: maxTokens,
    run(task: Task, context: RunContext): Observable<AgentEvent> {
      return providerRequest(context, (signal, sink) => {
        const request = requestFor(task, model, maxTokens);
        if (request instanceof ValidationError) {
          sink.error(request);
          return;
        }
        loadSdk().then(
          (sdk) => stream(sdk, clientOf(sdk), request, task, signal, sink, scheduler),
          (error: unknown) => {
            sink.error(error);
          },
        );
      });
    },
  };
}

function clientOptions(
  config: AnthropicModelConfig,
  env: Readonly<Record<string, string | undefined>>,
): ClientOptions {
  return {
    ...resolveEndpoint(config, env, {
      host: 'api.anthropic.com',
      defaultURL: 'https://api.anthropic.com',
      keyVariable: 'ANTHROPIC_API_KEY',
      urlVariable: 'ANTHROPIC_BASE_URL',
      keyless: 'a gateway',
    }),
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
    ...(config.telemetry === true ? {} : { openTelemetry: false }),
  };
}

function validateClientConfig(config: AnthropicModelConfig): void {
  if (config.client === undefined) return;
  const given = (['apiKey', 'baseURL', 'telemetry'] as const).filter((key) => config[key] !== undefined);
  if (given.length > 0) {
    throw new TypeError(
      `Pass either \`client\` or ${given.map((key) => `\`${key}\``).join(', ')}, not both: a ready client already has its own key, URL and telemetry.`,
    );
  }
  const create = (config.client as { messages?: { create?: unknown } } | null)?.messages?.create;
  if (typeof create !== 'function') {
    throw new TypeError(`Expected \`client\` to be an Anthropic client, got ${describe(config.client)}`);
  }
}

async function stream(
  sdk: Sdk,
  client: Anthropic,
  request: MessageCreateParamsStreaming,
  task: Task,
  signal: AbortSignal,
  subscriber: EventSink,
  scheduler: SchedulerLike,
): Promise<void> {
  const progress: Progress = { chunks: 0, partialText: '' };
  const run = new MessageAssembler(request.model);
  try {
    const { data, response } = await client.messages.create(request, { signal }).withResponse();
    emitLimits(response.headers, subscriber, scheduler.now());
    if (!(await readDeltas(data, (event) => run.add(event), subscriber, progress))) return;
    if (signal.aborted) throw signal.reason;
    const finish = run.finishReason;
    if (finish === undefined) throw sdk.errors.incompleteStreamError(progress);
    const usage = run.usage();
    if (finish === 'refusal') {
      // The provider bills a refusal like any answer, so the budget still hears of its usage.
      if (usage !== undefined) subscriber.next({ type: 'usage', usage });
      subscriber.error(sdk.errors.refusalError(task.id, run.refusal(), progress));
      return;
    }
    const calls = run.toolCalls();
    if (calls.length > 0) subscriber.next({ type: 'tool-calls', calls });
    if (usage !== undefined) subscriber.next({ type: 'usage', usage });
    subscriber.next({ type: 'done', text: progress.partialText, finishReason: finish });
    subscriber.complete();
  } catch (error) {
    if (subscriber.closed) return;
    if (signal.aborted) {
      subscriber.error(abortedRun(task.id));
      return;
    }
    // A 429 carries the limits that were hit; a mid-stream error, the 200's (already reported).
    if (error instanceof sdk.APIError && (error as APIError).status !== undefined) {
      emitLimits((error as APIError).headers, subscriber, scheduler.now());
    }
    subscriber.error(sdk.errors.toProviderError(error, progress, scheduler.now()));
  }
}

/** The token counts of a message: `message_start`'s, then each `message_delta`'s non-null ones (cumulative). */
type TokenCounts = Pick<
  MessageDeltaUsage,
  'input_tokens' | 'output_tokens' | 'cache_creation_input_tokens' | 'cache_read_input_tokens'
> & { thinking_tokens: number | null };

/**
 * Collects one streamed message: text, `tool_use` blocks with their JSON input assembled from its fragments,
 * usage, the stop reason, and the model that answered. Thinking, citations and server-tool blocks are not
 * part of the answer and pass unread; thinking tokens are still counted in the usage.
 */
class MessageAssembler {
  /** The mapped stop reason; `'refusal'` is kept apart, because a refusal is an error, not a finish. */
  finishReason: FinishReason | 'refusal' | undefined;
  /** Tool calls by content-block index; `complete` once their block stopped. */
  readonly #calls = new Map<number, { id: string; name: string; json: string; complete: boolean }>();
  #counts: TokenCounts | undefined;
  #model: string;
  #refusal: Omit<Refusal, 'model'> = { explanation: '' };

  constructor(requestedModel: string) {
    this.#model = requestedModel;
  }

  /** Takes an event in; returns the text it adds. */
  add(event: RawMessageStreamEvent): string {
    switch (event.type) {
      case 'message_start':
        this.#model = event.message.model || this.#model;
        this.#count(event.message.usage);
        return '';
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text') return block.text;
        if (block.type === 'tool_use') {
          // The input streams as `input_json_delta`s; the start's `input` is `{}` then, else already whole.
          const json = Object.keys(block.input as object).length === 0 ? '' : JSON.stringify(block.input);
          this.#calls.set(event.index, { id: block.id, name: block.name, json, complete: false });
        }
        return '';
      }
      case 'content_block_delta': {
        const { delta } = event;
        if (delta.type === 'text_delta') return delta.text;
        if (delta.type === 'input_json_delta') {
          const call = this.#calls.get(event.index);
          if (call !== undefined) call.json += delta.partial_json;
        }
        return '';
      }
      case 'content_block_stop': {
        const call = this.#calls.get(event.index);
        if (call !== undefined) call.complete = true;
        return '';
      }
      case 'message_delta':
        this.#count(event.usage);
        if (event.delta.stop_reason != null) this.finishReason = mapStopReason(event.delta.stop_reason);
        if (event.delta.stop_details != null) {
          const { explanation, category } = event.delta.stop_details;
          this.#refusal = { explanation: explanation ?? '', ...(category == null ? {} : { category }) };
        }
        return '';
      default:
        return '';
    }
  }

  /** Usage as rxagent counts it: every input token, of which cache reads and writes are a part. */
  usage(): Usage | undefined {
    const counts = this.#counts;
    if (counts === undefined) return undefined;
    const read = counts.cache_read_input_tokens;
    const written = counts.cache_creation_input_tokens;
    return {
      inputTokens: (counts.input_tokens ?? 0) + (read ?? 0) + (written ?? 0),
      outputTokens: counts.output_tokens,
      ...(read == null ? {} : { cachedInputTokens: read }),
      ...(written == null ? {} : { cacheWriteTokens: written }),
      ...(counts.thinking_tokens == null ? {} : { reasoningTokens: counts.thinking_tokens }),
    };
  }

  refusal(): Refusal {
    return { model: this.#model, ...this.#refusal };
  }

  /**
   * The `tool_use` blocks the model finished, in block order. One cut off by `max_tokens` is left out: its
   * input is not JSON, and `finishReason: 'length'` says the answer was cut.
   */
  toolCalls(): ToolCall[] {
    return [...this.#calls.entries()]
      .filter(([, call]) => call.complete)
      .sort(([a], [b]) => a - b)
      .map(([, call]) => ({ id: call.id, name: call.name, arguments: call.json === '' ? '{}' : call.json }));
  }

  #count(usage: AnthropicUsage | MessageDeltaUsage): void {
    // `message_delta` counts are cumulative and may leave input fields null: a non-null count wins.
    const before = this.#counts;
    const pick = (now: number | null | undefined, then: number | null | undefined): number | null =>
      now ?? then ?? null;
    this.#counts = {
      input_tokens: pick(usage.input_tokens, before?.input_tokens),
      output_tokens: usage.output_tokens,
      cache_creation_input_tokens: pick(
        usage.cache_creation_input_tokens,
        before?.cache_creation_input_tokens,
      ),
      cache_read_input_tokens: pick(usage.cache_read_input_tokens, before?.cache_read_input_tokens),
      thinking_tokens: pick(usage.output_tokens_details?.thinking_tokens, before?.thinking_tokens),
    };
  }
}

/** Anthropic's stop reasons as rxagent's finish reasons; `pause_turn` (a server tool paused) ends the run as a stop. */
function mapStopReason(reason: string): FinishReason | 'refusal' {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'refusal';
    default:
      return 'other';
  }
}
