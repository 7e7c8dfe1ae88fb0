import { ProviderError, RefusalError, type RxAgentError } from '../../core/errors/index.js';
import type { FinishReason, ToolCall, Usage } from '../../core/types.js';
import { mapFinishReason } from './openai.js';

/**
 * What one request of a batch came to: an answer, a failure, or — for a request the provider never ran
 * because the batch expired or was cancelled first — `not-run`, which a resumed run may submit again.
 */
export type BatchOutcome =
  | {
      readonly kind: 'fulfilled';
      readonly text: string;
      readonly calls: readonly ToolCall[];
      readonly finishReason: FinishReason;
      readonly usage: Usage | undefined;
    }
  | { readonly kind: 'rejected'; readonly error: RxAgentError; readonly usage?: Usage }
  | { readonly kind: 'not-run'; readonly error: ProviderError };

/**
 * Error codes of result lines for requests that never ran: the Batch guide's "Batch expiration" section shows
 * `batch_expired` lines in the error file; the OpenAPI spec's BatchRequestOutput.error lists `batch_expired`,
 * `batch_cancelled` and `request_timeout` (https://developers.openai.com/api/docs/guides/batch,
 * genai-rs/openai-client-base docs/BatchRequestOutputError.md, generated from that spec).
 */
const NOT_RUN: readonly string[] = ['batch_expired', 'batch_cancelled'];
/** Codes whose request may well succeed if sent again. */
const RETRYABLE_CODES: readonly string[] = ['batch_expired', 'request_timeout'];

/**
 * Reads the output or error file of a batch into an outcome per `custom_id`. Each line is a
 * BatchRequestOutput (`{ id, custom_id, response: { status_code, request_id, body } | null, error: { code,
 * message } | null }`, as in the SDK's docs and the Batch guide's "Retrieve the results"): a 200 carries a
 * `chat.completion` body, another status OpenAI's `{ error }` body, and `error` a failure outside HTTP. A line
 * that is not JSON or names no `custom_id` is counted in `malformed`, since it cannot be joined to a task.
 *
 * @example
 * const { outcomes } = parseResultLines(await (await client.files.content(batch.output_file_id)).text());
 */
export function parseResultLines(text: string): {
  readonly outcomes: Map<string, BatchOutcome>;
  readonly malformed: number;
} {
  const outcomes = new Map<string, BatchOutcome>();
  let malformed = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = parseLine(line);
    if (parsed === undefined) malformed += 1;
    else outcomes.set(parsed.customId, parsed.outcome);
  }
  return { outcomes, malformed };
}

interface LineShape {
  readonly custom_id?: unknown;
  readonly response?: {
    readonly status_code?: unknown;
    readonly request_id?: unknown;
    readonly body?: unknown;
  } | null;
  readonly error?: { readonly code?: unknown; readonly message?: unknown } | null;
}

function parseLine(text: string): { customId: string; outcome: BatchOutcome } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const line = value as LineShape;
  if (typeof line.custom_id !== 'string') return undefined;
  const customId = line.custom_id;
  if (line.error != null) return { customId, outcome: lineError(customId, line.error) };
  const response = line.response;
  if (response == null) {
    return {
      customId,
      outcome: rejected(
        new ProviderError({
          type: 'malformed_result',
          message: `Batch result for task "${customId}" has neither a response nor an error`,
        }),
      ),
    };
  }
  const status = typeof response.status_code === 'number' ? response.status_code : undefined;
  const requestId = typeof response.request_id === 'string' ? { requestId: response.request_id } : {};
  if (status !== 200) return { customId, outcome: httpError(customId, status, requestId, response.body) };
  return { customId, outcome: completion(customId, response.body, requestId) };
}

function lineError(
  customId: string,
  error: { readonly code?: unknown; readonly message?: unknown },
): BatchOutcome {
  const code = typeof error.code === 'string' ? error.code : 'batch_error';
  const message = typeof error.message === 'string' ? error.message : 'no message';
  const failure = new ProviderError({
    type: code,
    code,
    retryable: RETRYABLE_CODES.includes(code),
    message: `Batch request for task "${customId}" failed (${code}): ${message}`,
  });
  return NOT_RUN.includes(code) ? { kind: 'not-run', error: failure } : rejected(failure);
}

function httpError(
  customId: string,
  status: number | undefined,
  requestId: { requestId?: string },
  body: unknown,
): BatchOutcome {
  const error = (body as { error?: { message?: unknown; type?: unknown; code?: unknown } } | null)?.error;
  const message = typeof error?.message === 'string' ? error.message : 'no message';
  return rejected(
    new ProviderError({
      ...(status === undefined ? {} : { status }),
      ...(typeof error?.type === 'string' ? { type: error.type } : {}),
      ...(typeof error?.code === 'string' ? { code: error.code } : {}),
      ...requestId,
      message: `Batch request for task "${customId}" answered ${status ?? 'without a status'}: ${message}`,
    }),
  );
}

interface ToolCallShape {
  readonly id?: unknown;
  readonly function?: { readonly name?: unknown; readonly arguments?: unknown };
}

interface ChoiceShape {
  readonly index?: unknown;
  readonly finish_reason?: unknown;
  readonly message?: {
    readonly content?: unknown;
    readonly refusal?: unknown;
    readonly tool_calls?: unknown;
  };
}

interface CompletionShape {
  readonly model?: unknown;
  readonly choices?: unknown;
  readonly usage?: {
    readonly prompt_tokens?: unknown;
    readonly completion_tokens?: unknown;
    readonly prompt_tokens_details?: { readonly cached_tokens?: unknown } | null;
    readonly completion_tokens_details?: { readonly reasoning_tokens?: unknown } | null;
  } | null;
}

function completion(customId: string, body: unknown, requestId: { requestId?: string }): BatchOutcome {
  const answer = (body ?? {}) as CompletionShape;
  const choices = objectsIn(answer.choices) as readonly ChoiceShape[];
  const choice = choices.find((c) => (c.index ?? 0) === 0);
  const usage = usageOf(answer.usage);
  if (choice?.message === undefined) {
    return rejected(
      new ProviderError({
        status: 200,
        type: 'malformed_result',
        ...requestId,
        message: `Batch result for task "${customId}" has no choices[0].message`,
      }),
      usage,
    );
  }
  const { message } = choice;
  const text = typeof message.content === 'string' ? message.content : '';
  const finishReason = mapFinishReason(typeof choice.finish_reason === 'string' ? choice.finish_reason : '');
  const model = typeof answer.model === 'string' ? answer.model : '';
  if (typeof message.refusal === 'string' && message.refusal !== '') {
    const refusal = new RefusalError({
      reason: 'refusal',
      refusal: message.refusal,
      model,
      message: `Model ${model} refused task "${customId}": ${message.refusal}`,
    });
    return rejected(refusal, usage);
  }
  if (finishReason === 'content-filter') {
    const filtered = new RefusalError({
      reason: 'content-filter',
      refusal: '',
      model,
      ...(text === '' ? {} : { partialText: text }),
      message: `The provider's content filter stopped ${model} on task "${customId}"`,
    });
    return rejected(filtered, usage);
  }
  const calls = (objectsIn(message.tool_calls) as readonly ToolCallShape[]).map((call, index): ToolCall => ({
    id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${index}`,
    name: typeof call.function?.name === 'string' ? call.function.name : '',
    arguments: typeof call.function?.arguments === 'string' ? call.function.arguments : '',
  }));
  return { kind: 'fulfilled', text, calls, finishReason, usage };
}

/** The objects in what should be a JSON array of objects; none when it is not an array. */
function objectsIn(value: unknown): readonly object[] {
  return Array.isArray(value)
    ? (value as unknown[]).filter((item): item is object => typeof item === 'object' && item !== null)
    : [];
}

function rejected(error: RxAgentError, usage?: Usage): BatchOutcome {
  return usage === undefined ? { kind: 'rejected', error } : { kind: 'rejected', error, usage };
}

/** The usage of a chat completion, cached and reasoning tokens included when the provider says. */
function usageOf(usage: CompletionShape['usage']): Usage | undefined {
  if (usage == null || typeof usage.prompt_tokens !== 'number' || typeof usage.completion_tokens !== 'number')
    return undefined;
  const cached = usage.prompt_tokens_details?.cached_tokens;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  return {
    inputTokens: usage.prompt_tokens,
    outputTokens: usage.completion_tokens,
    ...(typeof cached === 'number' ? { cachedInputTokens: cached } : {}),
    ...(typeof reasoning === 'number' ? { reasoningTokens: reasoning } : {}),
  };
}
