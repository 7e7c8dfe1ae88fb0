import { ProviderError, RateLimitError, type RxAgentError } from '../core/errors/index.js';
import { retryAfterMsFrom, type HeaderSource } from './retry-after.js';
import type { StreamProgress } from './stream-errors.js';

// Every model maps a provider's HTTP error answer the same way; only how its SDK exposes the answer and which
// headers and phrases name a limit differ. This file loads no SDK.

/** A provider's HTTP error answer, as each model's SDK exposed it. */
export interface HttpFailure {
  readonly status: number;
  readonly headers: HeaderSource | undefined;
  /** The provider's own message, without the SDK's status prefix. */
  readonly message: string;
  readonly type?: string;
  readonly code?: string;
  readonly requestId?: string;
  readonly cause: unknown;
}

/** What differs between providers when reading an HTTP error. */
export interface HttpErrorRules {
  /** Which limit a 429 hit. */
  readonly limitKind: (failure: HttpFailure) => 'tokens' | 'requests';
  /**
   * A 429 that waiting does not cure (an exhausted quota, a spend cap, a request larger than the whole limit):
   * the error's `type` and the sentence that begins its message; `undefined` for a rate limit.
   */
  readonly finalRateLimit?: (
    failure: HttpFailure,
  ) => { readonly type?: string; readonly says: string } | undefined;
}

/**
 * The rxagent error for a provider's HTTP error answer: a 429 becomes a `RateLimitError` with the delay its
 * headers or message ask for (or a final `ProviderError` when the rules say waiting will not help); any other
 * status a `ProviderError` carrying the provider's message, type, code and request id, retryable by its status
 * unless the provider said otherwise (`x-should-retry`, sent by OpenAI and Anthropic and obeyed by their SDKs).
 *
 * @param nowMs - The current time, to turn an HTTP-date `retry-after` into a delay.
 */
export function httpError(
  failure: HttpFailure,
  progress: StreamProgress,
  rules: HttpErrorRules,
  nowMs: number,
): RxAgentError {
  const { status, headers, message, type, code, requestId, cause } = failure;
  const base = {
    status,
    ...(type === undefined ? {} : { type }),
    ...(code === undefined ? {} : { code }),
    ...(requestId === undefined ? {} : { requestId }),
    ...(progress.chunks > 0 ? { partialText: progress.partialText } : {}),
  };
  if (status === 429) {
    const final = rules.finalRateLimit?.(failure);
    if (final !== undefined) {
      return new ProviderError({
        ...base,
        ...(final.type === undefined ? {} : { type: final.type }),
        retryable: false,
        message: `${final.says} (429${code === undefined ? '' : ` ${code}`}): ${message}`,
        cause,
      });
    }
    const limit = rules.limitKind(failure);
    return new RateLimitError({
      limit,
      retryAfterMs: retryAfterMsFrom(headers, limit, message, nowMs),
      status,
      message: `Provider rate limit (429): ${message}`,
      cause,
    });
  }
  return new ProviderError({
    ...base,
    ...providerSays(headers),
    message: `Provider answered ${status}: ${message}`,
    cause,
  });
}

/** Whether the provider said to retry (`x-should-retry`); else the status decides. */
function providerSays(headers: HeaderSource | undefined): { retryable?: boolean } {
  const should = headers?.get('x-should-retry');
  if (should === 'true') return { retryable: true };
  if (should === 'false') return { retryable: false };
  return {};
}

/**
 * The limit a 429 hit by the rate-limit headers: the family whose `remaining` header alone reads 0, or
 * `undefined` when both or neither do.
 */
export function limitFromHeaders(
  headers: HeaderSource | undefined,
  names: { readonly tokens: readonly string[]; readonly requests: readonly string[] },
): 'tokens' | 'requests' | undefined {
  const out = (name: string): boolean => headers?.get(name) === '0';
  const tokensOut = names.tokens.some(out);
  const requestsOut = names.requests.some(out);
  if (tokensOut === requestsOut) return undefined;
  return tokensOut ? 'tokens' : 'requests';
}

/** The limit a 429's message names by one of the phrases, or `undefined` when it names both or neither. */
export function limitFromPhrases(
  message: string,
  phrases: { readonly tokens: RegExp; readonly requests: RegExp },
): 'tokens' | 'requests' | undefined {
  const namesTokens = phrases.tokens.test(message);
  const namesRequests = phrases.requests.test(message);
  if (namesTokens === namesRequests) return undefined;
  return namesTokens ? 'tokens' : 'requests';
}
