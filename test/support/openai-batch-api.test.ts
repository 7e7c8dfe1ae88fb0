import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMultipart } from './openai-batch-api.js';
import { startOpenAIServer, type OpenAIServer, type OpenAIServerOptions } from './openai-server.js';

let server: OpenAIServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: OpenAIServerOptions = {}): Promise<{ server: OpenAIServer; client: OpenAI }> {
  server = await startOpenAIServer(options);
  return { server, client: new OpenAI({ apiKey: 'k', baseURL: server.url, maxRetries: 0 }) };
}

function requestLine(customId: string, content: string, model = 'test-model'): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content }], max_completion_tokens: 20 },
  });
}

async function submit(client: OpenAI, lines: readonly string[]): Promise<Batch> {
  const file = await client.files.create({
    file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'in.jsonl'),
    purpose: 'batch',
  });
  return client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
}

interface ResultLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  readonly error: { code: string; message: string } | null;
}

async function lines(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (fileId == null) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ResultLine);
}

describe('the Files and Batch APIs of the test server', () => {
  it('takes a multipart upload and hands the bytes back', async () => {
    const { server, client } = await start();
    const file = await client.files.create({
      file: await toFile(Buffer.from('{"a":1}\n'), 'x.jsonl'),
      purpose: 'batch',
    });
    expect(file).toMatchObject({ object: 'file', bytes: 8, filename: 'x.jsonl', purpose: 'batch' });
    expect(await (await client.files.content(file.id)).text()).toBe('{"a":1}\n');
    expect(await client.files.retrieve(file.id)).toEqual(file);
    expect(server.files.get(file.id)?.content.toString()).toBe('{"a":1}\n');
  });

  it('moves a batch validating → in_progress → finalizing → completed, with the real object shape', async () => {
    const { server, client } = await start();
    server.when('[cached]', { cachedTokens: 2 });
    const created = await submit(client, [
      requestLine('a', 'hello there'),
      requestLine('b', 'one two [cached]'),
    ]);
    expect(created).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      status: 'validating',
      completion_window: '24h',
      output_file_id: null,
      error_file_id: null,
      errors: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
    });
    expect(created.id).toMatch(/^batch_/);
    expect(created.expires_at! - created.created_at).toBe(24 * 3600);

    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      server.advanceBatches();
      const batch = await client.batches.retrieve(created.id);
      seen.push(batch.status);
    }
    expect(seen).toEqual(['in_progress', 'finalizing', 'completed']);
    const done = await client.batches.retrieve(created.id);
    expect(done).toMatchObject({
      model: 'test-model',
      request_counts: { total: 2, completed: 2, failed: 0 },
      error_file_id: null,
      usage: { input_tokens: 5, input_tokens_details: { cached_tokens: 2 } },
    });
    expect(done.in_progress_at).toBeTypeOf('number');
    expect(done.completed_at).toBeTypeOf('number');
    const output = await lines(client, done.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual(['a', 'b']);
    const a = output.find((l) => l.custom_id === 'a')!;
    expect(a.id).toMatch(/^batch_req_/);
    expect(a.error).toBeNull();
    expect(a.response).toMatchObject({
      status_code: 200,
      body: {
        object: 'chat.completion',
        model: 'test-model',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'Echo: hello there' }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 2, completion_tokens: 3 },
      },
    });
    expect(output.find((l) => l.custom_id === 'b')!.response?.body).toMatchObject({
      usage: { prompt_tokens_details: { cached_tokens: 2 } },
    });
  });

  it('advances on its own every batchStepMs, and holds in a status on cue', async () => {
    const { server, client } = await start({ batchStepMs: 5 });
    const batch = await submit(client, [requestLine('a', 'x')]);
    await server.waitFor(() => server.batches[0]?.object.status === 'completed');
    server.cueBatch({ holdIn: 'in_progress' });
    const held = await submit(client, [requestLine('b', 'y')]);
    await server.waitFor(() => server.batches[1]?.object.status === 'in_progress');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect((await client.batches.retrieve(held.id)).status).toBe('in_progress');
    server.advanceBatches(held.id);
    await server.waitFor(() => server.batches[1]?.object.status === 'completed');
    expect((await client.batches.retrieve(batch.id)).status).toBe('completed');
  });

  it('writes answers other than 200 to the error file, and counts them as failed', async () => {
    const { server, client } = await start();
    server.when('[bad]', { status: 400 });
    server.when('[quota]', { insufficientQuota: true });
    const batch = await submit(client, [
      requestLine('ok', 'fine'),
      requestLine('bad', '[bad]'),
      requestLine('q', '[quota]'),
    ]);
    for (let i = 0; i < 3; i++) server.advanceBatches();
    const done = await client.batches.retrieve(batch.id);
    expect(done.request_counts).toEqual({ total: 3, completed: 1, failed: 2 });
    expect((await lines(client, done.output_file_id)).map((l) => l.custom_id)).toEqual(['ok']);
    const errors = await lines(client, done.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.response?.status_code])).toEqual([
      ['bad', 400],
      ['q', 429],
    ]);
    expect(errors[1]!.response!.body).toMatchObject({ error: { type: 'insufficient_quota' } });
  });

  it('expires on cue: what ran is in the output file, the rest in the error file as batch_expired', async () => {
    const { server, client } = await start();
    server.cueBatch({ expireAfter: 1 });
    const batch = await submit(client, [requestLine('a', 'x'), requestLine('b', 'y'), requestLine('c', 'z')]);
    server.advanceBatches();
    server.advanceBatches();
    const expired = await client.batches.retrieve(batch.id);
    expect(expired.status).toBe('expired');
    expect(expired.expired_at).toBeTypeOf('number');
    expect((await lines(client, expired.output_file_id)).map((l) => l.custom_id)).toEqual(['a']);
    const errors = await lines(client, expired.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.response, l.error?.code])).toEqual([
      ['b', null, 'batch_expired'],
      ['c', null, 'batch_expired'],
    ]);
    expect(errors[0]!.error!.message).toBe(
      'This request could not be executed before the completion window expired.',
    );
  });

  it('cancels: cancelling, then cancelled with batch_cancelled lines; a finished batch cannot be cancelled', async () => {
    const { server, client } = await start();
    const batch = await submit(client, [requestLine('a', 'x')]);
    const cancelling = await client.batches.cancel(batch.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toBeTypeOf('number');
    server.advanceBatches();
    const cancelled = await client.batches.retrieve(batch.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await lines(client, cancelled.error_file_id)).map((l) => l.error?.code)).toEqual([
      'batch_cancelled',
    ]);
    await expect(client.batches.cancel(batch.id)).resolves.toMatchObject({ status: 'cancelled' });

    const other = await submit(client, [requestLine('b', 'y')]);
    for (let i = 0; i < 3; i++) server.advanceBatches();
    await expect(client.batches.cancel(other.id)).rejects.toMatchObject({ status: 400 });
    await expect(client.batches.retrieve('batch_nope')).rejects.toMatchObject({ status: 404 });
  });

  it('fails validation on a duplicate custom_id, a second model, or on cue, naming the line', async () => {
    const { server, client } = await start();
    const duplicate = await submit(client, [requestLine('a', 'x'), requestLine('a', 'y')]);
    const models = await submit(client, [requestLine('a', 'x'), requestLine('b', 'y', 'other-model')]);
    server.cueBatch({ fail: { code: 'token_limit_exceeded', message: 'Enqueued token limit reached.' } });
    const cued = await submit(client, [requestLine('a', 'x')]);
    server.advanceBatches();
    const errorsOf = async (id: string) => {
      const batch = await client.batches.retrieve(id);
      expect(batch.status).toBe('failed');
      expect(batch.failed_at).toBeTypeOf('number');
      return batch.errors?.data?.map((e) => [e.code, e.line]);
    };
    expect(await errorsOf(duplicate.id)).toEqual([['duplicate_custom_id', 2]]);
    expect(await errorsOf(models.id)).toEqual([['mismatched_model', 2]]);
    expect(await errorsOf(cued.id)).toEqual([['token_limit_exceeded', null]]);
  });

  it('lists batches newest first, a page at a time', async () => {
    const { client } = await start();
    for (let i = 0; i < 3; i++) await submit(client, [requestLine(`t${i}`, 'x')]);
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.map((b) => b.id)).toEqual(['batch_3', 'batch_2']);
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) all.push(batch.id);
    expect(all).toEqual(['batch_3', 'batch_2', 'batch_1']);
  });

  it('misbehaves on cue: an upload that fails, a poll that 500s, a create done but never answered', async () => {
    const { server, client } = await start();
    server.cueApi('upload', { status: 500 });
    await expect(submit(client, [requestLine('a', 'x')])).rejects.toMatchObject({ status: 500 });
    expect(server.files.size).toBe(0);

    const batch = await submit(client, [requestLine('a', 'x')]);
    server.cueApi('retrieve', { status: 500 }, { status: 503 });
    await expect(client.batches.retrieve(batch.id)).rejects.toMatchObject({ status: 500 });
    await expect(client.batches.retrieve(batch.id)).rejects.toMatchObject({ status: 503 });
    await expect(client.batches.retrieve(batch.id)).resolves.toMatchObject({ id: batch.id });

    server.cueApi('create', { afterWork: true, hang: true });
    const file = await client.files.create({
      file: await toFile(Buffer.from(`${requestLine('b', 'y')}\n`), 'b.jsonl'),
      purpose: 'batch',
    });
    const controller = new AbortController();
    const pending = client.batches.create(
      { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
      { signal: controller.signal },
    );
    await server.waitFor(() => server.batches.length === 2);
    controller.abort();
    await expect(pending).rejects.toThrow();
    expect(server.batches[1]!.object.input_file_id).toBe(file.id);
  });
});

describe('parseMultipart', () => {
  it('reads fields and files, binary-safe', () => {
    const body = Buffer.concat([
      Buffer.from('--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'),
      Buffer.from(
        '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n',
      ),
      Buffer.from([0x7b, 0x0d, 0x0a, 0x7d]),
      Buffer.from('\r\n--xyz--\r\n'),
    ]);
    const parts = parseMultipart(body, 'multipart/form-data; boundary=xyz');
    expect(parts.map((p) => [p.name, p.filename, [...p.content]])).toEqual([
      ['purpose', undefined, [...Buffer.from('batch')]],
      ['file', 'a.jsonl', [0x7b, 0x0d, 0x0a, 0x7d]],
    ]);
    expect(parseMultipart(body, 'application/json')).toEqual([]);
  });
});
