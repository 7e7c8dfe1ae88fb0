import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { ProviderError, RateLimitError, RefusalError, RxAgentError } from '../../core/errors/index.js';
import { retryAfterMsFrom, type HeaderSource } from '../retry-after.js';
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

function fromAPIError(error: APIError, progress: StreamProgress, nowMs: number): RxAgentError {
  const { status } = error;
  const headers = error.headers;
  const body = describeBody(error);
  const partial = progress.chunks > 0 ? { partialText: progress.partialText } : {};
  const base = {
    ...(status === undefined ? {} : { status }),
    ...(body.type === undefined ? {} : { type: body.type }),
    ...(body.code === undefined ? {} : { code: body.code }),
    ...(error.requestID == null ? {} : { requestId: error.requestID }),
    ...partial,
  };
  if (status === 429) {
    if (body.code === 'insufficient_quota' || body.type === 'insufficient_quota') {
      return new ProviderError({
        ...base,
        type: 'insufficient_quota',
        message: `Provider quota exhausted (429): ${body.message}`,
        cause: error,
      });
    }
    if (isRequestTooLarge(body.message)) {
      return new ProviderError({
        ...base,
        type: 'request_too_large',
        message: `Provider refused a request larger than its limit (429): ${body.message}`,
        cause: error,
      });
    }
    const limit = limitKind(body, headers);
    const retryAfterMs = retryAfterMsFrom(headers, limit, body.message, nowMs);
    return new RateLimitError({
      limit,
      retryAfterMs,
      status,
      message: `Provider rate limit (429): ${body.message}`,
      cause: error,
    });
  }
  if (status === undefined) {
    // An error object sent inside a 200 stream: the request itself was accepted, so trying again may work.
    return new ProviderError({
      ...base,
      chunks: progress.chunks,
      partialText: progress.partialText,
      message: `Provider reported an error mid-stream after ${received(progress)}: ${body.message}`,
      cause: error,
    });
  }
  return new ProviderError({
    ...base,
    message: `Provider answered ${status}: ${body.message}`,
    ...providerSays(headers),
    cause: error,
  });
}

/** Whether the provider said to retry, as OpenAI does (`x-should-retry`, which the SDK obeys too); else the status decides. */
function providerSays(headers: HeaderSource | undefined): { retryable?: boolean } {
  const should = headers?.get('x-should-retry');
  if (should === 'true') return { retryable: true };
  if (should === 'false') return { retryable: false };
  return {};
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

/**
 * Which limit a 429 hit: the `x-ratelimit-remaining-*` header that alone reads 0, then the body's `type`
 * (OpenAI's `'tokens'` / `'requests'`), then the phrase in the message that names the limit, else tokens.
 * Azure's messages begin "Requests to the … Operation" (or "Your requests to …") whichever limit it was, so
 * only the phrase ("token rate limit", "call rate limit") tells.
 */
function limitKind(body: ErrorBody, headers: HeaderSource | undefined): 'tokens' | 'requests' {
  const tokensOut = headers?.get('x-ratelimit-remaining-tokens') === '0';
  const requestsOut = headers?.get('x-ratelimit-remaining-requests') === '0';
  if (tokensOut !== requestsOut) return tokensOut ? 'tokens' : 'requests';
  if (body.type === 'tokens' || body.type === 'requests') return body.type;
  const namesTokens = TOKENS_PHRASE.test(body.message);
  const namesRequests = REQUESTS_PHRASE.test(body.message);
  if (namesTokens !== namesRequests) return namesRequests ? 'requests' : 'tokens';
  return 'tokens';
}
