export { createTestScheduler } from './test-scheduler.js';
export { marbleAgent } from './marble-agent.js';
export type {
  MarbleAgent,
  MarbleAgentOptions,
  MarbleRun,
  MarbleScript,
  MarbleScripts,
} from './marble-agent.js';
export { concurrencyRecorder, recordConcurrency } from './concurrency-recorder.js';
export type {
  ConcurrencyRecorder,
  ConcurrencyRecorderOptions,
  ConcurrencyReport,
  ConcurrencySample,
} from './concurrency-recorder.js';
