import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProviderError, RateLimitError, TimeoutError } from '../../src/core/errors/index.js';
import type { RxAgentError } from '../../src/core/errors/index.js';
import type { Settled } from '../../src/core/types.js';
import { batchLineOutcome, parseBatchRequestLine, settledToBatchLine } from '../../src/wire/openai-batch.js';
import type { BatchResultLine } from '../../src/wire/openai-batch.js';
import { parseRequestsLine } from '../../src/wire/openai-requests.js';

const FIXTURES = join(import.meta.dirname, '..', 'sources', 'fixtures');

/** The lines of a fixture file (see its SOURCES.md), parsed. */
function fixture(name: string): unknown[] {
  return readFileSync(join(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** The shape of a JSON value: its keys, all the way down, with leaves as their JSON type. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, v]) => [key, shape(v)]),
    );
  }
  return value === null ? 'null' : typeof value;
}

describe('parseBatchRequestLine', () => {
  it("reads the Batch guide's and the API reference's input lines", () => {
    const [one, two] = fixture('openai-batch-guide.input.jsonl').map((json, i) =>
      parseBatchRequestLine(json, `line ${i + 1}`),
    );
    expect(one).toEqual({
      success: true,
      data: {
        id: 'request-1',
        input: [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: 'Hello world!' },
        ],
        maxOutputTokens: 1000,
        params: { model: 'gpt-3.5-turbo-0125' },
      },
    });
    expect(two).toMatchObject({ success: true, data: { id: 'request-2' } });
    expect(parseBatchRequestLine(fixture('openai-api-reference.input.jsonl')[0], 'line 1')).toEqual({
      success: true,
      data: {
        id: 'request-1',
        input: [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: 'What is 2+2?' },
        ],
        params: { model: 'gpt-4o-mini' },
      },
    });
  });

  it("reads vLLM's example batch, whose cap is `max_completion_tokens`", () => {
    const results = fixture('vllm-openai-example-batch.jsonl').map((json, i) =>
      parseBatchRequestLine(json, `line ${i + 1}`),
    );
    expect(
      results.map((r) => r.success && [r.data.id, r.data.maxOutputTokens, r.data.params?.model]),
    ).toEqual([
      ['request-1', 1000, 'meta-llama/Meta-Llama-3-8B-Instruct'],
      ['request-2', 1000, 'meta-llama/Meta-Llama-3-8B-Instruct'],
    ]);
  });

  it("reads the cookbook's JSON-mode movie tasks with their parameters", () => {
    const result = parseBatchRequestLine(fixture('cookbook-batch-movies.jsonl')[0], 'line 1');
    expect(result).toMatchObject({
      success: true,
      data: {
        id: 'task-0',
        params: { model: 'gpt-3.5-turbo', temperature: 0.1, responseFormat: { type: 'json_object' } },
      },
    });
  });

  it("refuses vLLM's embeddings lines naming the url, and the cookbook's image captions naming the part", () => {
    const embeddings = parseBatchRequestLine(fixture('vllm-embeddings-batch.jsonl')[0], 'line 1');
    expect(embeddings.success).toBe(false);
    expect(!embeddings.success && embeddings.error.message).toBe(
      'Unsupported url "/v1/embeddings" (line 1): rxagent runs chat completions ("/v1/chat/completions") only; the line was not run',
    );
    const image = parseBatchRequestLine(fixture('cookbook-batch-furniture.jsonl')[0], 'line 1');
    expect(!image.success && image.error.message).toBe(
      'Invalid openai-batch line (line 1): ✖ `image_url` content: rxagent sends text only, so a message with images, audio or files is not run\n  → at body.messages[1].content[1]',
    );
  });

  it('refuses a line that is not a Batch API request, and a body a task cannot hold', () => {
    const base = { custom_id: 'a', method: 'POST', url: '/v1/chat/completions' };
    const bad = [
      { ...base, method: 'GET', body: {} },
      { ...base, custom_id: '', body: {} },
      { ...base, body: { messages: [{ role: 'user', content: 'x' }] }, extra: 1 },
      {
        ...base,
        body: {
          messages: [{ role: 'user', content: 'x' }],
          tools: [{ type: 'function', function: { name: 'a.b' } }],
        },
      },
    ];
    for (const json of bad) {
      const result = parseBatchRequestLine(json, 'line 9');
      expect(result.success, JSON.stringify(json)).toBe(false);
      expect(!result.success && result.error).toMatchObject({
        code: 'E_VALIDATION',
        info: { source: 'line 9' },
        message: expect.stringMatching(/^Invalid openai-batch line \(line 9\): /) as unknown,
      });
    }
  });
});

describe('parseRequestsLine', () => {
  it('takes the id from metadata, else the line number, and keeps metadata as meta', () => {
    const [one, two, three] = fixture('cookbook-processor-chat.jsonl').map((json, i) =>
      parseRequestsLine(json, i + 1, `line ${i + 1}`),
    );
    expect(one).toMatchObject({
      success: true,
      data: { id: '1', meta: { row_id: 1 }, maxOutputTokens: 1000, params: { model: 'gpt-3.5-turbo-0125' } },
    });
    expect(two).toMatchObject({ success: true, data: { id: 'line-2' } });
    expect(two?.success === true && 'meta' in two.data).toBe(false);
    expect(three?.success === false && three.error.message).toMatch(
      /^Invalid openai-requests line \(line 3\): ✖ an embeddings or Responses API request \(`input`, no `messages`\): rxagent runs chat completions only/,
    );
  });

  it("refuses every line of the cookbook's own example file, which asks for embeddings", () => {
    const results = fixture('cookbook-example-requests.jsonl').map((json, i) =>
      parseRequestsLine(json, i + 1, `line ${i + 1}`),
    );
    expect(results.map((r) => r.success)).toEqual([false, false, false]);
  });
});

describe('settledToBatchLine', () => {
  const fulfilled: Settled<unknown> = {
    status: 'fulfilled',
    taskId: 'request-2',
    value: 'Hello.',
    usage: { inputTokens: 22, outputTokens: 2 },
    attempts: 1,
    durationMs: 40,
    finishReason: 'stop',
  };

  it("writes a fulfilled result in the shape of the Batch guide's output lines", () => {
    const line = settledToBatchLine(fulfilled, { createdAtMs: 1_711_652_795_000 });
    const [guide] = fixture('openai-batch-guide.output.jsonl') as Record<string, unknown>[];
    // The guide's message has no `refusal`; its `model` and `system_fingerprint` are unknown to a `Settled`.
    const {
      system_fingerprint: _fingerprint,
      model: _model,
      ...guideBody
    } = (guide?.['response'] as { body: object }).body as Record<string, unknown>;
    const ours = line.response?.body as { choices: [{ message: Record<string, unknown> }] };
    const { refusal, ...message } = ours.choices[0].message;
    expect(refusal).toBeNull();
    expect(
      shape({
        ...line,
        response: { ...line.response, body: { ...ours, choices: [{ ...ours.choices[0], message }] } },
      }),
    ).toEqual(shape({ ...guide, response: { ...(guide?.['response'] as object), body: guideBody } }));
    expect(line).toMatchObject({
      id: expect.stringMatching(/^batch_req_[0-9a-f]{32}$/) as unknown,
      custom_id: 'request-2',
      response: {
        status_code: 200,
        body: {
          object: 'chat.completion',
          created: 1_711_652_795,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: 'Hello.' },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 22, completion_tokens: 2, total_tokens: 24 },
        },
      },
      error: null,
    });
  });

  it('writes tool calls when the answer ended with them, cached and reasoning tokens when known', () => {
    const line = settledToBatchLine(
      {
        ...fulfilled,
        value: '',
        finishReason: 'tool-calls',
        usage: { inputTokens: 100, outputTokens: 30, cachedInputTokens: 64, reasoningTokens: 12 },
      },
      { toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }], createdAtMs: 0 },
    );
    expect(line.response?.body).toMatchObject({
      choices: [
        {
          message: {
            content: '',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 100,
        completion_tokens: 30,
        total_tokens: 130,
        prompt_tokens_details: { cached_tokens: 64 },
        completion_tokens_details: { reasoning_tokens: 12 },
      },
    });
    const plain = settledToBatchLine(
      {
        status: 'fulfilled',
        taskId: 'custom-worker',
        value: { n: 1 },
        usage: { inputTokens: 1, outputTokens: 1 },
        attempts: 1,
        durationMs: 1,
      },
      {
        toolCalls: [{ id: 'c', name: 'x', arguments: '{}' }],
        createdAtMs: 0,
      },
    );
    expect(plain.response?.body).toMatchObject({
      choices: [{ message: { content: '{"n":1}' }, finish_reason: null }],
    });
    expect(JSON.stringify(plain)).not.toContain('tool_calls');
  });

  it('writes an HTTP failure as the error file does, any other failure with `response: null`', () => {
    const rejected = (error: RxAgentError): BatchResultLine =>
      settledToBatchLine(
        { status: 'rejected', taskId: 'request-3', error, attempts: 3, durationMs: 900 },
        { createdAtMs: 0 },
      );
    expect(
      rejected(
        new ProviderError({
          status: 400,
          type: 'invalid_request_error',
          code: 'integer_below_min_value',
          requestId: 'req_42',
          message: 'Invalid max_tokens',
        }),
      ),
    ).toMatchObject({
      custom_id: 'request-3',
      response: {
        status_code: 400,
        request_id: 'req_42',
        body: {
          error: {
            message: 'Invalid max_tokens',
            type: 'invalid_request_error',
            param: null,
            code: 'integer_below_min_value',
          },
        },
      },
      error: null,
    });
    expect(rejected(new RateLimitError({ limit: 'tokens', retryAfterMs: 1000, status: 429 }))).toMatchObject({
      response: { status_code: 429, body: { error: { type: null, code: null } } },
      error: null,
    });
    const [, , expired] = fixture('openai-batch-guide.output.jsonl');
    const timeout = rejected(new TimeoutError({ limit: 'total', ms: 30_000, seen: 4 }));
    expect(shape(timeout)).toEqual(shape(expired));
    expect(timeout).toMatchObject({
      response: null,
      error: {
        code: 'E_TIMEOUT',
        message: new TimeoutError({ limit: 'total', ms: 30_000, seen: 4 }).message,
      },
    });
  });
});

describe('batchLineOutcome', () => {
  it("reads the Batch guide's output and error lines, and rxagent's own", () => {
    expect(fixture('openai-batch-guide.output.jsonl').map(batchLineOutcome)).toEqual([
      { taskId: 'request-2', status: 'fulfilled' },
      { taskId: 'request-1', status: 'fulfilled' },
      { taskId: 'request-3', status: 'rejected' },
      { taskId: 'request-7', status: 'rejected' },
    ]);
    expect(batchLineOutcome(fixture('openai-api-reference.output.jsonl')[0])).toEqual({
      taskId: 'request-2',
      status: 'fulfilled',
    });
    expect(batchLineOutcome({ taskId: 'a', status: 'fulfilled' })).toBeUndefined();
    expect(batchLineOutcome(null)).toBeUndefined();
  });
});
