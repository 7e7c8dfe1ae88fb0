import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { from, lastValueFrom, Subject, toArray, VirtualTimeScheduler, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateIdError, ProviderError, ValidationError } from '../../../src/core/errors/index.js';
import { InvalidTask } from '../../../src/core/invalid-task.js';
import type { Settled, Task, TaskEvent } from '../../../src/core/types.js';
import { readJournal } from '../../../src/models/openai/batch-journal.js';
import { openaiBatch, type OpenAIBatchConfig } from '../../../src/models/openai/openai-batch.js';
import { openaiBatchStatus } from '../../../src/models/openai/batch-status.js';
import {
  startOpenAIServer,
  type OpenAIServer,
  type OpenAIServerOptions,
} from '../../support/openai-server.js';

let server: OpenAIServer | undefined;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rxagent-batch-'));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function start(options: OpenAIServerOptions = { batchStepMs: 5 }): Promise<OpenAIServer> {
  server = await startOpenAIServer(options);
  return server;
}

function batchOf(s: OpenAIServer, config: OpenAIBatchConfig = {}) {
  return openaiBatch({
    model: 'test-model',
    baseURL: s.url,
    apiKey: 'test-key',
    env: {},
    pollIntervalMs: 5,
    maxPollIntervalMs: 20,
    ...config,
  });
}

function tasks(...ids: string[]): Task[] {
  return ids.map((id) => ({ id, input: `prompt ${id}` }));
}

function run(source: Observable<Task | InvalidTask> | readonly Task[], operator: ReturnType<typeof batchOf>) {
  const input = Array.isArray(source) ? from(source as readonly Task[]) : (source as Observable<Task>);
  return lastValueFrom(input.pipe(operator, toArray()));
}

function settledOf(events: readonly TaskEvent[]): Map<string, Settled> {
  const byId = new Map<string, Settled>();
  for (const event of events) {
    if (event.type !== 'settled') continue;
    expect(byId.has(event.taskId), `${event.taskId} settled twice`).toBe(false);
    byId.set(event.taskId, event.result);
  }
  return byId;
}

function errorOf(result: Settled | undefined): ProviderError {
  expect(result?.status).toBe('rejected');
  const error = (result as Extract<Settled, { status: 'rejected' }>).error;
  if (!(error instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${error.name}`);
  return error;
}

/** The request lines of every input file the server received, by file id. */
function uploadedLines(s: OpenAIServer): Record<string, unknown>[][] {
  return [...s.files.values()]
    .filter((f) => f.object.purpose === 'batch')
    .map((f) =>
      f.content
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
}

function routes(s: OpenAIServer): string[] {
  return s.requests.map((r) => `${r.method} ${r.path.replace(/(batch|file)[-_]\d+/g, '$1')}`);
}

describe('openaiBatch', () => {
  it('sends tasks as one input file, polls the batch, and settles each by custom_id at half the price', async () => {
    const s = await start();
    s.when('[cached]', { cachedTokens: 1 });
    const events = await run(
      [
        { id: 'a', input: 'hello there', maxOutputTokens: 50 },
        {
          id: 'b',
          input: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'one [cached]' },
          ],
          params: {
            temperature: 0,
            topP: 0.5,
            stop: ['.'],
            seed: 7,
            responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
            tools: [{ name: 'look', parameters: { type: 'object' } }],
            toolChoice: { name: 'look' },
            providerOptions: { openai: { service_tier: 'flex' }, anthropic: { ignored: true } },
          },
        },
      ],
      batchOf(s, { priceOf: (model) => (model === 'test-model' ? { input: 2, output: 4 } : undefined) }),
    );
    expect(events.map((e) => `${e.type} ${e.taskId}`)).toEqual([
      'started a',
      'started b',
      'settled a',
      'settled b',
    ]);
    const results = settledOf(events);
    expect(results.get('a')).toMatchObject({
      status: 'fulfilled',
      value: 'Echo: hello there',
      usage: { inputTokens: 2, outputTokens: 3, cost: ((2 * 2 + 3 * 4) / 1e6) * 0.5 },
      attempts: 1,
    });
    expect(results.get('b')).toMatchObject({
      status: 'fulfilled',
      usage: { inputTokens: 4, cachedInputTokens: 1, outputTokens: 3 },
    });

    expect(s.batches).toHaveLength(1);
    const [lines] = uploadedLines(s);
    expect(lines).toEqual([
      {
        custom_id: 'a',
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'test-model',
          messages: [{ role: 'user', content: 'hello there' }],
          max_completion_tokens: 50,
        },
      },
      {
        custom_id: 'b',
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'test-model',
          messages: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'one [cached]' },
          ],
          temperature: 0,
          top_p: 0.5,
          stop: ['.'],
          seed: 7,
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
          },
          tools: [{ type: 'function', function: { name: 'look', parameters: { type: 'object' } } }],
          tool_choice: { type: 'function', function: { name: 'look' } },
          service_tier: 'flex',
        },
      },
    ]);
    const upload = s.requests.find((r) => r.path === '/v1/files');
    expect(upload?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(s.requests.find((r) => r.path === '/v1/batches' && r.method === 'POST')?.body).toEqual({
      input_file_id: 'file-1',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
  });

  it('splits files at maxRequestsPerFile, maxBytesPerFile and by model, and never puts a line in two', async () => {
    const s = await start();
    const many = tasks('a', 'b', 'c', 'd', 'e');
    const other: Task = { id: 'm', input: 'x', params: { model: 'other-model' } };
    const big: Task = { id: 'big', input: 'y'.repeat(250) };
    const events = await run(
      [...many, other, big],
      batchOf(s, { maxRequestsPerFile: 2, maxBytesPerFile: 400 }),
    );
    const results = settledOf(events);
    expect([...results.values()].filter((r) => r.status !== 'fulfilled')).toEqual([]);
    expect(results.size).toBe(7);
    const files = uploadedLines(s).map((lines) => lines.map((l) => l['custom_id']));
    expect(files.flat().sort()).toEqual(['a', 'b', 'big', 'c', 'd', 'e', 'm']);
    expect(files.every((ids) => ids.length <= 2)).toBe(true);
    expect(files).toContainEqual(['m']);
    expect(files).toContainEqual(['big']);
  });

  it('refuses a request larger than a whole file, and a duplicate id, and passes invalid lines through', async () => {
    const s = await start();
    const source = from<(Task | InvalidTask)[]>([
      { id: 'a', input: 'x'.repeat(500) },
      { id: 'b', input: 'fine' },
      { id: 'b', input: 'again' },
      new InvalidTask('line-4', new ValidationError({ issues: [], source: 'line 4', message: 'bad line' })),
    ]);
    const settled = (await run(source, batchOf(s, { maxBytesPerFile: 300 }))).flatMap((e) =>
      e.type === 'settled' ? [e.result] : [],
    );
    const [a, dup, line4, b] = settled;
    expect(line4).toMatchObject({ taskId: 'line-4', status: 'rejected', attempts: 0 });
    expect(dup).toMatchObject({ taskId: 'b', status: 'rejected', attempts: 0 });
    expect((dup as { error: unknown }).error).toBeInstanceOf(DuplicateIdError);
    expect(a).toMatchObject({ taskId: 'a', status: 'rejected', attempts: 0 });
    expect((a as { error: unknown }).error).toBeInstanceOf(ValidationError);
    expect(b).toMatchObject({ taskId: 'b', status: 'fulfilled', value: 'Echo: fine' });
    expect(settled).toHaveLength(4);
  });

  it('rejects the requests that failed with their own errors, and keeps the others', async () => {
    const s = await start();
    s.when('[bad]', { status: 400 });
    s.when('[quota]', { insufficientQuota: true });
    s.when('[busy]', { status: 503 });
    s.when('[tools]', { toolCalls: [{ name: 'look', arguments: '{"q":1}', id: 'call_9' }] });
    const events = await run(
      [
        { id: 'ok', input: 'fine' },
        { id: 'bad', input: '[bad]' },
        { id: 'quota', input: '[quota]' },
        { id: 'busy', input: '[busy]' },
        { id: 'tools', input: '[tools]' },
      ],
      batchOf(s),
    );
    const results = settledOf(events);
    expect(results.get('ok')?.status).toBe('fulfilled');
    const bad = errorOf(results.get('bad'));
    expect(bad.info).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      requestId: expect.stringMatching(/^req_/) as unknown,
    });
    expect(bad.retryable).toBe(false);
    expect(errorOf(results.get('quota')).info.type).toBe('insufficient_quota');
    expect(errorOf(results.get('quota')).retryable).toBe(false);
    expect(errorOf(results.get('busy')).retryable).toBe(true);
    expect(events.filter((e) => e.type === 'tool')).toEqual([
      { type: 'tool', taskId: 'tools', calls: [{ id: 'call_9', name: 'look', arguments: '{"q":1}' }] },
    ]);
  });

  it('settles an expired batch: what ran fulfilled, the rest batch_expired and retryable', async () => {
    const s = await start();
    s.cueBatch({ expireAfter: 1 });
    const results = settledOf(await run(tasks('a', 'b', 'c'), batchOf(s)));
    expect(results.get('a')?.status).toBe('fulfilled');
    for (const id of ['b', 'c']) {
      const error = errorOf(results.get(id));
      expect(error.info.type).toBe('batch_expired');
      expect(error.retryable).toBe(true);
    }
  });

  it('settles a batch that failed validation: the line named is at fault, the others may be retried', async () => {
    const s = await start();
    s.cueBatch({ fail: { code: 'invalid_value', message: 'Bad value.', line: 2 } });
    const results = settledOf(await run(tasks('a', 'b', 'c'), batchOf(s)));
    const b = errorOf(results.get('b'));
    expect(b.info).toMatchObject({ type: 'batch_failed', code: 'invalid_value' });
    expect(b.message).toContain('at task "b"');
    expect(b.retryable).toBe(false);
    expect(errorOf(results.get('a')).retryable).toBe(true);
  });

  it('settles a batch someone else cancelled as batch_cancelled', async () => {
    const s = await start();
    s.cueBatch({ holdIn: 'in_progress' });
    const result = run(tasks('a'), batchOf(s));
    await s.waitFor(() => s.batches[0]?.object.status === 'in_progress');
    const client = new OpenAI({ apiKey: 'k', baseURL: s.url });
    await client.batches.cancel(s.batches[0]!.object.id);
    const error = errorOf(settledOf(await result).get('a'));
    expect(error.info.type).toBe('batch_cancelled');
    expect(error.retryable).toBe(false);
  });

  it('retries an upload and a poll that failed with 5xx, and rejects at once on a 4xx upload', async () => {
    const s = await start();
    s.cueApi('upload', { status: 500 });
    s.cueApi('retrieve', { status: 500 }, { status: 502 });
    const results = settledOf(await run(tasks('a'), batchOf(s)));
    expect(results.get('a')?.status).toBe('fulfilled');
    expect(routes(s).filter((r) => r === 'POST /v1/files')).toHaveLength(2);

    s.cueApi('upload', { status: 400 });
    const refused = settledOf(await run(tasks('b'), batchOf(s)));
    expect(errorOf(refused.get('b')).info.status).toBe(400);
    expect(refused.get('b')?.attempts).toBe(0);
  });

  it('gives up after maxRetries failed polls in a row', async () => {
    const s = await start();
    s.cueBatch({ holdIn: 'validating' });
    s.cueApi('retrieve', { status: 500 }, { status: 500 }, { status: 500 });
    const results = settledOf(await run(tasks('a'), batchOf(s, { maxRetries: 2 })));
    expect(errorOf(results.get('a')).info.status).toBe(500);
    expect(results.get('a')?.attempts).toBe(1);
  });

  it('creates a batch once when the answer to create is lost: it finds the batch made from the file', async () => {
    const s = await start();
    s.cueApi('create', { afterWork: true, status: 500 });
    const results = settledOf(await run(tasks('a', 'b'), batchOf(s)));
    expect([...results.values()].map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(s.batches).toHaveLength(1);
    expect(routes(s)).toContain('GET /v1/batches');
  });

  it('cancels its batches at the provider when unsubscribed, and emits nothing more', async () => {
    const s = await start();
    s.cueBatch({ holdIn: 'in_progress' });
    const events: TaskEvent[] = [];
    const subscription = from(tasks('a', 'b'))
      .pipe(batchOf(s))
      .subscribe((e) => events.push(e));
    await s.waitFor(() => s.batches[0]?.object.status === 'in_progress');
    subscription.unsubscribe();
    await s.waitFor(() => s.batches[0]?.object.status === 'cancelling');
    expect(routes(s)).toContain('POST /v1/batches/batch/cancel');
    expect(events.filter((e) => e.type === 'settled')).toEqual([]);
  });

  it('cancels a batch whose create was still under way when unsubscribed, once it is answered', async () => {
    const s = await start({});
    s.cueApi('create', { delayMs: 30 });
    const subscription = from(tasks('a')).pipe(batchOf(s)).subscribe();
    await s.waitFor(() => s.requests.some((r) => r.method === 'POST' && r.path === '/v1/batches'));
    subscription.unsubscribe();
    await s.waitFor(() => s.batches[0]?.object.status === 'cancelling');
  });

  it('flushes a file that is not full after flushAfterMs', async () => {
    const s = await start();
    const source = new Subject<Task>();
    const result = lastValueFrom(source.pipe(batchOf(s, { flushAfterMs: 10 }), toArray()));
    source.next({ id: 'a', input: 'x' });
    await s.waitFor(() => s.batches.length === 1);
    source.next({ id: 'b', input: 'y' });
    await s.waitFor(() => s.batches.length === 2);
    source.complete();
    expect(settledOf(await result).size).toBe(2);
  });

  it('backs off polling while nothing changes, doubling up to maxPollIntervalMs, on its scheduler', async () => {
    const scheduler = new VirtualTimeScheduler();
    const polls: number[] = [];
    const statuses = ['in_progress', 'in_progress', 'in_progress', 'in_progress', 'in_progress', 'completed'];
    const batch = (status: string) => ({
      id: 'batch_1',
      input_file_id: 'file-1',
      created_at: 0,
      status,
      request_counts: { total: 1, completed: 0, failed: 0 },
      output_file_id: status === 'completed' ? 'file-2' : null,
      error_file_id: null,
    });
    const line = {
      custom_id: 'a',
      response: {
        status_code: 200,
        body: { choices: [{ index: 0, message: { content: 'hi' }, finish_reason: 'stop' }] },
      },
      error: null,
    };
    const client = {
      files: {
        create: () => Promise.resolve({ id: 'file-1', created_at: 0 }),
        content: () => Promise.resolve(new Response(JSON.stringify(line))),
      },
      batches: {
        create: () => Promise.resolve(batch('validating')),
        retrieve: () => {
          polls.push(scheduler.now());
          return Promise.resolve(batch(statuses[polls.length - 1] ?? 'completed'));
        },
      },
    };
    const events: TaskEvent[] = [];
    const state = { completed: false };
    from(tasks('a'))
      .pipe(
        openaiBatch({
          model: 'm',
          client: client as never,
          pollIntervalMs: 5,
          maxPollIntervalMs: 40,
          scheduler,
        }),
      )
      .subscribe({ next: (e) => events.push(e), complete: () => (state.completed = true) });
    while (!state.completed) {
      await new Promise((resolve) => setImmediate(resolve));
      scheduler.flush();
    }
    expect(polls).toEqual([5, 10, 20, 40, 80, 120]);
    expect(settledOf(events).get('a')).toMatchObject({ status: 'fulfilled', value: 'hi', durationMs: 120 });
  });

  it('rejects a task whose conversation OpenAI would refuse before sending anything', async () => {
    const s = await start();
    const results = settledOf(
      await run([{ id: 'a', input: [{ role: 'tool', content: 'x' }] }, ...tasks('b')], batchOf(s)),
    );
    expect((results.get('a') as { error: unknown }).error).toBeInstanceOf(ValidationError);
    expect(results.get('a')?.attempts).toBe(0);
    expect(results.get('b')?.status).toBe('fulfilled');
    expect(
      uploadedLines(s)
        .flat()
        .map((l) => l['custom_id']),
    ).toEqual(['b']);
  });

  it('refuses bad options when created', () => {
    expect(() => openaiBatch({ model: 'm', baseURL: 'http://x', pollInterval: 5 } as never)).toThrow(
      'Unknown option `pollInterval` for openaiBatch',
    );
    expect(() => openaiBatch({ env: {}, baseURL: 'http://x' })).toThrow('Pass `model` or set RXAGENT_MODEL');
    expect(() => openaiBatch({ model: 'm', baseURL: 'http://x', maxRequestsPerFile: 0 })).toThrow(
      'Expected `maxRequestsPerFile` to be an integer from 1 and up, got 0 (number)',
    );
    expect(() =>
      openaiBatch({ model: 'm', baseURL: 'http://x', pollIntervalMs: 100, maxPollIntervalMs: 10 }),
    ).toThrow('Expected `maxPollIntervalMs` to be at least `pollIntervalMs` (100), got 10');
    expect(() => openaiBatch({ model: 'm', baseURL: 'http://x', completionWindow: '48h' as never })).toThrow(
      "Expected `completionWindow` to be one of '24h'",
    );
    expect(() => openaiBatch({ model: 'm', client: {} as never })).toThrow(
      'OpenAI client with the Batch API',
    );
    expect(() => openaiBatch({ model: 'm', env: {} })).toThrow('Expected an API key');
  });
});

describe('openaiBatch with a journal', () => {
  const journalPath = () => join(dir, 'out.jsonl.batches');

  async function existingBatch(s: OpenAIServer, ids: readonly string[], create = true) {
    const client = new OpenAI({ apiKey: 'k', baseURL: s.url });
    const content = ids
      .map((id) =>
        JSON.stringify({
          custom_id: id,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'test-model', messages: [{ role: 'user', content: `earlier ${id}` }] },
        }),
      )
      .join('\n');
    const file = await client.files.create({
      file: await toFile(Buffer.from(content), 'in.jsonl'),
      purpose: 'batch',
    });
    const lines = [
      { type: 'upload', fileId: file.id, fileCreatedAt: file.created_at, model: 'test-model', taskIds: ids },
    ];
    const batch = create
      ? await client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        })
      : undefined;
    return { file, batch, lines };
  }

  it('writes each upload and each batch to the journal before polling', async () => {
    const s = await start();
    s.cueBatch({ holdIn: 'validating' });
    const subscription = from(tasks('a', 'b'))
      .pipe(batchOf(s, { journal: journalPath() }))
      .subscribe();
    await s.waitFor(() => s.batches.length === 1 && s.requests.some((r) => r.path === '/v1/batches/batch_1'));
    const journal = readJournal(journalPath());
    expect([...journal.uploads.values()]).toEqual([
      {
        fileId: 'file-1',
        fileCreatedAt: expect.any(Number) as unknown,
        model: 'test-model',
        taskIds: ['a', 'b'],
        batchId: 'batch_1',
      },
    ]);
    subscription.unsubscribe();
  });

  it('re-attaches to a journaled batch instead of submitting its tasks again', async () => {
    const s = await start();
    const { batch, lines } = await existingBatch(s, ['a', 'b']);
    writeFileSync(
      journalPath(),
      [...lines, { type: 'batch', fileId: batch!.input_file_id, batchId: batch!.id }]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n{"type":"upl',
    );
    const results = settledOf(await run(tasks('a', 'b', 'c'), batchOf(s, { journal: journalPath() })));
    expect(results.get('a')).toMatchObject({ status: 'fulfilled', value: 'Echo: earlier a' });
    expect(results.get('b')).toMatchObject({ status: 'fulfilled', value: 'Echo: earlier b' });
    expect(results.get('c')).toMatchObject({ status: 'fulfilled', value: 'Echo: prompt c' });
    expect(s.batches).toHaveLength(2);
    expect(uploadedLines(s)[1]!.map((l) => l['custom_id'])).toEqual(['c']);
    // The torn last line was ended before the new entries.
    expect(readFileSync(journalPath(), 'utf8')).toContain('{"type":"upl\n{"type":"upload"');
  });

  it('finds the batch of a journaled upload whose batch line was never written, or creates it from the file', async () => {
    const s = await start();
    const found = await existingBatch(s, ['a']);
    const lost = await existingBatch(s, ['b'], false);
    writeFileSync(
      journalPath(),
      [...found.lines, ...lost.lines].map((l) => JSON.stringify(l)).join('\n') + '\n',
    );
    const results = settledOf(await run(tasks('a', 'b'), batchOf(s, { journal: journalPath() })));
    expect([...results.values()].map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(s.batches.map((b) => b.object.input_file_id)).toEqual([found.file.id, lost.file.id]);
    expect(s.files.size).toBe(2 + 2);
    expect(readJournal(journalPath()).uploads.get(lost.file.id)?.batchId).toBe('batch_2');
  });

  it("submits again what an earlier run's batch never ran (expired), and only that", async () => {
    const s = await start();
    s.cueBatch({ expireAfter: 1 });
    const { batch, lines } = await existingBatch(s, ['a', 'b']);
    writeFileSync(
      journalPath(),
      [...lines, { type: 'batch', fileId: batch!.input_file_id, batchId: batch!.id }]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const results = settledOf(await run(tasks('a', 'b'), batchOf(s, { journal: journalPath() })));
    expect(results.get('a')).toMatchObject({ status: 'fulfilled', value: 'Echo: earlier a' });
    expect(results.get('b')).toMatchObject({ status: 'fulfilled', value: 'Echo: prompt b' });
    expect(uploadedLines(s).map((file) => file.map((l) => l['custom_id']))).toEqual([['a', 'b'], ['b']]);
  });

  it('settles only the tasks that arrive, whether they come before or after their batch finished', async () => {
    const s = await start();
    const { batch, lines } = await existingBatch(s, ['a', 'b', 'c']);
    writeFileSync(
      journalPath(),
      [...lines, { type: 'batch', fileId: batch!.input_file_id, batchId: batch!.id }]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const source = new Subject<Task>();
    const result = lastValueFrom(source.pipe(batchOf(s, { journal: journalPath() }), toArray()));
    source.next({ id: 'a', input: 'x' });
    await s.waitFor(
      () =>
        s.batches[0]?.object.status === 'completed' && s.requests.some((r) => r.path.endsWith('/content')),
    );
    source.next({ id: 'c', input: 'x' });
    source.complete();
    const results = settledOf(await result);
    expect([...results.keys()].sort()).toEqual(['a', 'c']);
    expect(results.get('c')).toMatchObject({ status: 'fulfilled', value: 'Echo: earlier c' });
  });

  it('reports each journaled file with its batch as the provider sees it now', async () => {
    const s = await start({});
    const done = await existingBatch(s, ['a', 'b']);
    const pending = await existingBatch(s, ['c'], false);
    writeFileSync(
      journalPath(),
      [...done.lines, { type: 'batch', fileId: done.file.id, batchId: done.batch!.id }, ...pending.lines]
        .map((l) => JSON.stringify(l))
        .join('\n'),
    );
    s.advanceBatches();
    const reports = await openaiBatchStatus({ journal: journalPath(), baseURL: s.url, apiKey: 'k', env: {} });
    expect(reports).toEqual([
      {
        fileId: done.file.id,
        model: 'test-model',
        tasks: 2,
        batchId: done.batch!.id,
        status: 'in_progress',
        createdAt: done.batch!.created_at,
        requestCounts: { total: 2, completed: 0, failed: 0 },
      },
      { fileId: pending.file.id, model: 'test-model', tasks: 1 },
    ]);
    expect(await openaiBatchStatus({ journal: join(dir, 'none'), baseURL: s.url, env: {} })).toEqual([]);
  });
});
