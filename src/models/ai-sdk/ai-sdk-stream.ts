import type {
  LanguageModelV2FinishReason,
  LanguageModelV2StreamPart,
  LanguageModelV2Usage,
  LanguageModelV3FinishReason,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import type { FinishReason, ToolCall, Usage } from '../../core/types.js';
import type { Refusal } from './ai-sdk-errors.js';

/** A part of either specification version's stream. */
export type StreamPart = LanguageModelV3StreamPart | LanguageModelV2StreamPart;

/** What to do with reasoning (thinking) text. */
export type ReasoningMode = 'omit' | 'inline';

/** How a stream finished, in both versions' words. */
export interface Finish {
  /** The AI SDK's unified reason: V3's `unified`, or V2's string. */
  readonly unified: string;
  /** The provider's own word, V3 only: Anthropic's `refusal`, OpenAI's `content_filter`. */
  readonly raw: string | undefined;
  /** Anthropic's `stopDetails.explanation` of a refusal, from the finish part's provider metadata. */
  readonly explanation: string | undefined;
}

/**
 * Reads one run's stream parts: the text to stream (and reasoning, when inlined), tool calls, usage, the
 * finish, and the model that answered. Closure state would do as well; a class keeps the fields in one
 * place for the run loop to read.
 */
export class PartReader {
  /** Every part read, for error messages. */
  parts = 0;
  /** The text emitted as deltas so far: the answer, and inlined reasoning. */
  text = '';
  finish: Finish | undefined;
  usage: Usage | undefined;
  /** The model the provider says answered; the model object's id until a part names one. */
  model: string;
  readonly #reasoning: ReasoningMode;
  readonly #calls: ToolCall[] = [];
  /** An inlined `<think>` block is open. */
  #thinking = false;

  constructor(modelId: string, reasoning: ReasoningMode) {
    this.model = modelId;
    this.#reasoning = reasoning;
  }

  /** Takes a part in; returns the text it adds to the stream (`''` for none). */
  add(part: StreamPart): string {
    this.parts += 1;
    switch (part.type) {
      case 'text-delta':
        return this.#emit(this.#closeThinking() + part.delta);
      case 'reasoning-delta': {
        // Anthropic's signature arrives as an empty reasoning delta.
        if (this.#reasoning === 'omit' || part.delta === '') return '';
        const open = this.#thinking ? '' : '<think>';
        this.#thinking = true;
        return this.#emit(open + part.delta);
      }
      case 'reasoning-end':
        return this.#emit(this.#closeThinking());
      case 'tool-call':
        // A provider-executed call (Anthropic's code execution) was run by the provider already.
        if (part.providerExecuted !== true) {
          this.#calls.push({ id: part.toolCallId, name: part.toolName, arguments: part.input });
        }
        return '';
      case 'response-metadata':
        if (part.modelId !== undefined && part.modelId !== '') this.model = part.modelId;
        return '';
      case 'finish':
        this.usage = toUsage(part.usage);
        this.finish = toFinish(part.finishReason, part.providerMetadata);
        return this.#emit(this.#closeThinking());
      default:
        // Tool-input parts only preview the `tool-call` that follows them; files, sources and provider tool
        // results have no place among rxagent's events.
        return '';
    }
  }

  toolCalls(): readonly ToolCall[] {
    return this.#calls;
  }

  /** Whether the finish was a refusal or a content filter, and what the provider said. */
  refused(): Refusal | undefined {
    if (this.finish?.unified !== 'content-filter') return undefined;
    // Anthropic finishes a refusal with `refusal`; @ai-sdk/openai-compatible finishes a streamed
    // `delta.refusal` with `stop`, the refusal itself then being the text. Any other word is a filter.
    const { raw, explanation } = this.finish;
    const reason = raw === 'refusal' || raw === 'stop' ? 'refusal' : 'content-filter';
    const refusal = reason === 'refusal' ? (explanation ?? this.text) : '';
    return { reason, refusal, model: this.model };
  }

  #emit(text: string): string {
    this.text += text;
    return text;
  }

  #closeThinking(): string {
    if (!this.#thinking) return '';
    this.#thinking = false;
    return '</think>';
  }
}

/** Maps a finish reason of either version to rxagent's; `content-filter` and `error` are handled apart. */
export function finishReasonOf(finish: Finish): FinishReason {
  switch (finish.unified) {
    case 'stop':
    case 'length':
    case 'tool-calls':
    case 'content-filter':
      return finish.unified;
    default:
      return 'other';
  }
}

function toFinish(
  reason: LanguageModelV3FinishReason | LanguageModelV2FinishReason,
  metadata: Readonly<Record<string, unknown>> | undefined,
): Finish {
  const [unified, raw] = typeof reason === 'string' ? [reason, undefined] : [reason.unified, reason.raw];
  return { unified, raw, explanation: explanationIn(metadata) };
}

function explanationIn(metadata: Readonly<Record<string, unknown>> | undefined): string | undefined {
  // Keyed by the provider's options name (`anthropic`, or a custom one), so every entry is looked at.
  for (const entry of Object.values(metadata ?? {})) {
    const details = (entry as { stopDetails?: { explanation?: unknown } } | null)?.stopDetails;
    if (typeof details?.explanation === 'string') return details.explanation;
  }
  return undefined;
}

/**
 * rxagent's `Usage` from either version's, or `undefined` when the provider reported no token counts (an
 * OpenAI-compatible server asked for no usage). V3's input total already counts cache reads and writes;
 * V2's is taken as the input total, as its OpenAI providers report it.
 */
export function toUsage(usage: LanguageModelV3Usage | LanguageModelV2Usage): Usage | undefined {
  if (isV3Usage(usage)) {
    const input = usage.inputTokens;
    const output = usage.outputTokens;
    const inputTokens = input.total ?? sum(input.noCache, input.cacheRead, input.cacheWrite);
    const reported = output.total ?? sum(output.text, output.reasoning);
    if (inputTokens === undefined && reported === undefined) return undefined;
    return {
      inputTokens: inputTokens ?? 0,
      outputTokens: outputTotal(reported ?? 0, output.reasoning, usage.raw),
      ...(input.cacheRead === undefined ? {} : { cachedInputTokens: input.cacheRead }),
      ...(input.cacheWrite === undefined ? {} : { cacheWriteTokens: input.cacheWrite }),
      ...(output.reasoning === undefined ? {} : { reasoningTokens: output.reasoning }),
    };
  }
  if (usage.inputTokens === undefined && usage.outputTokens === undefined) return undefined;
  return {
    inputTokens: usage.inputTokens ?? 0,
    outputTokens: usage.outputTokens ?? 0,
    ...(usage.cachedInputTokens === undefined ? {} : { cachedInputTokens: usage.cachedInputTokens }),
    ...(usage.reasoningTokens === undefined ? {} : { reasoningTokens: usage.reasoningTokens }),
  };
}

function isV3Usage(usage: LanguageModelV3Usage | LanguageModelV2Usage): usage is LanguageModelV3Usage {
  return typeof usage.inputTokens === 'object';
}

/**
 * The output total, reasoning included. xAI's `completion_tokens` leaves reasoning out (grok-3-mini: 2
 * completion + 340 reasoning, `total_tokens` 354 with 12 prompt), and @ai-sdk/openai-compatible copies it as
 * the output total; the raw usage's own total tells that case from OpenAI's, where reasoning is inside.
 */
function outputTotal(reported: number, reasoning: number | undefined, raw: unknown): number {
  if (reasoning === undefined || reasoning === 0) return reported;
  const counts = (raw ?? {}) as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    total_tokens?: unknown;
  };
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = counts;
  const apart =
    typeof prompt === 'number' &&
    typeof completion === 'number' &&
    typeof total === 'number' &&
    completion === reported &&
    total === prompt + completion + reasoning;
  return apart ? reported + reasoning : reported;
}

function sum(...counts: (number | undefined)[]): number | undefined {
  const known = counts.filter((count) => count !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0);
}
