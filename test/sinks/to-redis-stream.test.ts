import { Redis } from 'ioredis';
import { lastValueFrom, of, take, toArray } from 'rxjs';
import { expect, it } from 'vitest';
import { TimeoutError } from '../../src/core/errors.js';
import type { TaskEvent } from '../../src/core/types.js';
import { toRedisStream } from '../../src/sinks/to-redis-stream.js';
import { fromRedisStream } from '../../src/sources/from-redis-stream.js';
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
          error: new TimeoutError('late', { limit: 'total', ms: 5, seen: 0 }),
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
    expect(await redis.hget('r1:done', 'a')).toBe(written[0]?.[0]);
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
});
