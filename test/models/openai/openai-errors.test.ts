import fc from 'fast-check';
import { DEFAULT_RETRY_AFTER_MS, retryAfterMsFrom } from '../../../src/models/retry-after.js';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { ProviderError, RateLimitError, TimeoutError } from '../../../src/core/errors/index.js';
import { defaultRetryable } from '../../../src/operators/retry-backoff.js';
import { incompleteStreamError, toProviderError } from '../../../src/models/openai/openai-errors.js';

const NOTHING = { chunks: 0, partialText: '' };
const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);

/** An error exactly as the SDK makes it from a response. */
function httpError(
  status: number,
  error: Record<string, unknown> | undefined,
  headers: Record<string, string> = {},
) {
  return APIError.generate(
    status,
    error === undefined ? undefined : { error },
    undefined,
    new Headers(headers),
  );
}

function rateLimit(error: Record<string, unknown>, headers: Record<string, string> = {}): RateLimitError {
  const mapped = toProviderError(httpError(429, error, headers), NOTHING, NOW);
  if (!(mapped instanceof RateLimitError)) throw new Error(`expected a RateLimitError, got ${mapped.name}`);
  return mapped;
}

const TPM_MESSAGE =
  'Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used 199000, Requested 2000. Please try again in 300ms.';
const RPM_MESSAGE =
  'Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 1.2s.';

describe('toProviderError for 429', () => {
  it('tells a tokens limit from a requests limit by the body type', () => {
    expect(rateLimit({ message: 'x', type: 'tokens', code: 'rate_limit_exceeded' }).limit).toBe('tokens');
    expect(rateLimit({ message: 'x', type: 'requests', code: 'rate_limit_exceeded' }).limit).toBe('requests');
  });

  it('tells them apart by the message when the type says nothing', () => {
    expect(rateLimit({ message: RPM_MESSAGE, code: 'rate_limit_exceeded' }).limit).toBe('requests');
    expect(rateLimit({ message: TPM_MESSAGE, code: 'rate_limit_exceeded' }).limit).toBe('tokens');
  });

  it('falls back to which remaining-* header is zero, then to tokens', () => {
    const requests = rateLimit({ message: 'Too many' }, { 'x-ratelimit-remaining-requests': '0' });
    expect(requests.limit).toBe('requests');
    expect(rateLimit({ message: 'Too many' }, { 'x-ratelimit-remaining-tokens': '0' }).limit).toBe('tokens');
    expect(rateLimit({ message: 'Too many' }).limit).toBe('tokens');
  });

  it('takes retry-after-ms first, uncapped', () => {
    const error = rateLimit({ message: TPM_MESSAGE }, { 'retry-after-ms': '95000.5', 'retry-after': '1' });
    expect(error.retryAfterMs).toBe(95_000.5);
    expect(error.info).toEqual({ limit: 'tokens', retryAfterMs: 95_000.5, status: 429 });
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`Provider rate limit (429): ${TPM_MESSAGE}`);
  });

  it('reads retry-after as seconds beyond 60 s, or as an HTTP date against the given clock', () => {
    expect(rateLimit({ message: 'x' }, { 'retry-after': '120' }).retryAfterMs).toBe(120_000);
    const date = new Date(NOW + 90_000).toUTCString();
    expect(rateLimit({ message: 'x' }, { 'retry-after': date }).retryAfterMs).toBe(90_000);
    const past = new Date(NOW - 5_000).toUTCString();
    expect(rateLimit({ message: 'x' }, { 'retry-after': past }).retryAfterMs).toBe(0);
  });

  it('then the reset header of the limit that was hit, then the message, then the default', () => {
    const headers = { 'x-ratelimit-reset-tokens': '6m0s', 'x-ratelimit-reset-requests': '20ms' };
    expect(rateLimit({ message: 'x', type: 'tokens' }, headers).retryAfterMs).toBe(360_000);
    expect(rateLimit({ message: 'x', type: 'requests' }, headers).retryAfterMs).toBe(20);
    expect(rateLimit({ message: RPM_MESSAGE }).retryAfterMs).toBe(1_200);
    expect(rateLimit({ message: TPM_MESSAGE }).retryAfterMs).toBe(300);
    expect(rateLimit({ message: 'slow down' }).retryAfterMs).toBe(DEFAULT_RETRY_AFTER_MS);
  });

  it('never caps a retry-after in seconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (seconds) => {
        expect(retryAfterMsFrom(new Headers({ 'retry-after': String(seconds) }), 'tokens', '', NOW)).toBe(
          seconds * 1_000,
        );
      }),
    );
  });

  it('makes insufficient_quota a final ProviderError', () => {
    const mapped = toProviderError(
      httpError(429, {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
      }),
      NOTHING,
      NOW,
    );
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped).toMatchObject({
      retryable: false,
      info: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota' },
    });
  });
});

// Azure OpenAI 429 messages, verbatim as their users reported them. Azure's body is
// {"error":{"code":"429","message": "…"}} with no `type`, and its messages begin "Requests to the … Operation"
// (or, since 2025, "Your requests to …") whichever limit was hit.
const AZURE_TOKEN_LIMITS = [
  // github.com/microsoft/sample-app-aoai-chatGPT/issues/131
  [
    'Requests to the Creates a completion for the chat message Operation under Azure OpenAI API version 2023-03-15-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 7 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
    7_000,
  ],
  // github.com/openai/openai-node/issues/1108
  [
    'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-15-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 33 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
    33_000,
  ],
  // github.com/jasonacox/TinyLLM/issues/17 (the Azure message inside LiteLLM's)
  [
    'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2023-05-15 have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 86400 seconds. Please contact Azure support service if you would like to further increase the default rate limit.',
    86_400_000,
  ],
  // github.com/icereed/paperless-gpt/issues/814
  [
    'Your requests to gpt-4.1-nano for gpt-4.1-nano in Sweden Central have exceeded the token rate limit for your current AIServices S0 pricing tier. This request was for ChatCompletions_Create under Azure OpenAI API version 2023-05-15. Please retry after 45 seconds.',
    45_000,
  ],
] as const;
const AZURE_CALL_LIMITS = [
  // github.com/microsoft/action-python/issues/12
  [
    'Requests to the Creates a completion for the chat message Operation under Azure OpenAI API version 2023-03-15-preview have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 3 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
    3_000,
  ],
  // github.com/microsoft/PubSec-Info-Assistant/issues/479
  [
    'Requests to the Embeddings_Create Operation under Azure OpenAI API version 2023-06-01-preview have exceeded the call rate limit of your current OpenAI S0 pricing tier. Please retry after 54 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
    54_000,
  ],
] as const;

describe('toProviderError for Azure OpenAI 429s', () => {
  it.each(AZURE_TOKEN_LIMITS)(
    'a token rate limit is limit tokens, waiting what it says: %s',
    (message, ms) => {
      const error = rateLimit({ code: '429', message });
      expect(error.info).toEqual({ limit: 'tokens', retryAfterMs: ms, status: 429 });
    },
  );

  it.each(AZURE_CALL_LIMITS)(
    'a call rate limit is limit requests, waiting what it says: %s',
    (message, ms) => {
      const error = rateLimit({ code: '429', message });
      expect(error.info).toEqual({ limit: 'requests', retryAfterMs: ms, status: 429 });
    },
  );

  it('prefers the remaining-* header that reads 0 to the phrase, and retry-after to the message', () => {
    const [message] = AZURE_CALL_LIMITS[0];
    const error = rateLimit(
      { code: '429', message },
      { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-remaining-requests': '12', 'retry-after': '10' },
    );
    expect(error.info).toEqual({ limit: 'tokens', retryAfterMs: 10_000, status: 429 });
  });

  it('reads "Try again in 2 seconds" with the headers Azure sent beside it', () => {
    // github.com/microsoft/copilot-camp/issues/551: body and rate-limit headers as the user pasted them.
    const error = rateLimit(
      { code: '429', message: 'Rate limit is exceeded. Try again in 2 seconds.' },
      {
        'x-ratelimit-limit-requests': '8',
        'x-ratelimit-limit-tokens': '8000',
        'x-ratelimit-remaining-requests': '7',
        'x-ratelimit-remaining-tokens': '1014',
      },
    );
    expect(error.info).toEqual({ limit: 'tokens', retryAfterMs: 2_000, status: 429 });
  });
});

describe('toProviderError for a request too large for the limit', () => {
  it('is a final ProviderError of type request_too_large, never retried', () => {
    // github.com/assafelovic/gpt-researcher/issues/585: OpenAI's body as the Python SDK printed it.
    const body = {
      message:
        'Request too large for gpt-4o in organization org-sE0IdGM75DskjnJVA5kYx3XU on tokens per min (TPM): Limit 30000, Requested 82821. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.',
      type: 'tokens',
      param: null,
      code: 'rate_limit_exceeded',
    };
    const mapped = toProviderError(httpError(429, body), NOTHING, NOW);
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped).toMatchObject({
      code: 'E_PROVIDER',
      retryable: false,
      info: { status: 429, type: 'request_too_large', code: 'rate_limit_exceeded' },
    });
    expect(mapped.message).toBe(
      `Provider refused a request larger than its limit (429 rate_limit_exceeded): ${body.message}`,
    );
    expect(defaultRetryable(mapped)).toBe(false);
  });

  it('is told by the message alone when the body has no type', () => {
    // github.com/vanna-ai/vanna-flask/issues/11
    const message =
      'Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 342389. The input or output tokens must be reduced in order to run successfully.';
    expect(toProviderError(httpError(429, { message }), NOTHING, NOW)).toMatchObject({
      retryable: false,
      info: { status: 429, type: 'request_too_large' },
    });
  });
});

describe('toProviderError for other statuses', () => {
  it.each([408, 409, 500, 502, 503, 529])('%i is retryable', (status) => {
    const mapped = toProviderError(
      httpError(status, { message: 'busy', type: 'server_error' }),
      NOTHING,
      NOW,
    );
    expect(mapped).toMatchObject({
      code: 'E_PROVIDER',
      retryable: true,
      info: { status, type: 'server_error' },
    });
    expect(mapped.message).toBe(`Provider answered ${status}: busy`);
  });

  it.each([400, 401, 403, 404, 422])('%i is final, with the provider’s message', (status) => {
    const mapped = toProviderError(
      httpError(
        status,
        { message: 'Invalid model', type: 'invalid_request_error' },
        { 'x-request-id': 'req_9' },
      ),
      NOTHING,
      NOW,
    );
    expect(mapped).toMatchObject({ retryable: false, info: { status, requestId: 'req_9' } });
    expect(mapped.message).toBe(`Provider answered ${status}: Invalid model`);
  });

  it('obeys x-should-retry both ways', () => {
    expect(
      toProviderError(httpError(500, { message: 'x' }, { 'x-should-retry': 'false' }), NOTHING, NOW)
        .retryable,
    ).toBe(false);
    expect(
      toProviderError(httpError(400, { message: 'x' }, { 'x-should-retry': 'true' }), NOTHING, NOW).retryable,
    ).toBe(true);
  });

  it('keeps a status-only message when the body is empty', () => {
    expect(toProviderError(httpError(502, undefined), NOTHING, NOW).message).toBe(
      'Provider answered 502: status code (no body)',
    );
  });
});

describe('toProviderError for connection and stream failures', () => {
  it('makes connection errors retryable and names the cause', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const mapped = toProviderError(
      new APIConnectionError({
        message: 'Connection error.',
        cause: new TypeError('fetch failed', { cause: reset }),
      }),
      NOTHING,
      NOW,
    );
    expect(mapped).toMatchObject({ retryable: true, info: { type: 'connection' } });
    expect(mapped.message).toBe(
      'Could not reach the provider: Connection error.: fetch failed: read ECONNRESET',
    );
    expect(toProviderError(new APIConnectionTimeoutError(), NOTHING, NOW)).toMatchObject({
      retryable: true,
      info: { type: 'timeout' },
    });
  });

  it('names what was received before a malformed chunk', () => {
    const mapped = toProviderError(
      new SyntaxError('Unexpected token o in JSON'),
      { chunks: 3, partialText: 'Hi th' },
      NOW,
    );
    expect(mapped).toMatchObject({
      retryable: true,
      info: { type: 'malformed_chunk', chunks: 3, partialText: 'Hi th' },
    });
    expect(mapped.message).toBe(
      'Provider sent a malformed stream chunk after 3 chunks (5 characters of text): Unexpected token o in JSON',
    );
  });

  it('keeps the partial text of a stream broken by the network', () => {
    const cut = new TypeError('terminated', { cause: new Error('other side closed') });
    const mapped = toProviderError(cut, { chunks: 1, partialText: 'x' }, NOW);
    expect(mapped).toMatchObject({ retryable: true, info: { type: 'stream_interrupted', partialText: 'x' } });
    expect(mapped.message).toBe(
      'Provider stream broke after 1 chunk (1 characters of text): terminated: other side closed',
    );
  });

  it('makes an error object inside a 200 stream retryable', () => {
    const midStream = new APIError(
      undefined,
      { message: 'overloaded', type: 'server_error' },
      undefined,
      undefined,
    );
    expect(toProviderError(midStream, { chunks: 4, partialText: 'abc' }, NOW)).toMatchObject({
      retryable: true,
      info: { type: 'server_error', partialText: 'abc', chunks: 4 },
    });
  });

  it('passes rxagent errors through untouched', () => {
    const timeout = new TimeoutError({ limit: 'each', ms: 5, seen: 0, message: 'late' });
    expect(toProviderError(timeout, NOTHING, NOW)).toBe(timeout);
  });

  it('describes a stream that ended without a finish reason', () => {
    expect(incompleteStreamError({ chunks: 0, partialText: '' })).toMatchObject({
      message: 'Provider stream ended without a finish_reason after 0 chunks (0 characters of text)',
      retryable: true,
      info: { type: 'incomplete_stream' },
    });
  });
});
