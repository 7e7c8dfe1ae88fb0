import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, of, take, toArray, filter } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/core/errors/index.js';
import type { Task, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { readDoneIds, toJsonl } from '../../src/sinks/to-jsonl.js';

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

  it('reads a missing file as nothing done, and checks arguments', async () => {
    expect((await readDoneIds(join(dir, 'none.jsonl'))).size).toBe(0);
    expect(() => toJsonl('')).toThrow('Expected `path` to be a file path, got "" (string)');
  });
});
