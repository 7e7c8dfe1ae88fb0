import { lastValueFrom, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { InvalidTask } from '../../src/core/invalid-task.js';
import { parseTask } from '../../src/core/schemas.js';
import type { Task } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { settle } from '../../src/operators/settle.js';
import { fromTasks } from '../../src/sources/from-tasks.js';
import { isPullable } from '../../src/core/pull.js';

describe('fromTasks', () => {
  it('turns prompts into tasks named by position and bad items into InvalidTask', async () => {
    const items = ['first', { id: 'x', input: 'second', priority: 2 }, { id: 'y' }, 42];
    const out = await lastValueFrom(fromTasks(items as never).pipe(toArray()));
    expect(out.slice(0, 2)).toEqual([
      { id: 'task-1', input: 'first' },
      { id: 'x', input: 'second', priority: 2 },
    ]);
    expect(out[2]).toBeInstanceOf(InvalidTask);
    expect(out[2]).toMatchObject({
      taskId: 'y',
      error: { code: 'E_VALIDATION', info: { source: 'item 3' } },
    });
    expect(out[3]).toMatchObject({ taskId: 'task-4' });
    const prefixed = await lastValueFrom(fromTasks(['a'], { idPrefix: 'doc-' }).pipe(toArray()));
    expect(prefixed).toEqual([{ id: 'doc-1', input: 'a' }]);
  });

  it('accepts exactly the tasks the schema accepts', async () => {
    const candidates: unknown[] = [
      { id: 'a', input: 'x' },
      { id: 'a', input: 'x', maxOutputTokens: 5, priority: -1.5, meta: { k: 1 } },
      { id: '', input: 'x' },
      { id: 'a'.repeat(257), input: 'x' },
      { id: 'a', input: 'x', priority: Number.NaN },
      { id: 'a', input: 'x', maxOutputTokens: 1.5 },
      { id: 'a', input: 'x', meta: undefined },
      { id: 'a', input: 'x', extra: 1 },
      { id: 'a', input: [{ role: 'user', content: 'hi' }] },
      { id: 'a', input: [] },
      Object.assign(Object.create({ inherited: 1 }) as object, { id: 'a', input: 'x' }),
    ];
    const out = await lastValueFrom(fromTasks(candidates as never).pipe(toArray()));
    expect(out.map((t) => !(t instanceof InvalidTask))).toEqual(candidates.map((c) => parseTask(c).success));
  });

  it('is pulled by the pool one task per free slot, never far ahead of what has settled', async () => {
    const n = 100_000;
    const concurrency = 3;
    let pulled = 0;
    let settled = 0;
    let maxAhead = 0;
    function* generate(): Generator<Task> {
      for (let i = 0; i < n; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - settled);
        yield { id: `t${i}`, input: 'x' };
      }
    }
    const source = fromTasks(generate());
    expect(isPullable(source)).toBe(true);
    await lastValueFrom(
      source.pipe(
        pool((t) => Promise.resolve(t.id), { concurrency }),
        settle(),
        tap(() => {
          settled++;
        }),
      ),
    );
    expect(settled).toBe(n);
    expect(pulled).toBe(n);
    // One per slot, plus the one being pulled when a slot frees.
    expect(maxAhead).toBeLessThanOrEqual(concurrency + 1);
  });

  it('lets the pool settle invalid items as rejected without running them', async () => {
    const ran: string[] = [];
    const results = await lastValueFrom(
      fromTasks(['a', { id: 'bad', input: 3 }, 'c'] as never).pipe(
        pool((t) => {
          ran.push(t.id);
          return Promise.resolve(t.id);
        }),
        settle(),
        toArray(),
      ),
    );
    expect(ran).toEqual(['task-1', 'task-3']);
    expect(results.map((r) => `${r.taskId}:${r.status}`).sort()).toEqual([
      'bad:rejected',
      'task-1:fulfilled',
      'task-3:fulfilled',
    ]);
  });

  it('awaits a slow async iterator without overlapping pulls, and closes it on unsubscribe', async () => {
    let active = 0;
    let overlap = 0;
    let closed = false;
    let pulls = 0;
    async function* generate(): AsyncGenerator<string> {
      try {
        for (let i = 0; ; i++) {
          active++;
          overlap = Math.max(overlap, active);
          await new Promise((resolve) => setImmediate(resolve));
          active--;
          pulls++;
          yield `p${i}`;
        }
      } finally {
        closed = true;
      }
    }
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      const subscription = fromTasks(generate())
        .pipe(
          pool((t) => Promise.resolve(t.id), { concurrency: 4 }),
          settle(),
        )
        .subscribe((r) => {
          seen.push(r.taskId);
          if (seen.length === 20) {
            subscription.unsubscribe();
            resolve();
          }
        });
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(overlap).toBe(1);
    expect(closed).toBe(true);
    expect(pulls).toBeLessThanOrEqual(21);
    expect(seen.slice(0, 3)).toEqual(['task-1', 'task-2', 'task-3']);
  });

  it('checks its arguments when created', () => {
    expect(() => fromTasks('prompt' as never)).toThrow('Did you mean fromTasks([prompt])?');
    expect(() => fromTasks(5 as never)).toThrow(
      'Expected `items` to be an iterable or async iterable, got 5 (number)',
    );
    expect(() => fromTasks([], { idPrefix: 1 as never })).toThrow(TypeError);
  });
});
