import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { Observable, filter, from, lastValueFrom, map, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CancelledError,
  ProviderError,
  RateLimitError,
  RefusalError,
  RxAgentError,
  TimeoutError,
} from '../../../src/core/errors/index.js';
import type { AgentEvent, Settled, Task, TaskEvent } from '../../../src/core/types.js';
import { createBudget, type BudgetState } from '../../../src/budget/create-budget.js';
import { estimateTokens } from '../../../src/budget/estimate.js';
import { openaiModel, type OpenAIModelConfig } from '../../../src/models/openai/openai.js';
import { pool } from '../../../src/operators/pool.js';
import { runAgents } from '../../../src/operators/run-agents.js';
import { retryBackoff } from '../../../src/operators/retry-backoff.js';
import { throttleBudget } from '../../../src/operators/throttle-budget.js';
import { timeoutWith } from '../../../src/operators/timeout-with.js';
import { fastTime } from '../../support/fast-time.js';
import {
  startOpenAIServer,
  type OpenAIServer,
  type OpenAIServerOptions,
} from '../../support/openai-server.js';
import { all, failure } from '../../support/run-events.js';

let server: OpenAIServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  server = await startOpenAIServer(options);
  return server;
}

function agentFor(s: OpenAIServer, config: OpenAIModelConfig = {}) {
  return openaiModel({ model: 'test-model', apiKey: 'test-key', baseURL: s.url, env: {}, ...config });
}

/** A client that keeps the SDK's console logging of malformed chunks out of the test output. */
function quietClient(s: OpenAIServer): OpenAI {
  return new OpenAI({ apiKey: 'test-key', baseURL: s.url, maxRetries: 0, logLevel: 'off' });
}

function run(s: OpenAIServer, input: Task['input'], config: OpenAIModelConfig = {}): Observable<AgentEvent> {
  return agentFor(s, config).run({ id: 't1', input }, { signal: new AbortController().signal });
}

describe('openaiModel streaming', () => {
  it('emits rate limits first, then deltas, usage and done, sending the request the SDK way', async () => {
    const s = await start({ tokensPerMinute: 10_000, requestsPerMinute: 50, now: () => 0 });
    const events = await all(
      agentFor(s).run(
        { id: 't1', input: 'hello there', maxOutputTokens: 40 },
        { signal: new AbortController().signal },
      ),
    );
    expect(events).toEqual([
      {
        type: 'rate-limits',
        limits: {
          limitTokens: 10_000,
          limitRequests: 50,
          remainingTokens: 10_000 - 42,
          remainingRequests: 49,
          resetTokensMs: 60_000,
          resetRequestsMs: 60_000,
        },
      },
      { type: 'delta', text: 'Echo:' },
      { type: 'delta', text: ' hello' },
      { type: 'delta', text: ' there' },
      { type: 'usage', usage: { inputTokens: 2, outputTokens: 3 } },
      { type: 'done', text: 'Echo: hello there', finishReason: 'stop' },
    ]);
    const [request] = s.requests;
    expect(request?.body).toEqual({
      model: 'test-model',
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 40,
      messages: [{ role: 'user', content: 'hello there' }],
    });
    expect(request?.headers.authorization).toBe('Bearer test-key');
  });

  it('delivers the first delta before the server has sent the last chunk', async () => {
    const s = await start({ behavior: { pauseAfter: 2 } });
    const events: AgentEvent[] = [];
    let atFirstDelta: { chunksSent?: number | undefined; endedAt?: number | undefined } = {};
    await new Promise<void>((resolve, reject) => {
      run(s, 'one two three four').subscribe({
        next: (event) => {
          events.push(event);
          if (events.length > 1) return;
          atFirstDelta = { chunksSent: s.requests[0]?.chunksSent, endedAt: s.requests[0]?.endedAt };
          s.release();
        },
        error: reject,
        complete: resolve,
      });
    });
    expect(events[0]).toEqual({ type: 'delta', text: 'Echo:' });
    expect(atFirstDelta).toEqual({ chunksSent: 2, endedAt: undefined });
    expect(events.filter((e) => e.type === 'delta').map((e) => e.text)).toEqual([
      'Echo:',
      ' one',
      ' two',
      ' three',
      ' four',
    ]);
  });

  it('assembles parallel tool calls from their interleaved fragments', async () => {
    const s = await start();
    const weather = JSON.stringify({ city: 'Paris', unit: 'celsius', days: [1, 2, 3] });
    const time = JSON.stringify({ zone: 'Europe/Paris' });
    s.cue({
      text: '',
      toolCalls: [
        { id: 'call_a', name: 'weather', arguments: weather },
        { id: 'call_b', name: 'time', arguments: time },
      ],
    });
    const events = await all(run(s, 'weather and time?'));
    expect(events.filter((e) => e.type !== 'usage')).toEqual([
      {
        type: 'tool-calls',
        calls: [
          { id: 'call_a', name: 'weather', arguments: weather },
          { id: 'call_b', name: 'time', arguments: time },
        ],
      },
      { type: 'done', text: '', finishReason: 'tool-calls' },
    ]);
    expect(events.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: { inputTokens: 3, outputTokens: 2 },
    });
  });

  it('maps chat messages, tool results and the output cap field', async () => {
    const s = await start();
    await all(
      agentFor(s, {
        maxTokensField: 'max_tokens',
        defaultMaxOutputTokens: 7,
        extraBody: { temperature: 0 },
      }).run(
        {
          id: 't1',
          input: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'weather?' },
            { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'weather', arguments: '{}' }] },
            { role: 'tool', content: 'sunny', toolCallId: 'c1' },
          ],
        },
        { signal: new AbortController().signal },
      ),
    );
    expect(s.requests[0]?.body).toMatchObject({
      max_tokens: 7,
      temperature: 0,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{}' } }],
        },
        { role: 'tool', content: 'sunny', tool_call_id: 'c1' },
      ],
    });
    expect(s.requests[0]?.body).not.toHaveProperty('max_completion_tokens');
  });

  it('maps a length cut to finishReason length', async () => {
    const s = await start();
    const events = await all(
      agentFor(s).run(
        { id: 't', input: 'a b c d e', maxOutputTokens: 2 },
        { signal: new AbortController().signal },
      ),
    );
    expect(events.at(-1)).toEqual({ type: 'done', text: 'Echo: a', finishReason: 'length' });
  });

  it('refuses a tool message without toolCallId before sending anything', async () => {
    const s = await start();
    const { error } = await failure(run(s, [{ role: 'tool', content: 'x' }]));
    expect(error).toMatchObject({
      code: 'E_VALIDATION',
      info: { issues: [{ path: ['input', 0, 'toolCallId'] }] },
    });
    expect(s.requests).toHaveLength(0);
  });
});

describe('openaiModel per-task params', () => {
  it("sends every param in OpenAI's names, params.model for the request, providerOptions.openai as is", async () => {
    const s = await start();
    await all(
      agentFor(s, { extraBody: { user: 'from-config', temperature: 1 } }).run(
        {
          id: 't1',
          input: 'hello',
          maxOutputTokens: 30,
          params: {
            model: 'gpt-4o-mini',
            temperature: 0.2,
            topP: 0.9,
            stop: ['END'],
            seed: 7,
            responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
            tools: [{ name: 'search', description: 'Web search', parameters: { type: 'object' } }],
            toolChoice: { name: 'search' },
            providerOptions: { openai: { logprobs: true, stream: false }, anthropic: { ignored: true } },
          },
        },
        { signal: new AbortController().signal },
      ),
    );
    expect(s.requests[0]?.body).toEqual({
      user: 'from-config',
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello' }],
      max_completion_tokens: 30,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['END'],
      seed: 7,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
      tools: [
        {
          type: 'function',
          function: { name: 'search', description: 'Web search', parameters: { type: 'object' } },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'search' } },
      logprobs: true,
      // The run reads a stream whatever the provider options say.
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('reports cached and reasoning tokens from a recorded stream', async () => {
    // vercel/ai packages/deepseek/src/chat/__fixtures__/deepseek-tool-call.chunks.txt (see
    // test/models/ai-sdk/fixtures/SOURCES.md), framed as the SSE lines it was sent as.
    const chunks = readFileSync(
      new URL('../ai-sdk/fixtures/deepseek-tool-call.chunks.txt', import.meta.url),
      'utf8',
    )
      .split('\n')
      .filter((line) => line.trim() !== '');
    const body = chunks.map((line) => `data: ${line}\n\n`).join('') + 'data: [DONE]\n\n';
    const s = await start({ behavior: { recorded: { body } } });
    const events = await all(run(s, 'What is the weather?'));
    expect(events.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: { inputTokens: 339, outputTokens: 83, cachedInputTokens: 320, reasoningTokens: 39 },
    });
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool-calls' });
  });
});

describe('openaiModel cancellation', () => {
  it('unsubscribing mid-stream closes the connection within 100 ms', async () => {
    const s = await start({ behavior: { pauseAfter: 2 } });
    let unsubscribedAt = 0;
    const subscription = run(s, 'one two three').subscribe({
      next: (event) => {
        if (event.type !== 'delta') return;
        unsubscribedAt = s.now();
        subscription.unsubscribe();
      },
    });
    await s.waitFor(() => s.disconnects === 1);
    const disconnectedAt = s.requests[0]?.disconnectedAt ?? Infinity;
    expect(disconnectedAt - unsubscribedAt).toBeLessThan(100);
    expect(s.requests[0]?.endedAt).toBeUndefined();
  });

  it('an abort through the signal while still subscribed ends in CancelledError, not silence', async () => {
    const s = await start({ behavior: { hang: true } });
    const controller = new AbortController();
    const events$ = agentFor(s).run({ id: 'job', input: 'hi' }, { signal: controller.signal });
    const result = failure(events$);
    await s.waitFor(() => s.requests.length === 1);
    controller.abort();
    const { error } = await result;
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ info: { reason: 'unsubscribed', taskId: 'job' } });
    await s.waitFor(() => s.disconnects === 1);
  });

  it('timeoutWith({ each }) fires on a stream that hangs after its headers, and the request is aborted', async () => {
    const s = await start({ behavior: { hang: true } });
    const { error } = await failure(run(s, 'hi').pipe(timeoutWith({ each: 150 })));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ info: { limit: 'each', ms: 150 } });
    await s.waitFor(() => s.disconnects === 1);
  });

  it('timeoutWith({ each }) fires on a stream of keep-alive comments without data', async () => {
    const s = await start({ behavior: { keepAliveMs: 20 } });
    const { events, error } = await failure(run(s, 'hi').pipe(timeoutWith({ each: 200 })));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(events).toEqual([]);
    await s.waitFor(() => s.disconnects === 1);
  });
});

describe('openaiModel errors', () => {
  it('429 on requests → RateLimitError with the server’s retry-after-ms and limit, after its rate limits', async () => {
    let clock = 0;
    const s = await start({ requestsPerMinute: 1, windowMs: 10_000, now: () => clock });
    await all(run(s, 'first'));
    clock = 2_500;
    const { events, error } = await failure(run(s, 'second'));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({
      retryable: true,
      info: { limit: 'requests', retryAfterMs: 7_500, status: 429 },
    });
    expect(events).toEqual([
      { type: 'rate-limits', limits: { limitRequests: 1, remainingRequests: 0, resetRequestsMs: 7_500 } },
    ]);
  });

  it('429 on tokens → RateLimitError limit tokens', async () => {
    const s = await start({ tokensPerMinute: 30, windowMs: 4_000, now: () => 0 });
    await all(run(s, 'a b', { defaultMaxOutputTokens: 20 }));
    const { error } = await failure(run(s, 'c d', { defaultMaxOutputTokens: 20 }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).limit).toBe('tokens');
    expect((error as RateLimitError).retryAfterMs).toBe(4_000);
  });

  it('insufficient_quota is a final ProviderError', async () => {
    const s = await start({ behavior: { insufficientQuota: true } });
    const { error } = await failure(run(s, 'hi'));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: false, info: { status: 429, type: 'insufficient_quota' } });
  });

  it.each([500, 503, 408, 409])('%i is a retryable ProviderError with its status', async (status) => {
    const s = await start({ behavior: { status } });
    const { error } = await failure(run(s, 'hi'));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true, info: { status } });
  });

  it.each([400, 404])('%i is a final ProviderError with the provider’s message', async (status) => {
    const s = await start({ behavior: { status } });
    const { error } = await failure(run(s, 'hi'));
    expect(error).toMatchObject({ retryable: false, info: { status, type: 'invalid_request_error' } });
    expect((error as Error).message).toContain(status === 404 ? 'does not exist' : `status ${status}`);
  });

  it('401 for a wrong key is final and says so', async () => {
    const s = await start({ apiKey: 'right' });
    const { error } = await failure(run(s, 'hi', { apiKey: 'wrong' }));
    expect(error).toMatchObject({ retryable: false, info: { status: 401, code: 'invalid_api_key' } });
    expect((error as Error).message).toBe('Provider answered 401: Incorrect API key provided.');
  });

  it('a refused connection is a retryable ProviderError', async () => {
    const s = await start();
    await s.close();
    server = undefined;
    const { error } = await failure(run(s, 'hi'));
    expect(error).toMatchObject({ code: 'E_PROVIDER', retryable: true, info: { type: 'connection' } });
  });

  it('an error object sent mid-stream is a retryable ProviderError keeping the partial text', async () => {
    const s = await start({ behavior: { errorAfter: 2 } });
    const { error } = await failure(run(s, 'hi there'));
    expect(error).toMatchObject({ retryable: true, info: { type: 'server_error', partialText: 'Echo:' } });
  });
});

const fixture = (name: string): Buffer => readFileSync(new URL(`fixtures/${name}`, import.meta.url));

// A real chat-completions stream of a refusal, recorded from the live API by openai-python's tests:
// github.com/openai/openai-python, .inline-snapshot/external/173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353.bin
// (test_parse_pydantic_model_refusal in tests/lib/chat/test_completions_streaming.py). Its name is its SHA-256.
const REFUSAL_STREAM = fixture('openai-refusal.sse');

// Azure OpenAI's "Sample response stream (blocked by filters)" in github.com/MicrosoftDocs/azure-ai-docs,
// articles/ai-services/openai/concepts/content-filter-streaming.md. Every line is the page's, verbatim (with
// its trailing spaces); left out are the page's "..." elisions and one data line its formatting broke in two.
const CONTENT_FILTER_STREAM = fixture('azure-content-filter.sse');

describe('openaiModel refusals, replaying recorded streams', () => {
  it('the recorded stream is byte for byte what openai-python recorded', () => {
    expect(createHash('sha256').update(REFUSAL_STREAM).digest('hex')).toBe(
      '173417d553406f034f643e5db3f8d591fb691ebac56f5ae39a22cc7d455c5353',
    );
  });

  it('a streamed delta.refusal fails the run with RefusalError, after the usage it was billed', async () => {
    const s = await start({ behavior: { recorded: { body: REFUSAL_STREAM } } });
    const { events, error } = await failure(run(s, 'the prompt that was refused'));
    expect(events).toEqual([
      { type: 'usage', usage: { inputTokens: 79, outputTokens: 11, reasoningTokens: 0 } },
    ]);
    expect(error).toBeInstanceOf(RefusalError);
    expect(error).toMatchObject({
      name: 'RefusalError',
      code: 'E_REFUSED',
      retryable: false,
      message: `Model gpt-4o-2024-08-06 refused task "t1": I'm sorry, I can't assist with that request.`,
    });
    expect((error as RefusalError).info).toEqual({
      reason: 'refusal',
      refusal: "I'm sorry, I can't assist with that request.",
      model: 'gpt-4o-2024-08-06',
    });
  });

  it('settles rejected through runAgents, on the first attempt, never retried', async () => {
    const s = await start({ behavior: { recorded: { body: REFUSAL_STREAM } } });
    const [settled] = await lastValueFrom(
      from([{ id: 'r1', input: 'the prompt that was refused' }]).pipe(
        runAgents(agentFor(s), { retry: { maxRetries: 3, baseDelayMs: 1 } }),
        filter((e) => e.type === 'settled'),
        map((e) => e.result),
        toArray(),
      ),
    );
    expect(settled).toMatchObject({
      status: 'rejected',
      taskId: 'r1',
      attempts: 1,
      usage: { inputTokens: 79, outputTokens: 11 },
      error: { code: 'E_REFUSED', info: { reason: 'refusal' } },
    });
    expect(s.requests).toHaveLength(1);
  });

  it('finish_reason content_filter fails the run with RefusalError, keeping the text streamed before', async () => {
    const s = await start({ behavior: { recorded: { body: CONTENT_FILTER_STREAM } } });
    const { events, error } = await failure(run(s, 'the prompt that was filtered'));
    // The filter's annotation chunks, which carry no `delta`, pass without a word.
    expect(events).toEqual([
      { type: 'delta', text: 'Hey' },
      { type: 'delta', text: ' Jude' },
      { type: 'delta', text: ',' },
    ]);
    expect(error).toBeInstanceOf(RefusalError);
    expect(error).toMatchObject({
      retryable: false,
      message:
        'The provider\'s content filter stopped gpt-35-turbo on task "t1" after 7 chunks (9 characters of text)',
    });
    expect((error as RefusalError).info).toEqual({
      reason: 'content-filter',
      refusal: '',
      model: 'gpt-35-turbo',
      partialText: 'Hey Jude,',
    });
  });
});

describe('openaiModel with Azure OpenAI error bodies', () => {
  it('a token-limit 429 without retry-after waits what its message says, as a tokens limit', async () => {
    // Azure's body as github.com/yomorun/yomo logged it, pkg/bridge/ai/provider/azopenai/provider.go
    // (commit 65bd27ba), verbatim.
    const body =
      '{"error":{"code":"429","message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2023-12-01-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 22 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}';
    const s = await start({ behavior: { recorded: { status: 429, body } } });
    const { events, error } = await failure(run(s, 'hi'));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).info).toEqual({ limit: 'tokens', retryAfterMs: 22_000, status: 429 });
  });
});

describe('openaiModel in a pool', () => {
  it('malformed, cut and truncated streams settle as typed errors while the other runs succeed', async () => {
    const s = await start();
    s.when('bad-json', { invalidJsonAfter: 2 });
    s.when('cut-me', { cutAfter: 3 });
    s.when('end-me', { endAfter: 2 });
    const agent = openaiModel({ model: 'test-model', client: quietClient(s) });
    const tasks: Task[] = ['good one', 'bad-json here', 'cut-me now', 'end-me soon', 'good two'].map(
      (input, i) => ({
        id: `t${i}`,
        input,
      }),
    );
    const settled = await lastValueFrom(
      from(tasks).pipe(
        // Inference would take the events for the result type; the result is the done text.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-arguments
        pool<string>((task, { signal }) => agent.run(task, { signal }), { concurrency: 3 }),
        filter((e): e is Extract<TaskEvent, { type: 'settled' }> => e.type === 'settled'),
        map((e) => e.result),
        toArray(),
      ),
    );
    const byId = new Map<string, Settled>(settled.map((r) => [r.taskId, r]));
    expect(settled).toHaveLength(5);
    expect(byId.get('t0')).toMatchObject({ status: 'fulfilled', value: 'Echo: good one' });
    expect(byId.get('t4')).toMatchObject({ status: 'fulfilled', value: 'Echo: good two' });
    const errorOf = (id: string): RxAgentError => {
      const result = byId.get(id);
      if (result?.status !== 'rejected') throw new Error(`${id} was not rejected`);
      return result.error;
    };
    expect(errorOf('t1')).toMatchObject({
      code: 'E_PROVIDER',
      retryable: true,
      info: { type: 'malformed_chunk', chunks: 2, partialText: 'Echo:' },
    });
    expect(errorOf('t1').message).toMatch(
      /^Provider sent a malformed stream chunk after 2 chunks \(5 characters/,
    );
    expect(errorOf('t2')).toMatchObject({
      code: 'E_PROVIDER',
      retryable: true,
      info: { type: 'stream_interrupted', partialText: 'Echo: cut-me' },
    });
    expect(errorOf('t3')).toMatchObject({
      code: 'E_PROVIDER',
      retryable: true,
      info: { type: 'incomplete_stream', chunks: 2, partialText: 'Echo:' },
    });
    expect(errorOf('t3').message).toBe(
      'Provider stream ended without a finish_reason after 2 chunks (5 characters of text)',
    );
  });
});

describe('openaiModel configuration', () => {
  it('reads the model, key and base URL from the environment', async () => {
    const s = await start();
    const agent = openaiModel({
      env: { RXAGENT_MODEL: 'env-model', OPENAI_API_KEY: 'env-key', OPENAI_BASE_URL: s.url },
    });
    await all(agent.run({ id: 't', input: 'hi' }, { signal: new AbortController().signal }));
    expect(s.requests[0]?.body).toMatchObject({ model: 'env-model' });
    expect(s.requests[0]?.headers.authorization).toBe('Bearer env-key');
  });

  it('throws TypeError for impossible configurations', () => {
    expect(() => openaiModel({ env: {}, apiKey: 'k' })).toThrow(
      'Expected `model` to be a non-empty string, got undefined. Pass `model` or set RXAGENT_MODEL.',
    );
    expect(() => openaiModel({ model: 'm', env: {} })).toThrow(
      /Expected an API key for api.openai.com, got none/,
    );
    const client = new OpenAI({ apiKey: 'k' });
    expect(() => openaiModel({ model: 'm', client, apiKey: 'k' })).toThrow(
      'Pass either `client` or `apiKey`/`baseURL`, not both: a ready client already has its own key and URL.',
    );
    expect(() => openaiModel({ model: 'm', client: new Map() as unknown as OpenAI })).toThrow(
      'Expected `client` to be an OpenAI client, got an object',
    );
    expect(() => openaiModel({ model: 'm', apiKey: 'k', defaultMaxOutputTokens: 0 })).toThrow(
      'Expected `defaultMaxOutputTokens` to be an integer from 1 and up, got 0 (number)',
    );
    expect(() => openaiModel({ model: 'm', apiKey: 'k', baseURL: 'localhost:8080' })).toThrow(
      'Expected `baseURL` to be an http(s) URL, got "localhost:8080" (string)',
    );
    expect(() => openaiModel('gpt' as unknown as OpenAIModelConfig)).toThrow(TypeError);
  });

  it('needs no key when a base URL is set', async () => {
    const s = await start();
    const agent = openaiModel({ model: 'local', baseURL: s.url, env: {} });
    const events = await all(agent.run({ id: 't', input: 'hi' }, { signal: new AbortController().signal }));
    expect(events.at(-1)).toMatchObject({ type: 'done', text: 'Echo: hi' });
  });
});

const words = (text: string): number => text.split(/\s+/).filter((w) => w !== '').length;

describe('openaiModel with a budget', () => {
  it('10 concurrent runs meeting a limit spent by another process share one cooldown, then all succeed', async () => {
    const time = fastTime(100);
    const s = await start({ requestsPerMinute: 10, now: time.now });
    // Another process has just spent the whole minute's requests; this budget cannot know.
    await Promise.all(Array.from({ length: 10 }, (_, i) => all(run(s, `other ${i}`))));
    const budget = createBudget({ requestsPerMinute: 10, burst: 60, scheduler: time.scheduler });
    const states: BudgetState[] = [];
    budget.state$.subscribe((state) => states.push(state));
    const agent = agentFor(s);
    const tasks = Array.from({ length: 10 }, (_, i): Task => ({ id: `t${i}`, input: `task ${i}` }));
    const settled = await lastValueFrom(
      from(tasks).pipe(
        pool(
          (task, { signal }) =>
            agent
              .run(task, { signal })
              .pipe(
                throttleBudget<AgentEvent>(budget),
                retryBackoff<AgentEvent>({ maxRetries: 3, baseDelayMs: 10, scheduler: time.scheduler }),
              ),
          { concurrency: 10 },
        ),
        filter((e) => e.type === 'settled'),
        toArray(),
      ),
    );
    expect(settled.map((e) => e.result.status)).toEqual(Array<string>(10).fill('fulfilled'));
    expect(s.rateLimited).toBe(10);
    const cooldowns = states.filter(
      (state, i) => state.cooldownUntil !== null && states[i - 1]?.cooldownUntil == null,
    );
    expect(cooldowns).toHaveLength(1);
  });

  it('200 tasks through runAgents with a budget matched to the provider limit meet zero 429s', async () => {
    const time = fastTime(120);
    const s = await start({ tokensPerMinute: 1_000, now: time.now });
    const budget = createBudget({ tokensPerMinute: 1_000, headroom: 0.9, scheduler: time.scheduler });
    const observed: unknown[] = [];
    const watched = {
      ...budget,
      observe: (report: Parameters<typeof budget.observe>[0]) => {
        observed.push(report);
        budget.observe(report);
      },
    };
    const tasks = Array.from({ length: 200 }, (_, i): Task => ({
      id: `t${i}`,
      input: `task ${i}`,
      maxOutputTokens: 10,
    }));
    const settled = await lastValueFrom(
      from(tasks).pipe(
        runAgents(agentFor(s), {
          budget: watched,
          estimate: (task) => estimateTokens(task, { countTokens: words }),
          concurrency: 20,
          scheduler: time.scheduler,
        }),
        filter((e) => e.type === 'settled'),
        toArray(),
      ),
    );
    expect(settled.filter((e) => e.result.status === 'fulfilled')).toHaveLength(200);
    expect(s.rateLimited).toBe(0);
    // Every response's x-ratelimit-* headers reached the budget.
    expect(observed).toHaveLength(200);
    expect(observed[0]).toMatchObject({ limitTokens: 1_000 });
    // 2,400 tokens against 1,000 a minute: the budget really held runs back for more than two minutes.
    const chat = s.requests.filter((r) => r.path === '/v1/chat/completions');
    expect((chat.at(-1)?.receivedAt ?? 0) - (chat[0]?.receivedAt ?? 0)).toBeGreaterThan(120_000);
  });
});
