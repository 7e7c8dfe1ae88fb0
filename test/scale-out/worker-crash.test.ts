import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { describeRedis, useRedis, type RedisServer } from '../support/redis-server.js';
import { killAll, startChild, type Child } from './fixtures/children.js';

const TASKS = 60;

let server: RedisServer;
let redis: Redis;
const children: Child[] = [];

describeRedis('a worker killed with SIGKILL mid-run', () => {
  useRedis((s, r) => {
    server = s;
    redis = r;
  });
  afterAll(async () => {
    await killAll(children);
  });

  it('leaves every task with exactly one result: the others reclaim its entries', async () => {
    for (let i = 0; i < TASKS; i++)
      await redis.xadd('tasks', '*', 'task', JSON.stringify({ id: `t${i}`, input: `prompt ${i}` }));
    const env = {
      REDIS_URL: server.url,
      STREAM: 'tasks',
      GROUP: 'workers',
      RESULTS: 'results',
      RUN_MS: '150',
      CLAIM_IDLE_MS: '500',
    };
    for (let i = 0; i < 3; i++) children.push(startChild('stream-worker', { ...env, CONSUMER: `w${i}` }));
    const [victim, ...survivors] = children as [Child, ...Child[]];
    // Killed while it holds tasks it has started and not finished.
    await victim.waitFor(
      (line) => victim.lines.filter((l) => l.startsWith('started')).length >= 4 && line.startsWith('started'),
      15_000,
    );
    victim.process.kill('SIGKILL');
    await victim.exited;
    const abandoned = victim.lines
      .filter((l) => l.startsWith('started'))
      .map((l) => l.slice('started '.length));

    const codes = await Promise.all(survivors.map((c) => c.exited));
    expect(codes).toEqual([0, 0]);
    const results = await redis.xrange('results', '-', '+');
    const ids = results.map(([, fields]) => fields[1]);
    expect(ids).toHaveLength(TASKS);
    expect(new Set(ids).size).toBe(TASKS);
    expect(await redis.xpending('tasks', 'workers')).toEqual([0, null, null, null]);
    // At least one task the victim started was finished by a survivor.
    const byTask = new Map(results.map(([, fields]) => [fields[1], fields[3] ?? '']));
    const victimPid = String(victim.process.pid);
    expect(abandoned.some((id) => !(byTask.get(id) ?? '').includes(`by ${victimPid}`))).toBe(true);
  }, 30_000);
});
