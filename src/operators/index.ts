export { retryBackoff, defaultRetryable } from './retry-backoff.js';
export type { RetryBackoffConfig, RetryEvent } from './retry-backoff.js';
export { timeoutWith } from './timeout-with.js';
export type { TimeoutWithConfig } from './timeout-with.js';
export { agentLoop } from './agent-loop.js';
export type { AgentLoopConfig, AgentLoopEvent } from './agent-loop.js';
export { dag } from './dag.js';
export type { DagConfig, DagEvent } from './dag.js';
export { runPlan } from './run-plan.js';
