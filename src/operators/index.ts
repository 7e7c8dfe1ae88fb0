export { retryBackoff, defaultRetryable } from './retry-backoff.js';
export type { RetryBackoffConfig, RetryEvent } from './retry-backoff.js';
export { timeoutWith } from './timeout-with.js';
export type { TimeoutWithConfig } from './timeout-with.js';
