import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, of, take, tap, toArray, filter } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { CancelledError, TimeoutError } from '../../src/core/errors/index.js';
import type { AgentEvent, Settled, Task, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { compactJsonl, readDoneIds, toJsonl } from '../../src/sinks/to-jsonl.js';

const dir = mkdtempSync(join(tmpdir(), 'rxagent-tojsonl-'));
const lines = (path: string): unknown[] =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);

describe('toJsonl', () => {
  it('appends one line per settled result, passing every event on', async () => {
    const path = join(dir, 'out.jsonl');
    const events: TaskEvent[] = [
      { type: 'started', taskId: 'a', waitMs: 0 },
      { type: 'delta', taskId: 'a', seq: 0, text: 'hi' },
      {
        type: 'settled',
        taskId: 'a',
        result: {
          status: 'fulfilled',
          taskId: 'a',
          value: 'hi',
          usage: { inputTokens: 1, outputTokens: 1 },
          attempts: 1,
          durationMs: 5,
        },
      },
      {
        type: 'settled',
        taskId: 'b',
        result: {
          status: 'rejected',
          taskId: 'b',
          error: new CancelledError({ reason: 'client-cancel', taskId: 'b', message: 'gone' }),
          attempts: 1,
          durationMs: 2,
        },
      },
    ];
    expect(await lastValueFrom(from(events).pipe(toJsonl(path), toArray()))).toEqual(events);
    await lastValueFrom(of(events[2]!).pipe(toJsonl(path)));
    expect(lines(path)).toEqual([
      {
        taskId: 'a',
        status: 'fulfilled',
        value: 'hi',
        usage: { inputTokens: 1, outputTokens: 1 },
        attempts: 1,
        durationMs: 5,
      },
      {
        taskId: 'b',
        status: 'rejected',
        error: {
          name: 'CancelledError',
          code: 'E_CANCELLED',
          message: 'gone',
          retryable: false,
          info: { reason: 'client-cancel', taskId: 'b' },
        },
        attempts: 1,
        durationMs: 2,
      },
      {
        taskId: 'a',
        status: 'fulfilled',
        value: 'hi',
        usage: { inputTokens: 1, outputTokens: 1 },
        attempts: 1,
        durationMs: 5,
      },
    ]);
  });

  it('lets a crashed run resume by skipping the ids already written', async () => {
    const path = join(dir, 'resume.jsonl');
    const tasks: Task[] = Array.from({ length: 6 }, (_, i) => ({ id: `t${i}`, input: `p${i}` }));
    const worker = (task: Task) =>
      task.id === 't1' ? Promise.reject(new Error('boom')) : of(task.id.toUpperCase());
    const settledOnly = filter((e: TaskEvent) => e.type === 'settled');
    // The first run "crashes" after three results.
    await lastValueFrom(
      from(tasks).pipe(pool(worker, { concurrency: 1 }), toJsonl(path), settledOnly, take(3)),
    );
    appendFileSync(path, '{"taskId":"t9","sta');
    expect([...(await readDoneIds(path))].sort()).toEqual(['t0', 't2']);
    expect([...(await readDoneIds(path, { includeRejected: true }))].sort()).toEqual(['t0', 't1', 't2']);
    const done = await readDoneIds(path);
    const ran: string[] = [];
    await lastValueFrom(
      from(tasks.filter((t) => !done.has(t.id))).pipe(
        pool((task) => {
          ran.push(task.id);
          return of(task.id.toUpperCase());
        }),
        toJsonl(path),
        toArray(),
      ),
    );
    expect(ran).toEqual(['t1', 't3', 't4', 't5']);
    expect([...(await readDoneIds(path))].sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
    // The torn line stays on a line of its own; the resumed run's first line was not glued to it.
    expect(readFileSync(path, 'utf8').split('\n')[3]).toBe('{"taskId":"t9","sta');
  });

  it('writes finish reason and meta when the result has them', async () => {
    const path = join(dir, 'meta.jsonl');
    await lastValueFrom(
      from([{ id: 'm', input: 'x', meta: { row: 7 } }]).pipe(
        pool(() => of<AgentEvent>({ type: 'done', text: 'M', finishReason: 'length' })),
        toJsonl(path),
      ),
    );
    expect(lines(path)).toEqual([
      {
        taskId: 'm',
        status: 'fulfilled',
        value: 'M',
        usage: { inputTokens: 0, outputTokens: 0 },
        attempts: 1,
        durationMs: expect.any(Number) as number,
        finishReason: 'length',
        meta: { row: 7 },
      },
    ]);
  });

  it('writes Batch API output lines, with the tool calls the answer ended with, and resumes from them', async () => {
    const path = join(dir, 'batch.jsonl');
    const call = { id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' };
    const agents: Record<string, AgentEvent[]> = {
      plain: [
        { type: 'delta', text: 'Hello.' },
        { type: 'usage', usage: { inputTokens: 22, outputTokens: 2 } },
        { type: 'done', text: 'Hello.', finishReason: 'stop' },
      ],
      tools: [
        { type: 'tool-calls', calls: [call] },
        { type: 'done', text: '', finishReason: 'tool-calls' },
      ],
    };
    const tasks: Task[] = [
      { id: 'plain', input: 'Hi' },
      { id: 'tools', input: 'Weather?' },
      { id: 'late', input: 'Slow' },
    ];
    const events = await lastValueFrom(
      from(tasks).pipe(
        pool((task) =>
          task.id === 'late'
            ? Promise.reject(new TimeoutError({ limit: 'total', ms: 10, seen: 0 }))
            : from(agents[task.id] ?? []),
        ),
        toJsonl(path, { format: 'openai-batch' }),
        toArray(),
      ),
    );
    expect(events.filter((e) => e.type === 'settled')).toHaveLength(3);
    const [plain, tools, late] = lines(path) as Record<string, unknown>[];
    expect(plain).toMatchObject({
      custom_id: 'plain',
      response: {
        status_code: 200,
        body: {
          choices: [{ message: { role: 'assistant', content: 'Hello.' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 22, completion_tokens: 2, total_tokens: 24 },
        },
      },
      error: null,
    });
    expect(tools).toMatchObject({
      custom_id: 'tools',
      response: {
        body: {
          choices: [
            {
              message: {
                content: '',
                tool_calls: [
                  {
                    id: 'call_1',
                    type: 'function',
                    function: { name: 'weather', arguments: call.arguments },
                  },
                ],
              },
              finish_reason: 'tool_calls',
            },
          ],
        },
      },
    });
    expect(late).toMatchObject({ custom_id: 'late', response: null, error: { code: 'E_TIMEOUT' } });
    expect([...(await readDoneIds(path))].sort()).toEqual(['plain', 'tools']);
    expect([...(await readDoneIds(path, { includeRejected: true }))].sort()).toEqual([
      'late',
      'plain',
      'tools',
    ]);
  });

  it('compacts a file of either format to the latest line of each id, in the order they were written', async () => {
    const path = join(dir, 'compact.jsonl');
    const rx = (taskId: string, status: string, value: string): string =>
      JSON.stringify({ taskId, status, value });
    const batch = (id: string, statusCode: number): string =>
      JSON.stringify({
        id: 'batch_req_1',
        custom_id: id,
        response: { status_code: statusCode, body: {} },
        error: null,
      });
    writeFileSync(
      path,
      [
        rx('a', 'rejected', 'first'),
        rx('b', 'fulfilled', 'b'),
        '{"taskId":"c","sta',
        rx('a', 'rejected', 'second'),
        batch('d', 500),
        rx('a', 'fulfilled', 'third'),
        batch('d', 200),
        '',
      ].join('\n'),
    );
    expect(await compactJsonl(path)).toEqual({ kept: 3, dropped: 4 });
    expect(readFileSync(path, 'utf8')).toBe(
      [rx('b', 'fulfilled', 'b'), rx('a', 'fulfilled', 'third'), batch('d', 200), ''].join('\n'),
    );
    expect(await compactJsonl(path)).toEqual({ kept: 3, dropped: 0 });
    expect(existsSync(`${path}.compacting`)).toBe(false);
  });

  it('hands each line to a stream given instead of a path, before passing the result on', () => {
    const written: string[] = [];
    const seen: string[] = [];
    const stream = { write: (text: string) => written.push(text) };
    const results: Settled[] = [
      {
        status: 'fulfilled',
        taskId: 'a',
        value: 'x',
        usage: { inputTokens: 1, outputTokens: 2 },
        attempts: 1,
        durationMs: 3,
      },
    ];
    from(results)
      .pipe(
        toJsonl(stream),
        tap(() => seen.push(`passed after ${written.length} line(s)`)),
      )
      .subscribe();
    expect(written.map((line) => JSON.parse(line) as unknown)).toEqual([
      {
        taskId: 'a',
        status: 'fulfilled',
        value: 'x',
        usage: { inputTokens: 1, outputTokens: 2 },
        attempts: 1,
        durationMs: 3,
      },
    ]);
    expect(written[0]!.endsWith('\n')).toBe(true);
    expect(seen).toEqual(['passed after 1 line(s)']);
  });

  it('reads a missing file as nothing done, and checks arguments', async () => {
    expect((await readDoneIds(join(dir, 'none.jsonl'))).size).toBe(0);
    expect(() => toJsonl('')).toThrow('Expected `path` to be a file path or a stream, got "" (string)');
    expect(() => toJsonl('a.jsonl', { format: 'openai' as never })).toThrow(
      "Expected `format` to be one of 'rxagent', 'openai-batch', got \"openai\" (string)",
    );
    expect(() => toJsonl('a.jsonl', { model: 'gpt-4o' } as never)).toThrow(
      'Unknown option `model` for toJsonl; expected one of `fsync`, `format`',
    );
    await expect(compactJsonl('')).rejects.toThrow('Expected `path` to be a file path, got "" (string)');
  });
});
