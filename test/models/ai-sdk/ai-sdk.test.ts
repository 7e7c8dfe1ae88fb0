// aiSdkModel over two real AI SDK provider packages, @ai-sdk/openai-compatible and @ai-sdk/anthropic,
// talking HTTP to a loopback server that replays recorded provider responses byte for byte. Where each
// recording comes from: fixtures/SOURCES.md and ../anthropic/fixtures/SOURCES.md.
import { readFileSync } from 'node:fs';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CancelledError,
  ProviderError,
  RateLimitError,
  RefusalError,
  ValidationError,
} from '../../../src/core/errors/index.js';
import { parseRateLimitHeaders } from '../../../src/core/rate-limit-headers.js';
import type { AgentEvent, Task } from '../../../src/core/types.js';
import {
  aiSdkModel,
  type AiSdkLanguageModel,
  type AiSdkModelConfig,
} from '../../../src/models/ai-sdk/ai-sdk.js';
import { startReplayServer, type ReplayServer } from '../../support/replay-server.js';
import { all, failure } from '../../support/run-events.js';

let server: ReplayServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<ReplayServer> {
  server = await startReplayServer();
  return server;
}

const aiSdkFixture = (name: string): Buffer => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const anthropicFixture = (name: string): Buffer =>
  readFileSync(new URL(`../anthropic/fixtures/${name}`, import.meta.url));

/**
 * A `*.chunks.txt` file (one chunk JSON per line, the Vercel AI SDK's fixture format) framed as its own tests
 * frame it (`prepareChunksFixtureResponse`): each line as `data: <line>`, then `data: [DONE]`.
 */
function chunksAsSse(chunks: Buffer): string {
  const lines = chunks
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  return `${lines.map((line) => `data: ${line}\n\n`).join('')}data: [DONE]\n\n`;
}

/**
 * Recorded response headers (`*.headers.json`): names lower-cased as the wire has them, without the
 * cassette's `__status` and the framing headers the replay server sets itself.
 */
function recordedHeaders(path: string): Record<string, string> {
  const recorded = JSON.parse(anthropicFixture(path).toString('utf8')) as Record<string, string | number>;
  const framing = ['__status', 'content-type', 'content-length', 'transfer-encoding', 'content-encoding'];
  return Object.fromEntries(
    Object.entries(recorded)
      .map(([name, value]) => [name.toLowerCase(), String(value)] as const)
      .filter(([name]) => !framing.includes(name)),
  );
}

function compatible(
  s: ReplayServer,
  modelId: string,
  settings: { supportsStructuredOutputs?: boolean } = {},
) {
  return createOpenAICompatible({
    name: 'replay',
    baseURL: `${s.origin}/v1`,
    apiKey: 'test-key',
    includeUsage: true,
    ...settings,
  })(modelId);
}

function anthropic(s: ReplayServer, modelId = 'claude-haiku-4-5') {
  return createAnthropic({ baseURL: `${s.origin}/v1`, apiKey: 'test-key' })(modelId);
}

function run(
  model: AiSdkLanguageModel,
  task: Partial<Task> = {},
  config: AiSdkModelConfig = {},
  signal = new AbortController().signal,
): Observable<AgentEvent> {
  return aiSdkModel(model, config).run({ id: 't1', input: 'hi', ...task }, { signal });
}

const deltas = (events: AgentEvent[]): string =>
  events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join('');

/** The `rate-limits` event a response with `headers` yields, if rxagent reads any of them. */
function limitsEvent(headers: Record<string, string>): AgentEvent[] {
  const limits = parseRateLimitHeaders(headers);
  return Object.keys(limits).length === 0 ? [] : [{ type: 'rate-limits', limits }];
}

describe('aiSdkModel over @ai-sdk/openai-compatible, replaying recorded streams', () => {
  it('streams text, leaves reasoning out, and reports cached and reasoning tokens (xAI, grok-3-mini)', async () => {
    const s = await start();
    s.queue({ body: chunksAsSse(aiSdkFixture('xai-text.chunks.txt')) });
    const events = await all(run(compatible(s, 'grok-3-mini'), { maxOutputTokens: 50 }));
    expect(events).toEqual([
      { type: 'delta', text: 'G' },
      { type: 'delta', text: 'rok' },
      {
        type: 'usage',
        // xAI's completion_tokens (2) leave the 340 reasoning tokens out; rxagent counts them as output.
        usage: { inputTokens: 12, outputTokens: 342, cachedInputTokens: 11, reasoningTokens: 340 },
      },
      { type: 'done', text: 'Grok', finishReason: 'stop' },
    ]);
    expect(s.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      body: {
        model: 'grok-3-mini',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      },
    });
    expect(s.requests[0]?.headers.authorization).toBe('Bearer test-key');
  });

  it("inlines reasoning in <think> tags when asked, as the AI SDK's extractReasoningMiddleware reads it", async () => {
    const s = await start();
    s.queue({ body: chunksAsSse(aiSdkFixture('xai-text.chunks.txt')) });
    const events = await all(run(compatible(s, 'grok-3-mini'), {}, { reasoning: 'inline' }));
    const text = deltas(events);
    expect(text).toMatch(/^<think>[^<]+<\/think>Grok$/);
    expect(events.at(-1)).toEqual({ type: 'done', text, finishReason: 'stop' });
  });

  it('assembles two parallel tool calls from fragmented arguments, usage in the last chunk (gpt-4o)', async () => {
    const s = await start();
    s.queue({ body: aiSdkFixture('openai-parallel-tool-calls.sse') });
    const events = await all(run(compatible(s, 'gpt-4o-2024-08-06')));
    expect(events).toEqual([
      {
        type: 'tool-calls',
        calls: [
          {
            id: 'call_JMW1whyEaYG438VE1OIflxA2',
            name: 'GetWeatherArgs',
            arguments: '{"city": "Edinburgh", "country": "GB", "units": "c"}',
          },
          {
            id: 'call_DNYTawLBoN8fj3KN6qU9N1Ou',
            name: 'get_stock_price',
            arguments: '{"ticker": "AAPL", "exchange": "NASDAQ"}',
          },
        ],
      },
      {
        type: 'usage',
        usage: { inputTokens: 149, outputTokens: 60, cachedInputTokens: 0, reasoningTokens: 0 },
      },
      { type: 'done', text: '', finishReason: 'tool-calls' },
    ]);
  });

  it('reads usage sent in the finish chunk itself, with cache hits and reasoning (deepseek-reasoner)', async () => {
    const s = await start();
    s.queue({ body: chunksAsSse(aiSdkFixture('deepseek-tool-call.chunks.txt')) });
    const events = await all(run(compatible(s, 'deepseek-reasoner')));
    expect(events).toEqual([
      {
        type: 'tool-calls',
        calls: [
          {
            id: 'call_00_ioIn7yN9p1ZOMNpDLwd4MgAF',
            name: 'weather',
            arguments: '{"location": "San Francisco"}',
          },
        ],
      },
      {
        type: 'usage',
        usage: { inputTokens: 339, outputTokens: 83, cachedInputTokens: 320, reasoningTokens: 39 },
      },
      { type: 'done', text: '', finishReason: 'tool-calls' },
    ]);
  });

  it('passes over Azure’s filter-annotation chunk and reads reasoning tokens (gpt-5-nano)', async () => {
    const s = await start();
    s.queue({ body: chunksAsSse(aiSdkFixture('azure-model-router.1.chunks.txt')) });
    const events = await all(run(compatible(s, 'model-router')));
    const done = events.at(-1);
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(done?.type === 'done' && done.text).toBe(deltas(events));
    expect(deltas(events).length).toBeGreaterThan(0);
    expect(events.find((e) => e.type === 'usage')).toMatchObject({
      usage: { cachedInputTokens: 0, reasoningTokens: 64 },
    });
  });

  it('ends a max-tokens cut with finishReason length', async () => {
    const s = await start();
    s.queue({ body: aiSdkFixture('openai-max-tokens.sse') });
    const events = await all(run(compatible(s, 'gpt-4o-2024-08-06'), { maxOutputTokens: 1 }));
    expect(events).toEqual([
      { type: 'delta', text: '{"' },
      {
        type: 'usage',
        usage: { inputTokens: 79, outputTokens: 1, cachedInputTokens: 0, reasoningTokens: 0 },
      },
      { type: 'done', text: '{"', finishReason: 'length' },
    ]);
  });

  it('fails a streamed refusal with RefusalError after its usage, never an empty success', async () => {
    const s = await start();
    s.queue({ body: readFileSync(new URL('../openai/fixtures/openai-refusal.sse', import.meta.url)) });
    const { events, error } = await failure(run(compatible(s, 'gpt-4o-2024-08-06')));
    const refusal = "I'm sorry, I can't assist with that request.";
    // The compatible provider streams `delta.refusal` as text; its finish then says content-filter.
    expect(deltas(events)).toBe(refusal);
    expect(events.at(-1)).toEqual({
      type: 'usage',
      usage: { inputTokens: 79, outputTokens: 11, cachedInputTokens: 0, reasoningTokens: 0 },
    });
    expect(error).toBeInstanceOf(RefusalError);
    expect(error).toMatchObject({
      code: 'E_REFUSED',
      retryable: false,
      message: `Model gpt-4o-2024-08-06 refused task "t1": ${refusal}`,
      info: { reason: 'refusal', refusal, model: 'gpt-4o-2024-08-06', partialText: refusal },
    });
  });

  it('a 429 with x-ratelimit-* headers reports them, then RateLimitError waiting what the message says', async () => {
    // Body and headers as the user pasted them in github.com/microsoft/copilot-camp/issues/551 (Azure OpenAI).
    const headers = {
      'x-ratelimit-limit-requests': '8',
      'x-ratelimit-limit-tokens': '8000',
      'x-ratelimit-remaining-requests': '7',
      'x-ratelimit-remaining-tokens': '1014',
    };
    const s = await start();
    s.queue({
      status: 429,
      headers,
      body: '{"error":{"code":"429","message":"Rate limit is exceeded. Try again in 2 seconds."}}',
    });
    const { events, error } = await failure(run(compatible(s, 'gpt-4o')));
    expect(events).toEqual([
      {
        type: 'rate-limits',
        limits: { limitRequests: 8, limitTokens: 8000, remainingRequests: 7, remainingTokens: 1014 },
      },
    ]);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).info).toEqual({ limit: 'tokens', retryAfterMs: 2_000, status: 429 });
    expect((error as Error).message).toBe(
      'Provider rate limit (429): Rate limit is exceeded. Try again in 2 seconds.',
    );
  });

  it('a connection cut mid-stream is a retryable ProviderError', async () => {
    const s = await start();
    s.queue({ body: aiSdkFixture('openai-parallel-tool-calls.sse'), cutAfterBytes: 900 });
    const { events, error } = await failure(run(compatible(s, 'gpt-4o-2024-08-06')));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true, info: { type: 'stream_interrupted', partialText: '' } });
    expect((error as Error).message).toMatch(/^Provider stream broke after \d+ parts .*terminated/);
  });

  it('sends the per-task parameters as the provider spells them', async () => {
    const s = await start();
    s.queue({ body: aiSdkFixture('openai-max-tokens.sse') });
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    await all(
      run(compatible(s, 'gpt-4o-2024-08-06', { supportsStructuredOutputs: true }), {
        params: {
          model: 'gpt-4o-2024-08-06',
          temperature: 0.2,
          topP: 0.9,
          seed: 7,
          stop: ['\n\n'],
          responseFormat: { type: 'json_schema', name: 'city', description: 'A city', schema },
          tools: [{ name: 'lookup', description: 'Look a city up', parameters: schema, strict: true }],
          toolChoice: { name: 'lookup' },
          providerOptions: { replay: { user: 'u1' } },
        },
      }),
    );
    expect(s.requests[0]?.body).toMatchObject({
      model: 'gpt-4o-2024-08-06',
      temperature: 0.2,
      top_p: 0.9,
      seed: 7,
      stop: ['\n\n'],
      user: 'u1',
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'city', description: 'A city', schema },
      },
      tools: [
        {
          type: 'function',
          function: { name: 'lookup', description: 'Look a city up', parameters: schema, strict: true },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
    });
  });

  it('refuses a JSON schema the server cannot enforce instead of dropping it', async () => {
    const s = await start();
    s.queue({ body: aiSdkFixture('openai-max-tokens.sse') });
    const schema = { type: 'object', properties: {} };
    const { events, error } = await failure(
      run(compatible(s, 'gpt-4o'), {
        params: { responseFormat: { type: 'json_schema', name: 'x', schema } },
      }),
    );
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      code: 'E_VALIDATION',
      message:
        'replay.chat:gpt-4o cannot honour `params.responseFormat` of task "t1": JSON response format schema is only supported with structuredOutputs',
      info: { issues: [{ path: ['params', 'responseFormat'] }] },
    });
  });
});

describe('aiSdkModel over @ai-sdk/anthropic, replaying recorded streams', () => {
  it('streams text with its usage, reporting the response’s rate-limit headers first', async () => {
    const s = await start();
    const headers = recordedHeaders('text.headers.json');
    s.queue({ headers, body: anthropicFixture('text.sse') });
    const events = await all(run(anthropic(s, 'claude-sonnet-4-5'), { maxOutputTokens: 100 }));
    const text = '- Captain\n- Scoop';
    expect(events).toEqual([
      ...limitsEvent(headers),
      ...events.filter((e) => e.type === 'delta'),
      {
        type: 'usage',
        usage: { inputTokens: 17, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0 },
      },
      { type: 'done', text: deltas(events), finishReason: 'stop' },
    ]);
    expect(deltas(events).startsWith(text)).toBe(true);
    expect(s.requests[0]).toMatchObject({
      path: '/v1/messages',
      body: {
        model: 'claude-sonnet-4-5',
        max_tokens: 100,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        stream: true,
      },
    });
    expect(s.requests[0]?.headers['x-api-key']).toBe('test-key');
  });

  it('inlines a thinking block when asked, and leaves it out by default', async () => {
    const s = await start();
    s.queue({ body: anthropicFixture('thinking.sse') }, { body: anthropicFixture('thinking.sse') });
    const inline = deltas(await all(run(anthropic(s), {}, { reasoning: 'inline' })));
    const omitted = deltas(await all(run(anthropic(s))));
    expect(inline.startsWith('<think>')).toBe(true);
    expect(inline.endsWith(`</think>${omitted}`)).toBe(true);
    expect(omitted).not.toContain('<think>');
    expect(omitted.length).toBeGreaterThan(0);
  });

  it('assembles two parallel tool_use blocks (claude-haiku-4-5)', async () => {
    const s = await start();
    s.queue({
      headers: recordedHeaders('parallel-tool-use.headers.json'),
      body: anthropicFixture('parallel-tool-use.sse'),
    });
    const events = await all(run(anthropic(s)));
    expect(events.filter((e) => e.type !== 'rate-limits')).toEqual([
      {
        type: 'tool-calls',
        calls: [
          { id: 'toolu_01LtHJmixrs9NcWQkK8hu8hj', name: 'pelican_name_generator', arguments: '{}' },
          { id: 'toolu_01N8a4jWyf116qKTMqKKmjyt', name: 'pelican_name_generator', arguments: '{}' },
        ],
      },
      {
        type: 'usage',
        usage: { inputTokens: 542, outputTokens: 62, cachedInputTokens: 0, cacheWriteTokens: 0 },
      },
      { type: 'done', text: '', finishReason: 'tool-calls' },
    ]);
  });

  it('assembles tool input that arrives in ten fragments (a live claude-haiku-4-5 stream)', async () => {
    const s = await start();
    s.queue({ body: anthropicFixture('tool-use-padded.sse') });
    const events = await all(run(anthropic(s)));
    const calls = events.find((e) => e.type === 'tool-calls');
    expect(calls).toMatchObject({ calls: [{ id: 'toolu_018acGYLtfR52q9yDbWaEdQZ', name: 'get_weather' }] });
    const [call] = calls?.type === 'tool-calls' ? calls.calls : [];
    expect(JSON.parse(call?.arguments ?? '')).toEqual({ location: 'San Francisco, CA', units: 'f' });
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool-calls' });
  });

  it('counts cache reads and writes in the input, and skips calls the provider ran itself', async () => {
    const s = await start();
    s.queue({
      body: chunksAsSse(
        anthropicFixture('chunks/anthropic-code-execution-20260120-prompt-cache.1.chunks.txt'),
      ),
    });
    const events = await all(run(anthropic(s, 'claude-sonnet-4-5')));
    expect(events.filter((e) => e.type === 'tool-calls')).toEqual([]);
    expect(events.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: {
        inputTokens: 9_632,
        outputTokens: 198,
        cachedInputTokens: 6_289,
        cacheWriteTokens: 3_337,
        reasoningTokens: 0,
      },
    });
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('fails a refusal (stop_reason refusal) with RefusalError carrying the explanation, after its usage', async () => {
    const s = await start();
    s.queue({ headers: recordedHeaders('refusal.headers.json'), body: anthropicFixture('refusal.sse') });
    const { events, error } = await failure(run(anthropic(s)));
    expect(events.filter((e) => e.type !== 'rate-limits')).toEqual([
      {
        type: 'usage',
        usage: {
          inputTokens: 97,
          outputTokens: 0,
          cachedInputTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
        },
      },
    ]);
    expect(error).toBeInstanceOf(RefusalError);
    expect(error).toMatchObject({
      retryable: false,
      info: { reason: 'refusal', model: 'claude-fable-5-1' },
    });
    expect((error as RefusalError).info.refusal).toMatch(/^This request was blocked as it seems to violate/);
    expect((error as RefusalError).info).not.toHaveProperty('partialText');
  });

  it('a stream that ends before its finish is a retryable incomplete_stream keeping the partial text', async () => {
    // The recording's last message (message_stop) lacks its closing blank line, so the provider never sees
    // it, and it finishes only on message_stop.
    const s = await start();
    s.queue({ body: anthropicFixture('max-tokens-partial-tool-json.sse') });
    const { events, error } = await failure(run(anthropic(s)));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      info: { type: 'incomplete_stream', partialText: deltas(events) },
    });
    expect(deltas(events)).toMatch(/^I'll create a comprehensive tax guide/);
    expect(events.filter((e) => e.type === 'tool-calls')).toEqual([]);
  });

  it('an overloaded_error as the first event is a retryable ProviderError with status 529', async () => {
    const s = await start();
    s.queue({ body: anthropicFixture('overloaded-error-event.sse') });
    const { events, error } = await failure(run(anthropic(s)));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      message: 'Provider answered 529: Overloaded',
      info: { status: 529, type: 'overloaded_error' },
    });
  });

  it('an overloaded_error mid-stream is a retryable ProviderError keeping what streamed', async () => {
    const s = await start();
    s.queue({ body: aiSdkFixture('anthropic-overloaded-mid-stream.ai-sdk-test.sse') });
    const { events, error } = await failure(run(anthropic(s)));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      info: { type: 'overloaded_error', partialText: deltas(events) },
    });
    expect((error as Error).message).toMatch(
      /^Provider reported an error mid-stream after \d+ parts .*: Overloaded$/,
    );
  });

  it('a 429 with anthropic-ratelimit-* headers is a RateLimitError waiting its retry-after', async () => {
    // The recorded 429 (its body and headers) with the anthropic-ratelimit-* headers of another recorded
    // response, and the `retry-after` that Anthropic's rate-limit docs say a 429 carries: no recording found
    // has all three in one response.
    const headers = {
      ...recordedHeaders('errors/rate-limit-429.headers.json'),
      ...recordedHeaders('errors/ratelimit-headers.200.json'),
      'retry-after': '7',
    };
    const s = await start();
    s.queue({ status: 429, headers, body: anthropicFixture('errors/rate-limit-429.body.json') });
    const { events, error } = await failure(run(anthropic(s)));
    expect(events).toEqual(limitsEvent(headers));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).info).toEqual({ limit: 'tokens', retryAfterMs: 7_000, status: 429 });
    expect((error as Error).message).toMatch(
      /^Provider rate limit \(429\): This request would exceed your organization's rate limit/,
    );
  });

  it('a 529 overloaded response is a retryable ProviderError', async () => {
    const s = await start();
    s.queue({ status: 529, body: anthropicFixture('errors/overloaded-529.body.json') });
    const { error } = await failure(run(anthropic(s)));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      message: 'Provider answered 529: Overloaded',
      info: { status: 529, type: 'overloaded_error' },
    });
  });

  it('a 400 is a final ProviderError with the provider’s message and request id', async () => {
    const s = await start();
    s.queue({
      status: 400,
      headers: recordedHeaders('errors/invalid-request-400.headers.json'),
      body: anthropicFixture('errors/invalid-request-400.body.json'),
    });
    const { error } = await failure(run(anthropic(s)));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: false,
      info: { status: 400, type: 'invalid_request_error', requestId: 'req_011CYHyk9NPsBYeGbC9LuDNK' },
    });
    expect((error as Error).message).toMatch(
      /^Provider answered 400: messages\.0\.content\.1: unexpected `tool_use_id` found/,
    );
  });

  it('a connection cut mid-stream is a retryable ProviderError keeping the partial text', async () => {
    const s = await start();
    const body = anthropicFixture('text.sse');
    // Cut just before the message that carries "oop".
    s.queue({ body, cutAfterBytes: body.lastIndexOf('event:', body.indexOf('"oop"')) });
    const { events, error } = await failure(run(anthropic(s)));
    expect(deltas(events)).toBe('- Captain\n- Sc');
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      info: { type: 'stream_interrupted', partialText: '- Captain\n- Sc' },
    });
  });

  it('an abort through the signal mid-stream ends in CancelledError, with nothing after it', async () => {
    const s = await start();
    s.queue({ body: anthropicFixture('text.sse') });
    const controller = new AbortController();
    const events: AgentEvent[] = [];
    const error = await new Promise<unknown>((resolve, reject) => {
      run(anthropic(s), { id: 'job' }, {}, controller.signal).subscribe({
        next: (event) => {
          events.push(event);
          if (event.type === 'delta') controller.abort();
        },
        error: resolve,
        complete: () => {
          reject(new Error('completed'));
        },
      });
    });
    expect(events.filter((e) => e.type === 'delta')).toHaveLength(1);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ info: { reason: 'unsubscribed', taskId: 'job' } });
  });

  it('refuses a parameter the provider drops (Anthropic has no seed), naming it', async () => {
    const s = await start();
    s.queue({ body: anthropicFixture('text.sse') });
    const { events, error } = await failure(run(anthropic(s), { params: { seed: 42 } }));
    expect(events.filter((e) => e.type === 'delta')).toEqual([]);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      retryable: false,
      message: 'anthropic.messages:claude-haiku-4-5 cannot honour `params.seed` of task "t1"',
      info: { issues: [{ path: ['params', 'seed'] }] },
    });
  });

  it('maps a conversation with tool calls and results, and the task’s parameters, to the Messages API', async () => {
    const s = await start();
    s.queue({
      headers: recordedHeaders('parallel-tool-use.followup-text.headers.json'),
      body: anthropicFixture('parallel-tool-use.followup-text.sse'),
    });
    const parameters = { type: 'object', properties: {} };
    const events = await all(
      run(
        anthropic(s),
        {
          input: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Two pelican names, please.' },
            {
              role: 'assistant',
              content: '',
              toolCalls: [
                { id: 'toolu_a', name: 'pelican_name_generator', arguments: '{}' },
                { id: 'toolu_b', name: 'pelican_name_generator', arguments: '{}' },
              ],
            },
            { role: 'tool', toolCallId: 'toolu_a', content: 'Captain Pouch' },
            { role: 'tool', toolCallId: 'toolu_b', content: 'Sir Scoops' },
          ],
          params: {
            temperature: 0.5,
            stop: ['END'],
            tools: [{ name: 'pelican_name_generator', description: 'Names a pelican', parameters }],
            toolChoice: 'auto',
            providerOptions: { anthropic: { disableParallelToolUse: true } },
          },
        },
        { maxOutputTokens: 300 },
      ),
    );
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(s.requests[0]?.body).toMatchObject({
      model: 'claude-haiku-4-5',
      max_tokens: 300,
      temperature: 0.5,
      stop_sequences: ['END'],
      system: [{ type: 'text', text: 'Be brief.' }],
      tools: [{ name: 'pelican_name_generator', description: 'Names a pelican', input_schema: parameters }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Two pelican names, please.' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_a', name: 'pelican_name_generator', input: {} },
            { type: 'tool_use', id: 'toolu_b', name: 'pelican_name_generator', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_a', content: 'Captain Pouch' },
            { type: 'tool_result', tool_use_id: 'toolu_b', content: 'Sir Scoops' },
          ],
        },
      ],
    });
  });
});
