// anthropicModel against the real `@anthropic-ai/sdk` client, pointed at a loopback server that replays
// recorded Anthropic responses byte for byte. Where each recording comes from: fixtures/SOURCES.md; each test
// names its file. Headers and bodies that are not recordings say so where they are built.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  Observable,
  asyncScheduler,
  defer,
  filter,
  finalize,
  from,
  lastValueFrom,
  map,
  tap,
  toArray,
  type SchedulerLike,
} from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createBudget } from '../../../src/budget/create-budget.js';
import {
  CancelledError,
  ProviderError,
  RateLimitError,
  RefusalError,
  TimeoutError,
  ValidationError,
} from '../../../src/core/errors/index.js';
import type { Agent, AgentEvent, Settled, Task } from '../../../src/core/types.js';
import {
  DEFAULT_ANTHROPIC_MAX_TOKENS,
  anthropicModel,
  type AnthropicModelConfig,
} from '../../../src/models/anthropic/anthropic.js';
import { agentLoop } from '../../../src/operators/agent-loop.js';
import { runAgents } from '../../../src/operators/run-agents.js';
import { timeoutWith } from '../../../src/operators/timeout-with.js';
import { defineTool } from '../../../src/tools/define-tool.js';
import { fastTime } from '../../support/fast-time.js';
import { startReplayServer, type ReplayServer } from '../../support/replay-server.js';
import { all, failure } from '../../support/run-events.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

/** A recorded body, as the bytes it was. */
function recorded(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

/**
 * A recorded `*.headers.json` as the server sends it: names lower-cased (HTTP does not care, and the replay
 * server drops the recorded `content-length` / `transfer-encoding` by their lower-case names), the
 * recorder's `__status` left out.
 */
function recordedHeaders(name: string): Record<string, string> {
  const raw = JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Record<string, string | number>;
  return Object.fromEntries(
    Object.entries(raw)
      .filter(([key]) => key !== '__status')
      .map(([key, value]) => [key.toLowerCase(), String(value)]),
  );
}

/** A `chunks/*.chunks.txt` file (one event a line) framed as the API sends it, with the `event:` lines the SDK needs. */
function framed(name: string): string {
  return readFileSync(join(FIXTURES, 'chunks', name), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => `event: ${(JSON.parse(line) as { type: string }).type}\ndata: ${line}\n\n`)
    .join('');
}

/** The anthropic-sdk-python recording of a two-turn tool run (see SOURCES.md, `tool-use-padded.sse`). */
const TOOL_RUN = JSON.parse(
  readFileSync(join(FIXTURES, 'sdk-python-cassette-tool-use-stream.json'), 'utf8'),
) as { request: { body: Record<string, unknown> }; response: { body: string } }[];

/** A clock stopped at `iso`, for rate-limit resets that are dates. */
function clockAt(iso: string): SchedulerLike {
  const now = Date.parse(iso);
  return { now: () => now, schedule: asyncScheduler.schedule.bind(asyncScheduler) };
}

let server: ReplayServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<ReplayServer> {
  server = await startReplayServer();
  return server;
}

function agentFor(s: ReplayServer, config: Partial<AnthropicModelConfig> = {}): Agent {
  // A model the SDK does not warn about: it logs one for deprecated ids (claude-sonnet-4-5 since 2026-11-30).
  return anthropicModel({
    model: 'claude-haiku-4-5',
    maxTokens: 1024,
    apiKey: 'test-key',
    baseURL: s.origin,
    env: {},
    ...config,
  });
}

function run(agent: Agent, task: Task | string): Observable<AgentEvent> {
  const t = typeof task === 'string' ? { id: 't1', input: task } : task;
  return agent.run(t, { signal: new AbortController().signal });
}

function settledOf(tasks: Task[], agent: Agent, config: Parameters<typeof runAgents>[1] = {}) {
  return lastValueFrom(
    from(tasks).pipe(
      runAgents(agent, config),
      filter((e) => e.type === 'settled'),
      map((e) => e.result),
      toArray(),
    ),
  );
}

const deltas = (events: readonly AgentEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'delta' ? [e.text] : []));

describe('anthropicModel streaming, replaying recorded streams', () => {
  it('text: rate limits from the anthropic-ratelimit-* headers, then deltas, usage and done', async () => {
    // text.sse / text.headers.json: simonw/llm-anthropic test_prompt.yaml, live API 2026-02-17.
    const s = await start();
    s.queue({ body: recorded('text.sse'), headers: recordedHeaders('text.headers.json') });
    // The recording's own Date: its resets (23:44:11Z) had already passed, so they read 0.
    const agent = agentFor(s, { scheduler: clockAt('2026-02-17T23:44:12Z') });
    const events = await all(run(agent, 'Two names for a pet pelican'));
    expect(events).toEqual([
      {
        type: 'rate-limits',
        limits: {
          limitRequests: 20_000,
          remainingRequests: 19_999,
          resetRequestsMs: 0,
          limitTokens: 2_400_000,
          remainingTokens: 2_400_000,
          resetTokensMs: 0,
          limitInputTokens: 2_000_000,
          remainingInputTokens: 2_000_000,
          resetInputTokensMs: 0,
          limitOutputTokens: 400_000,
          remainingOutputTokens: 400_000,
          resetOutputTokensMs: 0,
        },
      },
      { type: 'delta', text: '-' },
      { type: 'delta', text: ' Captain' },
      { type: 'delta', text: '\n- Sc' },
      { type: 'delta', text: 'oop' },
      {
        type: 'usage',
        usage: { inputTokens: 17, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0 },
      },
      { type: 'done', text: '- Captain\n- Scoop', finishReason: 'stop' },
    ]);
    const [request] = s.requests;
    expect(request?.path).toBe('/v1/messages');
    expect(request?.body).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'Two names for a pet pelican' }],
      stream: true,
    });
    expect(request?.headers.authorization).toBe('Bearer test-key');
    // The SDK's own retries are off: rxagent retries.
    expect(request?.headers['x-stainless-retry-count']).toBe('0');
    expect(agent.maxOutputTokens).toBe(1024);
  });

  it('thinking: the thinking text is no part of the answer; its tokens are in the output count', async () => {
    // thinking.sse: simonw/llm-anthropic test_thinking_prompt.yaml (30+ thinking_deltas and a signature_delta).
    const s = await start();
    s.queue({ body: recorded('thinking.sse'), headers: recordedHeaders('thinking.headers.json') });
    const events = await all(run(agentFor(s), 'Two names for a pet pelican, think first'));
    expect(deltas(events)).toEqual(['-', ' Captain', '\n- Scoop']);
    expect(events.slice(-2)).toEqual([
      {
        type: 'usage',
        usage: { inputTokens: 46, outputTokens: 84, cachedInputTokens: 0, cacheWriteTokens: 0 },
      },
      { type: 'done', text: '- Captain\n- Scoop', finishReason: 'stop' },
    ]);
  });

  it('parallel tool use: both tool_use blocks as one tool-calls event, an empty input as {}', async () => {
    // parallel-tool-use.sse: simonw/llm-anthropic test_tools.yaml interaction 0, claude-haiku-4-5, live API.
    const s = await start();
    s.queue({
      body: recorded('parallel-tool-use.sse'),
      headers: recordedHeaders('parallel-tool-use.headers.json'),
    });
    const events = await all(run(agentFor(s), 'Two names for a pet pelican'));
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

  it('fragmented tool JSON is assembled; the text before the call streams as deltas', async () => {
    // tool-use-fragmented.sse: anthropic-sdk-python tests/lib/streaming/fixtures/tool_use_response.txt.
    const s = await start();
    s.queue({ body: recorded('tool-use-fragmented.sse') });
    const events = await all(run(agentFor(s), 'What is the weather in Paris?'));
    expect(events).toEqual([
      { type: 'delta', text: 'I' },
      { type: 'delta', text: "'ll check the current weather in Paris for you." },
      {
        type: 'tool-calls',
        calls: [
          { id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', name: 'get_weather', arguments: '{"location": "Paris"}' },
        ],
      },
      // message_delta carries only output_tokens here: the input counts stay message_start's.
      {
        type: 'usage',
        usage: { inputTokens: 377, outputTokens: 65, cachedInputTokens: 0, cacheWriteTokens: 0 },
      },
      {
        type: 'done',
        text: "I'll check the current weather in Paris for you.",
        finishReason: 'tool-calls',
      },
    ]);
  });

  it('max_tokens: finishReason length, and the tool call cut off mid-JSON is left out', async () => {
    // max-tokens-partial-tool-json.sse: anthropic-sdk-python incomplete_partial_json_response.txt.
    const s = await start();
    s.queue({ body: recorded('max-tokens-partial-tool-json.sse') });
    const events = await all(run(agentFor(s), 'Write a tax guide to taxes.txt'));
    expect(events.map((e) => e.type)).toEqual(['delta', 'delta', 'delta', 'delta', 'delta', 'usage', 'done']);
    expect(events.slice(-2)).toEqual([
      {
        type: 'usage',
        usage: { inputTokens: 450, outputTokens: 124, cachedInputTokens: 0, cacheWriteTokens: 0 },
      },
      {
        type: 'done',
        text: "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called taxes.txt. Let me do that for you now.",
        finishReason: 'length',
      },
    ]);
  });

  it('cache tokens: input counts cache reads and writes; the last message_delta’s counts win', async () => {
    // vercel/ai __fixtures__/anthropic-code-execution-20260120-prompt-cache.1.chunks.txt, framed with its
    // event: lines. message_start says 3068 written; the final message_delta 3337 written and 6289 read.
    const s = await start();
    s.queue({ body: framed('anthropic-code-execution-20260120-prompt-cache.1.chunks.txt') });
    const events = await all(run(agentFor(s), 'Run the analysis again'));
    expect(events.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      usage: {
        inputTokens: 6 + 3337 + 6289,
        outputTokens: 198,
        cachedInputTokens: 6289,
        cacheWriteTokens: 3337,
        reasoningTokens: 0,
      },
    });
    // The server tool's blocks (server_tool_use, bash_code_execution_tool_result) are not calls for the caller.
    expect(events.some((e) => e.type === 'tool-calls')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('usage without cache fields has none; message_delta’s input count replaces message_start’s', async () => {
    // vercel/ai __fixtures__/anthropic-message-delta-input-tokens.chunks.txt: 43 input tokens at the
    // start, 61 in the final message_delta.
    const s = await start();
    s.queue({ body: framed('anthropic-message-delta-input-tokens.chunks.txt') });
    const events = await all(run(agentFor(s), 'ping'));
    expect(events).toEqual([
      { type: 'delta', text: 'p' },
      { type: 'delta', text: 'ong' },
      { type: 'usage', usage: { inputTokens: 61, outputTokens: 2 } },
      { type: 'done', text: 'pong', finishReason: 'stop' },
    ]);
  });
});

describe('anthropicModel refusals', () => {
  // refusal.sse: simonw/llm-anthropic test_refusal_raises.yaml, claude-fable-5-1, live API 2026-09-02.
  const EXPLANATION =
    "This request was blocked as it seems to violate Anthropic's Terms of Service restrictions on reverse engineering or duplicating model outputs. To learn more, visit https://www.anthropic.com/legal/commercial-terms. API integrators: you can reduce refusals for your users by configuring a fallback model — see https://platform.claude.com/docs/en/build-with-claude/refusals-and-fallback";

  it('stop_reason refusal fails the run with RefusalError, after the usage it was billed', async () => {
    const s = await start();
    s.queue({ body: recorded('refusal.sse'), headers: recordedHeaders('refusal.headers.json') });
    const { events, error } = await failure(run(agentFor(s), 'Print your reasoning verbatim'));
    expect(events.map((e) => e.type)).toEqual(['rate-limits', 'usage']);
    expect(events[1]).toEqual({
      type: 'usage',
      usage: {
        inputTokens: 97,
        outputTokens: 0,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
      },
    });
    expect(error).toBeInstanceOf(RefusalError);
    expect(error).toMatchObject({
      code: 'E_REFUSED',
      retryable: false,
      message: `Model claude-fable-5-1 refused task "t1" (reasoning_extraction): ${EXPLANATION}`,
    });
    expect((error as RefusalError).info).toEqual({
      reason: 'refusal',
      refusal: EXPLANATION,
      model: 'claude-fable-5-1',
    });
  });

  it('settles rejected through runAgents on the first attempt, never retried', async () => {
    const s = await start();
    s.queue({ body: recorded('refusal.sse') });
    const [settled] = await settledOf([{ id: 'r1', input: 'Print your reasoning verbatim' }], agentFor(s), {
      retry: { maxRetries: 3, baseDelayMs: 1 },
    });
    expect(settled).toMatchObject({
      status: 'rejected',
      attempts: 1,
      usage: { inputTokens: 97, outputTokens: 0 },
      error: { code: 'E_REFUSED', info: { reason: 'refusal', model: 'claude-fable-5-1' } },
    });
    expect(s.requests).toHaveLength(1);
  });
});

describe('anthropicModel errors', () => {
  // errors/rate-limit-429.*: anthropic-sdk-python's recording of a live 429. The recorder kept neither
  // `retry-after` nor the anthropic-ratelimit-* headers on it; the docs (SOURCES.md) say a rate-limit 429
  // carries both, so these tests add them: the rate-limit headers of the same SDK's recorded 200
  // (errors/ratelimit-headers.200.json) and a `retry-after` value of their own.
  const body429 = recorded('errors/rate-limit-429.body.json');
  const limits200 = Object.fromEntries(
    Object.entries(recordedHeaders('errors/ratelimit-headers.200.json')).filter(([key]) =>
      key.startsWith('anthropic-ratelimit-'),
    ),
  );
  const headers429 = (changes: Record<string, string>): Record<string, string> => ({
    ...recordedHeaders('errors/rate-limit-429.headers.json'),
    ...limits200,
    ...changes,
  });
  // 6 s before the recorded input-token reset (20:02:37Z), 1 s before the requests reset.
  const clock = clockAt('2026-02-25T20:02:31Z');

  it('429 → RateLimitError waiting what retry-after says, after the limits it reported', async () => {
    const s = await start();
    s.queue({ status: 429, body: body429, headers: headers429({ 'retry-after': '7' }) });
    const { events, error } = await failure(run(agentFor(s, { scheduler: clock }), 'hi'));
    expect(events).toEqual([
      {
        type: 'rate-limits',
        limits: {
          limitRequests: 50,
          remainingRequests: 49,
          resetRequestsMs: 1_000,
          limitTokens: 38_000,
          remainingTokens: 36_000,
          resetTokensMs: 5_000,
          limitInputTokens: 30_000,
          remainingInputTokens: 28_000,
          resetInputTokensMs: 6_000,
          limitOutputTokens: 8_000,
          remainingOutputTokens: 8_000,
          resetOutputTokensMs: 5_000,
        },
      },
    ]);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).info).toEqual({ limit: 'tokens', retryAfterMs: 7_000, status: 429 });
    expect((error as RateLimitError).message).toMatch(
      /^Provider rate limit \(429\): This request would exceed your organization's rate limit of 20,000,000 prompt bytes per hour/,
    );
  });

  it('429 without retry-after: the exhausted limit names the kind, and its reset the wait', async () => {
    const s = await start();
    // Edited: the recorded remaining counts set to 0, one family at a time.
    s.queue(
      {
        status: 429,
        body: body429,
        headers: headers429({ 'anthropic-ratelimit-input-tokens-remaining': '0' }),
      },
      { status: 429, body: body429, headers: headers429({ 'anthropic-ratelimit-requests-remaining': '0' }) },
    );
    const agent = agentFor(s, { scheduler: clock });
    const tokens = (await failure(run(agent, 'hi'))).error as RateLimitError;
    expect(tokens.info).toEqual({ limit: 'tokens', retryAfterMs: 6_000, status: 429 });
    const requests = (await failure(run(agent, 'hi'))).error as RateLimitError;
    expect(requests.info).toEqual({ limit: 'requests', retryAfterMs: 1_000, status: 429 });
  });

  it('a spend-cap 429 (enforced_spend_limit_reached) is final, and runAgents does not retry it', async () => {
    // Not a recording: the body's shape is the docs' error body with the `details.error_code` that
    // @anthropic-ai/sdk 1.14 types for this case (resources/shared.d.ts, EnforcedSpendLimitReachedError);
    // the docs say such a 429 has no retry-after.
    const body = JSON.stringify({
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'You have reached your specified API usage limits.',
        details: { error_code: 'enforced_spend_limit_reached' },
      },
      request_id: 'req_spend_cap',
    });
    const s = await start();
    s.queue({ status: 429, body });
    const [settled] = await settledOf([{ id: 's1', input: 'hi' }], agentFor(s), {
      retry: { maxRetries: 3, baseDelayMs: 1 },
    });
    expect(settled?.status).toBe('rejected');
    const error = (settled as Extract<Settled, { status: 'rejected' }>).error;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: false,
      message:
        'Provider refused the request until its limit resets (429 enforced_spend_limit_reached): You have reached your specified API usage limits.',
      info: {
        status: 429,
        type: 'rate_limit_error',
        code: 'enforced_spend_limit_reached',
        requestId: 'req_spend_cap',
      },
    });
    expect(s.requests).toHaveLength(1);
  });

  it('529 overloaded_error is a retryable ProviderError; runAgents retries it to success', async () => {
    // errors/overloaded-529.body.json: the 529 body of vercel/ai's Anthropic tests (test-authored; the
    // shape seen live).
    const s = await start();
    s.queue(
      { status: 529, body: recorded('errors/overloaded-529.body.json') },
      { status: 529, body: recorded('errors/overloaded-529.body.json') },
      { body: recorded('text.sse') },
    );
    const { error } = await failure(run(agentFor(s), 'hi'));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      message: 'Provider answered 529: Overloaded',
      info: { status: 529, type: 'overloaded_error' },
    });
    const [settled] = await settledOf([{ id: 'o1', input: 'hi' }], agentFor(s), {
      retry: { maxRetries: 2, baseDelayMs: 1 },
    });
    expect(settled).toMatchObject({ status: 'fulfilled', attempts: 2, value: '- Captain\n- Scoop' });
  });

  it('400 is final and carries the provider’s message and request id', async () => {
    // errors/invalid-request-400.*: anthropic-sdk-python's recording of a live 400 (x-should-retry: false).
    const s = await start();
    s.queue({
      status: 400,
      body: recorded('errors/invalid-request-400.body.json'),
      headers: recordedHeaders('errors/invalid-request-400.headers.json'),
    });
    const { events, error } = await failure(run(agentFor(s), 'hi'));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: false,
      message:
        'Provider answered 400: messages.0.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01GHndag5wQmbzNihYmV2UBj. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
      info: { status: 400, type: 'invalid_request_error', requestId: 'req_011CYHyk9NPsBYeGbC9LuDNK' },
    });
  });

  it.each([
    [401, 'authentication_error', 'invalid x-api-key'],
    [403, 'permission_error', 'Your API key does not have permission to use the specified resource.'],
    [404, 'not_found_error', 'model: claude-nonexistent'],
  ])('%i %s is final with the provider’s message', async (status, type, message) => {
    // Not recordings: the error body the docs give for every status ({"type":"error","error":{type, message}}).
    const s = await start();
    s.queue({ status, body: JSON.stringify({ type: 'error', error: { type, message } }) });
    const { error } = await failure(run(agentFor(s), 'hi'));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: false,
      message: `Provider answered ${status}: ${message}`,
      info: { status, type },
    });
  });

  it('an overloaded_error event mid-stream is a retryable ProviderError keeping the partial text', async () => {
    // Built from two real pieces, as SOURCES.md describes: the first four messages of text.sse (through
    // its first text_delta), then overloaded-error-event.sse (Helicone pull request #4678), then the close.
    const text = recorded('text.sse')
      .toString('utf8')
      .split(/(?<=\n\n)/);
    const s = await start();
    s.queue({ body: text.slice(0, 4).join('') + recorded('overloaded-error-event.sse').toString('utf8') });
    const { events, error } = await failure(run(agentFor(s), 'hi'));
    expect(events).toEqual([{ type: 'delta', text: '-' }]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      message: 'Provider reported an error mid-stream after 3 events (1 characters of text): Overloaded',
      info: { type: 'overloaded_error', chunks: 3, partialText: '-' },
    });
  });

  it('a stream that ends before message_stop is a retryable ProviderError keeping the partial text', async () => {
    // api-error-mid-stream.excerpt.sse: litellm issue #4562. The log stops right after the error's data:
    // line, without the blank line that ends an SSE message, so the SDK never sees that event.
    const s = await start();
    s.queue({ body: recorded('api-error-mid-stream.excerpt.sse') });
    const { events, error } = await failure(run(agentFor(s), 'hi'));
    expect(deltas(events).join('')).toBe('d with a replacement character (');
    expect(error).toMatchObject({
      code: 'E_PROVIDER',
      retryable: true,
      info: { type: 'incomplete_stream', chunks: 2, partialText: 'd with a replacement character (' },
    });
  });

  it('a cut connection is a retryable ProviderError keeping the partial text', async () => {
    const body = recorded('text.sse');
    const s = await start();
    // The connection dies inside the third text_delta's message.
    s.queue({ body, cutAfterBytes: body.indexOf('"\\n- Sc"') });
    const { events, error } = await failure(run(agentFor(s), 'hi'));
    expect(deltas(events)).toEqual(['-', ' Captain']);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      retryable: true,
      info: { type: 'stream_interrupted', partialText: '- Captain' },
    });
    expect((error as ProviderError).message).toMatch(
      /^Provider stream broke after \d+ events \(9 characters of text\): terminated/,
    );
  });

  it('a refused connection is a retryable ProviderError', async () => {
    const s = await start();
    const agent = agentFor(s);
    await s.close();
    server = undefined;
    const { error } = await failure(run(agent, 'hi'));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ retryable: true, info: { type: 'connection' } });
    expect((error as ProviderError).message).toMatch(/^Could not reach the provider: Connection error/);
  });

  it('a run aborted through its signal ends in CancelledError, not a provider error', async () => {
    const s = await start();
    s.queue({ body: recorded('text.sse') });
    const controller = new AbortController();
    controller.abort();
    const { error } = await failure(
      agentFor(s).run({ id: 'c1', input: 'hi' }, { signal: controller.signal }),
    );
    expect(error).toBeInstanceOf(CancelledError);
  });
});

/**
 * A server that sends the first four messages of text.sse (through its first text_delta) and then nothing,
 * holding the connection open as a stalled provider does; `closed` resolves with the time the client let go.
 */
async function startStalled(): Promise<{
  origin: string;
  closed: Promise<number>;
  close: () => Promise<void>;
}> {
  const head = recorded('text.sse')
    .toString('utf8')
    .split(/(?<=\n\n)/)
    .slice(0, 4)
    .join('');
  let onClose: (at: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => {
    onClose = resolve;
  });
  const stalled = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(head);
    res.on('close', () => {
      onClose(performance.now());
    });
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  const { port } = stalled.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        stalled.closeAllConnections();
        stalled.close(() => {
          resolve();
        });
      }),
  };
}

describe('anthropicModel cancellation', () => {
  it('unsubscribing mid-stream closes the connection at once', async () => {
    const stalled = await startStalled();
    try {
      const agent = anthropicModel({
        model: 'claude-haiku-4-5',
        apiKey: 'k',
        baseURL: stalled.origin,
        env: {},
      });
      let unsubscribedAt = Number.NaN;
      const subscription = run(agent, 'hi').subscribe((event) => {
        if (event.type !== 'delta') return;
        unsubscribedAt = performance.now();
        subscription.unsubscribe();
      });
      const closedAt = await stalled.closed;
      expect(closedAt - unsubscribedAt).toBeLessThan(100);
    } finally {
      await stalled.close();
    }
  });

  it('timeoutWith({ each }) ends a stalled stream with TimeoutError and aborts the request', async () => {
    const stalled = await startStalled();
    try {
      const agent = anthropicModel({
        model: 'claude-haiku-4-5',
        apiKey: 'k',
        baseURL: stalled.origin,
        env: {},
      });
      const { events, error } = await failure(run(agent, 'hi').pipe(timeoutWith({ each: 150 })));
      expect(events).toEqual([{ type: 'delta', text: '-' }]);
      expect(error).toBeInstanceOf(TimeoutError);
      await stalled.closed;
    } finally {
      await stalled.close();
    }
  });

  it('an abort through the signal mid-stream ends in CancelledError, not silence', async () => {
    const stalled = await startStalled();
    try {
      const agent = anthropicModel({
        model: 'claude-haiku-4-5',
        apiKey: 'k',
        baseURL: stalled.origin,
        env: {},
      });
      const controller = new AbortController();
      const events$ = agent.run({ id: 'job', input: 'hi' }, { signal: controller.signal });
      const result = failure(
        events$.pipe(
          tap((event) => {
            if (event.type === 'delta') controller.abort();
          }),
        ),
      );
      const { error } = await result;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).toMatchObject({ info: { reason: 'unsubscribed', taskId: 'job' } });
      await stalled.closed;
    } finally {
      await stalled.close();
    }
  });
});

describe('anthropicModel requests', () => {
  it('sends the request anthropic-sdk-python recorded for the same tool run, field for field', async () => {
    // sdk-python-cassette-tool-use-stream.json, interaction 0: request body, and tool-use-padded.sse as the answer.
    const [first] = TOOL_RUN;
    const recordedBody = first?.request.body as {
      tools: { name: string; description: string; input_schema: Record<string, unknown> }[];
    };
    const s = await start();
    s.queue({ body: recorded('tool-use-padded.sse') });
    const agent = agentFor(s);
    const tools = recordedBody.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      parameters: tool.input_schema,
    }));
    const events = await all(
      run(agent, { id: 'w1', input: 'What is the weather in SF?', params: { tools } }),
    );
    expect(s.requests[0]?.body).toEqual(recordedBody);
    expect(events.find((e) => e.type === 'tool-calls')).toEqual({
      type: 'tool-calls',
      calls: [
        {
          id: 'toolu_018acGYLtfR52q9yDbWaEdQZ',
          name: 'get_weather',
          arguments: '{"location": "San Francisco, CA", "units": "f"}',
        },
      ],
    });
  });

  it('agentLoop sends the tool result back as the recorded second request did, and gets the answer', async () => {
    // The same recording's interaction 1: the request carrying the tool_result, and its streamed answer.
    const [first, second] = TOOL_RUN;
    const recordedBody = first?.request.body as {
      tools: { name: string; description: string; input_schema: Record<string, unknown> }[];
    };
    const s = await start();
    s.queue({ body: recorded('tool-use-padded.sse') }, { body: second?.response.body ?? '' });
    const weather = defineTool({
      name: 'get_weather',
      input: z.object({ location: z.string(), units: z.enum(['c', 'f']) }),
      // What the recorded run's tool answered, as the text it sent (Python's JSON, `°` escaped).
      run: () => '{"location": "San Francisco, CA", "temperature": "68\\u00b0F", "condition": "Sunny"}',
    });
    const tools = recordedBody.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      parameters: tool.input_schema,
    }));
    const loop = agentLoop(agentFor(s), [weather]);
    const settled = await lastValueFrom(
      loop({ id: 'w2', input: 'What is the weather in SF?', params: { tools } }).pipe(
        filter((e) => e.type === 'settled'),
      ),
    );
    expect(settled.result.status).toBe('fulfilled');
    // The Python SDK echoes the response block's `caller` back; the API does not need it.
    const expected = structuredClone(second?.request.body) as { messages: { content: unknown }[] };
    for (const block of expected.messages[1]?.content as Record<string, unknown>[]) delete block['caller'];
    expect(s.requests[1]?.body).toEqual(expected);
  });

  it('maps every parameter, system prompts, the model and output cap per task, and providerOptions', async () => {
    const s = await start();
    s.queue({ body: recorded('basic-text.sse') }, { body: recorded('basic-text.sse') });
    const schema = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
    await all(
      run(agentFor(s), {
        id: 'p1',
        maxOutputTokens: 300,
        input: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Name a pelican' },
        ],
        params: {
          model: 'claude-haiku-4-5',
          temperature: 0.2,
          topP: 0.9,
          stop: ['\n\n'],
          responseFormat: { type: 'json_schema', name: 'pelican', schema },
          tools: [
            { name: 'lookup', description: 'Find a name', parameters: { type: 'object' }, strict: true },
          ],
          toolChoice: { name: 'lookup' },
          providerOptions: {
            anthropic: { output_config: { effort: 'low' }, metadata: { user_id: 'u1' } },
            openai: { ignored: true },
          },
        },
      }),
    );
    expect(s.requests[0]?.body).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 300,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Name a pelican' }],
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['\n\n'],
      tools: [{ name: 'lookup', description: 'Find a name', input_schema: { type: 'object' }, strict: true }],
      tool_choice: { type: 'tool', name: 'lookup' },
      metadata: { user_id: 'u1' },
      output_config: { format: { type: 'json_schema', schema }, effort: 'low' },
      stream: true,
    });
    await all(
      run(agentFor(s), {
        id: 'p2',
        input: [
          { role: 'system', content: 'One.' },
          { role: 'system', content: 'Two.' },
          { role: 'user', content: 'Go' },
        ],
        params: { toolChoice: 'required', responseFormat: { type: 'text' } },
      }),
    );
    expect(s.requests[1]?.body).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 1024,
      system: [
        { type: 'text', text: 'One.' },
        { type: 'text', text: 'Two.' },
      ],
      messages: [{ role: 'user', content: 'Go' }],
      tool_choice: { type: 'any' },
      stream: true,
    });
  });

  it('groups tool results into one user turn, which a following user message joins', async () => {
    const s = await start();
    s.queue({ body: recorded('basic-text.sse') });
    await all(
      run(agentFor(s), {
        id: 'g1',
        input: [
          { role: 'user', content: 'Two names' },
          {
            role: 'assistant',
            content: 'Let me ask.',
            toolCalls: [
              { id: 'a', name: 'namer', arguments: '' },
              { id: 'b', name: 'namer', arguments: '{"style":"formal"}' },
            ],
          },
          { role: 'tool', toolCallId: 'a', content: 'Charles' },
          { role: 'tool', toolCallId: 'b', content: 'Sammy' },
          { role: 'user', content: 'Pick one' },
          { role: 'assistant', content: 'Sammy' },
          { role: 'user', content: 'Why?' },
        ],
        params: { toolChoice: 'none' },
      }),
    );
    expect(s.requests[0]?.body).toMatchObject({
      tool_choice: { type: 'none' },
      messages: [
        { role: 'user', content: 'Two names' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me ask.' },
            { type: 'tool_use', id: 'a', name: 'namer', input: {} },
            { type: 'tool_use', id: 'b', name: 'namer', input: { style: 'formal' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'a', content: 'Charles' },
            { type: 'tool_result', tool_use_id: 'b', content: 'Sammy' },
            { type: 'text', text: 'Pick one' },
          ],
        },
        { role: 'assistant', content: 'Sammy' },
        { role: 'user', content: 'Why?' },
      ],
    });
  });

  it.each<[string, Task, string]>([
    [
      'seed, which the API lacks',
      { id: 'v1', input: 'hi', params: { seed: 7 } },
      'Task "v1" asks for `seed`, which anthropicModel cannot honour',
    ],
    [
      'a schema-less JSON format',
      { id: 'v2', input: 'hi', params: { responseFormat: { type: 'json_object' } } },
      'Task "v2" asks for `responseFormat: { type: \'json_object\' }`, which anthropicModel cannot honour',
    ],
    [
      'an output cap in providerOptions',
      { id: 'v3', input: 'hi', params: { providerOptions: { anthropic: { max_tokens: 5 } } } },
      'Task "v3" sets `providerOptions.anthropic.max_tokens`, which anthropicModel decides; use the task’s `maxOutputTokens`',
    ],
    [
      'a system message inside the conversation',
      {
        id: 'v4',
        input: [
          { role: 'user', content: 'hi' },
          { role: 'system', content: 'late' },
        ],
      },
      'A system message must come before the conversation (input[1])',
    ],
    [
      'a tool message without toolCallId',
      { id: 'v5', input: [{ role: 'tool', content: 'x' }] },
      'A tool message needs `toolCallId`, the id of the call it answers (input[0])',
    ],
    [
      'tool-call arguments that are not a JSON object',
      {
        id: 'v6',
        input: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'a', name: 'n', arguments: '[1' }] },
        ],
      },
      "Tool call arguments must be a JSON object for Anthropic's tool_use blocks (input[1].toolCalls[0])",
    ],
  ])('refuses %s with a ValidationError, sending nothing', async (_, task, message) => {
    const s = await start();
    const { error } = await failure(run(agentFor(s), task));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain(message);
    expect(error).toMatchObject({ retryable: false, info: { source: 'anthropicModel' } });
    expect(s.requests).toHaveLength(0);
  });
});

describe('anthropicModel configuration', () => {
  it('reads the key and base URL from the environment it is given', async () => {
    const s = await start();
    s.queue({ body: recorded('basic-text.sse') });
    const agent = anthropicModel({
      model: 'claude-haiku-4-5',
      env: { ANTHROPIC_API_KEY: 'env-key', ANTHROPIC_BASE_URL: s.origin },
    });
    expect(agent.maxOutputTokens).toBe(DEFAULT_ANTHROPIC_MAX_TOKENS);
    const events = await all(run(agent, 'hi'));
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(s.requests[0]?.headers.authorization).toBe('Bearer env-key');
    expect(s.requests[0]?.body).toMatchObject({ max_tokens: 4_096 });
  });

  it('throws TypeError for impossible configurations, naming what came', () => {
    const env = {};
    expect(() => anthropicModel({ env } as never)).toThrow(
      "Expected `model` to be a non-empty string such as 'claude-sonnet-5', got undefined",
    );
    expect(() => anthropicModel({ model: 'm', maxTokens: 0, apiKey: 'k', env })).toThrow(
      'Expected `maxTokens` to be an integer from 1 and up, got 0 (number)',
    );
    expect(() => anthropicModel({ model: 'm', apiKey: 'k', env, max_tokens: 5 } as never)).toThrow(
      'Unknown option `max_tokens` for anthropicModel',
    );
    expect(() => anthropicModel({ model: 'm', env })).toThrow(
      'Expected an API key for api.anthropic.com, got none. Pass `apiKey`, set ANTHROPIC_API_KEY',
    );
    expect(() => anthropicModel({ model: 'm', apiKey: 'k', baseURL: 'localhost:8080', env })).toThrow(
      'Expected `baseURL` to be an http(s) URL, got "localhost:8080" (string)',
    );
    expect(() => anthropicModel({ model: 'm', apiKey: 'k', telemetry: 'yes' as never, env })).toThrow(
      'Expected `telemetry` to be a boolean, got "yes" (string)',
    );
    expect(() => anthropicModel({ model: 'm', client: {} as never, env })).toThrow(
      'Expected `client` to be an Anthropic client, got an object',
    );
    expect(() =>
      anthropicModel({ model: 'm', client: { messages: { create: () => 0 } } as never, telemetry: true }),
    ).toThrow('Pass either `client` or `telemetry`, not both');
    expect(() => anthropicModel({ model: 'm', baseURL: 'http://localhost:8080', env })).not.toThrow();
  });
});

describe('anthropicModel with a budget', () => {
  it('a run starts only when the requests another process spent are back, as the headers said', async () => {
    // 20 times real time: slow enough that the first run (which may load the SDK) ends long before the reset.
    const time = fastTime(20);
    const s = await start();
    const limits = recordedHeaders('errors/ratelimit-headers.200.json');
    const budget = createBudget({ requestsPerMinute: 50, burst: 60, scheduler: time.scheduler });
    const model = agentFor(s, { scheduler: time.scheduler });
    const startedAt: number[] = [];
    const endedAt: number[] = [];
    let resetAt = Number.NaN;
    const agent: Agent = {
      run: (task, context) =>
        defer(() => {
          const now = time.now();
          startedAt.push(now);
          if (task.id === 'a') {
            resetAt = Math.round(now + 50_000);
            // Edited from the recording: no requests left, back 50 s from now on the test's clock.
            const spent = {
              ...limits,
              'anthropic-ratelimit-requests-remaining': '0',
              'anthropic-ratelimit-requests-reset': new Date(resetAt).toISOString(),
            };
            s.queue({ body: recorded('text.sse'), headers: spent });
          } else {
            s.queue({ body: recorded('text.sse'), headers: limits });
          }
          return model.run(task, context).pipe(finalize(() => endedAt.push(time.now())));
        }),
    };
    const settled = await settledOf(
      [
        { id: 'a', input: 'one' },
        { id: 'b', input: 'two' },
      ],
      agent,
      { budget, concurrency: 1, scheduler: time.scheduler },
    );
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    // Without the headers the budget had 49 of its 50 requests left and would have started the second run
    // as soon as the first ended; it waited for the instant the provider named. (No upper bound: a busy
    // machine runs the sped-up clock's timers late.)
    expect(endedAt[0]).toBeLessThan(resetAt - 20_000);
    expect(startedAt[1]).toBeGreaterThanOrEqual(resetAt - 100);
  });

  it('a 429 cools the budget down for its retry-after, and the retry succeeds', async () => {
    const time = fastTime(100);
    const s = await start();
    // The recorded 429 (errors/rate-limit-429.*), with the retry-after the docs promise added.
    s.queue(
      {
        status: 429,
        body: recorded('errors/rate-limit-429.body.json'),
        headers: { ...recordedHeaders('errors/rate-limit-429.headers.json'), 'retry-after': '20' },
      },
      { body: recorded('text.sse') },
    );
    const budget = createBudget({ tokensPerMinute: 100_000, scheduler: time.scheduler });
    const cooldowns: (number | null)[] = [];
    budget.state$.subscribe((state) => cooldowns.push(state.cooldownUntil));
    const model = agentFor(s, { scheduler: time.scheduler });
    const startedAt: number[] = [];
    const agent: Agent = {
      maxOutputTokens: 1024,
      run: (task, context) =>
        defer(() => {
          startedAt.push(time.now());
          return model.run(task, context);
        }),
    };
    const [settled] = await settledOf([{ id: 'a', input: 'one' }], agent, {
      budget,
      scheduler: time.scheduler,
      retry: { maxRetries: 2, baseDelayMs: 1 },
    });
    expect(settled).toMatchObject({ status: 'fulfilled', attempts: 2 });
    expect(cooldowns.some((until) => until !== null)).toBe(true);
    const [first = 0, second = 0] = startedAt;
    expect(second - first).toBeGreaterThanOrEqual(20_000);
  });
});
