// aiSdkModel's edge cases, over the AI SDK's own MockLanguageModelV3 (`ai/test`) and a hand-written
// LanguageModelV2: finish and usage shapes of both versions, error parts, APICallError statuses, the call
// options a task becomes, cancellation, and a runAgents run over the adapter.
import {
  APICallError,
  InvalidPromptError,
  TypeValidationError,
  type LanguageModelV2,
  type LanguageModelV2StreamPart,
  type LanguageModelV3StreamPart,
  type LanguageModelV3Usage,
} from '@ai-sdk/provider';
import { MockLanguageModelV3, convertArrayToReadableStream } from 'ai/test';
import { Observable, filter, from, lastValueFrom, map, toArray, type SchedulerLike } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ProviderError,
  RateLimitError,
  RefusalError,
  ValidationError,
} from '../../../src/core/errors/index.js';
import type { AgentEvent, Task } from '../../../src/core/types.js';
import { isAPICallError } from '../../../src/models/ai-sdk/ai-sdk-errors.js';
import {
  aiSdkModel,
  type AiSdkLanguageModel,
  type AiSdkModelConfig,
} from '../../../src/models/ai-sdk/ai-sdk.js';
import { runAgents } from '../../../src/operators/run-agents.js';
import { all, failure } from '../../support/run-events.js';

function usage(
  input: Partial<LanguageModelV3Usage['inputTokens']> = {},
  output: Partial<LanguageModelV3Usage['outputTokens']> = {},
): LanguageModelV3Usage {
  return {
    inputTokens: {
      total: undefined,
      noCache: undefined,
      cacheRead: undefined,
      cacheWrite: undefined,
      ...input,
    },
    outputTokens: { total: undefined, text: undefined, reasoning: undefined, ...output },
  };
}

const USAGE = usage({ total: 5 }, { total: 3 });

function finish(
  unified: 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other' = 'stop',
  raw?: string,
  used: LanguageModelV3Usage = USAGE,
): LanguageModelV3StreamPart {
  return { type: 'finish', finishReason: { unified, raw }, usage: used };
}

function text(...pieces: string[]): LanguageModelV3StreamPart[] {
  return [
    { type: 'text-start', id: '0' },
    ...pieces.map((delta): LanguageModelV3StreamPart => ({ type: 'text-delta', id: '0', delta })),
    { type: 'text-end', id: '0' },
  ];
}

function mock(parts: LanguageModelV3StreamPart[], headers?: Record<string, string>): MockLanguageModelV3 {
  return new MockLanguageModelV3({
    provider: 'mock',
    modelId: 'mock-model',
    doStream: {
      stream: convertArrayToReadableStream<LanguageModelV3StreamPart>([
        { type: 'stream-start', warnings: [] },
        ...parts,
      ]),
      ...(headers === undefined ? {} : { response: { headers } }),
    },
  });
}

function throwing(error: Error): MockLanguageModelV3 {
  return new MockLanguageModelV3({
    provider: 'mock',
    modelId: 'mock-model',
    doStream: () => Promise.reject(error),
  });
}

/** A stream that never ends, and records being cancelled. */
function hanging(): { model: MockLanguageModelV3; cancelled: () => boolean; read: Promise<void> } {
  let cancelled = false;
  let drained!: () => void;
  // Resolves once the adapter has read both parts and has passed the delta on.
  const read = new Promise<void>((resolve) => {
    drained = resolve;
  }).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  const stream = new ReadableStream<LanguageModelV3StreamPart>({
    start(controller) {
      controller.enqueue({ type: 'stream-start', warnings: [] });
      controller.enqueue({ type: 'text-delta', id: '0', delta: 'Hel' });
    },
    // Asked for more once the queue is empty; never answering keeps the stream hanging.
    pull() {
      drained();
      return new Promise<void>(() => undefined);
    },
    cancel() {
      cancelled = true;
    },
  });
  const model = new MockLanguageModelV3({ provider: 'mock', modelId: 'mock-model', doStream: { stream } });
  return { model, cancelled: () => cancelled, read };
}

function run(
  model: AiSdkLanguageModel,
  task: Partial<Task> = {},
  config: AiSdkModelConfig = {},
  signal = new AbortController().signal,
): Observable<AgentEvent> {
  return aiSdkModel(model, config).run({ id: 't1', input: 'hi', ...task }, { signal });
}

function apiCallError(
  statusCode: number | undefined,
  responseBody?: unknown,
  responseHeaders?: Record<string, string>,
): APICallError {
  return new APICallError({
    message: 'call failed',
    url: 'https://provider.test/v1/chat',
    requestBodyValues: {},
    ...(statusCode === undefined ? {} : { statusCode }),
    ...(responseHeaders === undefined ? {} : { responseHeaders }),
    ...(responseBody === undefined ? {} : { responseBody: JSON.stringify(responseBody) }),
  });
}

describe('aiSdkModel over MockLanguageModelV3: the stream', () => {
  it('reports response headers as rate limits first, then deltas, usage and done', async () => {
    const headers = { 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '59' };
    const events = await all(run(mock([...text('Hel', '', 'lo'), finish()], headers)));
    expect(events).toEqual([
      { type: 'rate-limits', limits: { limitRequests: 60, remainingRequests: 59 } },
      { type: 'delta', text: 'Hel' },
      { type: 'delta', text: 'lo' },
      { type: 'usage', usage: { inputTokens: 5, outputTokens: 3 } },
      { type: 'done', text: 'Hello', finishReason: 'stop' },
    ]);
  });

  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['tool-calls', 'tool-calls'],
    ['other', 'other'],
  ] as const)('maps the unified finish reason %s to %s', async (unified, expected) => {
    const events = await all(run(mock([finish(unified, 'raw')])));
    expect(events.at(-1)).toEqual({ type: 'done', text: '', finishReason: expected });
  });

  it.each([
    [
      'totals',
      usage({ total: 10, cacheRead: 4, cacheWrite: 2 }, { total: 7, reasoning: 3 }),
      {
        inputTokens: 10,
        outputTokens: 7,
        cachedInputTokens: 4,
        cacheWriteTokens: 2,
        reasoningTokens: 3,
      },
    ],
    [
      'parts only',
      usage({ noCache: 1, cacheRead: 4, cacheWrite: 2 }, { text: 4, reasoning: 3 }),
      {
        inputTokens: 7,
        outputTokens: 7,
        cachedInputTokens: 4,
        cacheWriteTokens: 2,
        reasoningTokens: 3,
      },
    ],
    ['output unknown', usage({ total: 9 }), { inputTokens: 9, outputTokens: 0 }],
  ])('maps V3 usage given as %s', async (_name, used, expected) => {
    const events = await all(run(mock([finish('stop', 'stop', used)])));
    expect(events.find((e) => e.type === 'usage')).toEqual({ type: 'usage', usage: expected });
  });

  it('emits no usage when the provider reported no counts', async () => {
    const events = await all(run(mock([finish('stop', 'stop', usage())])));
    expect(events.map((e) => e.type)).toEqual(['done']);
  });

  it('takes tool calls from tool-call parts, skipping provider-executed ones, in their order', async () => {
    const events = await all(
      run(
        mock([
          { type: 'tool-input-start', id: 'a', toolName: 'search' },
          { type: 'tool-input-delta', id: 'a', delta: '{"q":' },
          { type: 'tool-input-delta', id: 'a', delta: '"x"}' },
          { type: 'tool-input-end', id: 'a' },
          { type: 'tool-call', toolCallId: 'a', toolName: 'search', input: '{"q":"x"}' },
          { type: 'tool-call', toolCallId: 's', toolName: 'web', input: '{}', providerExecuted: true },
          { type: 'tool-call', toolCallId: 'b', toolName: 'mcp_tool', input: '{}', dynamic: true },
          finish('tool-calls', 'tool_calls'),
        ]),
      ),
    );
    expect(events[0]).toEqual({
      type: 'tool-calls',
      calls: [
        { id: 'a', name: 'search', arguments: '{"q":"x"}' },
        { id: 'b', name: 'mcp_tool', arguments: '{}' },
      ],
    });
  });

  it('closes an inlined <think> block when text begins, and skips empty reasoning deltas', async () => {
    const events = await all(
      run(
        mock([
          { type: 'reasoning-start', id: 'r' },
          { type: 'reasoning-delta', id: 'r', delta: 'hmm' },
          { type: 'reasoning-delta', id: 'r', delta: '' },
          ...text('Hi'),
          finish(),
        ]),
        {},
        { reasoning: 'inline' },
      ),
    );
    expect(events.filter((e) => e.type === 'delta')).toEqual([
      { type: 'delta', text: '<think>hmm' },
      { type: 'delta', text: '</think>Hi' },
    ]);
  });

  it('a content filter is a RefusalError keeping the text streamed before it, after the usage', async () => {
    const model = mock([
      { type: 'response-metadata', modelId: 'mock-model-2026' },
      ...text('Hey', ' Jude'),
      finish('content-filter', 'content_filter'),
    ]);
    const { events, error } = await failure(run(model));
    expect(events.slice(-1)).toEqual([{ type: 'usage', usage: { inputTokens: 5, outputTokens: 3 } }]);
    expect(error).toBeInstanceOf(RefusalError);
    expect((error as RefusalError).info).toEqual({
      reason: 'content-filter',
      refusal: '',
      model: 'mock-model-2026',
      partialText: 'Hey Jude',
    });
    expect((error as Error).message).toBe(
      'The provider\'s content filter stopped mock-model-2026 on task "t1" after 7 parts (8 characters of text)',
    );
  });

  it('a finish with reason error and no error part is a retryable ProviderError', async () => {
    const { error } = await failure(run(mock([...text('par'), finish('error', 'error')])));
    expect(error).toMatchObject({
      code: 'E_PROVIDER',
      retryable: true,
      info: { type: 'error_finish', partialText: 'par' },
      message: 'Provider finished with reason error (error) after 5 parts (3 characters of text)',
    });
  });

  it('a stream that ends without a finish part is a retryable incomplete_stream', async () => {
    const { error } = await failure(run(mock(text('par'))));
    expect(error).toMatchObject({ retryable: true, info: { type: 'incomplete_stream', partialText: 'par' } });
  });
});

describe('aiSdkModel over MockLanguageModelV3: errors', () => {
  it.each([
    ['an overloaded object', true, { type: 'overloaded_error', message: 'Overloaded' }, 'overloaded_error'],
    ['a server error object', true, { message: 'boom', type: 'server_error', code: 'x' }, 'server_error'],
    ['an invalid request', false, { type: 'invalid_request_error', message: 'bad' }, 'invalid_request_error'],
  ])('an error part with %s is a ProviderError, retryable %s', async (_name, retryable, payload, type) => {
    const { error } = await failure(run(mock([...text('a'), { type: 'error', error: payload }])));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable, info: { type, chunks: 4, partialText: 'a' } });
    expect((error as Error).message).toBe(
      `Provider reported an error mid-stream after 4 parts (1 characters of text): ${payload.message}`,
    );
  });

  it('an error part with no usable payload still fails the run with a message', async () => {
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    const messages = await Promise.all(
      [undefined, 'plain words', cycle].map(async (payload) => {
        const { error } = await failure(run(mock([{ type: 'error', error: payload }])));
        return (error as Error).message;
      }),
    );
    expect(messages).toEqual([
      'Provider reported an error mid-stream after 1 part (0 characters of text): undefined',
      'Provider reported an error mid-stream after 1 part (0 characters of text): plain words',
      'Provider reported an error mid-stream after 1 part (0 characters of text): an unserialisable object',
    ]);
  });

  it('an error part with a chunk the provider could not validate is malformed_chunk', async () => {
    const invalid = new TypeValidationError({ value: { nope: 1 }, cause: new Error('expected choices') });
    const { error } = await failure(run(mock([{ type: 'error', error: invalid }])));
    expect(error).toMatchObject({ retryable: true, info: { type: 'malformed_chunk', chunks: 1 } });
  });

  it('an error part ends the call: its signal aborts and its stream is cancelled', async () => {
    let cancelled = false;
    const model = new MockLanguageModelV3({
      doStream: {
        stream: new ReadableStream<LanguageModelV3StreamPart>({
          start(controller) {
            controller.enqueue({ type: 'error', error: { message: 'x' } });
          },
          cancel() {
            cancelled = true;
          },
        }),
      },
    });
    await failure(run(model));
    expect(model.doStreamCalls[0]?.abortSignal?.aborted).toBe(true);
    expect(cancelled).toBe(true);
  });

  it.each([
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [408, true],
    [409, true],
    [500, true],
    [503, true],
    [529, true],
  ])('an APICallError with status %i is a ProviderError, retryable %s', async (status, retryable) => {
    const body = { error: { message: 'provider says no', type: 'some_error', code: 'c1' } };
    const { error } = await failure(run(throwing(apiCallError(status, body))));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable,
      message: `Provider answered ${status}: provider says no`,
      info: { status, type: 'some_error', code: 'c1' },
    });
  });

  it('x-should-retry overrides the status, as the provider says', async () => {
    const { error } = await failure(
      run(throwing(apiCallError(400, { error: { message: 'm' } }, { 'x-should-retry': 'true' }))),
    );
    expect(error).toMatchObject({ retryable: true, info: { status: 400 } });
  });

  it('an APICallError without a status is a retryable connection failure', async () => {
    const refused = new APICallError({
      message: 'Cannot connect to API: connect ECONNREFUSED 127.0.0.1:1',
      url: 'http://127.0.0.1:1/v1/messages',
      requestBodyValues: {},
      isRetryable: true,
    });
    const { error } = await failure(run(throwing(refused)));
    expect(error).toMatchObject({ retryable: true, info: { type: 'connection' } });
    expect((error as Error).message).toBe(
      'Could not reach the provider: Cannot connect to API: connect ECONNREFUSED 127.0.0.1:1',
    );
  });

  it('a 429 reports its headers, then waits retry-after-ms', async () => {
    const headers = { 'retry-after-ms': '1500', 'x-ratelimit-remaining-requests': '0' };
    const { events, error } = await failure(
      run(throwing(apiCallError(429, { error: { message: 'slow down' } }, headers))),
    );
    expect(events).toEqual([{ type: 'rate-limits', limits: { remainingRequests: 0 } }]);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).info).toEqual({ limit: 'requests', retryAfterMs: 1_500, status: 429 });
  });

  it('a 429 names the limit an anthropic-ratelimit-*-remaining header reads 0 for', async () => {
    const requests = await failure(
      run(throwing(apiCallError(429, {}, { 'anthropic-ratelimit-requests-remaining': '0' }))),
    );
    const output = await failure(
      run(throwing(apiCallError(429, {}, { 'anthropic-ratelimit-output-tokens-remaining': '0' }))),
    );
    expect((requests.error as RateLimitError).limit).toBe('requests');
    expect((output.error as RateLimitError).limit).toBe('tokens');
  });

  it('a 429 retry-after given as an HTTP date counts from the scheduler’s clock', async () => {
    const now = Date.parse('2026-02-25T20:02:30Z');
    const scheduler = { now: () => now, schedule: () => undefined } as unknown as SchedulerLike;
    const headers = { 'retry-after': 'Wed, 25 Feb 2026 20:02:37 GMT' };
    const { error } = await failure(run(throwing(apiCallError(429, {}, headers)), {}, { scheduler }));
    expect((error as RateLimitError).retryAfterMs).toBe(7_000);
  });

  it('a 429 for exhausted quota or a spend cap is final', async () => {
    const quota = await failure(
      run(throwing(apiCallError(429, { error: { message: 'quota', type: 'insufficient_quota' } }))),
    );
    const spend = await failure(
      run(
        throwing(
          apiCallError(429, {
            type: 'error',
            error: {
              type: 'rate_limit_error',
              message: 'spend limit',
              details: { error_code: 'enforced_spend_limit_reached' },
            },
          }),
        ),
      ),
    );
    expect(quota.error).toMatchObject({
      retryable: false,
      info: { status: 429, type: 'insufficient_quota' },
    });
    expect(spend.error).toMatchObject({
      retryable: false,
      info: { status: 429, type: 'rate_limit_error', code: 'enforced_spend_limit_reached' },
    });
  });

  it('a prompt the provider package refuses to build is a ValidationError', async () => {
    const refused = new InvalidPromptError({ prompt: [], message: 'Multiple system messages' });
    const { error } = await failure(run(throwing(refused)));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'mock:mock-model refused the request: Invalid prompt: Multiple system messages',
    );
  });

  it('tells an APICallError as APICallError.isInstance does, without loading @ai-sdk/provider', () => {
    const candidates = [apiCallError(500), new Error('x'), { statusCode: 500 }, null, 'APICallError'];
    expect(candidates.map(isAPICallError)).toEqual(candidates.map((c) => APICallError.isInstance(c)));
    expect(candidates.map(isAPICallError)).toEqual([true, false, false, false, false]);
  });
});

describe('aiSdkModel over MockLanguageModelV3: the call', () => {
  it('passes the prompt, the task’s parameters, the output cap, headers and provider options', async () => {
    const model = mock([finish()]);
    const parameters = { type: 'object', properties: { q: { type: 'string' } } };
    const agent = aiSdkModel(model, {
      maxOutputTokens: 256,
      headers: { 'x-team': 'a' },
      providerOptions: { mock: { a: 1, b: 1 }, other: { c: 1 } },
    });
    expect(agent.maxOutputTokens).toBe(256);
    expect(agent.name).toBe('mock:mock-model');
    await all(
      agent.run(
        {
          id: 't1',
          input: [
            { role: 'system', content: 'sys' },
            { role: 'user', content: 'q?' },
            {
              role: 'assistant',
              content: 'let me look',
              toolCalls: [{ id: 'c1', name: 'search', arguments: '{"q":"x"}' }],
            },
            { role: 'tool', toolCallId: 'c1', content: 'found' },
          ],
          maxOutputTokens: 64,
          params: {
            model: 'mock-model',
            temperature: 0,
            topP: 1,
            stop: ['END'],
            seed: 3,
            responseFormat: { type: 'json_object' },
            tools: [{ name: 'search', parameters }],
            toolChoice: 'required',
            providerOptions: { mock: { b: 2 } },
          },
        },
        { signal: new AbortController().signal },
      ),
    );
    const [call] = model.doStreamCalls;
    expect(call).toEqual({
      prompt: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: [{ type: 'text', text: 'q?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'let me look' },
            { type: 'tool-call', toolCallId: 'c1', toolName: 'search', input: { q: 'x' } },
          ],
        },
        {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: 'c1',
              toolName: 'search',
              output: { type: 'text', value: 'found' },
            },
          ],
        },
      ],
      abortSignal: expect.any(AbortSignal) as AbortSignal,
      maxOutputTokens: 64,
      temperature: 0,
      topP: 1,
      stopSequences: ['END'],
      seed: 3,
      responseFormat: { type: 'json' },
      tools: [{ type: 'function', name: 'search', inputSchema: parameters }],
      toolChoice: { type: 'required' },
      providerOptions: { mock: { a: 1, b: 2 }, other: { c: 1 } },
      headers: { 'x-team': 'a' },
    });
  });

  it.each([
    [{ type: 'text' } as const, { type: 'text' }],
    [
      { type: 'json_schema', name: 'n', schema: { type: 'object' }, description: 'd', strict: true } as const,
      { type: 'json', name: 'n', schema: { type: 'object' }, description: 'd' },
    ],
  ])('maps responseFormat %j', async (responseFormat, expected) => {
    const model = mock([finish()]);
    await all(run(model, { params: { responseFormat } }));
    expect(model.doStreamCalls[0]?.responseFormat).toEqual(expected);
  });

  it.each([
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
    [{ name: 'search' }, { type: 'tool', toolName: 'search' }],
  ] as const)('maps toolChoice %j', async (toolChoice, expected) => {
    const model = mock([finish()]);
    await all(run(model, { params: { toolChoice } }));
    expect(model.doStreamCalls[0]?.toolChoice).toEqual(expected);
  });

  it('refuses a params.model other than the model object’s id before calling it', async () => {
    const model = mock([finish()]);
    const { error } = await failure(run(model, { params: { model: 'gpt-4o' } }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'Task "t1" asks for model "gpt-4o", but mock:mock-model runs "mock-model" only: an AI SDK model object has a fixed model id. Make one aiSdkModel per model.',
    );
    expect(model.doStreamCalls).toEqual([]);
  });

  it('refuses a parameter it does not know', async () => {
    const model = mock([finish()]);
    const params = { frequencyPenalty: 1 } as unknown as Task['params'];
    const { error } = await failure(run(model, params === undefined ? {} : { params }));
    expect(error).toMatchObject({
      code: 'E_VALIDATION',
      info: { issues: [{ path: ['params', 'frequencyPenalty'] }] },
    });
    expect(model.doStreamCalls).toEqual([]);
  });

  it.each([
    [[{ role: 'tool', content: 'x' }], ['input', 0, 'toolCallId'], 'A tool message needs `toolCallId`'],
    [
      [{ role: 'tool', content: 'x', toolCallId: 'nope' }],
      ['input', 0, 'toolCallId'],
      'The tool message input[0] answers call "nope", which no earlier assistant message made',
    ],
    [
      [{ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'f', arguments: '{"cut' }] }],
      ['input', 0, 'toolCalls', 0, 'arguments'],
      'The arguments of tool call "c" (input[0]) are not JSON',
    ],
  ] as const)(
    'refuses a malformed conversation before calling the model: %j',
    async (input, path, message) => {
      const model = mock([finish()]);
      const { error } = await failure(run(model, { input }));
      expect(error).toMatchObject({ code: 'E_VALIDATION', info: { issues: [{ path }] } });
      expect((error as Error).message.startsWith(message)).toBe(true);
      expect(model.doStreamCalls).toEqual([]);
    },
  );

  it('an abort through the signal ends a hanging run in CancelledError, aborting the call', async () => {
    const { model, cancelled, read } = hanging();
    const controller = new AbortController();
    const result = failure(run(model, { id: 'job' }, {}, controller.signal));
    await read;
    controller.abort();
    const { events, error } = await result;
    expect(events).toEqual([{ type: 'delta', text: 'Hel' }]);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ info: { reason: 'unsubscribed', taskId: 'job' } });
    expect(model.doStreamCalls[0]?.abortSignal?.aborted).toBe(true);
    expect(cancelled()).toBe(true);
  });

  it('unsubscribing aborts the call and cancels its stream', async () => {
    const { model, cancelled, read } = hanging();
    const subscription = run(model).subscribe();
    await read;
    subscription.unsubscribe();
    expect(model.doStreamCalls[0]?.abortSignal?.aborted).toBe(true);
    expect(cancelled()).toBe(true);
  });
});

/** A LanguageModelV2 written by hand, as an `ai@5`-era provider package exposes it. */
function v2Model(
  parts: LanguageModelV2StreamPart[],
): LanguageModelV2 & { readonly calls: Parameters<LanguageModelV2['doStream']>[0][] } {
  const calls: Parameters<LanguageModelV2['doStream']>[0][] = [];
  return {
    specificationVersion: 'v2',
    provider: 'legacy.chat',
    modelId: 'legacy-1',
    supportedUrls: {},
    calls,
    doGenerate: () => Promise.reject(new Error('not used')),
    doStream: (options) => {
      calls.push(options);
      return Promise.resolve({ stream: convertArrayToReadableStream(parts) });
    },
  };
}

describe('aiSdkModel over a LanguageModelV2', () => {
  it('reads V2 finish reasons and flat usage', async () => {
    const model = v2Model([
      { type: 'stream-start', warnings: [] },
      { type: 'text-start', id: '1' },
      { type: 'text-delta', id: '1', delta: 'old' },
      { type: 'text-end', id: '1' },
      {
        type: 'finish',
        finishReason: 'unknown',
        usage: {
          inputTokens: 20,
          outputTokens: 9,
          totalTokens: 29,
          reasoningTokens: 4,
          cachedInputTokens: 16,
        },
      },
    ]);
    const events = await all(run(model, { params: { temperature: 0.1 } }));
    expect(events).toEqual([
      { type: 'delta', text: 'old' },
      {
        type: 'usage',
        usage: { inputTokens: 20, outputTokens: 9, cachedInputTokens: 16, reasoningTokens: 4 },
      },
      { type: 'done', text: 'old', finishReason: 'other' },
    ]);
    expect(model.calls[0]).toMatchObject({ temperature: 0.1, prompt: [{ role: 'user' }] });
  });

  it('a V2 content-filter finish is a RefusalError', async () => {
    const model = v2Model([
      {
        type: 'finish',
        finishReason: 'content-filter',
        usage: { inputTokens: 1, outputTokens: 0, totalTokens: 1 },
      },
    ]);
    const { error } = await failure(run(model));
    expect(error).toMatchObject({ code: 'E_REFUSED', info: { reason: 'content-filter', model: 'legacy-1' } });
  });

  it('refuses a parameter a V2 warning says was dropped', async () => {
    const model = v2Model([
      {
        type: 'stream-start',
        warnings: [{ type: 'unsupported-setting', setting: 'topP', details: 'ignored' }],
      },
      { type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } },
    ]);
    const { error } = await failure(run(model, { params: { topP: 0.5 } }));
    expect(error).toMatchObject({
      code: 'E_VALIDATION',
      message: 'legacy.chat:legacy-1 cannot honour `params.topP` of task "t1": ignored',
    });
    const passed = await all(run(model));
    expect(passed.at(-1)).toMatchObject({ type: 'done' });
  });

  it('refuses strict tools, which V2 cannot express, and sends other tools without strict', async () => {
    const model = v2Model([
      { type: 'finish', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } },
    ]);
    const parameters = { type: 'object' };
    const { error } = await failure(
      run(model, { params: { tools: [{ name: 'f', parameters, strict: true }] } }),
    );
    expect(error).toMatchObject({ code: 'E_VALIDATION', info: { issues: [{ path: ['params', 'tools'] }] } });
    await all(run(model, { params: { tools: [{ name: 'f', parameters, strict: false }] } }));
    expect(model.calls[0]?.tools).toEqual([{ type: 'function', name: 'f', inputSchema: parameters }]);
  });
});

describe('aiSdkModel configuration', () => {
  it('throws TypeError for what is not a model, and for impossible options', () => {
    const model = mock([finish()]);
    expect(() => aiSdkModel('openai/gpt-4o' as unknown as AiSdkLanguageModel)).toThrow(
      "Expected `model` to be an AI SDK language model object, got \"openai/gpt-4o\" (string). Pass the provider's model, such as `createAnthropic()('claude-haiku-4-5')`.",
    );
    expect(() => aiSdkModel({} as AiSdkLanguageModel)).toThrow(
      'Expected `model` to be an AI SDK LanguageModelV3 or LanguageModelV2 (with `doStream`, `provider` and `modelId`), got an object',
    );
    const v1 = { specificationVersion: 'v1', provider: 'p', modelId: 'm', doStream: () => undefined };
    expect(() => aiSdkModel(v1 as unknown as AiSdkLanguageModel)).toThrow(
      'Expected `model` to implement the AI SDK\'s specification v3 or v2 (@ai-sdk/provider 3.x), got specificationVersion "v1" (string)',
    );
    expect(() => aiSdkModel(model, { maxTokens: 5 } as AiSdkModelConfig)).toThrow(
      'Unknown option `maxTokens` for aiSdkModel; expected one of `name`, `maxOutputTokens`, `reasoning`, `headers`, `providerOptions`, `scheduler`',
    );
    expect(() => aiSdkModel(model, { maxOutputTokens: 0 })).toThrow(
      'Expected `maxOutputTokens` to be an integer from 1 and up, got 0 (number)',
    );
    expect(() => aiSdkModel(model, { reasoning: 'show' as 'inline' })).toThrow(
      "Expected `reasoning` to be one of 'omit', 'inline', got \"show\" (string)",
    );
    expect(() => aiSdkModel(model, { name: '' })).toThrow(
      'Expected `name` to be a non-empty string, got "" (string)',
    );
    expect(() => aiSdkModel(model, { headers: { a: 1 } as unknown as Record<string, string> })).toThrow(
      'Expected `headers.a` to be a string, got 1 (number)',
    );
    expect(() => aiSdkModel(model, { providerOptions: { anthropic: 'x' } as never })).toThrow(
      'Expected `providerOptions.anthropic` to be an object of that provider\'s options, got "x" (string)',
    );
  });

  it('goes by the name it is given', () => {
    expect(aiSdkModel(mock([finish()]), { name: 'haiku' }).name).toBe('haiku');
  });
});

describe('runAgents over aiSdkModel', () => {
  it('settles every task: answers, a refusal never retried, a 429 retried after its retry-after-ms', async () => {
    let busy = 0;
    const model = new MockLanguageModelV3({
      provider: 'mock',
      modelId: 'mock-model',
      doStream: (options) => {
        const prompt = JSON.stringify(options.prompt);
        if (prompt.includes('busy') && busy++ === 0) {
          return Promise.reject(
            apiCallError(429, { error: { message: 'slow down' } }, { 'retry-after-ms': '20' }),
          );
        }
        const parts: LanguageModelV3StreamPart[] = prompt.includes('refuse')
          ? [finish('content-filter', 'refusal', usage({ total: 4 }, { total: 0 }))]
          : [...text('ok'), finish('stop', 'stop', usage({ total: 4, cacheRead: 2 }, { total: 1 }))];
        return Promise.resolve({ stream: convertArrayToReadableStream(parts) });
      },
    });
    const tasks: Task[] = ['one', 'refuse', 'busy', 'two'].map((input) => ({ id: input, input }));
    const events = await lastValueFrom(
      from(tasks).pipe(
        runAgents(aiSdkModel(model), { concurrency: 2, retry: { maxRetries: 2, baseDelayMs: 1 } }),
        toArray(),
      ),
    );
    const settled = new Map(
      events.flatMap((e) => (e.type === 'settled' ? [[e.taskId, e.result] as const] : [])),
    );
    expect(settled.size).toBe(4);
    expect(settled.get('one')).toMatchObject({
      status: 'fulfilled',
      value: 'ok',
      attempts: 1,
      usage: { inputTokens: 4, outputTokens: 1, cachedInputTokens: 2 },
    });
    expect(settled.get('refuse')).toMatchObject({
      status: 'rejected',
      attempts: 1,
      error: { code: 'E_REFUSED', info: { reason: 'refusal' } },
      usage: { inputTokens: 4, outputTokens: 0 },
    });
    expect(settled.get('busy')).toMatchObject({ status: 'fulfilled', value: 'ok', attempts: 2 });
    const retry = events.find((e) => e.type === 'retry');
    expect(retry).toMatchObject({ taskId: 'busy', attempt: 2, error: { code: 'E_RATE_LIMITED' } });
    expect(retry?.type === 'retry' && retry.delayMs).toBeGreaterThanOrEqual(20);
    expect(model.doStreamCalls).toHaveLength(5);
  });

  it('cancels in-flight calls when the run is unsubscribed', async () => {
    const { model, read } = hanging();
    const subscription = from([{ id: 'a', input: 'x' }])
      .pipe(
        runAgents(aiSdkModel(model)),
        filter((e) => e.type === 'settled'),
        map((e) => e.result),
      )
      .subscribe();
    await read;
    subscription.unsubscribe();
    expect(model.doStreamCalls[0]?.abortSignal?.aborted).toBe(true);
  });
});
