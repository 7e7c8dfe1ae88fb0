import type { LanguageModelV2, LanguageModelV3 } from '@ai-sdk/provider';
import { Observable, asyncScheduler, type SchedulerLike, type Subscriber } from 'rxjs';
import { CancelledError, ValidationError } from '../../core/errors/index.js';
import { parseRateLimitHeaders, type HeadersLike } from '../../core/rate-limit-headers.js';
import type { Agent, AgentEvent, Task } from '../../core/types.js';
import {
  describe,
  expectConfig,
  expectInteger,
  expectKnownKeys,
  expectOneOf,
  expectScheduler,
} from '../../core/validate.js';
import { withSignal } from '../../core/with-signal.js';
import {
  errorFinishError,
  errorHeaders,
  incompleteStreamError,
  refusalError,
  toRxAgentError,
  type StreamProgress,
} from './ai-sdk-errors.js';
import { callOptions, refusedByWarnings, type CallDefaults, type CallOptions } from './ai-sdk-request.js';
import { PartReader, finishReasonOf, type ReasoningMode, type StreamPart } from './ai-sdk-stream.js';

/** A language model of the AI SDK's provider specification, version 3 or 2 (`@ai-sdk/provider` 3.x). */
export type AiSdkLanguageModel = LanguageModelV3 | LanguageModelV2;

/** Configuration of {@link aiSdkModel}. */
export interface AiSdkModelConfig {
  /**
   * Names the agent in messages and errors (`'haiku'`).
   * @defaultValue `provider:modelId` of the model object, such as `'anthropic.messages:claude-haiku-4-5'`
   */
  readonly name?: string;
  /** Output cap for tasks that set no `maxOutputTokens`; budgets reserve it. @defaultValue none: the provider's own */
  readonly maxOutputTokens?: number;
  /**
   * What becomes of reasoning (thinking) text: `'omit'` drops it (its tokens still count in
   * `usage.reasoningTokens`); `'inline'` streams it as deltas inside `<think>` … `</think>`, the form the AI
   * SDK's `extractReasoningMiddleware` reads back.
   * @defaultValue 'omit'
   */
  readonly reasoning?: ReasoningMode;
  /** Extra HTTP headers sent with every request. @defaultValue none */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Provider options for every request, keyed by provider (`{ anthropic: { thinking: … } }`); a task's
   * `params.providerOptions` wins key by key within a provider. @defaultValue none
   */
  readonly providerOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** The clock used to turn an HTTP-date `retry-after` into a delay. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** The agent {@link aiSdkModel} returns: an `Agent` with the name it goes by. */
export interface AiSdkAgent extends Agent {
  readonly name: string;
}

/**
 * An `Agent` backed by any AI SDK language model, `LanguageModelV3` or `LanguageModelV2`
 * (`@ai-sdk/anthropic`, `@ai-sdk/openai`, `@ai-sdk/openai-compatible`, `@ai-sdk/google`, … in their
 * `@ai-sdk/provider` 3.x releases; the 4.x line needs Node 22, and rxagent supports Node 20). It calls
 * `doStream` and emits `rate-limits` (from whichever header family the response carries), `delta`s,
 * `tool-calls` (assembled by the provider package), `usage` (with cached, cache-write and reasoning tokens)
 * and `done`. The run's signal is the call's `abortSignal`. A task's `params` are passed through; a
 * `params.model` other than the model object's id, or a parameter the provider says it dropped, fails the
 * task with `ValidationError`. Errors become `RateLimitError`, `ProviderError` and, for a refusal or a
 * content filter, `RefusalError`.
 *
 * `doStream` performs no retries of its own (only the AI SDK's `generateText`/`streamText` retry), so
 * `retryBackoff` and the budget are the only retries there are.
 *
 * @example
 * import { createAnthropic } from '@ai-sdk/anthropic';
 * const agent = aiSdkModel(createAnthropic()('claude-haiku-4-5'), { name: 'haiku', maxOutputTokens: 1024 });
 * agent.run({ id: 't1', input: 'Say hi' }, { signal: new AbortController().signal }).subscribe(console.log);
 */
export function aiSdkModel(model: AiSdkLanguageModel, config: AiSdkModelConfig = {}): AiSdkAgent {
  expectModel(model);
  expectConfig('config', config);
  expectKnownKeys('aiSdkModel', config, [
    'name',
    'maxOutputTokens',
    'reasoning',
    'headers',
    'providerOptions',
    'scheduler',
  ]);
  const name = config.name ?? `${model.provider}:${model.modelId}`;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`Expected \`name\` to be a non-empty string, got ${describe(name)}`);
  }
  const maxOutputTokens =
    config.maxOutputTokens === undefined
      ? undefined
      : expectInteger('maxOutputTokens', config.maxOutputTokens, 1);
  const reasoning = expectOneOf('reasoning', config.reasoning ?? 'omit', ['omit', 'inline']);
  if (config.headers !== undefined) expectHeaders(config.headers);
  if (config.providerOptions !== undefined) expectProviderOptions(config.providerOptions);
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  const defaults: CallDefaults = {
    maxOutputTokens,
    headers: config.headers,
    providerOptions: config.providerOptions,
  };
  const settings: RunSettings = { model, name, reasoning, scheduler };

  return {
    name,
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    run(task: Task, { signal }): Observable<AgentEvent> {
      // The call gets a signal of this subscription, aborted with the caller's or on unsubscribe.
      return withSignal(
        (requestSignal) =>
          new Observable<AgentEvent>((subscriber) => {
            // Aborts the call when the run fails on its own (an error part, a refused parameter): the
            // subscription's signal is left alone once the run has ended.
            const stop = new AbortController();
            const options = callOptions(
              task,
              model,
              name,
              defaults,
              AbortSignal.any([requestSignal, stop.signal]),
            );
            if (options instanceof ValidationError) {
              subscriber.error(options);
              return undefined;
            }
            // Reported at once: a model that ignores `abortSignal` must not keep the run waiting.
            const cancel = (): void => {
              subscriber.error(
                new CancelledError({
                  reason: 'unsubscribed',
                  taskId: task.id,
                  message: `Run of task ${task.id} was aborted through its signal`,
                }),
              );
            };
            if (requestSignal.aborted) {
              cancel();
              return undefined;
            }
            requestSignal.addEventListener('abort', cancel, { once: true });
            const call: CallState = { reader: undefined, ended: false };
            void stream(settings, options, task, subscriber, call);
            return () => {
              requestSignal.removeEventListener('abort', cancel);
              if (call.ended) return;
              stop.abort();
              call.reader?.cancel().catch(() => undefined);
            };
          }),
        signal,
      );
    },
  };
}

interface RunSettings {
  readonly model: AiSdkLanguageModel;
  readonly name: string;
  readonly reasoning: ReasoningMode;
  readonly scheduler: SchedulerLike;
}

/** What the teardown of a run needs of its call: the stream's reader, and whether it was read to the end. */
interface CallState {
  reader: ReadableStreamDefaultReader<StreamPart> | undefined;
  ended: boolean;
}

async function stream(
  settings: RunSettings,
  options: CallOptions,
  task: Task,
  subscriber: Subscriber<AgentEvent>,
  call: CallState,
): Promise<void> {
  const { model, name } = settings;
  const reader = new PartReader(model.modelId, settings.reasoning);
  const progress = (): StreamProgress => ({ parts: reader.parts, partialText: reader.text });
  try {
    const result = await model.doStream(options);
    emitLimits(result.response?.headers, subscriber);
    call.reader = result.stream.getReader();
    for (;;) {
      if (subscriber.closed) {
        await call.reader.cancel();
        return;
      }
      const { done, value } = await call.reader.read();
      if (done) break;
      if (value.type === 'error') {
        subscriber.error(toRxAgentError(value.error, progress(), settings.scheduler.now(), name));
        return;
      }
      if (value.type === 'stream-start') {
        const refused = refusedByWarnings(value.warnings, task, name);
        if (refused !== undefined) {
          subscriber.error(refused);
          return;
        }
      }
      const text = reader.add(value);
      if (text !== '') subscriber.next({ type: 'delta', text });
    }
    call.ended = true;
    finish(reader, progress(), task, subscriber);
  } catch (error) {
    // An abort was reported by the signal's listener already.
    if (subscriber.closed) return;
    emitLimits(errorHeaders(error), subscriber);
    subscriber.error(toRxAgentError(error, progress(), settings.scheduler.now(), name));
  }
}

/** Ends a stream that was read to its end: the tool calls, usage and `done`, or the error its finish means. */
function finish(
  reader: PartReader,
  progress: StreamProgress,
  task: Task,
  subscriber: Subscriber<AgentEvent>,
): void {
  const end = reader.finish;
  if (end === undefined) {
    subscriber.error(incompleteStreamError(progress));
    return;
  }
  if (end.unified === 'error') {
    subscriber.error(errorFinishError(progress, end.raw));
    return;
  }
  const refused = reader.refused();
  if (refused !== undefined) {
    // The provider bills a refusal like any answer, so the budget still hears of its usage.
    if (reader.usage !== undefined) subscriber.next({ type: 'usage', usage: reader.usage });
    subscriber.error(refusalError(task.id, refused, progress));
    return;
  }
  const calls = reader.toolCalls();
  if (calls.length > 0) subscriber.next({ type: 'tool-calls', calls });
  if (reader.usage !== undefined) subscriber.next({ type: 'usage', usage: reader.usage });
  subscriber.next({ type: 'done', text: reader.text, finishReason: finishReasonOf(end) });
  subscriber.complete();
}

function emitLimits(headers: HeadersLike | undefined, subscriber: Subscriber<AgentEvent>): void {
  if (headers === undefined) return;
  const limits = parseRateLimitHeaders(headers);
  if (Object.keys(limits).length > 0) subscriber.next({ type: 'rate-limits', limits });
}

function expectModel(model: unknown): void {
  if (typeof model === 'string') {
    throw new TypeError(
      `Expected \`model\` to be an AI SDK language model object, got ${describe(model)}. Pass the provider's model, such as \`createAnthropic()('claude-haiku-4-5')\`.`,
    );
  }
  const candidate = model as Partial<Record<'doStream' | 'provider' | 'modelId', unknown>> | null;
  if (
    typeof model !== 'object' ||
    candidate === null ||
    typeof candidate.doStream !== 'function' ||
    typeof candidate.provider !== 'string' ||
    typeof candidate.modelId !== 'string'
  ) {
    throw new TypeError(
      `Expected \`model\` to be an AI SDK LanguageModelV3 or LanguageModelV2 (with \`doStream\`, \`provider\` and \`modelId\`), got ${describe(model)}`,
    );
  }
  const version = (model as { specificationVersion?: unknown }).specificationVersion;
  if (version !== 'v3' && version !== 'v2') {
    throw new TypeError(
      `Expected \`model\` to implement the AI SDK's specification v3 or v2 (@ai-sdk/provider 3.x), got specificationVersion ${describe(version)}`,
    );
  }
}

function expectHeaders(headers: unknown): void {
  expectConfig('headers', headers);
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof value !== 'string') {
      throw new TypeError(`Expected \`headers.${key}\` to be a string, got ${describe(value)}`);
    }
  }
}

function expectProviderOptions(options: unknown): void {
  expectConfig('providerOptions', options);
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TypeError(
        `Expected \`providerOptions.${key}\` to be an object of that provider's options, got ${describe(value)}`,
      );
    }
  }
}
