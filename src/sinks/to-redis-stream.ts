import { concatMap, defer, from, map, Observable, of, type MonoTypeOperatorFunction } from 'rxjs';
import type { TaskEvent } from '../core/types.js';
import { describe, expectConfig, expectKnownKeys } from '../core/validate.js';
import {
  connect,
  expectConnection,
  takeEntries,
  type RedisConnectionConfig,
} from '../sources/redis-connection.js';

/** Configuration of {@link toRedisStream}. */
export interface ToRedisStreamConfig extends RedisConnectionConfig {
  /**
   * The results stream: one entry per task id, with fields `taskId` and `result` (the `Settled` as JSON).
   * Beside it, the hash `<stream>:done` maps each task id to its result's entry id.
   */
  readonly stream: string;
  /** The tasks' stream and group from `fromRedisStream`, whose entries to acknowledge. @defaultValue none */
  readonly ack?: { readonly stream: string; readonly group: string };
}

const CONFIG_KEYS = ['client', 'url', 'stream', 'ack'];

/*
 * KEYS: results stream, done hash, tasks stream. ARGV: task id, result JSON, group ('' for none), entry ids.
 * Writing and acknowledging in one script means an entry is never acknowledged without its result, and the
 * done hash means a task run twice (its worker died after writing, before acknowledging) is reported once.
 */
const WRITE = `
local written = 0
if redis.call('HSETNX', KEYS[2], ARGV[1], '') == 1 then
  local id = redis.call('XADD', KEYS[1], '*', 'taskId', ARGV[1], 'result', ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[1], id)
  written = 1
end
if ARGV[3] ~= '' then
  for i = 4, #ARGV do redis.call('XACK', KEYS[3], ARGV[3], ARGV[i]) end
end
return written
`;

/**
 * Writes each task's `settled` result to a Redis results stream, at most once per task id, then acknowledges
 * the entries the task came from (`ack`), and passes every event on unchanged and in order (a `settled`
 * event once its result is stored). With the keys in different hash slots this needs a non-cluster Redis.
 *
 * ```
 * source:  --s--d--A--B--|      s started, d delta, A B settled
 * redis:           w  w         w = write the result and XACK its entries, in one script
 * result:  --s--d--A--B--|      each settled passed on once its write has returned
 * ```
 *
 * Commands wait in ioredis's offline queue while Redis is away; if it stays away past the client's
 * retries, the output errors and the unacknowledged entries are reclaimed by another worker later.
 *
 * @example
 * fromRedisStream({ url, stream: 'tasks', group: 'g', consumer: 'w1' })
 *   .pipe(runAgents(agent), toRedisStream({ url, stream: 'results', ack: { stream: 'tasks', group: 'g' } }))
 *   .subscribe();
 */
export function toRedisStream<V = string>(
  config: ToRedisStreamConfig,
): MonoTypeOperatorFunction<TaskEvent<V>> {
  expectConfig('config', config);
  expectKnownKeys('toRedisStream', config, CONFIG_KEYS);
  expectConnection('toRedisStream', config);
  if (typeof config.stream !== 'string' || config.stream === '') {
    throw new TypeError(`Expected \`stream\` to be a non-empty string, got ${describe(config.stream)}`);
  }
  const ack = config.ack;
  if (ack !== undefined) {
    expectConfig('ack', ack);
    if (
      typeof ack.stream !== 'string' ||
      ack.stream === '' ||
      typeof ack.group !== 'string' ||
      ack.group === ''
    ) {
      throw new TypeError(
        `Expected \`ack\` to be { stream, group } naming the tasks' stream and group, got stream ${describe(ack.stream)} and group ${describe(ack.group)}`,
      );
    }
  }
  return (source) =>
    new Observable<TaskEvent<V>>((subscriber) => {
      const { client, owned } = connect(config);
      if (owned) client.on('error', () => undefined);
      const write = (taskId: string, result: unknown): Observable<unknown> =>
        defer(() => {
          const entries = ack === undefined ? [] : takeEntries(ack.stream, ack.group, taskId);
          const keys = [config.stream, `${config.stream}:done`, ack?.stream ?? config.stream];
          return from(
            client.eval(WRITE, 3, ...keys, taskId, JSON.stringify(result), ack?.group ?? '', ...entries),
          );
        });
      const subscription = source
        .pipe(
          concatMap((event) =>
            event.type === 'settled' ? write(event.taskId, event.result).pipe(map(() => event)) : of(event),
          ),
        )
        .subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (owned) client.disconnect();
      };
    });
}
