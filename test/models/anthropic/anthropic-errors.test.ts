// The error mapping on its own, with errors made by @anthropic-ai/sdk's own factory (APIError.generate) from
// a status, a body and headers, as the client makes them from a response. The bodies follow the docs' shape
// ({"type":"error","error":{type, message, details?}}); the recorded ones run through the whole model in
// anthropic.test.ts.
import { APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import { DEFAULT_RETRY_AFTER_MS } from '../../../src/models/retry-after.js';
import { describe, expect, it } from 'vitest';
import { ProviderError, RateLimitError } from '../../../src/core/errors/index.js';
import {
  incompleteStreamError,
  refusalError,
  toProviderError,
} from '../../../src/models/anthropic/anthropic-errors.js';
import { defaultRetryable } from '../../../src/operators/retry-backoff.js';

const NOTHING = { chunks: 0, partialText: '' };
const NOW = Date.parse('2026-02-25T20:02:31Z');

function httpError(
  status: number,
  error: Record<string, unknown>,
  headers: Record<string, string> = {},
): APIError {
  return APIError.generate(status, { type: 'error', error }, undefined, new Headers(headers));
}

function rateLimit(message: string, headers: Record<string, string> = {}): RateLimitError {
  const mapped = toProviderError(
    httpError(429, { type: 'rate_limit_error', message }, headers),
    NOTHING,
    NOW,
  );
  if (!(mapped instanceof RateLimitError)) throw new Error(`expected a RateLimitError, got ${mapped.name}`);
  return mapped;
}

describe('toProviderError for Anthropic 429s', () => {
  it('takes retry-after-ms, then retry-after in seconds or as a date, uncapped', () => {
    expect(rateLimit('x', { 'retry-after-ms': '95000', 'retry-after': '1' }).retryAfterMs).toBe(95_000);
    expect(rateLimit('x', { 'retry-after': '120' }).retryAfterMs).toBe(120_000);
    expect(rateLimit('x', { 'retry-after': 'Wed, 25 Feb 2026 20:02:41 GMT' }).retryAfterMs).toBe(10_000);
  });

  it('else waits for the latest reset among the token limits that read 0', () => {
    const error = rateLimit('x', {
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': '2026-02-25T20:02:37Z',
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': '2026-02-25T20:02:51Z',
      'anthropic-ratelimit-tokens-remaining': '1000',
      'anthropic-ratelimit-tokens-reset': '2026-02-25T20:02:33Z',
    });
    expect(error.info).toEqual({ limit: 'tokens', retryAfterMs: 20_000, status: 429 });
  });

  it('names the limit by the message when no remaining header reads 0, and waits 1 s when nothing says', () => {
    // The phrasing of Anthropic's 429 messages ("… rate limit of 50 requests per minute …").
    const requests = rateLimit(
      'This request would exceed the rate limit for your organization of 50 requests per minute.',
    );
    expect(requests.info).toEqual({ limit: 'requests', retryAfterMs: DEFAULT_RETRY_AFTER_MS, status: 429 });
    expect(rateLimit('… of 40,000 input tokens per minute.').limit).toBe('tokens');
    expect(rateLimit('Rate limited').limit).toBe('tokens');
  });

  it('a spend cap or x-should-retry: false is a final ProviderError, which retryBackoff does not retry', () => {
    for (const [details, headers] of [
      [{ error_code: 'enforced_spend_limit_reached' }, {}],
      [{ error_code: 'contract_spend_limit_reached' }, {}],
      [null, { 'x-should-retry': 'false' }],
    ] as const) {
      const mapped = toProviderError(
        httpError(429, { type: 'rate_limit_error', message: 'No', details }, headers),
        NOTHING,
        NOW,
      );
      expect(mapped).toBeInstanceOf(ProviderError);
      expect(mapped.retryable).toBe(false);
      expect(defaultRetryable(mapped)).toBe(false);
    }
  });

  it('a ramp limit (ramp_limit_exceeded) stays a rate limit to wait out', () => {
    const mapped = toProviderError(
      httpError(
        429,
        { type: 'rate_limit_error', message: 'Slow down', details: { error_code: 'ramp_limit_exceeded' } },
        { 'retry-after': '30' },
      ),
      NOTHING,
      NOW,
    );
    expect(mapped).toBeInstanceOf(RateLimitError);
    expect(mapped.info).toEqual({ limit: 'tokens', retryAfterMs: 30_000, status: 429 });
  });
});

describe('toProviderError for other failures', () => {
  it.each([
    [500, 'api_error', true],
    [529, 'overloaded_error', true],
    [504, 'timeout_error', true],
    [409, 'conflict_error', true],
    [413, 'request_too_large', false],
    [402, 'billing_error', false],
  ])('%i %s: retryable %s', (status, type, retryable) => {
    const mapped = toProviderError(httpError(status, { type, message: 'm' }), NOTHING, NOW);
    expect(mapped).toMatchObject({ code: 'E_PROVIDER', retryable, info: { status, type } });
  });

  it('x-should-retry overrides the status either way', () => {
    const error = httpError(500, { type: 'api_error', message: 'm' }, { 'x-should-retry': 'false' });
    expect(toProviderError(error, NOTHING, NOW).retryable).toBe(false);
    const conflict = httpError(
      400,
      { type: 'invalid_request_error', message: 'm' },
      { 'x-should-retry': 'true' },
    );
    expect(toProviderError(conflict, NOTHING, NOW).retryable).toBe(true);
  });

  it('an event: error mid-stream is retryable unless its type says the request itself is wrong', () => {
    const progress = { chunks: 4, partialText: 'Hel' };
    const overloaded = new APIError(
      undefined,
      { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
      undefined,
      new Headers(),
    );
    expect(toProviderError(overloaded, progress, NOW)).toMatchObject({
      retryable: true,
      info: { type: 'overloaded_error', chunks: 4, partialText: 'Hel' },
    });
    const invalid = new APIError(
      undefined,
      { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } },
      undefined,
      new Headers(),
    );
    expect(toProviderError(invalid, progress, NOW).retryable).toBe(false);
  });

  it('a connection timeout, a malformed event and an incomplete stream are retryable', () => {
    expect(toProviderError(new APIConnectionTimeoutError(), NOTHING, NOW)).toMatchObject({
      retryable: true,
      info: { type: 'timeout' },
    });
    expect(
      toProviderError(new SyntaxError('Unexpected token'), { chunks: 2, partialText: 'a' }, NOW),
    ).toMatchObject({
      retryable: true,
      info: { type: 'malformed_chunk', chunks: 2, partialText: 'a' },
    });
    expect(incompleteStreamError({ chunks: 3, partialText: 'ab' })).toMatchObject({
      retryable: true,
      message: 'Provider stream ended without a stop_reason after 3 events (2 characters of text)',
    });
  });
});

describe('refusalError', () => {
  it('says who refused, the category and the explanation, keeping the partial text', () => {
    const error = refusalError(
      't9',
      { model: 'claude-haiku-4-5', explanation: 'Not this.', category: 'cyber' },
      { chunks: 5, partialText: 'Sure, ' },
    );
    expect(error.message).toBe('Model claude-haiku-4-5 refused task "t9" (cyber): Not this.');
    expect(error.info).toEqual({
      reason: 'refusal',
      refusal: 'Not this.',
      model: 'claude-haiku-4-5',
      partialText: 'Sure, ',
    });
    expect(refusalError('t9', { model: 'm', explanation: '' }, NOTHING).message).toBe(
      'Model m refused task "t9"',
    );
  });
});
