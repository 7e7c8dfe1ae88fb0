export type {
  Agent,
  AgentEvent,
  ChatMessage,
  FinishReason,
  RateLimitSnapshot,
  RunContext,
  Settled,
  Task,
  TaskEvent,
  TaskParams,
  ResponseFormat,
  ToolCall,
  ToolSpec,
  Usage,
} from './types.js';
export * from './errors/index.js';
export {
  ChatMessageSchema,
  ResponseFormatSchema,
  TaskParamsSchema,
  TaskSchema,
  ToolCallSchema,
  ToolSpecSchema,
  UsageSchema,
  parseTask,
} from './schemas.js';
export type { ParseResult } from './schemas.js';
export { isAgentEvent, textOf } from './agent-event.js';
export { InvalidTask } from './invalid-task.js';
export { withSignal } from './with-signal.js';
export { AsyncIterableObservable, fromAsyncIterable } from './from-async-iterable.js';
export { filterPull, isPullable, pullSource } from './pull.js';
export type { PullSource, Pullable } from './pull.js';
export { parseDuration, parseRateLimitHeaders } from './rate-limit-headers.js';
export type { HeadersLike } from './rate-limit-headers.js';
export { addUsage } from './usage.js';
