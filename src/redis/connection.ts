import type { Redis, RedisOptions } from 'ioredis';
import { expectPeer, requirePeer } from '../core/peer.js';
import { describe } from '../core/validate.js';

/**
 * The `ioredis` package, an optional peer dependency, loaded when a helper first opens a connection itself.
 * Required, not imported: the helpers open connections synchronously, and ioredis is CommonJS only, so this is
 * the very module an `import` of it gives the caller.
 */
function ioredis(): typeof import('ioredis') {
  return requirePeer('ioredis', 'rxagent/redis') as typeof import('ioredis');
}

/** How a Redis helper reaches Redis: a client the caller owns, or a URL it connects to itself. */
export interface RedisConnectionConfig {
  /** An ioredis client; the helper leaves it open when it is done. Give this or `url`. @defaultValue none */
  readonly client?: Redis;
  /** A `redis://` URL; the helper opens its own connection and closes it when done. Give this or `client`. @defaultValue none */
  readonly url?: string;
}

/** A connection and whether the helper that opened it must close it. */
export interface RedisConnection {
  readonly client: Redis;
  readonly owned: boolean;
}

/** Checks that exactly one of `client` and `url` is given; throws `TypeError` naming `helper` otherwise. */
export function expectConnection(helper: string, config: RedisConnectionConfig): void {
  if ((config.client === undefined) === (config.url === undefined)) {
    throw new TypeError(
      `One and only one of the \`client\` or \`url\` options must be given to ${helper}, got ${
        config.client === undefined ? 'neither' : 'both'
      }`,
    );
  }
  if (config.url !== undefined && (typeof config.url !== 'string' || !/^rediss?:\/\//.test(config.url))) {
    throw new TypeError(`Expected \`url\` to be a redis:// or rediss:// URL, got ${describe(config.url)}`);
  }
  // A helper given a `url` opens its connection with ioredis; a given `client` means it is installed.
  if (config.url !== undefined) expectPeer('ioredis', helper);
  if (config.client !== undefined && typeof (config.client as Partial<Redis>).duplicate !== 'function') {
    throw new TypeError(`Expected \`client\` to be an ioredis client, got ${describe(config.client)}`);
  }
}

/** Opens the connection the config names; `options` apply only to a connection opened from `url`. */
export function connect(
  config: RedisConnectionConfig,
  options: Pick<RedisOptions, 'enableOfflineQueue' | 'maxRetriesPerRequest' | 'retryStrategy'> = {},
): RedisConnection {
  if (config.client !== undefined) return { client: config.client, owned: false };
  return { client: new (ioredis().Redis)(config.url as string, options), owned: true };
}

/** A second connection to the same server, for commands that block it (XREAD BLOCK). */
export function dedicated(config: RedisConnectionConfig): Redis {
  return config.client === undefined
    ? new (ioredis().Redis)(config.url as string)
    : config.client.duplicate();
}

/**
 * Stream entries read by `fromRedisStream` in this process and not yet acknowledged, by stream and group,
 * then task id, so that `toRedisStream` can acknowledge an entry once its task's result is written.
 */
const unacknowledged = new Map<string, Map<string, string[]>>();

const registryKey = (stream: string, group: string): string => `${stream}\u0000${group}`;

/** Records that the task `taskId` came from entry `entryId`. */
export function rememberEntry(stream: string, group: string, taskId: string, entryId: string): void {
  const key = registryKey(stream, group);
  let tasks = unacknowledged.get(key);
  if (tasks === undefined) {
    tasks = new Map();
    unacknowledged.set(key, tasks);
  }
  const ids = tasks.get(taskId) ?? [];
  if (!ids.includes(entryId)) ids.push(entryId);
  tasks.set(taskId, ids);
}

/**
 * The entry that a result of task `taskId` answers, forgotten as it is returned: none, or the oldest one
 * read. Entries reusing a task id are answered one result each, in the order they were read.
 */
export function takeEntries(stream: string, group: string, taskId: string): string[] {
  const tasks = unacknowledged.get(registryKey(stream, group));
  const ids = tasks?.get(taskId) ?? [];
  const oldest = ids.shift();
  if (ids.length === 0) tasks?.delete(taskId);
  return oldest === undefined ? [] : [oldest];
}

/** The task ids of this process whose entries still wait for their results. */
export function tasksInFlight(stream: string, group: string): string[] {
  return [...(unacknowledged.get(registryKey(stream, group))?.keys() ?? [])];
}

/** Every entry of this process still waiting for its result, to keep them from being reclaimed. */
export function entriesInFlight(stream: string, group: string): string[] {
  return [...(unacknowledged.get(registryKey(stream, group))?.values() ?? [])].flat();
}
