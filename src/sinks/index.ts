export { compactJsonl, readDoneIds, toJsonl } from './to-jsonl.js';
export type { CompactResult, ReadDoneIdsOptions, ResultFormat, ToJsonlOptions } from './to-jsonl.js';
export { formatProgress, progress } from './progress.js';
export type { ProgressOptions, ProgressSnapshot, ProgressStream } from './progress.js';
