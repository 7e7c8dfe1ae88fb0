export * from './core/index.js';
export * from './budget/index.js';
export * from './models/index.js';
export * from './tools/index.js';
export * from './operators/index.js';
export * from './sources/index.js';
export * from './sinks/index.js';
export { ErrorJsonSchema, SettledJsonSchema, settledToJson } from './wire/protocol.js';
export type { ErrorJson, SettledJson } from './wire/protocol.js';
