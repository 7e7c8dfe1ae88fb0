import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subject, lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { InvalidTask } from '../../src/core/invalid-task.js';
import type { Task, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { fromJsonl } from '../../src/sources/from-jsonl.js';
import { PULL, isPullable, pullSource } from '../../src/sources/pull.js';

const dir = mkdtempSync(join(tmpdir(), 'rxagent-jsonl-'));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('fromJsonl', () => {
  it('reads tasks and turns bad lines into rejected results with their line numbers', async () => {
    const path = file('mixed.jsonl', [
      '{"id":"a","input":"first"}',
      '',
      '{"id":"b","input":"second"',
      '{"id":"c","input":"third","color":"red"}',
      '{"id":"d","input":[{"role":"user","content":"fourth"}]}',
    ]);
    const source = fromJsonl(path);
    expect(isPullable(source)).toBe(true);
    const events = await lastValueFrom(
      source.pipe(
        pool((task) => of(task.id), { concurrency: 2 }),
        toArray(),
      ),
    );
    const settled = events.filter((e): e is Extract<TaskEvent, { type: 'settled' }> => e.type === 'settled');
    expect(settled.map((e) => [e.taskId, e.result.status])).toEqual([
      ['a', 'fulfilled'],
      ['line-3', 'rejected'],
      ['line-4', 'rejected'],
      ['d', 'fulfilled'],
    ]);
    const [bad3, bad4] = settled.filter((e) => e.result.status === 'rejected').map((e) => e.result);
    expect(bad3?.status === 'rejected' && bad3.error.message).toMatch(/^Invalid JSON \(line 3\): /);
    expect(bad4?.status === 'rejected' && bad4.error).toMatchObject({
      code: 'E_VALIDATION',
      info: { source: 'line 4', issues: [{ code: 'unrecognized_keys', keys: ['color'] }] },
    });
  });

  it('pulls lines only as the pool has room, over a 100k-line file', async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) =>
      JSON.stringify({ id: `t${i}`, input: `prompt ${i}` }),
    );
    const path = file('big.jsonl', lines);
    let pulled = 0;
    const inner = fromJsonl(path);
    const counted = pullSource<Task | InvalidTask>(() => {
      const iterator = inner[PULL]() as AsyncIterator<Task | InvalidTask>;
      return {
        next: async () => {
          pulled++;
          return iterator.next();
        },
        return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
      };
    });
    const runs: Subject<string>[] = [];
    const started = new Subject<void>();
    const sub = counted
      .pipe(
        pool(
          () => {
            const run = new Subject<string>();
            runs.push(run);
            started.next();
            return run;
          },
          { concurrency: 2 },
        ),
      )
      .subscribe();
    const waitForRuns = (n: number): Promise<void> =>
      new Promise((resolve) => {
        if (runs.length >= n) {
          resolve();
          return;
        }
        const s = started.subscribe(() => {
          if (runs.length >= n) {
            s.unsubscribe();
            resolve();
          }
        });
      });
    await waitForRuns(2);
    for (let finished = 0; finished < 50; finished++) {
      const run = runs[finished]!;
      run.next('ok');
      run.complete();
      await waitForRuns(finished + 3);
      // Two running, at most one more asked for: the file is not read ahead of the pool.
      expect(pulled).toBeLessThanOrEqual(runs.length + 1);
    }
    expect(pulled).toBeLessThan(60);
    sub.unsubscribe();
  });

  it('checks its argument', () => {
    expect(() => fromJsonl('')).toThrow('Expected `path` to be a file path, got "" (string)');
  });
});
