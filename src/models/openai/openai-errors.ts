import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
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
 * Turns what the `openai` SDK threw into rxagent's error types: 429 into `RateLimitError` (or a final
 * `ProviderError` for `insufficient_quota` and for a request larger than the whole limit), 408/409/5xx and
 * connection failures into retryable `ProviderError`s, other statuses into final ones carrying the provider's
 * message, and failures while streaming (a malformed chunk, a cut connection) into retryable `ProviderError`s
 * keeping the partial text.
 *
 * @param nowMs - The current time, to turn an HTTP-date `retry-after` into a delay.
 *
 * @example
 * catch (error) { subscriber.error(toProviderError(error, { chunks, partialText }, scheduler.now())); }
 */
export function toProviderError(error: unknown, progress: StreamProgress, nowMs: number): RxAgentError {
  if (error instanceof RxAgentError) return error as RxAgentError;
  if (error instanceof APIConnectionTimeoutError) return transportError('timeout', error, progress);
  if (error instanceof APIConnectionError) return transportError('connection', error, progress);
  // `instanceof` narrows to `APIError<any, any, any>`; the default type arguments are the true ones.
  if (error instanceof APIError) return fromAPIError(error as APIError, progress, nowMs);
  return streamError(error, progress);
}

/** The error for a stream that ended, without a network error, before the model said it had finished. */
export function incompleteStreamError(progress: StreamProgress): ProviderError {
  return streamEndedEarly(progress, 'a finish_reason');
}

/** What a run saw of a refused answer: the refusal text, or a content-filter stop, and the model's name. */
export interface Refusal {
  readonly reason: 'refusal' | 'content-filter';
  readonly refusal: string;
  readonly model: string;
}

/** The error for a completion the model declined, or the provider's content filter stopped. */
export function refusalError(taskId: string, refused: Refusal, progress: StreamProgress): RefusalError {
  const partial = progress.partialText === '' ? {} : { partialText: progress.partialText };
  const message =
    refused.reason === 'refusal'
      ? `Model ${refused.model} refused task "${taskId}": ${refused.refusal}`
      : `The provider's content filter stopped ${refused.model} on task "${taskId}" after ${received(progress)}`;
  return new RefusalError({ ...refused, ...partial, message });
}

/**
 * How OpenAI's answers name a limit, and which of its 429s waiting does not cure. The limit a 429 hit: the
 * `x-ratelimit-remaining-*` header that alone reads 0, then the body's `type` (`'tokens'` / `'requests'`),
 * then the phrase in the message that names the limit, else tokens. Azure's messages begin "Requests to the …
 * Operation" (or "Your requests to …") whichever limit it was, so only the phrase ("token rate limit", "call
 * rate limit") tells.
 */
const OPENAI_RULES: HttpErrorRules = {
  limitKind: ({ headers, type, message }) =>
    limitFromHeaders(headers, {
      tokens: ['x-ratelimit-remaining-tokens'],
      requests: ['x-ratelimit-remaining-requests'],
    }) ??
    (type === 'tokens' || type === 'requests' ? type : undefined) ??
    limitFromPhrases(message, { tokens: TOKENS_PHRASE, requests: REQUESTS_PHRASE }) ??
    'tokens',
  finalRateLimit: ({ type, code, message }) => {
    if (code === 'insufficient_quota' || type === 'insufficient_quota') {
      return { type: 'insufficient_quota', says: 'Provider quota exhausted' };
    }
    if (isRequestTooLarge(message)) {
      return { type: 'request_too_large', says: 'Provider refused a request larger than its limit' };
    }
    return undefined;
  },
};

function fromAPIError(error: APIError, progress: StreamProgress, nowMs: number): RxAgentError {
  const { status } = error;
  const body = describeBody(error);
  const failure = {
    headers: error.headers,
    ...body,
    ...(error.requestID == null ? {} : { requestId: error.requestID }),
    cause: error,
  };
  if (status !== undefined) return httpError({ ...failure, status }, progress, OPENAI_RULES, nowMs);
  // An error object sent inside a 200 stream: the request itself was accepted, so trying again may work.
  return new ProviderError({
    ...(body.type === undefined ? {} : { type: body.type }),
    ...(body.code === undefined ? {} : { code: body.code }),
    ...(failure.requestId === undefined ? {} : { requestId: failure.requestId }),
    chunks: progress.chunks,
    partialText: progress.partialText,
    message: `Provider reported an error mid-stream after ${received(progress)}: ${body.message}`,
    cause: error,
  });
}

interface ErrorBody {
  readonly message: string;
  readonly type?: string;
  readonly code?: string;
}

function describeBody(error: APIError): ErrorBody {
  const raw = error.error as Record<string, unknown> | undefined;
  const message = typeof raw?.['message'] === 'string' ? raw['message'] : stripStatus(error);
  return {
    message,
    ...(typeof error.type === 'string' ? { type: error.type } : {}),
    ...(typeof error.code === 'string' ? { code: error.code } : {}),
  };
}

function stripStatus(error: APIError): string {
  return error.status === undefined ? error.message : error.message.replace(/^\d{3} /, '');
}

/**
 * OpenAI's 429 for a request that alone exceeds a per-minute limit ("Request too large for gpt-4o … on
 * tokens per min (TPM): Limit 30000, Requested 82821. The input or output tokens must be reduced …"):
 * waiting never makes it fit.
 */
function isRequestTooLarge(message: string): boolean {
  return /^request too large\b/i.test(message) || /\bmust be reduced\b/i.test(message);
}

/** Phrases that name the limit a 429 hit, in OpenAI's and Azure's wording; never the bare word "requests". */
const TOKENS_PHRASE =
  /\btokens? rate limit\b|\btokens per (?:min|minute|day)\b|\(tp[md]\)|rate limit reached for tokens\b/i;
const REQUESTS_PHRASE =
  /\bcall rate limit\b|\brequests per (?:min|minute|day)\b|\(rp[md]\)|rate limit reached for requests\b/i;
