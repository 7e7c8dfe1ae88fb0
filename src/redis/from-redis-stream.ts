import type { Redis } from 'ioredis';
import { asyncScheduler, interval, type SchedulerLike, type Subscription } from 'rxjs';
import { ValidationError } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import { parseTask } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectScheduler,
} from '../core/validate.js';
import { pullSource, type PullSource } from '../core/pull.js';
import {
  dedicated,
  entriesInFlight,
  expectConnection,
  rememberEntry,
  tasksInFlight,
  type RedisConnectionConfig,
} from './connection.js';

/** What {@link fromRedisStream} reports when a read finds its consumer group gone. */
export interface RedisGroupLost {
  readonly stream: string;
  readonly group: string;
  /** The consumer that found the group gone. */
  readonly consumer: string;
  /**
   * Task ids read in this process and not yet acknowledged. Redis no longer holds their entries, but they
   * still run here and their results are still written.
   */
  readonly inFlight: readonly string[];
  /** What Redis answered (`NOGROUP …`). */
  readonly reply: string;
  /** The whole report as one sentence, for a log. */
  readonly message: string;
}

/** Configuration of {@link fromRedisStream}. */
export interface FromRedisStreamConfig extends RedisConnectionConfig {
  /** The stream holding the tasks. */
  readonly stream: string;
  /** The consumer group the workers share; created (with the stream) if missing, reading from the start. */
  readonly group: string;
  /** This worker's name in the group; unique per live worker. */
  readonly consumer: string;
  /** The entry field holding the task as JSON. @defaultValue 'task' */
  readonly field?: string;
  /**
   * Longest a read waits for new entries before it looks for entries to reclaim again. Capped at a third of
   * `claimIdleMs`, because the keep-fresh claims wait behind a blocking read on the same connection.
   * @defaultValue 2000
   */
  readonly blockMs?: number;
  /**
   * Entries another consumer read but did not acknowledge for this long are taken over (`XAUTOCLAIM`):
   * their worker is taken for dead. Entries this worker is still running are kept fresh, so long tasks are
   * not taken from a live worker. @defaultValue 30000
   */
  readonly claimIdleMs?: number;
  /** Entries read at once; more than 1 holds some in memory before the pool asks for them. @defaultValue 1 */
  readonly batch?: number;
  /**
   * Complete when there is nothing left to do: no new entry, nothing to reclaim, and no entry of the group
   * pending anywhere. Without it a worker runs until unsubscribed or `signal` aborts. @defaultValue false
   */
  readonly stopWhenEmpty?: boolean;
  /**
   * Called when a read finds the consumer group gone (`NOGROUP`): Redis restarted without persistence, or
   * the group or stream was deleted. Whatever Redis held is lost: entries no worker had read, entries
   * pending on other workers, and (in the same Redis) results and done-markers. The worker creates the group
   * again, reading the stream from its start, and carries on; tasks this process had read still run and
   * their results are still written. The first worker to find the group gone reports it; workers that read
   * after it has been created again do not. What the callback throws errors the source.
   * @defaultValue a process warning of type `'RxAgentWarning'` with the `message`
   */
  readonly onGroupLost?: (lost: RedisGroupLost) => void;
  /** Completes the source when aborted. @defaultValue none */
  readonly signal?: AbortSignal;
  /** Clock of the keep-fresh timer. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

type Entry = [id: string, fields: string[]];

const CONFIG_KEYS = [
  'client',
  'url',
  'stream',
  'group',
  'consumer',
  'field',
  'blockMs',
  'claimIdleMs',
  'batch',
  'stopWhenEmpty',
  'onGroupLost',
  'signal',
  'scheduler',
] as const;

/**
 * Reads tasks from a Redis Stream through a consumer group, as a pull source: an entry is read only when
 * the pool has room, so backpressure reaches Redis and other workers take what this one cannot. Each entry
 * holds a task as JSON in `field`; an entry that is not a valid task becomes an `InvalidTask` (its id, or
 * `entry-<entry id>`), which settles as rejected. Delivery is at least once: an entry stays pending until
 * `toRedisStream({ ack: { stream, group } })` has written its task's result, and entries a dead worker left
 * pending are reclaimed after `claimIdleMs`. The entry id travels beside the task, in a registry of this
 * process keyed by stream, group and task id, so tasks are passed on unchanged.
 *
 * Runs until unsubscribed or `signal` aborts, or with `stopWhenEmpty` until the group has nothing left.
 * Blocking reads use a connection of their own (a duplicate of `client`), closed when the source stops.
 * A Redis restart that kept its data (an append-only file) loses nothing: reads wait in the connection's
 * offline queue and go on. One that lost the group is survived: the group is created again and the loss is
 * reported to `onGroupLost`.
 *
 * ```
 * stream:  a---b------c          entries as other processes add them
 * result:  a---b------c---       each read only when the pool pulls; runs until unsubscribed
 * acked:        A---B------C     by toRedisStream, once each result is written
 * ```
 *
 * @example
 * fromRedisStream({ url, stream: 'tasks', group: 'workers', consumer: `w-${process.pid}` })
 *   .pipe(runAgents(agent, { concurrency: 4 }), toRedisStream({ url, stream: 'results', ack: { stream: 'tasks', group: 'workers' } }))
 *   .subscribe();
 */
export function fromRedisStream(config: FromRedisStreamConfig): PullSource<Task | InvalidTask> {
  expectConfig('config', config);
  expectKnownKeys('fromRedisStream', config, CONFIG_KEYS);
  expectConnection('fromRedisStream', config);
  for (const name of ['stream', 'group', 'consumer'] as const) expectName(name, config[name]);
  if (config.field !== undefined) expectName('field', config.field);
  expectInteger('blockMs', config.blockMs ?? 2_000, 1);
  expectInteger('claimIdleMs', config.claimIdleMs ?? 30_000, 1);
  expectInteger('batch', config.batch ?? 1, 1);
  if (config.scheduler !== undefined) expectScheduler('scheduler', config.scheduler);
  if (config.onGroupLost !== undefined) expectFunction('onGroupLost', config.onGroupLost);
  return pullSource(() => readEntries(config));
}

function expectName(name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
  }
}

function readEntries(config: FromRedisStreamConfig): AsyncIterator<Task | InvalidTask> {
  const { stream, group, consumer } = config;
  const field = config.field ?? 'task';
  const claimIdleMs = config.claimIdleMs ?? 30_000;
  // The keep-fresh claims share the reader's connection, so a blocking read must leave room for them.
  const blockMs = Math.max(1, Math.min(config.blockMs ?? 2_000, Math.floor(claimIdleMs / 3)));
  const batch = config.batch ?? 1;
  const reader: Redis = dedicated(config);
  // Errors reach the reads that fail; the connection's own error events would otherwise be logged.
  reader.on('error', () => undefined);
  const buffer: Entry[] = [];
  let closed = false;
  let created = false;
  let ownCursor: string | undefined = '0';
  let claimCursor = '0-0';
  // Entries this worker is running are claimed again now and then, which resets their idle time.
  const keepFresh: Subscription = interval(
    Math.max(1, claimIdleMs / 3),
    config.scheduler ?? asyncScheduler,
  ).subscribe(() => {
    const ids = entriesInFlight(stream, group);
    if (ids.length > 0 && !closed) {
      reader.xclaim(stream, group, consumer, 0, ...ids, 'JUSTID').catch(() => undefined);
    }
  });

  const stop = (): void => {
    if (closed) return;
    closed = true;
    keepFresh.unsubscribe();
    config.signal?.removeEventListener('abort', stop);
    reader.disconnect();
  };
  if (config.signal?.aborted === true) stop();
  config.signal?.addEventListener('abort', stop);

  // The group is gone, so its pending entries and cursors are too: start over once it is created again.
  const groupLost = (reply: string): void => {
    created = false;
    ownCursor = '0';
    claimCursor = '0-0';
    const inFlight = tasksInFlight(stream, group);
    const message =
      `Consumer group "${group}" of stream "${stream}" was gone (${reply}), as after a Redis restart ` +
      `without persistence: the entries no worker had read and those pending on other workers are lost; ` +
      `${inFlight.length} task(s) read in this process still run and their results will be written. ` +
      `Consumer "${consumer}" creates the group again, reading the stream from its start.`;
    const report = config.onGroupLost ?? warn;
    report({ stream, group, consumer, inFlight, reply, message });
  };

  const read = async (): Promise<boolean> => {
    try {
      return await readOnce();
    } catch (error) {
      if (closed || !isReply(error, 'NOGROUP')) throw error;
      groupLost(error.message);
      return true;
    }
  };

  const readOnce = async (): Promise<boolean> => {
    if (!created) {
      try {
        await reader.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
      } catch (error) {
        if (!isReply(error, 'BUSYGROUP')) throw error;
      }
      created = true;
    }
    if (ownCursor !== undefined) {
      // Entries this consumer name read before a restart and never acknowledged come first.
      const own = entriesOf(
        await reader.xreadgroup('GROUP', group, consumer, 'COUNT', batch, 'STREAMS', stream, ownCursor),
      );
      const last = own.at(-1);
      ownCursor = last === undefined ? undefined : last[0];
      buffer.push(...own);
      if (own.length > 0) return true;
    }
    const claimed = (await reader.xautoclaim(
      stream,
      group,
      consumer,
      claimIdleMs,
      claimCursor,
      'COUNT',
      batch,
    )) as [string, Entry[]];
    claimCursor = claimed[0];
    const reclaimed = claimed[1].filter((entry) => Array.isArray(entry[1]));
    buffer.push(...reclaimed);
    if (reclaimed.length > 0) return true;
    const fresh = entriesOf(
      await reader.xreadgroup(
        'GROUP',
        group,
        consumer,
        'COUNT',
        batch,
        'BLOCK',
        blockMs,
        'STREAMS',
        stream,
        '>',
      ),
    );
    buffer.push(...fresh);
    if (fresh.length > 0) return true;
    if (config.stopWhenEmpty === true) {
      const [pending] = (await reader.xpending(stream, group)) as [number];
      if (pending === 0) return false;
    }
    return true;
  };

  const toTask = ([id, fields]: Entry): Task | InvalidTask => {
    const index = fields.findIndex((name, i) => i % 2 === 0 && name === field);
    const text = index === -1 ? undefined : fields[index + 1];
    const where = `entry ${id} of ${stream}`;
    let json: unknown;
    let problem: ValidationError | undefined;
    if (text === undefined) {
      problem = new ValidationError({
        issues: [],
        source: where,
        message: `Missing field \`${field}\` (${where})`,
      });
    } else {
      try {
        json = JSON.parse(text);
      } catch (error) {
        problem = new ValidationError({
          issues: [],
          source: where,
          message: `Invalid JSON (${where}): ${(error as Error).message}`,
        });
      }
    }
    const parsed = problem === undefined ? parseTask(json, where) : undefined;
    const result: Task | InvalidTask =
      parsed?.success === true
        ? parsed.data
        : new InvalidTask(invalidId(json, id), parsed?.error ?? (problem as ValidationError));
    rememberEntry(stream, group, result instanceof InvalidTask ? result.taskId : result.id, id);
    return result;
  };

  return {
    async next(): Promise<IteratorResult<Task | InvalidTask>> {
      try {
        while (buffer.length === 0) {
          if (closed || !(await read())) {
            stop();
            return { done: true, value: undefined };
          }
        }
      } catch (error) {
        if (closed) return { done: true, value: undefined };
        stop();
        throw error;
      }
      return { done: false, value: toTask(buffer.shift() as Entry) };
    },
    return(): Promise<IteratorResult<Task | InvalidTask>> {
      stop();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}

function isReply(error: unknown, code: string): error is Error {
  return error instanceof Error && error.message.startsWith(code);
}

function warn(lost: RedisGroupLost): void {
  process.emitWarning(lost.message, { type: 'RxAgentWarning' });
}

function entriesOf(reply: unknown): Entry[] {
  if (!Array.isArray(reply)) return [];
  const streams = reply as [string, Entry[]][];
  return streams.flatMap(([, entries]) => entries);
}

function invalidId(json: unknown, entryId: string): string {
  const id = (json as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' && id !== '' ? id : `entry-${entryId}`;
}
