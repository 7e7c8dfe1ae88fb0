import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { detected, startRedis, type RedisServer, type RedisServerOptions } from './redis-process.js';

export { startRedis, type RedisServer, type RedisServerOptions } from './redis-process.js';

/**
 * `describe` for suites that need a real redis-server: skipped with a printed reason when it is absent,
 * except under CI, where the suite runs and fails.
 */
export const describeRedis: typeof describe.skip = (() => {
  if (detected.available || process.env.CI !== undefined) return describe;
  console.warn(`Skipping Redis tests: ${detected.reason}. Install redis-server (apt install redis-server).`);
  return describe.skip;
})();

/**
 * Starts a redis-server and a client before the tests of the enclosing block and stops both after them.
 * `onStart` receives them; after-hooks registered later in the block run before this one stops Redis.
 */
export function useRedis(
  onStart: (server: RedisServer, redis: Redis) => void,
  options: RedisServerOptions = {},
): void {
  let started: { server: RedisServer; redis: Redis } | undefined;
  beforeAll(async () => {
    const server = await startRedis(options);
    const redis = new Redis(server.url);
    // A test that restarts the server leaves this client to reconnect, not to report the lost connection.
    redis.on('error', () => undefined);
    started = { server, redis };
    onStart(server, redis);
  });
  afterAll(async () => {
    started?.redis.disconnect();
    await started?.server.close();
  });
}
