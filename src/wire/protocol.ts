import type { RawData } from 'ws';
import { z } from 'zod';
import { textOf } from '../core/agent-event.js';
import { ProtocolError, type ProtocolProblem, type RxAgentError } from '../core/errors/index.js';
import { TaskSchema, ToolCallSchema, UsageSchema } from '../core/schemas.js';
import type { Settled, TaskEvent } from '../core/types.js';

/** The longest prompt a client may submit, in characters (a conversation counts all its messages). */
export const MAX_PROMPT_CHARS = 32_768;

/** The most tasks one `submit` frame may carry. */
export const MAX_TASKS_PER_SUBMIT = 100;

const tooLong = `A prompt may hold at most ${MAX_PROMPT_CHARS} characters`;

/** A task as a client submits it: a full `Task`, or a bare prompt that the gateway gives a fresh id. */
export const SubmittedTaskSchema = z.union([
  z.string().min(1).max(MAX_PROMPT_CHARS, tooLong),
  TaskSchema.refine((task) => textOf(task).length <= MAX_PROMPT_CHARS, tooLong),
]);

/** `submit`: run one task (`task`) or several (`tasks`); the gateway answers `accepted` with their ids. */
export const SubmitFrameSchema = z
  .strictObject({
    type: z.literal('submit'),
    task: SubmittedTaskSchema.exactOptional(),
    tasks: z.array(SubmittedTaskSchema).min(1).max(MAX_TASKS_PER_SUBMIT).exactOptional(),
  })
  .refine((frame) => (frame.task === undefined) !== (frame.tasks === undefined), {
    error: 'Give either `task` or `tasks`, not both and not neither',
  });

/** Another identity whose tasks a frame is about; the `authorize` hook decides whether that is allowed. */
const OwnerSchema = z.string().min(1).max(256);

/**
 * `cancel`: stop one of the client's own tasks (or, with `owner`, another identity's task, if `authorize`
 * allows); it settles as rejected with `E_CANCELLED`.
 */
export const CancelFrameSchema = z.strictObject({
  type: z.literal('cancel'),
  taskId: z.string().min(1).max(256),
  owner: OwnerSchema.exactOptional(),
});

const TaskIdsSchema = z.union([z.literal('*'), z.array(z.string().min(1).max(256)).min(1).max(1000)]);

/**
 * `subscribe`: also receive the events of these tasks of the client's identity (from its other sockets, and
 * tasks published from elsewhere by those ids if `authorize` allows), or of every task it may see with
 * `'*'`; with `owner`, tasks of that identity, if `authorize` allows.
 */
export const SubscribeFrameSchema = z.strictObject({
  type: z.literal('subscribe'),
  taskIds: TaskIdsSchema,
  owner: OwnerSchema.exactOptional(),
});

/** `unsubscribe`: undo a `subscribe`. A socket always keeps receiving the tasks it submitted. */
export const UnsubscribeFrameSchema = z.strictObject({
  type: z.literal('unsubscribe'),
  taskIds: TaskIdsSchema,
  owner: OwnerSchema.exactOptional(),
});

/** `ping`: the gateway answers `pong` with the same `id`. */
export const PingFrameSchema = z.strictObject({
  type: z.literal('ping'),
  id: z.union([z.string().max(256), z.number()]).exactOptional(),
});

/** Every frame a client may send, told apart by `type`. Unknown keys are refused. */
export const ClientFrameSchema = z.discriminatedUnion('type', [
  SubmitFrameSchema,
  CancelFrameSchema,
  SubscribeFrameSchema,
  UnsubscribeFrameSchema,
  PingFrameSchema,
]);

/** A task as submitted: a `Task` or a bare prompt. */
export type SubmittedTask = z.infer<typeof SubmittedTaskSchema>;
/** Client → server: run tasks. */
export type SubmitFrame = z.infer<typeof SubmitFrameSchema>;
/** Client → server: cancel one of its tasks. */
export type CancelFrame = z.infer<typeof CancelFrameSchema>;
/** Client → server: watch more tasks. */
export type SubscribeFrame = z.infer<typeof SubscribeFrameSchema>;
/** Client → server: stop watching tasks. */
export type UnsubscribeFrame = z.infer<typeof UnsubscribeFrameSchema>;
/** Client → server: are you there? */
export type PingFrame = z.infer<typeof PingFrameSchema>;
/** Any frame a client may send. */
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

/** An error as it travels in frames and JSONL files: `RxAgentError#toJSON()`. */
export const ErrorJsonSchema = z.strictObject({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  info: z.unknown(),
});

const FinishReasonSchema = z.enum(['stop', 'length', 'tool-calls', 'content-filter', 'other']);

/** A `Settled` result as JSON, its error flattened with `toJSON()`. */
export const SettledJsonSchema = z.discriminatedUnion('status', [
  z.strictObject({
    status: z.literal('fulfilled'),
    taskId: z.string(),
    value: z.unknown(),
    usage: UsageSchema,
    attempts: z.number().int().nonnegative(),
    durationMs: z.number().nonnegative(),
    finishReason: FinishReasonSchema.exactOptional(),
    meta: z.unknown().exactOptional(),
  }),
  z.strictObject({
    status: z.literal('rejected'),
    taskId: z.string(),
    error: ErrorJsonSchema,
    usage: UsageSchema.exactOptional(),
    attempts: z.number().int().nonnegative(),
    durationMs: z.number().nonnegative(),
    meta: z.unknown().exactOptional(),
  }),
]);

/**
 * Counts sent to every client at most once per `metricsIntervalMs` when they changed: its own identity's
 * (`scope: 'identity'`), or the whole gateway's with connections and budget (`scope: 'gateway'`) for the
 * identities `authorize` admits to `metrics`.
 */
export const MetricsFrameSchema = z.strictObject({
  type: z.literal('metrics'),
  scope: z.enum(['identity', 'gateway']),
  /** Tasks accepted and not started: in the pool's queue and in per-client queues. */
  queued: z.number().int().nonnegative(),
  inFlight: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Input plus output tokens of the runs settled over the last minute. */
  tokensPerMinute: z.number().nonnegative(),
  /** Sockets connected (gateway scope). */
  clients: z.number().int().nonnegative().exactOptional(),
  /** The shared budget's last state, when the gateway has one (gateway scope). */
  budget: z.unknown().exactOptional(),
});

/** Set on a task's frames when it belongs to another identity than the client's. */
const FrameOwnerSchema = z.string().exactOptional();

/** Every frame the gateway sends, told apart by `type`. */
export const ServerFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('accepted'), taskIds: z.array(z.string()) }),
  z.strictObject({
    type: z.literal('started'),
    taskId: z.string(),
    owner: FrameOwnerSchema,
    waitMs: z.number().nonnegative(),
  }),
  z.strictObject({
    type: z.literal('delta'),
    taskId: z.string(),
    owner: FrameOwnerSchema,
    /** The `seq` of the first delta in the frame; under backpressure several deltas share one frame. */
    seq: z.number().int().nonnegative(),
    text: z.string(),
  }),
  z.strictObject({
    type: z.literal('tool'),
    taskId: z.string(),
    owner: FrameOwnerSchema,
    calls: z.array(ToolCallSchema),
  }),
  /** A `router` sent the task's attempt `attempt` (from 1) to deployment `deployment`. */
  z.strictObject({
    type: z.literal('route'),
    taskId: z.string(),
    owner: FrameOwnerSchema,
    deployment: z.string(),
    attempt: z.number().int().positive(),
  }),
  /** A budget let the task's attempt `attempt` (from 1) go after `waitMs` of waiting. */
  z.strictObject({
    type: z.literal('admitted'),
    taskId: z.string(),
    owner: FrameOwnerSchema,
    attempt: z.number().int().positive(),
    waitMs: z.number().nonnegative(),
  }),
  z.strictObject({
    type: z.literal('settled'),
    taskId: z.string(),
    owner: FrameOwnerSchema,
    result: SettledJsonSchema,
  }),
  MetricsFrameSchema,
  z.strictObject({
    type: z.literal('error'),
    code: z.string(),
    message: z.string(),
    issues: z.array(z.unknown()).exactOptional(),
    taskId: z.string().exactOptional(),
  }),
  z.strictObject({ type: z.literal('pong'), id: z.union([z.string(), z.number()]).exactOptional() }),
]);

/** An error in JSON form, as `RxAgentError#toJSON()` gives it. */
export type ErrorJson = z.infer<typeof ErrorJsonSchema>;
/** A settled result in JSON form. */
export type SettledJson = z.infer<typeof SettledJsonSchema>;
/** Server → client: the pool's health. */
export type MetricsFrame = z.infer<typeof MetricsFrameSchema>;
/** Any frame the gateway sends. */
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
/**
 * Server → client: a frame was refused (`E_PROTOCOL`, `E_VALIDATION`, `E_DUPLICATE_ID`, `E_QUEUE_FULL`,
 * `E_FORBIDDEN`, `E_LIMIT`).
 */
export type ErrorFrame = Extract<ServerFrame, { type: 'error' }>;

const CLIENT_TYPES = ClientFrameSchema.options.map((option) => option.shape.type.value);

/** The outcome of reading one client frame: the frame, or the `error` frame to answer with. */
export type ClientFrameResult =
  | { success: true; frame: ClientFrame }
  | {
      success: false;
      error: ErrorFrame;
      /** The frame's `type` when it named a known one. */ frameType?: string;
    };

/**
 * Reads one text frame from a client: `E_PROTOCOL` for text that is not JSON or names no known `type`,
 * `E_VALIDATION` (with the zod issues) for a known frame that does not match its schema.
 *
 * @example
 * const r = parseClientFrame('{"type":"ping"}');
 * if (r.success) console.log(r.frame.type); // 'ping'
 */
export function parseClientFrame(text: string): ClientFrameResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return protocolError('not-json', `Frame is not valid JSON: ${(error as Error).message}`);
  }
  const type = typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !(CLIENT_TYPES as string[]).includes(type)) {
    // The echo is cut short: an error frame must not cost more than the frame that caused it.
    const named = typeof type === 'string' ? JSON.stringify(type.slice(0, 64)) : 'undefined';
    return protocolError(
      'unknown-type',
      `Unknown frame type ${named}${typeof type === 'string' && type.length > 64 ? ' (cut)' : ''}; expected one of ${CLIENT_TYPES.join(', ')}`,
    );
  }
  const result = ClientFrameSchema.safeParse(json);
  if (result.success) return { success: true, frame: result.data };
  // At most MAX_ISSUES issues go back: a frame of 100 bad tasks must not be answered by a larger one.
  const { issues } = result.error;
  const shown = issues.slice(0, MAX_ISSUES);
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more issues)` : '';
  return {
    success: false,
    frameType: type,
    error: {
      type: 'error',
      code: 'E_VALIDATION',
      message: `Invalid ${type} frame: ${z.prettifyError(new z.ZodError(shown))}${more}`,
      issues: shown,
    },
  };
}

/** The most validation issues an `error` frame carries. */
const MAX_ISSUES = 10;

function protocolError(problem: ProtocolProblem, message?: string): ClientFrameResult {
  const error = new ProtocolError(message === undefined ? { problem } : { problem, message });
  return { success: false, error: errorFrame(error) };
}

/**
 * The `error` frame that refuses a client's frame: the error's `code` and `message`, and the task it
 * concerns.
 *
 * @example
 * socket.send(JSON.stringify(errorFrame(new ForbiddenError({ action: 'submit' }))));
 */
export function errorFrame(error: RxAgentError, taskId?: string): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code: error.code, message: error.message };
  return taskId === undefined ? frame : { ...frame, taskId };
}

/**
 * A `Settled` result as plain JSON, its error flattened with `toJSON()`, under `taskId` (the result's own by
 * default).
 *
 * @example
 * socket.send(JSON.stringify({ type: 'settled', taskId: r.taskId, result: settledToJson(r) }));
 */
export function settledToJson(result: Settled<unknown>, taskId = result.taskId): SettledJson {
  if (result.status === 'fulfilled') {
    return {
      status: 'fulfilled',
      taskId,
      value: result.value,
      usage: result.usage,
      attempts: result.attempts,
      durationMs: result.durationMs,
      ...(result.finishReason === undefined ? {} : { finishReason: result.finishReason }),
      ...(result.meta === undefined ? {} : { meta: result.meta }),
    };
  }
  return {
    status: 'rejected',
    taskId,
    error: result.error.toJSON(),
    ...(result.usage === undefined ? {} : { usage: result.usage }),
    attempts: result.attempts,
    durationMs: result.durationMs,
    ...(result.meta === undefined ? {} : { meta: result.meta }),
  };
}

/**
 * The frame that carries a task event to clients, under `taskId` (the event's own by default: a gateway names
 * a task by the id its client gave); `retry` and `hedge` events stay on the server (`undefined`).
 *
 * @example
 * const frame = eventToFrame(event);
 * if (frame !== undefined) socket.send(JSON.stringify(frame));
 */
export function eventToFrame(event: TaskEvent<unknown>, taskId = event.taskId): ServerFrame | undefined {
  switch (event.type) {
    case 'started':
      return { type: 'started', taskId, waitMs: event.waitMs };
    case 'delta':
      return { type: 'delta', taskId, seq: event.seq, text: event.text };
    case 'tool':
      return { type: 'tool', taskId, calls: [...event.calls] };
    case 'route':
      return { type: 'route', taskId, deployment: event.deployment, attempt: event.attempt };
    case 'admitted':
      return { type: 'admitted', taskId, attempt: event.attempt, waitMs: event.waitMs };
    case 'settled':
      return { type: 'settled', taskId, result: settledToJson(event.result, taskId) };
    case 'retry':
    case 'hedge':
      return undefined;
  }
}

/**
 * The text of a WebSocket text frame, however `ws` delivered its bytes.
 *
 * @example
 * socket.on('message', (data) => parseClientFrame(frameText(data)));
 */
export function frameText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

/**
 * Reads one WebSocket message from a client as `ws` delivers it: binary frames are refused with
 * `E_PROTOCOL`, text goes through {@link parseClientFrame}.
 *
 * @example
 * socket.on('message', (data, isBinary) => readClientFrame(data, isBinary));
 */
export function readClientFrame(data: RawData, isBinary: boolean): ClientFrameResult {
  if (isBinary) return protocolError('binary');
  return parseClientFrame(frameText(data));
}
