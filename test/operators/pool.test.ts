import { Observable, concat, defer, finalize, from, lastValueFrom, map, of, take, tap, toArray } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { ProviderError, TimeoutError, ValidationError } from '../../src/core/errors/index.js';
import { InvalidTask } from '../../src/core/invalid-task.js';
import type { AgentEvent, Task, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import type { PoolState } from '../../src/operators/pool.js';
import { retryBackoff } from '../../src/operators/retry-backoff.js';
import { settle } from '../../src/operators/settle.js';
import { timeoutWith } from '../../src/operators/timeout-with.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const task = (id: string, priority?: number): Task =>
  priority === undefined ? { id, input: id } : { id, input: id, priority };
const tasks = (ids: string, priorities: Record<string, number> = {}): Record<string, Task> =>
  Object.fromEntries(Array.from(ids).map((id) => [id, task(id, priorities[id])]));

/** One short string per event, so marbles stay readable: `a>0` started after 0 ms, `a=A@6` fulfilled… */
function view(event: TaskEvent<unknown>): string {
  switch (event.type) {
    case 'started':
      return `${event.taskId}>${event.waitMs}`;
    case 'delta':
      return `${event.taskId}~${event.seq}:${event.text}`;
    case 'tool':
      return `${event.taskId}!tool`;
    case 'retry':
      return `${event.taskId}!retry${event.attempt}`;
    case 'route':
      return `${event.taskId}!route${event.attempt}:${event.deployment}`;
    case 'admitted':
      return `${event.taskId}!admitted${event.attempt}:${event.waitMs}`;
    case 'hedge':
      return `${event.taskId}!hedge${event.attempt}`;
    case 'settled':
      return event.result.status === 'fulfilled'
        ? `${event.taskId}=${String(event.result.value)}@${event.result.durationMs}`
        : `${event.taskId}!${event.result.error.code}`;
  }
}

describe('pool', () => {
  it('never runs more than `concurrency` and refills a freed slot at once', () => {
    createTestScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const durations: Record<string, string> = { a: '------(v|)', b: '----------(v|)', c: '----(v|)' };
      const source = hot('  -abc----------|', tasks('abc'));
      const sourceSubs = '  ^-------------!';
      const expected = '    -ab----(Ac)CB-|';
      const result = source.pipe(
        pool((t) => cold(durations[t.id]!, { v: t.id.toUpperCase() }), { concurrency: 2 }),
        map(view),
      );
      expectObservable(result).toBe(expected, {
        a: 'a>0',
        b: 'b>0',
        A: 'a=A@6',
        c: 'c>4',
        C: 'c=C@4',
        B: 'b=B@10',
      });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it.each([
    ['reject', 'c', 'a=A@5 b>4 / b=B@5'],
    ['drop-newest', 'c', 'a=A@5 b>4 / b=B@5'],
    ['drop-oldest', 'b', 'a=A@5 c>3 / c=C@5'],
  ] as const)('overflow %s settles the dropped task as QueueFullError', (overflow, dropped, rest) => {
    const full: string[] = [];
    createTestScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot('  -abc|', tasks('abc'));
      const sourceSubs = '  ^---!';
      const expected = '    -a-x--(yz)-(w|)';
      const result = source.pipe(
        pool((t) => cold('-----(v|)', { v: t.id.toUpperCase() }), {
          concurrency: 1,
          queueLimit: 1,
          overflow,
          onQueueFull: (t) => {
            full.push(t.id);
            throw new Error('a failing hook must not break the stream');
          },
        }),
        map(view),
      );
      const [y, z, w] = rest.replace(' / ', ' ').split(' ');
      expectObservable(result).toBe(expected, { a: 'a>0', x: `${dropped}!E_QUEUE_FULL`, y, z, w });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
    expect(full).toEqual([dropped]);
  });

  it('says in a QueueFullError which task was dropped and why', () => {
    const events: TaskEvent[] = [];
    from([task('a'), task('b'), task('c')])
      .pipe(pool(() => new Observable<string>(() => undefined), { concurrency: 1, queueLimit: 1 }))
      .subscribe((e) => events.push(e))
      .unsubscribe();
    const settled = events.filter((e) => e.type === 'settled');
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({
      taskId: 'c',
      result: {
        status: 'rejected',
        attempts: 0,
        error: {
          name: 'QueueFullError',
          info: { taskId: 'c', queueLimit: 1, overflow: 'reject' },
          message: 'Task "c" was refused: the queue is full (queueLimit 1, overflow \'reject\')',
        },
      },
    });
  });

  it('takes higher priority first and keeps arrival order among equals', () => {
    createTestScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot('  -abcd|', tasks('abcd', { c: 5, d: 5 }));
      const sourceSubs = '  ^----!';
      const expected = '    ------a-c-d-(b|)';
      const result = source.pipe(
        pool((t) => cold(t.id === 'a' ? '-----(v|)' : '--(v|)', { v: t.id }), { concurrency: 1 }),
        settle(),
        map((r) => r.taskId),
      );
      expectObservable(result).toBe(expected, { a: 'a', b: 'b', c: 'c', d: 'd' });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it('settles a sync throw, an error, an empty completion and an invalid task as rejected, and goes on', () => {
    createTestScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const invalid = new InvalidTask('bad', new ValidationError({ issues: [], message: 'bad line' }));
      const source = hot('  -iabcd|', { ...tasks('abcd'), i: invalid });
      const sourceSubs = '  ^-----!';
      const expected = '    -vx--yz(w|)';
      const workers: Record<string, () => Observable<string>> = {
        a: () => {
          throw new Error('sync');
        },
        b: () => cold('--#', undefined, new ProviderError({ status: 503, message: 'down' })),
        c: () => cold('--|'),
        d: () => cold('--(v|)', { v: 'D' }),
      };
      const result = source.pipe(
        pool((t) => workers[t.id]!(), { concurrency: 4 }),
        settle(),
        map((r) => (r.status === 'fulfilled' ? `${r.taskId}=${r.value}` : `${r.taskId}!${r.error.code}`)),
      );
      expectObservable(result).toBe(expected, {
        x: 'a!E_WORKER',
        y: 'b!E_PROVIDER',
        z: 'c!E_NO_RESULT',
        v: 'bad!E_VALIDATION',
        w: 'd=D',
      });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it('settles a rejected promise and an invalid worker result as rejected', async () => {
    const results = await lastValueFrom(
      from([task('a'), task('b'), task('c')]).pipe(
        pool((t) =>
          t.id === 'a'
            ? Promise.reject(new Error('nope'))
            : t.id === 'b'
              ? (42 as unknown as Promise<string>)
              : Promise.resolve('C'),
        ),
        settle(),
        toArray(),
      ),
    );
    const byId = Object.fromEntries(results.map((r) => [r.taskId, r]));
    expect(byId['a']).toMatchObject({ status: 'rejected', error: { code: 'E_WORKER', message: 'nope' } });
    expect(byId['b']).toMatchObject({ status: 'rejected', error: { code: 'E_WORKER' } });
    expect(byId['c']).toMatchObject({ status: 'fulfilled', value: 'C', attempts: 1 });
    expect(results).toHaveLength(3);
  });

  it('maps agent events to task events and sums usage into the result', () => {
    createTestScheduler().run(({ hot, cold, expectObservable }) => {
      const events: Record<string, AgentEvent> = {
        d: { type: 'delta', text: 'Hel' },
        e: { type: 'delta', text: 'lo' },
        t: { type: 'tool-calls', calls: [{ id: 'c1', name: 'search', arguments: '{}' }] },
        u: { type: 'usage', usage: { inputTokens: 3, outputTokens: 2, cost: 0.5 } },
        v: { type: 'usage', usage: { inputTokens: 1, outputTokens: 1 } },
        l: { type: 'rate-limits', limits: { remainingTokens: 5 } },
        r: {
          type: 'retry',
          attempt: 2,
          delayMs: 1,
          error: new ProviderError({ message: 'x', retryable: true }),
        },
        f: { type: 'done', text: 'Hello', finishReason: 'stop' },
      };
      const source = hot('-a|', tasks('a'));
      const result = source.pipe(pool(() => cold('-rdetulv(f|)', events)));
      expectObservable(result).toBe('-sRDET---(S|)', {
        s: { type: 'started', taskId: 'a', waitMs: 0 },
        R: {
          type: 'retry',
          taskId: 'a',
          attempt: 2,
          delayMs: 1,
          error: events['r']!.type === 'retry' && events['r']!.error,
        },
        D: { type: 'delta', taskId: 'a', seq: 0, text: 'Hel' },
        E: { type: 'delta', taskId: 'a', seq: 1, text: 'lo' },
        T: { type: 'tool', taskId: 'a', calls: [{ id: 'c1', name: 'search', arguments: '{}' }] },
        S: {
          type: 'settled',
          taskId: 'a',
          result: {
            status: 'fulfilled',
            taskId: 'a',
            value: 'Hello',
            usage: { inputTokens: 4, outputTokens: 3, cost: 0.5 },
            attempts: 2,
            durationMs: 8,
            finishReason: 'stop',
          },
        },
      });
    });
  });

  it("carries each task's meta into its result, whatever the outcome", async () => {
    const items: (Task | InvalidTask)[] = [
      { id: 'ok', input: 'x', meta: { row: 1 } },
      { id: 'bad', input: 'x', meta: { row: 2 } },
      new InvalidTask('line-3', new ValidationError({ issues: [], message: 'bad line' }), { row: 3 }),
      { id: 'full', input: 'x', meta: { row: 4 } },
      { id: 'plain', input: 'x' },
    ];
    const results = await lastValueFrom(
      from(items).pipe(
        pool(
          // Both answer later, so the two slots are taken when `full` and `plain` arrive.
          async (t): Promise<AgentEvent> => {
            await Promise.resolve();
            if (t.id === 'bad') throw new ProviderError({ status: 400 });
            return { type: 'done', text: t.id, finishReason: 'length' };
          },
          { concurrency: 2, queueLimit: 0 },
        ),
        settle(),
        toArray(),
      ),
    );
    const byId = new Map(results.map((r) => [r.taskId, r]));
    expect(byId.get('ok')).toMatchObject({ status: 'fulfilled', finishReason: 'length', meta: { row: 1 } });
    expect(byId.get('bad')).toMatchObject({ status: 'rejected', meta: { row: 2 } });
    expect(byId.get('line-3')).toMatchObject({ status: 'rejected', meta: { row: 3 } });
    expect(byId.get('full')).toMatchObject({ error: { code: 'E_QUEUE_FULL' }, meta: { row: 4 } });
    expect(byId.get('plain')).not.toHaveProperty('meta');
  });

  it("passes a router's `route` notices on as task events; they are not output", () => {
    createTestScheduler().run(({ hot, cold, expectObservable }) => {
      const events: Record<string, AgentEvent> = {
        r: { type: 'route', deployment: 'east', attempt: 1 },
        f: { type: 'done', text: 'ok', finishReason: 'stop' },
      };
      const source = hot('-a|', tasks('a'));
      const result = source.pipe(
        pool(() => cold('-r(f|)', events)),
        map(view),
      );
      expectObservable(result).toBe('-sR(S|)', { s: 'a>0', R: 'a!route1:east', S: 'a=ok@2' });
    });
  });

  it('says in a TimeoutError where the pool stood', () => {
    const errors: unknown[] = [];
    createTestScheduler().run(({ hot, cold, flush }) => {
      const source = hot('-ab|', tasks('ab'));
      source
        .pipe(
          pool(() => cold('------a').pipe(timeoutWith({ total: 3 })), { concurrency: 1 }),
          settle(),
        )
        .subscribe((r) => {
          if (r.status === 'rejected') errors.push(r.error);
        });
      flush();
    });
    expect(errors[0]).toBeInstanceOf(TimeoutError);
    expect(errors[0]).toMatchObject({ info: { limit: 'total', ms: 3, pool: { running: 1, waiting: 1 } } });
    expect((errors[0] as Error).message).toMatch(/\(pool had 1 running, 1 waiting\)$/);
    expect(errors).toHaveLength(2);
  });

  it('keeps the cause of a TimeoutError when it adds where the pool stood', async () => {
    const cause = new Error('socket hang up');
    const late = new TimeoutError({ limit: 'each', ms: 5, seen: 1, message: 'late', cause });
    const [result] = await lastValueFrom(
      of(task('a')).pipe(
        pool(() => Promise.reject(late)),
        settle(),
        toArray(),
      ),
    );
    expect(result).toMatchObject({
      status: 'rejected',
      error: { message: 'late (pool had 1 running, 0 waiting)' },
    });
    expect(result!.status === 'rejected' && result!.error.cause).toBe(cause);
  });

  it('aborts the signal of every running worker on unsubscribe, drops the queue and leaves no timers', () => {
    const signals: AbortSignal[] = [];
    const started: string[] = [];
    const scheduler: TestScheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot('  -abc---', tasks('abc'));
      const sourceSubs = '  ^---!';
      const unsub = '       ^---!';
      const run = cold('     ---------(v|)', { v: 'x' });
      const runSubs = ['   -^--!', '   --^-!'];
      const result = source.pipe(
        pool(
          (t, { signal }) => {
            signals.push(signal);
            started.push(t.id);
            return run;
          },
          { concurrency: 2, scheduler },
        ),
        map(view),
      );
      expectObservable(result, unsub).toBe('-ab-', { a: 'a>0', b: 'b>0' });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
      expectSubscriptions(run.subscriptions).toBe(runSubs);
    });
    expect(started).toEqual(['a', 'b']);
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    expect(signals[0]!.reason).toMatchObject({
      code: 'E_CANCELLED',
      info: { reason: 'unsubscribed', taskId: 'a' },
    });
    expect(scheduler.actions.filter((a) => !a.closed)).toEqual([]);
  });

  it('stops a run whose consumer leaves on an event the run emits while being subscribed', () => {
    const scheduler: TestScheduler = createTestScheduler();
    const signals: AbortSignal[] = [];
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const rest = cold('-----(v|)', { v: 'x' });
      const delta: AgentEvent = { type: 'delta', text: 'x' };
      const result = of(task('a')).pipe(
        pool(
          (_t, { signal }) => {
            signals.push(signal);
            return concat(of(delta), rest);
          },
          { scheduler },
        ),
        take(2),
        map(view),
      );
      expectObservable(result).toBe('(sd|)', { s: 'a>0', d: 'a~0:x' });
      expectSubscriptions(rest.subscriptions).toBe('(^!)');
    });
    expect(signals[0]!.aborted).toBe(true);
    expect(scheduler.actions.filter((a) => !a.closed)).toEqual([]);
  });

  it('starts the next task only after a retried run has torn down its last attempt', () => {
    let running = 0;
    let peak = 0;
    createTestScheduler().run(({ hot, cold, expectObservable }) => {
      const attempt = cold(
        '-#',
        undefined,
        new ProviderError({ status: 500, message: 'down', retryable: true }),
      );
      const result = hot('-ab|', tasks('ab')).pipe(
        pool(
          () =>
            defer(() => {
              peak = Math.max(peak, ++running);
              return attempt;
            }).pipe(
              finalize(() => {
                running--;
              }),
              retryBackoff({ maxRetries: 1, baseDelayMs: 1, jitter: 0 }),
            ),
          { concurrency: 1 },
        ),
        settle(),
        map((r) => `${r.taskId}#${r.attempts}`),
      );
      expectObservable(result).toBe('----a--(b|)', { a: 'a#2', b: 'b#2' });
    });
    expect(peak).toBe(1);
  });

  it('aborts the signal of a running promise worker on unsubscribe and ignores its late result', async () => {
    const signals: AbortSignal[] = [];
    let finish!: (value: string) => void;
    const events: TaskEvent[] = [];
    const subscription = from([task('a')])
      .pipe(
        pool((_t, { signal }) => {
          signals.push(signal);
          return new Promise<string>((resolve) => {
            finish = resolve;
          });
        }),
      )
      .subscribe((e) => events.push(e));
    subscription.unsubscribe();
    finish('late');
    await Promise.resolve();
    expect(signals[0]!.aborted).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['started']);
  });

  it('reports its state to `monitor` on every change', () => {
    const states: PoolState[] = [];
    createTestScheduler().run(({ hot, cold, expectObservable }) => {
      const source = hot('-ab|', tasks('ab'));
      const result = source.pipe(
        pool((t) => (t.id === 'a' ? cold('--(v|)', { v: 'A' }) : cold('--#')), {
          concurrency: 1,
          monitor: (s) => {
            states.push(s);
            throw new Error('a failing monitor must not break the stream');
          },
        }),
        settle(),
        map((r) => r.status),
      );
      expectObservable(result).toBe('---f-(r|)', { f: 'fulfilled', r: 'rejected' });
    });
    const s = (queued: number, inFlight: number, completed: number, failed: number, meanWaitMs: number) => ({
      queued,
      inFlight,
      completed,
      failed,
      droppedQueueFull: 0,
      meanWaitMs,
    });
    expect(states).toEqual([
      s(0, 1, 0, 0, 0), // a started
      s(1, 1, 0, 0, 0), // b queued
      s(1, 0, 1, 0, 0), // a settled, b not yet started
      s(0, 1, 1, 0, 0.5), // b started after 1 ms
      s(0, 0, 1, 1, 0.5), // b settled
    ]);
  });

  it('errors after settling what it accepted when the source errors', () => {
    createTestScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot('  -ab#', tasks('ab'));
      const sourceSubs = '  ^--!';
      const result = source.pipe(
        pool((t) => cold('---(v|)', { v: t.id }), { concurrency: 1 }),
        settle(),
        map((r) => r.taskId),
      );
      expectObservable(result).toBe('----a--(b#)', { a: 'a', b: 'b' }, 'error');
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it('works with synchronous workers over a large backlog without deep recursion', async () => {
    const n = 50_000;
    const input = Array.from({ length: n }, (_, i) => task(`t${i}`));
    let running = 0;
    let peak = 0;
    const results = await lastValueFrom(
      from(input).pipe(
        pool(
          (t) =>
            of(t.id).pipe(
              tap({
                subscribe: () => {
                  peak = Math.max(peak, ++running);
                },
                finalize: () => {
                  running--;
                },
              }),
            ),
          { concurrency: 3 },
        ),
        settle(),
        toArray(),
      ),
    );
    expect(results).toHaveLength(n);
    expect(results[n - 1]!.taskId).toBe(`t${n - 1}`);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('checks its arguments when created', () => {
    const worker = () => of('x');
    expect(() => pool(undefined as never)).toThrow('Expected `worker` to be a function, got undefined');
    expect(() => pool(worker, { concurrency: 0 })).toThrow(
      'Expected `concurrency` to be an integer from 1 and up, or Infinity, got 0 (number)',
    );
    expect(() => pool(worker, { queueLimit: -1 })).toThrow(TypeError);
    expect(() => pool(worker, { overflow: 'drop' as never })).toThrow(
      "Expected `overflow` to be one of 'reject', 'drop-oldest', 'drop-newest', got \"drop\" (string)",
    );
    expect(() => pool(worker, { monitor: 1 as never })).toThrow(TypeError);
    expect(() => pool(worker, { scheduler: {} as never })).toThrow(TypeError);
    expect(() => pool(worker, { concurency: 2 } as never)).toThrow(
      'Unknown option `concurency` for pool; expected one of `concurrency`, `queueLimit`',
    );
  });
});
