import type { APICallError } from '@ai-sdk/provider';
import { ProviderError, RefusalError, RxAgentError, ValidationError } from '../../core/errors/index.js';
import { httpError, limitFromHeaders, type HttpErrorRules } from '../http-error.js';
import type { HeaderSource } from '../retry-after.js';
import { connectionMessage, received as describeReceived } from '../stream-errors.js';

/** What a run had seen when it failed, so the error can say what was received. */
export interface StreamProgress {
  /** Stream parts read before the failure. */
  readonly parts: number;
  /** Text streamed before the failure. */
  readonly partialText: string;
}

/**
 * Whether `error` is one of the AI SDK's errors named `name` (`'AI_APICallError'`), from whichever copy of
 * `@ai-sdk/provider` made it. This is the very test of `APICallError.isInstance`: a marker under a global
 * symbol, so errors of a provider's own copy of the package are recognised, and rxagent loads none.
 */
export function isAiSdkError(error: unknown, name: string): error is Error {
  const marker = Symbol.for(`vercel.ai.error.${name}`);
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
}

/** Whether `error` is the AI SDK's `APICallError` (see {@link isAiSdkError}). */
export function isAPICallError(error: unknown): error is APICallError {
  return isAiSdkError(error, 'AI_APICallError');
}

/** Errors the AI SDK throws for a request it will not send; the same request meets them again. */
const REFUSED_REQUEST = [
  'AI_InvalidPromptError',
  'AI_UnsupportedFunctionalityError',
  'AI_InvalidArgumentError',
];

/** Errors of a response the provider package could not read. */
const UNREADABLE_RESPONSE = ['AI_TypeValidationError', 'AI_JSONParseError', 'AI_InvalidResponseDataError'];

/** Error types a provider sends inside a stream that the same request meets again (Anthropic's, OpenAI's). */
const FINAL_STREAM_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'billing_error',
  'insufficient_quota',
];

/**
 * Turns what an AI SDK model threw, or sent as an `error` part, into rxagent's error types: an `APICallError`
 * by its status (429 → `RateLimitError` with the delay its headers or message ask for; 408, 409, 5xx and 529
 * → retryable `ProviderError`; 400, 401, 403, 404 → final `ProviderError` with the provider's message; no
 * status → `connection`; a 200 whose body broke off → `stream_interrupted`), an error object sent mid-stream
 * → `ProviderError` (retryable unless its type says the request itself is wrong), an unreadable chunk →
 * `malformed_chunk`, a request the provider package refused to build → `ValidationError`.
 *
 * @param name - The agent's name, for messages.
 * @param nowMs - The current time, to turn an HTTP-date `retry-after` into a delay.
 *
 * @example
 * catch (error) { subscriber.error(toRxAgentError(error, progress, scheduler.now(), 'anthropic:claude')); }
 */
export function toRxAgentError(
  error: unknown,
  progress: StreamProgress,
  nowMs: number,
  name: string,
): RxAgentError {
  if (error instanceof RxAgentError) return error as RxAgentError;
  if (isAPICallError(error)) return fromAPICallError(error, progress, nowMs);
  if (REFUSED_REQUEST.some((kind) => isAiSdkError(error, kind))) {
    const message = `${name} refused the request: ${(error as Error).message}`;
    return new ValidationError({
      issues: [{ code: 'custom', path: [], message }],
      source: name,
      message,
      cause: error,
    });
  }
  if (UNREADABLE_RESPONSE.some((kind) => isAiSdkError(error, kind))) {
    return new ProviderError({
      type: 'malformed_chunk',
      chunks: progress.parts,
      partialText: progress.partialText,
      message: `Provider sent a response ${name} could not read, after ${received(progress)}: ${(error as Error).message}`,
      cause: error,
    });
  }
  if (error instanceof Error) return interrupted(connectionMessage(error), progress, error);
  return fromPayload(error, progress);
}

/** The headers of an `APICallError` (lower-cased by the AI SDK), to report beside the error. */
export function errorHeaders(error: unknown): Readonly<Record<string, string>> | undefined {
  return isAPICallError(error) ? error.responseHeaders : undefined;
}

function fromAPICallError(error: APICallError, progress: StreamProgress, nowMs: number): RxAgentError {
  const status = error.statusCode;
  if (status === undefined) {
    // provider-utils' "Cannot connect to API: …", before any response.
    return new ProviderError({
      type: 'connection',
      message: `Could not reach the provider: ${connectionMessage(error)}`,
      cause: error,
    });
  }
  // "Failed to process successful response": the 200 came, then its body broke off.
  if (status < 400) return interrupted(connectionMessage(error), progress, error);
  const headers = headerSource(error.responseHeaders);
  const body = describeBody(error);
  const requestId = body.requestId ?? headers.get('request-id') ?? headers.get('x-request-id') ?? undefined;
  return httpError(
    {
      status,
      headers,
      message: body.message,
      ...(body.type === undefined ? {} : { type: body.type }),
      ...(body.code === undefined ? {} : { code: body.code }),
      ...(requestId === undefined ? {} : { requestId }),
      cause: error,
    },
    { chunks: progress.parts, partialText: progress.partialText },
    AI_SDK_RULES,
    nowMs,
  );
}

/**
 * How answers relayed by an AI SDK provider name a limit, whichever provider sent them, and which 429s waiting
 * does not cure (OpenAI's exhausted quota, Anthropic's spend cap: a 429 without `retry-after` that keeps
 * failing until the account is raised). The limit a 429 hit: the `remaining` header of either family that
 * alone reads 0 (`x-ratelimit-*`, or Anthropic's `anthropic-ratelimit-*`, where input and output tokens are
 * token limits too), then the body's `type` (OpenAI's `'tokens'` / `'requests'`), else tokens.
 */
const AI_SDK_RULES: HttpErrorRules = {
  limitKind: ({ headers, type }) =>
    limitFromHeaders(headers, {
      tokens: [
        'x-ratelimit-remaining-tokens',
        'anthropic-ratelimit-tokens-remaining',
        'anthropic-ratelimit-input-tokens-remaining',
        'anthropic-ratelimit-output-tokens-remaining',
      ],
      requests: ['x-ratelimit-remaining-requests', 'anthropic-ratelimit-requests-remaining'],
    }) ?? (type === 'requests' ? 'requests' : 'tokens'),
  finalRateLimit: ({ type, code }) => {
    if (code === 'insufficient_quota' || type === 'insufficient_quota') {
      return { type: 'insufficient_quota', says: 'Provider quota exhausted' };
    }
    return code === 'enforced_spend_limit_reached' ? { says: 'Provider spend limit reached' } : undefined;
  },
};

/** An `error` part's payload that is not an `Error`: the provider's error object as it sent it. */
function fromPayload(payload: unknown, progress: StreamProgress): ProviderError {
  const fields = errorFields(payload);
  const message = fields.message ?? describePayload(payload);
  return new ProviderError({
    ...(fields.type === undefined ? {} : { type: fields.type }),
    ...(fields.code === undefined ? {} : { code: fields.code }),
    chunks: progress.parts,
    partialText: progress.partialText,
    // The request itself was accepted, so trying again may work, unless the provider says it is wrong.
    ...(fields.type !== undefined && FINAL_STREAM_TYPES.includes(fields.type) ? { retryable: false } : {}),
    message: `Provider reported an error mid-stream after ${received(progress)}: ${message}`,
    cause: payload,
  });
}

function describePayload(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  // What JSON cannot write: `undefined`, functions, symbols (stringify gives undefined), cycles and BigInts (it throws).
  if (payload === undefined || typeof payload === 'function' || typeof payload === 'symbol') {
    return String(payload);
  }
  try {
    return JSON.stringify(payload);
  } catch {
    return `an unserialisable ${typeof payload}`;
  }
}

function interrupted(message: string, progress: StreamProgress, cause: unknown): ProviderError {
  return new ProviderError({
    type: 'stream_interrupted',
    chunks: progress.parts,
    partialText: progress.partialText,
    message: `Provider stream broke after ${received(progress)}: ${message}`,
    cause,
  });
}

/** The error for a stream that ended, without a network error, before the model said it had finished. */
export function incompleteStreamError(progress: StreamProgress): ProviderError {
  return new ProviderError({
    type: 'incomplete_stream',
    chunks: progress.parts,
    partialText: progress.partialText,
    message: `Provider stream ended without a finish part after ${received(progress)}`,
  });
}

/** The error for a stream whose finish part says `error` though no `error` part said what went wrong. */
export function errorFinishError(progress: StreamProgress, raw: string | undefined): ProviderError {
  return new ProviderError({
    type: 'error_finish',
    chunks: progress.parts,
    partialText: progress.partialText,
    message: `Provider finished with reason error${raw === undefined ? '' : ` (${raw})`} after ${received(progress)}`,
  });
}

/** What a run saw of a refused answer. */
export interface Refusal {
  readonly reason: 'refusal' | 'content-filter';
  readonly refusal: string;
  readonly model: string;
}

/** The error for an answer the model declined, or the provider's content filter stopped. */
export function refusalError(taskId: string, refused: Refusal, progress: StreamProgress): RefusalError {
  const partial = progress.partialText === '' ? {} : { partialText: progress.partialText };
  const said = refused.refusal === '' ? '' : `: ${refused.refusal}`;
  const message =
    refused.reason === 'refusal'
      ? `Model ${refused.model} refused task "${taskId}"${said}`
      : `The provider's content filter stopped ${refused.model} on task "${taskId}" after ${received(progress)}`;
  return new RefusalError({ ...refused, ...partial, message });
}

interface ErrorBody {
  readonly message: string;
  readonly type?: string;
  readonly code?: string;
  readonly requestId?: string;
}

/**
 * The provider's message, type and code from a response body: `{error: {message, type, code}}` (OpenAI,
 * Anthropic's HTTP errors) or the bare error object (the `error` event `@ai-sdk/anthropic` throws when it is
 * a stream's first).
 */
function describeBody(error: APICallError): ErrorBody {
  let parsed: unknown;
  try {
    parsed = error.responseBody === undefined ? undefined : JSON.parse(error.responseBody);
  } catch {
    parsed = undefined;
  }
  const record = isRecord(parsed) ? parsed : {};
  const inner = isRecord(record['error']) ? record['error'] : record;
  const fields = errorFields(inner);
  const requestId = typeof record['request_id'] === 'string' ? record['request_id'] : undefined;
  return {
    message: fields.message ?? error.message,
    ...(fields.type === undefined ? {} : { type: fields.type }),
    ...(fields.code === undefined ? {} : { code: fields.code }),
    ...(requestId === undefined ? {} : { requestId }),
  };
}

function errorFields(value: unknown): { message?: string; type?: string; code?: string } {
  if (!isRecord(value)) return {};
  const details = isRecord(value['details']) ? value['details'] : {};
  const code = value['code'] ?? details['error_code'];
  return {
    ...(typeof value['message'] === 'string' ? { message: value['message'] } : {}),
    ...(typeof value['type'] === 'string' ? { type: value['type'] } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

function headerSource(record: Readonly<Record<string, string>> | undefined): HeaderSource {
  const lower = new Map(Object.entries(record ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
  return { get: (name) => lower.get(name) ?? null };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function received(progress: StreamProgress): string {
  return describeReceived({ chunks: progress.parts, partialText: progress.partialText }, 'part');
}
