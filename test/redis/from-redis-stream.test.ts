import { Redis } from 'ioredis';
import {
  filter,
  first,
  firstValueFrom,
  lastValueFrom,
  map,
  NEVER,
  of,
  ReplaySubject,
  startWith,
  Subject,
  take,
  tap,
  toArray,
} from 'rxjs';
import { afterEach, expect, it } from 'vitest';
import { TimeoutError } from '../../src/core/errors/index.js';
import { InvalidTask } from '../../src/core/invalid-task.js';
import type { TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { toRedisStream } from '../../src/redis/to-redis-stream.js';
import { fromRedisResults } from '../../src/redis/from-redis-results.js';
import { fromRedisStream, type RedisGroupLost } from '../../src/redis/from-redis-stream.js';
import {
  describeRedis,
  startRedis,
  useRedis,
  type RedisServer,
  type RedisServerOptions,
} from '../support/redis-server.js';

let server: RedisServer;
let redis: Redis;
let streams = 0;

const names = (): { stream: string; results: string; group: string } => {
  const n = ++streams;
  return { stream: `tasks-${n}`, results: `results-${n}`, group: `g-${n}` };
};

const addTo = async (client: Redis, stream: string, ...tasks: unknown[]): Promise<void> => {
  for (const task of tasks) {
    await client.xadd(stream, '*', 'task', typeof task === 'string' ? task : JSON.stringify(task));
  }
};

const add = (stream: string, ...tasks: unknown[]): Promise<void> => addTo(redis, stream, ...tasks);

describeRedis('fromRedisStream', () => {
  useRedis((s, r) => {
    server = s;
    redis = r;
  });

  it('validates its config at creation', () => {
    expect(() => fromRedisStream({ url: server.url, stream: '', group: 'g', consumer: 'c' })).toThrow(
      'Expected `stream` to be a non-empty string, got "" (string)',
    );
    expect(() =>
      fromRedisStream({ url: server.url, client: redis, stream: 's', group: 'g', consumer: 'c' }),
    ).toThrow('One and only one of the `client` or `url` options must be given to fromRedisStream, got both');
    expect(() =>
      fromRedisStream({ url: server.url, stream: 's', group: 'g', consumer: 'c', batch: 0 }),
    ).toThrow('Expected `batch` to be an integer from 1 and up, got 0 (number)');
  });

  it('runs every entry through a pool, writes one result each, acknowledges them and stops when empty', async () => {
    const { stream, results, group } = names();
    await add(stream, { id: 'a', input: 'x' }, { id: 'b', input: 'y' }, 'not json', { id: 'c', inptu: 'z' });
    const events = await lastValueFrom(
      fromRedisStream({
        url: server.url,
        stream,
        group,
        consumer: 'w1',
        stopWhenEmpty: true,
        blockMs: 50,
      }).pipe(
        pool((task) => of(`done ${task.id}`), { concurrency: 2 }),
        toRedisStream({ url: server.url, stream: results, ack: { stream, group } }),
        filter((e) => e.type === 'settled'),
        toArray(),
      ),
    );
    expect(events.map((e) => e.taskId).sort()).toEqual([
      'a',
      'b',
      'c',
      expect.stringMatching(/^entry-\d+-\d+$/),
    ]);
    const written = await redis.xrange(results, '-', '+');
    expect(written).toHaveLength(4);
    const byTask = new Map(written.map(([, f]) => [f[1], JSON.parse(f[3] ?? '') as unknown]));
    expect(byTask.get('a')).toMatchObject({ status: 'fulfilled', value: 'done a' });
    expect(byTask.get('c')).toMatchObject({ status: 'rejected', error: { code: 'E_VALIDATION' } });
    expect(await redis.xpending(stream, group)).toEqual([0, null, null, null]);
  });

  it('reads an entry only when the pool has room', async () => {
    const { stream, group } = names();
    await add(stream, ...Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, input: 'x' })));
    const started = new Subject<TaskEvent>();
    const subscription = fromRedisStream({ url: server.url, stream, group, consumer: 'w1', blockMs: 50 })
      .pipe(pool(() => NEVER, { concurrency: 3 }))
      .subscribe(started);
    await firstValueFrom(
      started.pipe(
        filter((e) => e.type === 'started'),
        take(3),
        toArray(),
      ),
    );
    const [pending] = (await redis.xpending(stream, group)) as [number];
    subscription.unsubscribe();
    // The pool may ask for one more while its three slots are busy; never for the rest.
    expect(pending).toBeGreaterThanOrEqual(3);
    expect(pending).toBeLessThanOrEqual(4);
  });

  it('reclaims entries a dead consumer left pending, and reports a task run twice only once', async () => {
    const { stream, results, group } = names();
    await add(stream, { id: 'a', input: 'x' });
    await redis.xgroup('CREATE', stream, group, '0');
    // A worker reads the entry, writes its result, and dies before acknowledging it.
    await redis.xreadgroup('GROUP', group, 'dead', 'COUNT', 1, 'STREAMS', stream, '>');
    await lastValueFrom(
      of<TaskEvent>({
        type: 'settled',
        taskId: 'a',
        result: {
          status: 'fulfilled',
          taskId: 'a',
          value: 'first',
          usage: { inputTokens: 1, outputTokens: 1 },
          attempts: 1,
          durationMs: 1,
        },
      }).pipe(toRedisStream({ client: redis, stream: results })),
    );
    const events = await lastValueFrom(
      fromRedisStream({
        client: redis,
        stream,
        group,
        consumer: 'alive',
        claimIdleMs: 60,
        blockMs: 20,
        stopWhenEmpty: true,
      }).pipe(
        pool((task) => of(`again ${task.id}`)),
        toRedisStream({ client: redis, stream: results, ack: { stream, group } }),
        filter((e) => e.type === 'settled'),
        toArray(),
      ),
    );
    expect(events.map((e) => e.taskId)).toEqual(['a']);
    const written = await redis.xrange(results, '-', '+');
    expect(written).toHaveLength(1);
    expect(written[0]?.[1][3]).toContain('"first"');
    expect(await redis.xpending(stream, group)).toEqual([0, null, null, null]);
  });

  it('fromRedisResults pushes results written elsewhere as settled events', async () => {
    const { results } = names();
    // Entries up to `from` are skipped.
    const old = await redis.xadd(results, '*', 'taskId', 'old', 'result', '{}');
    const received = lastValueFrom(
      fromRedisResults({ url: server.url, stream: results, blockMs: 50, from: old ?? '0' }).pipe(
        take(2),
        toArray(),
      ),
    );
    await redis.xadd(results, '*', 'taskId', 'x', 'result', 'garbage');
    await redis.xadd(
      results,
      '*',
      'taskId',
      'a',
      'result',
      JSON.stringify({
        status: 'fulfilled',
        taskId: 'a',
        value: 'ok',
        usage: { inputTokens: 1, outputTokens: 2 },
        attempts: 1,
        durationMs: 5,
      }),
    );
    await redis.xadd(
      results,
      '*',
      'taskId',
      'b',
      'result',
      JSON.stringify({
        status: 'rejected',
        taskId: 'b',
        attempts: 2,
        durationMs: 9,
        error: {
          name: 'TimeoutError',
          code: 'E_TIMEOUT',
          message: 'late',
          retryable: true,
          info: { limit: 'total', ms: 5, seen: 0 },
        },
      }),
    );
    const [a, b] = await received;
    expect(a).toEqual({
      type: 'settled',
      taskId: 'a',
      result: {
        status: 'fulfilled',
        taskId: 'a',
        value: 'ok',
        usage: { inputTokens: 1, outputTokens: 2 },
        attempts: 1,
        durationMs: 5,
      },
    });
    expect(b?.type === 'settled' && b.result.status === 'rejected' && b.result.error).toBeInstanceOf(
      TimeoutError,
    );
    expect(b?.type === 'settled' && b.result.status === 'rejected' && b.result.error.toJSON()).toEqual({
      name: 'TimeoutError',
      code: 'E_TIMEOUT',
      message: 'late',
      retryable: true,
      info: { limit: 'total', ms: 5, seen: 0 },
    });
  });

  it('turns an entry without the task field into an InvalidTask named after the entry', async () => {
    const { stream, group } = names();
    await redis.xadd(stream, '*', 'other', '1');
    const first = await firstValueFrom(
      fromRedisStream({ url: server.url, stream, group, consumer: 'w', blockMs: 20 }),
    );
    expect(first).toBeInstanceOf(InvalidTask);
    expect((first as InvalidTask).error.message).toMatch(
      /^Missing field `task` \(entry \d+-\d+ of tasks-\d+\)$/,
    );
  });
});

describeRedis('fromRedisStream across a Redis restart', () => {
  let restarted: RedisServer | undefined;
  let admin: Redis | undefined;
  afterEach(async () => {
    admin?.disconnect();
    await restarted?.close();
  });

  const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const sorted = (list: Iterable<string>): string[] => [...list].sort();

  /**
   * Two workers with two slots each take t0…t9 and run each task until the test releases its id. Redis
   * restarts once two tasks have settled and four are running, so that it holds two results and four
   * entries no worker has read; u0…u2 are added after the restart, then every task is released.
   */
  const runAcrossRestart = async (options: RedisServerOptions) => {
    const server = await startRedis(options);
    restarted = server;
    const redis = new Redis(server.url);
    admin = redis;
    redis.on('error', () => undefined);
    const { stream, results, group } = names();
    const before = ids('t', 10);
    const after = ids('u', 3);
    await addTo(redis, stream, ...before.map((id) => ({ id, input: id })));

    const release = new ReplaySubject<string>();
    const events: TaskEvent[] = [];
    const seen = new Subject<void>();
    const reports: RedisGroupLost[] = [];
    const until = (check: () => boolean): Promise<unknown> =>
      firstValueFrom(seen.pipe(startWith(undefined), filter(check)));
    const idsOf = (type: TaskEvent['type']): string[] =>
      events.filter((e) => e.type === type).map((e) => e.taskId);
    const worker = (consumer: string): Promise<unknown> =>
      lastValueFrom(
        fromRedisStream({
          url: server.url,
          stream,
          group,
          consumer,
          blockMs: 50,
          stopWhenEmpty: true,
          onGroupLost: (lost) => reports.push(lost),
        }).pipe(
          pool(
            (task) =>
              release.pipe(
                first((id) => id === task.id),
                map(() => `done ${task.id}`),
              ),
            { concurrency: 2 },
          ),
          toRedisStream({ url: server.url, stream: results, ack: { stream, group } }),
          tap((event) => {
            events.push(event);
            seen.next();
          }),
        ),
        { defaultValue: undefined },
      );
    const workers = Promise.all([worker('w1'), worker('w2')]);

    await until(() => idsOf('started').length === 4);
    for (const id of idsOf('started').slice(0, 2)) release.next(id);
    // Two results written, and both workers full again: nothing moves until the next release.
    await until(() => idsOf('settled').length === 2 && idsOf('started').length === 6);
    const settledBefore = idsOf('settled');
    const running = idsOf('started').filter((id) => !settledBefore.includes(id));
    const unread = before.filter((id) => !idsOf('started').includes(id));
    expect(((await redis.xpending(stream, group)) as [number])[0]).toBe(4);

    await server.restart();
    await addTo(redis, stream, ...after.map((id) => ({ id, input: id })));
    for (const id of [...before, ...after]) release.next(id);
    await workers;

    const stored = (await redis.xrange(results, '-', '+')).map(([, fields]) => fields[1] ?? '');
    return {
      settledBefore,
      running,
      unread,
      after,
      stored,
      started: idsOf('started'),
      settled: idsOf('settled'),
      reports,
      pending: await redis.xpending(stream, group),
    };
  };

  it('without persistence, the workers re-create their group, carry on, and report the loss', async () => {
    const run = await runAcrossRestart({});
    // Lost: what only Redis held. The two results written before the restart, and the four entries no
    // worker had read, which never ran.
    expect(run.stored.filter((id) => run.settledBefore.includes(id))).toEqual([]);
    expect(run.started.filter((id) => run.unread.includes(id))).toEqual([]);
    // Kept: the four tasks the workers were running, and everything added after the restart.
    expect(sorted(run.stored)).toEqual(sorted([...run.running, ...run.after]));
    expect(sorted(run.settled)).toEqual(sorted([...run.settledBefore, ...run.running, ...run.after]));
    expect(run.pending).toEqual([0, null, null, null]);
    expect(run.reports.length).toBeGreaterThanOrEqual(1);
    for (const report of run.reports) {
      expect([report.stream, report.group, report.consumer]).toEqual([
        expect.stringMatching(/^tasks-\d+$/),
        expect.stringMatching(/^g-\d+$/),
        expect.stringMatching(/^w[12]$/),
      ]);
      expect(report.reply).toMatch(/^NOGROUP /);
      expect(run.running).toEqual(expect.arrayContaining([...report.inFlight]));
      expect(report.message).toMatch(
        /^Consumer group "g-\d+" of stream "tasks-\d+" was gone \(NOGROUP .*\), as after a Redis restart without persistence: .* \d+ task\(s\) read in this process still run/,
      );
    }
  }, 20_000);

  it('with an append-only file (appendfsync always), nothing is lost and nothing is reported', async () => {
    const run = await runAcrossRestart({ appendfsync: 'always' });
    const all = [...run.settledBefore, ...run.running, ...run.unread, ...run.after];
    expect(sorted(run.stored)).toEqual(sorted(all));
    expect(sorted(run.settled)).toEqual(sorted(all));
    expect(run.pending).toEqual([0, null, null, null]);
    expect(run.reports).toEqual([]);
  }, 20_000);

  it('validates onGroupLost', () => {
    expect(() =>
      fromRedisStream({ url: 'redis://x', stream: 's', group: 'g', consumer: 'c', onGroupLost: 1 as never }),
    ).toThrow('Expected `onGroupLost` to be a function, got 1 (number)');
  });
});
