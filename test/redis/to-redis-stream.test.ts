import { Redis } from 'ioredis';
import { filter, firstValueFrom, fromEvent, lastValueFrom, map, of, take, toArray } from 'rxjs';
import { expect, it } from 'vitest';
import { DuplicateIdError, TimeoutError } from '../../src/core/errors/index.js';
import type { TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { toRedisStream } from '../../src/redis/to-redis-stream.js';
import { fromRedisStream } from '../../src/redis/from-redis-stream.js';
import { rememberEntry } from '../../src/redis/connection.js';
import { describeRedis, useRedis, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let redis: Redis;

const settled = (taskId: string, value: string): TaskEvent => ({
  type: 'settled',
  taskId,
  result: {
    status: 'fulfilled',
    taskId,
    value,
    usage: { inputTokens: 1, outputTokens: 1 },
    attempts: 1,
    durationMs: 1,
  },
});

const isSettled = (event: TaskEvent): event is Extract<TaskEvent, { type: 'settled' }> =>
  event.type === 'settled';

describeRedis('toRedisStream', () => {
  useRedis((s, r) => {
    server = s;
    redis = r;
  });

  it('validates its config at creation', () => {
    expect(() => toRedisStream({ client: redis, stream: '' })).toThrow(
      'Expected `stream` to be a non-empty string, got "" (string)',
    );
    expect(() => toRedisStream({ client: redis, stream: 'r', ack: { stream: 's' } as never })).toThrow(
      'Expected `ack` to be { stream, group } naming the tasks\' stream and group, got stream "s" (string) and group undefined',
    );
    expect(() => toRedisStream({ client: redis, stream: 'r', doneTtlMs: 0 })).toThrow(
      'Expected `doneTtlMs` to be an integer from 1 and up, got 0 (number)',
    );
    expect(() => toRedisStream({ client: redis, stream: 'r', doneTtl: 5 } as never)).toThrow(
      'Unknown option `doneTtl`',
    );
  });

  it('passes every event on in order and writes each task id once', async () => {
    const events: TaskEvent[] = [
      { type: 'started', taskId: 'a', waitMs: 0 },
      { type: 'delta', taskId: 'a', seq: 0, text: 'hi' },
      settled('a', 'one'),
      settled('a', 'two'),
      {
        type: 'settled',
        taskId: 'b',
        result: {
          status: 'rejected',
          taskId: 'b',
          error: new TimeoutError({ limit: 'total', ms: 5, seen: 0, message: 'late' }),
          attempts: 1,
          durationMs: 5,
        },
      },
    ];
    const out = await lastValueFrom(
      of(...events).pipe(toRedisStream({ url: server.url, stream: 'r1' }), toArray()),
    );
    expect(out).toEqual(events);
    const written = await redis.xrange('r1', '-', '+');
    expect(written.map(([, f]) => f[1])).toEqual(['a', 'b']);
    expect(JSON.parse(written[0]?.[1][3] ?? '')).toMatchObject({ value: 'one' });
    expect(JSON.parse(written[1]?.[1][3] ?? '')).toMatchObject({
      error: { name: 'TimeoutError', code: 'E_TIMEOUT' },
    });
    expect(await redis.hget('r1:done:a', 'result')).toBe(written[0]?.[0]);
  });

  it('acknowledges an entry only with its result', async () => {
    await redis.xadd('t2', '*', 'task', JSON.stringify({ id: 'a', input: 'x' }));
    await redis.xadd('t2', '*', 'task', JSON.stringify({ id: 'b', input: 'y' }));
    const tasks = await lastValueFrom(
      fromRedisStream({ client: redis, stream: 't2', group: 'g', consumer: 'c', blockMs: 10 }).pipe(
        take(2),
        toArray(),
      ),
    );
    expect(tasks.map((t) => ('id' in t ? t.id : t.taskId))).toEqual(['a', 'b']);
    expect(((await redis.xpending('t2', 'g')) as [number])[0]).toBe(2);
    await lastValueFrom(
      of(settled('a', 'done')).pipe(
        toRedisStream({ client: redis, stream: 'r2', ack: { stream: 't2', group: 'g' } }),
      ),
    );
    const pending = (await redis.xpending('t2', 'g', '-', '+', 10)) as [string, string, number, number][];
    expect(pending).toHaveLength(1);
    expect(await redis.xrange('r2', '-', '+')).toHaveLength(1);
    const [[, fields] = ['', []]] = await redis.xrange('t2', pending[0]?.[0] ?? '', pending[0]?.[0] ?? '');
    expect(fields[1]).toContain('"b"');
  });

  it('gives each done-marker a time to live: 24 hours, or doneTtlMs', async () => {
    await lastValueFrom(of(settled('a', 'x')).pipe(toRedisStream({ client: redis, stream: 'r4' })));
    await lastValueFrom(
      of(settled('b', 'x')).pipe(toRedisStream({ client: redis, stream: 'r4', doneTtlMs: 5_000 })),
    );
    const day = await redis.pttl('r4:done:a');
    expect(day).toBeGreaterThan(86_400_000 - 60_000);
    expect(day).toBeLessThanOrEqual(86_400_000);
    const short = await redis.pttl('r4:done:b');
    expect(short).toBeGreaterThan(0);
    expect(short).toBeLessThanOrEqual(5_000);
  });

  it('settles an entry that reuses a task id as rejected with E_DUPLICATE_ID while the marker lives, then stores it', async () => {
    const [first, second, third] = [
      await redis.xadd('t5', '*', 'task', JSON.stringify({ id: 'a', input: 'one' })),
      await redis.xadd('t5', '*', 'task', JSON.stringify({ id: 'a', input: 'two' })),
      await redis.xadd('t5', '*', 'task', JSON.stringify({ id: 'a', input: 'three' })),
    ];
    const ack = { stream: 't5', group: 'g' };
    const read = fromRedisStream({ client: redis, stream: 't5', group: 'g', consumer: 'c', blockMs: 10 });
    const sink = toRedisStream({ client: redis, stream: 'r5', ack, doneTtlMs: 200 });
    const outcomes = await lastValueFrom(
      read.pipe(
        take(2),
        pool((task) => of(`ran ${task.input as string}`), { concurrency: 2 }),
        sink,
        filter(isSettled),
        map((e) => e.result),
        toArray(),
      ),
    );
    expect(outcomes.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    const refusal = outcomes[1]?.status === 'rejected' ? outcomes[1].error : undefined;
    expect(refusal).toBeInstanceOf(DuplicateIdError);
    expect(refusal?.toJSON()).toMatchObject({
      code: 'E_DUPLICATE_ID',
      retryable: false,
      info: { kind: 'task', id: 'a', entries: [second], firstEntries: [first] },
    });
    expect(refusal?.message).toMatch(
      new RegExp(
        `^Task id "a" of entry ${second} already has a result \\(entry \\d+-\\d+ of "r5", from entry ${first}\\), so this one is not stored\\. Give every task an id of its own; an id is free again \`doneTtlMs\` \\(200ms\\) after its result\\.$`,
      ),
    );
    // Both are in the results stream, where whoever added the second entry reads why it did not run.
    const written = await redis.xrange('r5', '-', '+');
    expect(written.map(([, f]) => JSON.parse(f[3] ?? '') as { status: string })).toMatchObject([
      { status: 'fulfilled', value: 'ran one' },
      { status: 'rejected', error: { code: 'E_DUPLICATE_ID' } },
    ]);
    expect(((await redis.xpending('t5', 'g')) as [number])[0]).toBe(0);

    // Once the marker has expired, the id is free: the third entry's result is stored.
    const listener = redis.duplicate();
    await redis.config('SET', 'notify-keyspace-events', 'Ex');
    await listener.subscribe('__keyevent@0__:expired');
    const expired = firstValueFrom(
      fromEvent(listener, 'message', (_channel: string, key: string) => key).pipe(
        filter((key) => key === 'r5:done:a'),
      ),
    );
    if ((await redis.exists('r5:done:a')) === 1) await expired;
    listener.disconnect();
    const [last] = await lastValueFrom(
      read.pipe(
        take(1),
        pool((task) => of(`ran ${task.input as string}`)),
        sink,
        filter(isSettled),
        map((e) => e.result),
        toArray(),
      ),
    );
    expect(last).toMatchObject({ status: 'fulfilled', value: 'ran three' });
    expect(await redis.xlen('r5')).toBe(3);
    expect(await redis.hget('r5:done:a', 'from')).toBe(`,${third},`);
  });

  it('stores an entry run twice once: a reclaimed entry whose first worker did finish', async () => {
    const entry = (await redis.xadd('t6', '*', 'task', JSON.stringify({ id: 'a', input: 'x' }))) ?? '';
    const ack = { stream: 't6', group: 'g' };
    await lastValueFrom(
      fromRedisStream({ client: redis, stream: 't6', group: 'g', consumer: 'slow', blockMs: 10 }).pipe(
        take(1),
      ),
    );
    // Taken for dead, the slow worker's entry is run elsewhere and its result stored.
    await lastValueFrom(of(settled('a', 'fast')).pipe(toRedisStream({ client: redis, stream: 'r6', ack })));
    // The slow worker (its process still holding the entry) finishes after all.
    rememberEntry('t6', 'g', 'a', entry);
    const [event] = await lastValueFrom(
      of(settled('a', 'slow')).pipe(toRedisStream({ client: redis, stream: 'r6', ack }), toArray()),
    );
    expect(event).toEqual(settled('a', 'slow'));
    const written = await redis.xrange('r6', '-', '+');
    expect(written).toHaveLength(1);
    expect(written[0]?.[1][3]).toContain('"fast"');
    expect(await redis.hget('r6:done:a', 'from')).toBe(`,${entry},`);
  });
});
