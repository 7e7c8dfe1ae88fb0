import { afterEach, describe, expect, it } from 'vitest';
import {
  formatDuration,
  startOpenAIServer,
  type OpenAIServer,
  type OpenAIServerOptions,
} from './openai-server.js';

let server: OpenAIServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  server = await startOpenAIServer(options);
  return server;
}

function chat(url: string, body: Record<string, unknown>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'test-model',
      messages: [{ role: 'user', content: 'hello there' }],
      ...body,
    }),
    ...init,
  });
}

function dataEvents(raw: string): string[] {
  return raw
    .split('\n\n')
    .filter((frame) => frame.startsWith('data: '))
    .map((frame) => frame.slice('data: '.length));
}

describe('startOpenAIServer', () => {
  it('lists models and answers 404 on unknown routes', async () => {
    const { url } = await start();
    const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['test-model']);
    const missing = await fetch(`${url}/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('answers a non-streaming completion with an echo and usage', async () => {
    const { url } = await start();
    const body = (await (await chat(url, {})).json()) as {
      choices: { message: { content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    expect(body.choices[0]?.message.content).toBe('Echo: hello there');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(body.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 3 });
  });

  it('streams SSE frames ending in [DONE], with usage in the last chunk only when asked', async () => {
    const { url } = await start();
    const withUsage = dataEvents(
      await (await chat(url, { stream: true, stream_options: { include_usage: true } })).text(),
    );
    expect(withUsage.at(-1)).toBe('[DONE]');
    const chunks = withUsage.slice(0, -1).map((d) => JSON.parse(d) as { choices: unknown[]; usage: unknown });
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 3 } });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);

    const plain = dataEvents(await (await chat(url, { stream: true })).text());
    expect(plain.slice(0, -1).some((d) => d.includes('"usage"'))).toBe(false);
  });

  it('cuts the reply at max tokens with finish_reason length', async () => {
    const { url } = await start();
    const body = (await (
      await chat(url, { max_completion_tokens: 2, messages: [{ role: 'user', content: 'a b c d' }] })
    ).json()) as { choices: { message: { content: string }; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({ message: { content: 'Echo: a' }, finish_reason: 'length' });
  });

  it('rejects past the requests limit with OpenAI 429 body and exact retry headers', async () => {
    let clock = 1_000;
    const { url } = await start({ requestsPerMinute: 1, windowMs: 5_000, now: () => clock });
    const first = await chat(url, {});
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('1');
    clock += 1_200;
    const second = await chat(url, {});
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after-ms')).toBe('3800');
    expect(second.headers.get('retry-after')).toBe('4');
    const body = (await second.json()) as { error: { type: string; code: string; message: string } };
    expect(body.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    expect(body.error.message).toContain(
      'on requests per min (RPM): Limit 1, Used 1, Requested 1. Please try again in 3.8s.',
    );
    clock += 3_800;
    expect((await chat(url, {})).status).toBe(200);
    expect(server?.rateLimited).toBe(1);
  });

  it('charges input words plus max tokens against the tokens limit', async () => {
    const clock = 0;
    const { url } = await start({ tokensPerMinute: 25, windowMs: 1_000, now: () => clock });
    const ok = await chat(url, { max_tokens: 10 });
    expect(ok.headers.get('x-ratelimit-remaining-tokens')).toBe('13');
    await ok.text();
    const denied = await chat(url, { max_tokens: 12 });
    expect(denied.status).toBe(429);
    const body = (await denied.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('tokens');
    expect(body.error.message).toContain('(TPM): Limit 25, Used 12, Requested 14.');
    expect(denied.headers.get('x-ratelimit-reset-tokens')).toBe('1s');
  });

  it('plays cues in order, and marker cues before them', async () => {
    const { url } = await start();
    server?.cue({ status: 503 }, { insufficientQuota: true });
    server?.when('special', { text: 'marked reply' });
    const marked = (await (
      await chat(url, { messages: [{ role: 'user', content: 'a special prompt' }] })
    ).json()) as { choices: { message: { content: string } }[] };
    expect(marked.choices[0]?.message.content).toBe('marked reply');
    expect((await chat(url, {})).status).toBe(503);
    const quota = await chat(url, {});
    expect(quota.status).toBe(429);
    expect(((await quota.json()) as { error: { code: string } }).error.code).toBe('insufficient_quota');
    expect((await chat(url, {})).status).toBe(200);
  });

  it('records the client leaving a hung stream, and close() destroys open sockets', async () => {
    const s = await start({ behavior: { hang: true } });
    const controller = new AbortController();
    const response = await chat(s.url, { stream: true }, { signal: controller.signal });
    expect(response.status).toBe(200);
    controller.abort();
    await s.waitFor(() => s.disconnects === 1);
    expect(s.requests[0]?.disconnectedAt).toBeGreaterThanOrEqual(s.requests[0]?.receivedAt ?? Infinity);

    const hanging = await chat(s.url, { stream: true });
    const reading = hanging.text().then(
      () => 'ended',
      () => 'failed',
    );
    await s.close();
    server = undefined;
    expect(await reading).toBe('failed');
  });

  it('pauses a stream until release()', async () => {
    const s = await start({ behavior: { pauseAfter: 2 } });
    const response = await chat(s.url, { stream: true });
    await s.waitFor(() => s.requests[0]?.chunksSent === 2);
    expect(s.requests[0]?.endedAt).toBeUndefined();
    s.release();
    expect(dataEvents(await response.text()).at(-1)).toBe('[DONE]');
  });

  it('answers slowly on cue, spacing data chunks by chunkDelayMs', async () => {
    const s = await start({ behavior: { chunkDelayMs: 30 } });
    const events = dataEvents(await (await chat(s.url, { stream: true })).text());
    // A role chunk, three words, the finish chunk, then [DONE] after one more delay.
    expect(events).toHaveLength(6);
    expect(events.some((data) => data.includes('tool_calls'))).toBe(false);
    const record = s.requests[0];
    expect((record?.endedAt ?? 0) - (record?.receivedAt ?? 0)).toBeGreaterThanOrEqual(5 * 30 - 5);
  });

  it('formats durations the way x-ratelimit-reset headers do', () => {
    expect([formatDuration(20), formatDuration(1_200), formatDuration(360_000), formatDuration(-5)]).toEqual([
      '20ms',
      '1.2s',
      '6m0s',
      '0ms',
    ]);
  });
});
