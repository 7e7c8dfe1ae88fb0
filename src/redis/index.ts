export type { RedisConnectionConfig } from './connection.js';
export { redisStore } from './redis-store.js';
export type { RedisStore, RedisStoreConfig, RedisStoreUnavailableConfig } from './redis-store.js';
export { fromRedisStream } from './from-redis-stream.js';
export type { FromRedisStreamConfig, RedisGroupLost } from './from-redis-stream.js';
export { fromRedisResults } from './from-redis-results.js';
export type { FromRedisResultsConfig } from './from-redis-results.js';
export { toRedisStream } from './to-redis-stream.js';
export type { ToRedisStreamConfig } from './to-redis-stream.js';
