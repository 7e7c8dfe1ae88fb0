import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { parseDuration } from '../budget/headers.js';
import { ProviderError, RateLimitError, RxAgentError } from '../core/errors.js';

/** Used when a 429 names no delay anywhere: neither in its headers nor in its message. */
export const DEFAULT_RETRY_AFTER_MS = 1_000;

/** What a run had seen when it failed, so the error can say what was received. */
export interface StreamProgress {
  /** Chunks parsed before the failure. */
  readonly chunks: number;
  /** Text streamed before the failure. */
  readonly partialText: string;
}

/** A header reader that accepts `fetch` Headers or nothing. */
interface HeaderSource {
  get(name: string): string | null;
}

/**
 * Turns what the `openai` SDK threw into rxagent's error types: 429 into `RateLimitError` (or a final
 * `ProviderError` for `insufficient_quota`), 408/409/5xx and connection failures into retryable
 * `ProviderError`s, other statuses into final ones carrying the provider's message, and failures while
 * streaming (a malformed chunk, a cut connection) into retryable `ProviderError`s keeping the partial text.
 *
 * @param nowMs - The current time, to turn an HTTP-date `retry-after` into a delay.
 *
 * @example
 * catch (error) { subscriber.error(toProviderError(error, { chunks, partialText }, scheduler.now())); }
 */
export function toProviderError(
  error: unknown,
  progress: StreamProgress,
  nowMs: number,
): RxAgentError<unknown> {
  if (error instanceof RxAgentError) return error as RxAgentError<unknown>;
  const partial = progress.chunks > 0 ? { partialText: progress.partialText } : {};
  if (error instanceof APIConnectionTimeoutError) {
    return new ProviderError(
      `Provider request timed out: ${error.message}`,
      { type: 'timeout', ...partial },
      { retryable: true, cause: error },
    );
  }
  if (error instanceof APIConnectionError) {
    return new ProviderError(
      `Could not reach the provider: ${connectionMessage(error)}`,
      { type: 'connection', ...partial },
      { retryable: true, cause: error },
    );
  }
  // `instanceof` narrows to `APIError<any, any, any>`; the default type arguments are the true ones.
  if (error instanceof APIError) return fromAPIError(error as APIError, progress, nowMs);
  if (error instanceof SyntaxError) {
    return new ProviderError(
      `Provider sent a malformed stream chunk after ${received(progress)}: ${error.message}`,
      { type: 'malformed-chunk', chunks: progress.chunks, partialText: progress.partialText },
      { retryable: true, cause: error },
    );
  }
  const message = error instanceof Error ? connectionMessage(error) : String(error);
  return new ProviderError(
    `Provider stream broke after ${received(progress)}: ${message}`,
    { type: 'stream-interrupted', chunks: progress.chunks, partialText: progress.partialText },
    { retryable: true, cause: error },
  );
}

/** The error for a stream that ended, without a network error, before the model said it had finished. */
export function incompleteStreamError(progress: StreamProgress): ProviderError {
  return new ProviderError(
    `Provider stream ended without a finish_reason after ${received(progress)}`,
    { type: 'incomplete-stream', chunks: progress.chunks, partialText: progress.partialText },
    { retryable: true },
  );
}

function fromAPIError(error: APIError, progress: StreamProgress, nowMs: number): RxAgentError<unknown> {
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
      return new ProviderError(
        `Provider quota exhausted (429): ${body.message}`,
        { ...base, type: 'insufficient_quota' },
        { retryable: false, cause: error },
      );
    }
    const limit = limitKind(body, headers);
    const retryAfterMs = retryAfterMsFrom(headers, limit, body.message, nowMs);
    return new RateLimitError(
      `Provider rate limit (429): ${body.message}`,
      { limit, retryAfterMs, status },
      error,
    );
  }
  if (status === undefined) {
    // An error object sent inside a 200 stream: the request itself was accepted, so trying again may work.
    return new ProviderError(
      `Provider reported an error mid-stream after ${received(progress)}: ${body.message}`,
      { ...base, chunks: progress.chunks, partialText: progress.partialText },
      { retryable: true, cause: error },
    );
  }
  return new ProviderError(`Provider answered ${status}: ${body.message}`, base, {
    retryable: isRetryableStatus(status, headers),
    cause: error,
  });
}

function isRetryableStatus(status: number, headers: HeaderSource | undefined): boolean {
  // The provider may say explicitly, as OpenAI does; the SDK obeys the same header.
  const should = headers?.get('x-should-retry');
  if (should === 'true') return true;
  if (should === 'false') return false;
  return status === 408 || status === 409 || status >= 500;
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

function limitKind(body: ErrorBody, headers: HeaderSource | undefined): 'tokens' | 'requests' {
  const hint = `${body.type ?? ''} ${body.code ?? ''} ${body.message}`.toLowerCase();
  const saysRequests = /\brequests\b|\(rpm\)|\(rpd\)/.test(hint);
  const saysTokens = /\btokens\b|\(tpm\)|\(tpd\)/.test(hint);
  if (saysRequests !== saysTokens) return saysRequests ? 'requests' : 'tokens';
  if (headers?.get('x-ratelimit-remaining-requests') === '0') return 'requests';
  return 'tokens';
}

/**
 * The delay a 429 asks for, in milliseconds and without any cap: `retry-after-ms`, then `retry-after` (seconds
 * or an HTTP date), then the `x-ratelimit-reset-*` of the limit that was hit, then the message's
 * "try again in 1.2s", then {@link DEFAULT_RETRY_AFTER_MS}.
 */
export function retryAfterMsFrom(
  headers: HeaderSource | undefined,
  limit: 'tokens' | 'requests',
  message: string,
  nowMs: number,
): number {
  const ms = nonNegative(Number.parseFloat(headers?.get('retry-after-ms') ?? ''));
  if (ms !== undefined) return ms;
  const after = headers?.get('retry-after')?.trim();
  if (after !== undefined && after !== '') {
    const seconds = nonNegative(Number(after));
    if (seconds !== undefined) return seconds * 1_000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  const reset = headers?.get(`x-ratelimit-reset-${limit}`);
  const resetMs = reset == null ? undefined : parseDuration(reset);
  if (resetMs !== undefined) return resetMs;
  const inMessage = /try again in (\S+?)\.?(?:\s|$)/i.exec(message)?.[1];
  const messageMs = inMessage === undefined ? undefined : parseDuration(inMessage);
  return messageMs ?? DEFAULT_RETRY_AFTER_MS;
}

function nonNegative(value: number): number | undefined {
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

function received(progress: StreamProgress): string {
  return `${progress.chunks} chunk${progress.chunks === 1 ? '' : 's'} (${progress.partialText.length} characters of text)`;
}

function connectionMessage(error: Error): string {
  // undici hides the useful part ("other side closed", ECONNRESET) in the cause.
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const deeper = cause?.cause instanceof Error ? cause.cause : undefined;
  return [error.message, cause?.message, deeper?.message].filter((m) => m !== undefined).join(': ');
}
