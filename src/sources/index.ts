export { fromEmitter } from './from-emitter.js';
export type { FromEmitterOptions } from './from-emitter.js';
export { fromJsonl } from './from-jsonl.js';
export type { FromJsonlOptions } from './from-jsonl.js';
export type { JobFormat } from './job-lines.js';
export { fromTasks } from './from-tasks.js';
export type { FromTasksOptions } from './from-tasks.js';
