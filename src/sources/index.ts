export { PULL, isPullable, pullSource } from './pull.js';
export type { PullSource, Pullable } from './pull.js';
