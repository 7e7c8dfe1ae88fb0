import { describe, expect, it } from 'vitest';
import { ProviderError, RefusalError } from '../../../src/core/errors/index.js';
import { parseResultLines } from '../../../src/models/openai/batch-results.js';

// Output lines as the Batch guide shows them (https://developers.openai.com/api/docs/guides/batch,
// "5. Retrieve the results"), byte for byte.
const GUIDE_OUTPUT = `{"id": "batch_req_123", "custom_id": "request-2", "response": {"status_code": 200, "request_id": "req_123", "body": {"id": "chatcmpl-123", "object": "chat.completion", "created": 1711652795, "model": "gpt-3.5-turbo-0125", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 22, "completion_tokens": 2, "total_tokens": 24}, "system_fingerprint": "fp_123"}}, "error": null}
{"id": "batch_req_456", "custom_id": "request-1", "response": {"status_code": 200, "request_id": "req_789", "body": {"id": "chatcmpl-abc", "object": "chat.completion", "created": 1711652789, "model": "gpt-3.5-turbo-0125", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I assist you today?"}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}, "system_fingerprint": "fp_3ba"}}, "error": null}
`;

// Error-file lines of an expired batch, as the guide's "Batch expiration" section shows them.
const GUIDE_EXPIRED = `{"id": "batch_req_123", "custom_id": "request-3", "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}
{"id": "batch_req_123", "custom_id": "request-7", "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}
`;

describe('parseResultLines', () => {
  it("reads the guide's output lines into answers with usage", () => {
    const { outcomes, malformed } = parseResultLines(GUIDE_OUTPUT);
    expect(malformed).toBe(0);
    expect(outcomes.get('request-1')).toEqual({
      kind: 'fulfilled',
      text: 'Hello! How can I assist you today?',
      calls: [],
      finishReason: 'stop',
      usage: { inputTokens: 20, outputTokens: 9 },
    });
    expect(outcomes.get('request-2')).toMatchObject({ kind: 'fulfilled', text: 'Hello.' });
  });

  it("reads the guide's expired lines as requests that never ran, retryable", () => {
    const { outcomes } = parseResultLines(GUIDE_EXPIRED);
    const outcome = outcomes.get('request-7');
    expect(outcome?.kind).toBe('not-run');
    const error = (outcome as { error: ProviderError }).error;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.info).toEqual({ type: 'batch_expired', code: 'batch_expired' });
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'Batch request for task "request-7" failed (batch_expired): This request could not be executed before the completion window expired.',
    );
  });

  it('reads a non-200 response as the provider error it carries, a cancelled request as not retryable', () => {
    const lines = [
      {
        id: 'batch_req_1',
        custom_id: 'a',
        response: {
          status_code: 400,
          request_id: 'req_1',
          body: { error: { message: 'Bad.', type: 'invalid_request_error', param: null, code: 'bad_value' } },
        },
        error: null,
      },
      {
        id: 'batch_req_2',
        custom_id: 'b',
        response: null,
        error: { code: 'batch_cancelled', message: 'Cancelled.' },
      },
      {
        id: 'batch_req_3',
        custom_id: 'c',
        response: null,
        error: { code: 'request_timeout', message: 'Slow.' },
      },
    ];
    const { outcomes } = parseResultLines(lines.map((l) => JSON.stringify(l)).join('\n'));
    const a = outcomes.get('a') as { kind: string; error: ProviderError };
    expect(a.kind).toBe('rejected');
    expect(a.error.info).toEqual({
      status: 400,
      type: 'invalid_request_error',
      code: 'bad_value',
      requestId: 'req_1',
    });
    expect(a.error.retryable).toBe(false);
    expect(a.error.message).toBe('Batch request for task "a" answered 400: Bad.');
    const b = outcomes.get('b') as { kind: string; error: ProviderError };
    expect([b.kind, b.error.retryable]).toEqual(['not-run', false]);
    const c = outcomes.get('c') as { kind: string; error: ProviderError };
    expect([c.kind, c.error.retryable]).toEqual(['rejected', true]);
  });

  it('reads refusals, content filters, tool calls, and cached and reasoning tokens', () => {
    const line = (customId: string, message: Record<string, unknown>, finish = 'stop', usage?: unknown) =>
      JSON.stringify({
        id: 'batch_req_x',
        custom_id: customId,
        response: {
          status_code: 200,
          request_id: 'req_x',
          body: {
            object: 'chat.completion',
            model: 'gpt-4o-2024-08-06',
            choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }],
            usage: usage ?? { prompt_tokens: 10, completion_tokens: 4 },
          },
        },
        error: null,
      });
    const text = [
      line('refused', { content: null, refusal: "I can't help with that." }),
      line('filtered', { content: 'partial' }, 'content_filter'),
      line(
        'tools',
        {
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        'tool_calls',
      ),
      line('cached', { content: 'ok' }, 'stop', {
        prompt_tokens: 100,
        completion_tokens: 50,
        prompt_tokens_details: { cached_tokens: 80 },
        completion_tokens_details: { reasoning_tokens: 30 },
      }),
    ].join('\n');
    const { outcomes } = parseResultLines(text);
    const refused = outcomes.get('refused') as { error: RefusalError; usage: unknown };
    expect(refused.error).toBeInstanceOf(RefusalError);
    expect(refused.error.info).toEqual({
      reason: 'refusal',
      refusal: "I can't help with that.",
      model: 'gpt-4o-2024-08-06',
    });
    expect(refused.usage).toEqual({ inputTokens: 10, outputTokens: 4 });
    expect((outcomes.get('filtered') as { error: RefusalError }).error.info).toMatchObject({
      reason: 'content-filter',
      partialText: 'partial',
    });
    expect(outcomes.get('tools')).toMatchObject({
      kind: 'fulfilled',
      text: '',
      finishReason: 'tool-calls',
      calls: [{ id: 'call_1', name: 'f', arguments: '{}' }],
    });
    expect(outcomes.get('cached')).toMatchObject({
      usage: { inputTokens: 100, outputTokens: 50, cachedInputTokens: 80, reasoningTokens: 30 },
    });
  });

  it('counts lines it cannot join to a task, and rejects a 200 without a message', () => {
    const text = [
      'not json',
      '[1]',
      '{"custom_id": 5}',
      '',
      JSON.stringify({ custom_id: 'x', response: { status_code: 200, body: { choices: [] } }, error: null }),
      JSON.stringify({ custom_id: 'y', response: null, error: null }),
    ].join('\n');
    const { outcomes, malformed } = parseResultLines(text);
    expect(malformed).toBe(3);
    expect((outcomes.get('x') as { error: ProviderError }).error.info.type).toBe('malformed_result');
    expect((outcomes.get('y') as { error: ProviderError }).error.info.type).toBe('malformed_result');
  });
});
