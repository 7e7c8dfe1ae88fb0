import { concatMap, defer, from, map, Observable, of, type MonoTypeOperatorFunction } from 'rxjs';
import { DuplicateIdError } from '../core/errors/index.js';
import type { Settled, TaskEvent } from '../core/types.js';
import { describe, expectConfig, expectInteger, expectKnownKeys } from '../core/validate.js';
import { connect, expectConnection, takeEntries, type RedisConnectionConfig } from './connection.js';
import { doneMarkerKey } from './keys.js';
import { REFUSE_RESULT, WRITE_RESULT, runScript } from './scripts.js';

/** Configuration of {@link toRedisStream}. */
export interface ToRedisStreamConfig extends RedisConnectionConfig {
  /**
   * The results stream: one entry per task id, with fields `taskId` and `result` (the `Settled` as JSON),
   * and one `E_DUPLICATE_ID` rejection for each later task entry that reuses an id while its done-marker
   * lives. Beside it, the done-marker of each task id is the hash `<stream>:done:<task id>` (fields
   * `result`, its result's entry id, and `from`, the task entries it came from).
   */
  readonly stream: string;
  /** The tasks' stream and group from `fromRedisStream`, whose entries to acknowledge. @defaultValue none */
  readonly ack?: { readonly stream: string; readonly group: string };
  /**
   * How long a task id's done-marker lives after its result is written. While it lives, an entry run twice
   * (reclaimed from a worker that did finish) is stored once, and another task entry with the same id
   * settles as rejected with `E_DUPLICATE_ID` instead of being stored; after it, the id is free again. Keep
   * it far longer than `fromRedisStream`'s `claimIdleMs`. @defaultValue 86400000 (24 h)
   */
  readonly doneTtlMs?: number;
}

const CONFIG_KEYS = ['client', 'url', 'stream', 'ack', 'doneTtlMs'] as const;

/**
 * Writes each task's `settled` result to a Redis results stream, once per task id, then acknowledges the
 * entries the task came from (`ack`), and passes every event on in order (a `settled` event once its result
 * is stored). A task id's done-marker lives `doneTtlMs`: while it does, the same entry run again is stored
 * once (its `settled` passes on unchanged), and a different entry reusing the id is stored and passed on as
 * rejected with `E_DUPLICATE_ID`, naming the result that holds the id. Without `ack` the sink cannot tell
 * the two apart and keeps the first result. With the keys in different hash slots this needs a
 * non-cluster Redis.
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
  const doneTtlMs = expectInteger('doneTtlMs', config.doneTtlMs ?? 86_400_000, 1);
  return (source) =>
    new Observable<TaskEvent<V>>((subscriber) => {
      const { client, owned } = connect(config);
      if (owned) client.on('error', () => undefined);
      const write = (event: Extract<TaskEvent<V>, { type: 'settled' }>): Observable<TaskEvent<V>> =>
        defer(() => {
          const { taskId } = event;
          const entries = ack === undefined ? [] : takeEntries(ack.stream, ack.group, taskId);
          const keys = [config.stream, doneMarkerKey(config.stream, taskId), ack?.stream ?? config.stream];
          const group = ack?.group ?? '';
          const json = JSON.stringify(event.result);
          return from(
            runScript(client, WRITE_RESULT, keys, [taskId, json, group, String(doneTtlMs), ...entries]),
          ).pipe(
            concatMap((reply) => {
              const [outcome, resultId = '', firstFrom = ''] = reply as string[];
              if (outcome !== 'reused') return of(event);
              const refused = reusedId(event.result, config.stream, resultId, firstFrom, entries, doneTtlMs);
              const refusal = JSON.stringify(refused);
              return from(runScript(client, REFUSE_RESULT, keys, [taskId, refusal, group, ...entries])).pipe(
                map((): TaskEvent<V> => ({ type: 'settled', taskId, result: refused })),
              );
            }),
          );
        });
      const subscription = source
        .pipe(concatMap((event) => (event.type === 'settled' ? write(event) : of(event))))
        .subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (owned) client.disconnect();
      };
    });
}

/** The rejection that replaces the result of task entries reusing an id whose done-marker still lives. */
function reusedId(
  result: Settled<unknown>,
  stream: string,
  resultId: string,
  firstFrom: string,
  entries: readonly string[],
  doneTtlMs: number,
): Settled<never> {
  const firstEntries = firstFrom.split(',').filter((id) => id !== '');
  const error = new DuplicateIdError({
    kind: 'task',
    id: result.taskId,
    entries,
    resultId,
    firstEntries,
    message:
      `Task id "${result.taskId}" of entry ${entries.join(', ')} already has a result (entry ${resultId} of ` +
      `"${stream}", from entry ${firstEntries.join(', ')}), so this one is not stored. Give every task an ` +
      `id of its own; an id is free again \`doneTtlMs\` (${doneTtlMs}ms) after its result.`,
  });
  return {
    status: 'rejected',
    taskId: result.taskId,
    error,
    ...(result.usage === undefined ? {} : { usage: result.usage }),
    attempts: result.attempts,
    durationMs: result.durationMs,
  };
}
