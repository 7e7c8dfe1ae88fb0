import { describe, expect, it } from 'vitest';
import {
  BudgetExhaustedError,
  CancelledError,
  ProviderError,
  RateLimitError,
  RefusalError,
  TimeoutError,
  ValidationError,
  type RxAgentError,
} from '../../src/core/errors/index.js';
import { failureKind, type FailureKind } from '../../src/router/failure-kind.js';

describe('failureKind', () => {
  it.each<[string, RxAgentError, FailureKind]>([
    ['a 429', new RateLimitError({ limit: 'tokens', retryAfterMs: 2_000, status: 429 }), 'rate-limit'],
    ['a 503', new ProviderError({ status: 503, type: 'server_error' }), 'transient'],
    ["Anthropic's 529 overloaded", new ProviderError({ status: 529, type: 'overloaded_error' }), 'transient'],
    ['a cut stream', new ProviderError({ type: 'stream_cut', partialText: 'Hel' }), 'transient'],
    ['a timeout', new TimeoutError({ limit: 'total', ms: 5_000, seen: 0 }), 'transient'],
    ['an unreachable budget store', new BudgetExhaustedError({ reason: 'store-unavailable' }), 'transient'],
    ['a 401', new ProviderError({ status: 401, message: 'Incorrect API key provided' }), 'disabled'],
    ['a 403', new ProviderError({ status: 403, type: 'permission_error' }), 'disabled'],
    [
      "OpenAI's insufficient_quota",
      new ProviderError({ status: 429, type: 'insufficient_quota' }),
      'disabled',
    ],
    [
      "Anthropic's spend cap",
      new ProviderError({ status: 429, code: 'enforced_spend_limit_reached', retryable: false }),
      'disabled',
    ],
    [
      "a budget's maxTotalCost spent",
      new BudgetExhaustedError({ reason: 'max-total-cost', maxTotalCost: 5, spent: 5.01 }),
      'disabled',
    ],
    [
      "OpenAI's request too large for the limit",
      new ProviderError({ status: 429, type: 'request_too_large', message: 'Request too large for gpt-4o' }),
      'unsuitable',
    ],
    [
      'a request larger than a budget',
      new BudgetExhaustedError({
        reason: 'exceeds-capacity',
        limit: 'tokens',
        requested: 9_000,
        capacity: 600,
      }),
      'unsuitable',
    ],
    [
      'parameters a model does not take',
      new ValidationError({ issues: [], message: 'no tools' }),
      'unsuitable',
    ],
    [
      "OpenAI's context_length_exceeded",
      new ProviderError({
        status: 400,
        type: 'invalid_request_error',
        code: 'context_length_exceeded',
        message: "Provider answered 400: This model's maximum context length is 8192 tokens",
      }),
      'context-window',
    ],
    [
      "Anthropic's prompt too long",
      new ProviderError({
        status: 400,
        type: 'invalid_request_error',
        message: 'Provider answered 400: prompt is too long: 215000 tokens > 200000 maximum',
      }),
      'context-window',
    ],
    [
      "Azure's content filter",
      new ProviderError({
        status: 400,
        code: 'content_filter',
        message:
          "The response was filtered due to the prompt triggering Azure OpenAI's content management policy",
      }),
      'content-policy',
    ],
    ['a refusal', new RefusalError({ reason: 'refusal', refusal: 'I cannot', model: 'm' }), 'content-policy'],
    [
      'a bad request',
      new ProviderError({ status: 400, type: 'invalid_request_error', message: 'bad' }),
      'task',
    ],
    ['a cancellation', new CancelledError({ reason: 'client-cancel', taskId: 't' }), 'task'],
  ])('reads %s', (_name, error, kind) => {
    expect(failureKind(error)).toBe(kind);
  });
});
