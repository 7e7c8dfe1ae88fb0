import { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import { ProviderError, RefusalError, RxAgentError } from '../../core/errors/index.js';
import { httpError, limitFromHeaders, limitFromPhrases, type HttpErrorRules } from '../http-error.js';
import {
  incompleteStreamError as streamEndedEarly,
  received,
  streamError,
  transportError,
  type StreamProgress,
} from '../stream-errors.js';

export type { StreamProgress } from '../stream-errors.js';

/**
 * 429 codes (`error.details.error_code`) that waiting a minute does not cure: the tier's monthly spend cap
 * and the contract's. Anthropic sends no `retry-after` with them and keeps refusing until access resumes.
 */
const SPEND_LIMIT_CODES: readonly string[] = ['enforced_spend_limit_reached', 'contract_spend_limit_reached'];

/** Error types that say the request itself is wrong, should one arrive in a stream's `event: error`. */
const REQUEST_ERROR_TYPES: readonly string[] = [
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
];

/**
 * Turns what `@anthropic-ai/sdk` threw into rxagent's error types: a 429 into `RateLimitError` (or a final
 * `ProviderError` for a spend cap, or when the API says `x-should-retry: false`), 408/409/5xx, 529
 * `overloaded_error` and connection failures into retryable `ProviderError`s, other statuses into final ones
 * carrying the provider's message, and failures while streaming (an `event: error`, a cut connection) into
 * retryable `ProviderError`s keeping the partial text.
 *
 * @param nowMs - The current time, to turn an HTTP-date `retry-after` or an RFC 3339 reset into a delay.
 *
 * @example
 * catch (error) { subscriber.error(toProviderError(error, { chunks, partialText }, scheduler.now())); }
 */
export function toProviderError(error: unknown, progress: StreamProgress, nowMs: number): RxAgentError {
  if (error instanceof RxAgentError) return error as RxAgentError;
  if (error instanceof APIConnectionTimeoutError) return transportError('timeout', error, progress);
  if (error instanceof APIConnectionError) return transportError('connection', error, progress);
  if (error instanceof APIError) return fromAPIError(error as APIError, progress, nowMs);
  // A connection cut mid-stream reaches the stream's reader as undici's bare `TypeError: terminated`.
  return streamError(error, progress, 'event');
}

/** The error for a stream that ended, without a network error, before `message_stop`. */
export function incompleteStreamError(progress: StreamProgress): ProviderError {
  return streamEndedEarly(progress, 'a stop_reason', 'event');
}

/** What a run saw of a refused answer: Anthropic's `stop_details` and the model that answered. */
export interface Refusal {
  readonly model: string;
  /** `stop_details.explanation`; `''` when the API gave none. */
  readonly explanation: string;
  /** `stop_details.category` (`'cyber'`, `'reasoning_extraction'`, …), when the API named one. */
  readonly category?: string;
}

/** The error for an answer that ended with `stop_reason: "refusal"`. */
export function refusalError(taskId: string, refused: Refusal, progress: StreamProgress): RefusalError {
  const partial = progress.partialText === '' ? {} : { partialText: progress.partialText };
  const category = refused.category === undefined ? '' : ` (${refused.category})`;
  const why = refused.explanation === '' ? '' : `: ${refused.explanation}`;
  return new RefusalError({
    reason: 'refusal',
    refusal: refused.explanation,
    model: refused.model,
    ...partial,
    message: `Model ${refused.model} refused task "${taskId}"${category}${why}`,
  });
}

/**
 * How Anthropic's answers name a limit, and which of its 429s waiting does not cure: a spend cap, or any 429
 * the API marks `x-should-retry: false`. The limit a 429 hit: the `anthropic-ratelimit-*-remaining` header
 * that reads 0 (any of the three token families counts as tokens), then the phrase in the message, else tokens.
 */
const ANTHROPIC_RULES: HttpErrorRules = {
  limitKind: ({ headers, message }) =>
    limitFromHeaders(headers, {
      tokens: ['tokens', 'input-tokens', 'output-tokens'].map(
        (family) => `anthropic-ratelimit-${family}-remaining`,
      ),
      requests: ['anthropic-ratelimit-requests-remaining'],
    }) ??
    limitFromPhrases(message, { tokens: TOKENS_PHRASE, requests: REQUESTS_PHRASE }) ??
    'tokens',
  finalRateLimit: ({ code, headers }) =>
    (code !== undefined && SPEND_LIMIT_CODES.includes(code)) || headers?.get('x-should-retry') === 'false'
      ? { says: 'Provider refused the request until its limit resets' }
      : undefined,
};

function fromAPIError(error: APIError, progress: StreamProgress, nowMs: number): RxAgentError {
  const { status, headers } = error;
  const message = error.apiMessage ?? stripStatus(error);
  const type = error.type ?? undefined;
  const code = error.errorCode ?? undefined;
  // The `request-id` header, else the body's `request_id` (a proxy may drop headers, not bodies).
  const bodyId = (error.error as { request_id?: unknown } | undefined)?.request_id;
  const requestId = error.requestID ?? (typeof bodyId === 'string' ? bodyId : undefined);
  const fields = {
    ...(type === undefined ? {} : { type }),
    ...(code === undefined ? {} : { code }),
    ...(requestId === undefined ? {} : { requestId }),
  };
  if (status !== undefined) {
    return httpError({ status, headers, message, ...fields, cause: error }, progress, ANTHROPIC_RULES, nowMs);
  }
  // An `event: error` inside a 200 stream (`overloaded_error`, `api_error`): the request was accepted,
  // so trying again may work, unless the error says the request itself is wrong.
  return new ProviderError({
    ...fields,
    chunks: progress.chunks,
    partialText: progress.partialText,
    message: `Provider reported an error mid-stream after ${received(progress, 'event')}: ${message}`,
    retryable: type === undefined || !REQUEST_ERROR_TYPES.includes(type),
    cause: error,
  });
}

function stripStatus(error: APIError): string {
  return error.status === undefined ? error.message : error.message.replace(/^\d{3} /, '');
}

/** Anthropic's 429 messages name the limit: "… of 50 requests per minute", "… 40,000 input tokens per minute". */
const REQUESTS_PHRASE = /\brequests per (?:minute|min|day)\b/i;
const TOKENS_PHRASE = /\btokens per (?:minute|min|day)\b/i;
