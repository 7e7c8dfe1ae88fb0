import { randomUUID } from 'node:crypto';
import { z, type core } from 'zod';
import { ProviderError, RateLimitError, ValidationError } from '../core/errors/index.js';
import type { ParseResult } from '../core/schemas.js';
import { TaskSchema } from '../core/schemas.js';
import type { FinishReason, Settled, Task, ToolCall, Usage } from '../core/types.js';
import { chatRequestToTask } from './chat-request.js';

/** The one endpoint whose lines rxagent runs. */
export const CHAT_COMPLETIONS_URL = '/v1/chat/completions';

const BatchRequestLineSchema = z.strictObject({
  custom_id: z.string().min(1).max(256),
  method: z.literal('POST'),
  url: z.string(),
  body: z.unknown(),
});

/**
 * The `ValidationError` of a line that is not a valid line of `format`, its message giving the line and
 * what is wrong, in the line's own names.
 *
 * @example
 * return { success: false, error: invalidLine('openai-batch', 'line 3', result.issues) };
 */
export function invalidLine(
  format: string,
  source: string,
  issues: readonly core.$ZodIssue[],
): ValidationError {
  return new ValidationError({
    issues,
    source,
    message: `Invalid ${format} line (${source}): ${z.prettifyError(new z.ZodError([...issues]))}`,
  });
}

/**
 * Reads one line of an OpenAI Batch API input file (`{"custom_id", "method": "POST", "url", "body"}`, which
 * vLLM's batch runner reads too) into a task: `custom_id` is its id, and the body is read as
 * `chatRequestToTask` reads it. A `url` other than `/v1/chat/completions` (embeddings, responses, scores) is
 * refused, naming it.
 *
 * @example
 * const r = parseBatchRequestLine(JSON.parse(line), 'line 3');
 */
export function parseBatchRequestLine(json: unknown, source: string): ParseResult<Task> {
  const line = BatchRequestLineSchema.safeParse(json);
  if (!line.success) return { success: false, error: invalidLine('openai-batch', source, line.error.issues) };
  const { custom_id: id, url, body } = line.data;
  if (url !== CHAT_COMPLETIONS_URL) {
    const message = `Unsupported url ${JSON.stringify(url)} (${source}): rxagent runs chat completions ("${CHAT_COMPLETIONS_URL}") only; the line was not run`;
    return {
      success: false,
      error: new ValidationError({
        issues: [{ code: 'custom', path: ['url'], message, input: url }],
        source,
        message,
      }),
    };
  }
  const request = chatRequestToTask(body, ['body']);
  if (!request.success) return { success: false, error: invalidLine('openai-batch', source, request.issues) };
  return checkedTask({ id, ...request.data }, 'openai-batch', source);
}

/**
 * The task as `TaskSchema` sees it: a body can pass OpenAI's shape and still ask for what a task cannot hold
 * (a tool name with a dot, five stop sequences).
 *
 * @example
 * return checkedTask({ id, ...request.data }, 'openai-requests', 'line 4');
 */
export function checkedTask(task: Task, format: string, source: string): ParseResult<Task> {
  const checked = TaskSchema.safeParse(task);
  if (checked.success) return { success: true, data: checked.data };
  return { success: false, error: invalidLine(format, source, checked.error.issues) };
}

/** One line of a Batch API output or error file. */
export interface BatchResultLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: {
    readonly status_code: number;
    readonly request_id: string;
    readonly body: Readonly<Record<string, unknown>>;
  } | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** What a result line says beyond its `Settled`. */
export interface BatchLineExtras {
  /** The tool calls the answer ended with; written only when it finished with `tool-calls`. */
  readonly toolCalls?: readonly ToolCall[];
  /** When the answer was made, in milliseconds since the epoch; written in seconds. */
  readonly createdAtMs: number;
}

const FINISH_REASONS: Readonly<Record<FinishReason, string | null>> = {
  stop: 'stop',
  length: 'length',
  'tool-calls': 'tool_calls',
  'content-filter': 'content_filter',
  other: null,
};

/**
 * A settled result as a line of a Batch API output file, so tools written for the Batch API read it. The
 * shape is OpenAI's `BatchRequestOutput` (openai/openai-openapi, openapi.yaml, components.schemas
 * .BatchRequestOutput, and its example line `{"id": "batch_req_wnaDys", "custom_id": "request-2",
 * "response": {"status_code": 200, "request_id": "req_c187b3", "body": {"id": "chatcmpl-9758Iw", "object":
 * "chat.completion", …}}, "error": null}`), with failures as the Batch guide shows them in error files
 * (platform.openai.com/docs/guides/batch): an HTTP failure keeps `response` with its status and an
 * `{"error": {message, type, param, code}}` body, and `error: null`; any other failure has `response: null`
 * and `error: {code, message}` (OpenAI writes `batch_expired` there; rxagent writes its own code, such as
 * `E_TIMEOUT`).
 *
 * A fulfilled result becomes a `chat.completion` with one choice: the value as `message.content` (JSON text
 * when it is not a string), `tool_calls` from `extras` when the model finished asking for them, the finish
 * reason in OpenAI's names (`null` when unknown), and `usage` with `prompt_tokens_details.cached_tokens` and
 * `completion_tokens_details.reasoning_tokens` when the provider reported them. It has no `model` (a
 * `Settled` does not say which model answered) and no `system_fingerprint`, and its ids are fresh
 * (`batch_req_…`, `req_…`, `chatcmpl-…`): rxagent has no provider request id to give.
 *
 * @example
 * writeSync(fd, `${JSON.stringify(settledToBatchLine(result, { createdAtMs: Date.now() }))}\n`);
 */
export function settledToBatchLine(result: Settled<unknown>, extras: BatchLineExtras): BatchResultLine {
  const id = `batch_req_${freshId()}`;
  const custom_id = result.taskId;
  if (result.status === 'rejected') {
    const { error } = result;
    const status =
      error instanceof ProviderError || error instanceof RateLimitError ? error.info.status : undefined;
    if (status === undefined)
      return { id, custom_id, response: null, error: { code: error.code, message: error.message } };
    const info = error instanceof ProviderError ? error.info : {};
    return {
      id,
      custom_id,
      response: {
        status_code: status,
        request_id: info.requestId ?? `req_${freshId()}`,
        body: {
          error: { message: error.message, type: info.type ?? null, param: null, code: info.code ?? null },
        },
      },
      error: null,
    };
  }
  const calls = result.finishReason === 'tool-calls' ? (extras.toolCalls ?? []) : [];
  const message = {
    role: 'assistant',
    content: typeof result.value === 'string' ? result.value : JSON.stringify(result.value),
    refusal: null,
    ...(calls.length === 0
      ? {}
      : {
          tool_calls: calls.map((call) => ({
            id: call.id,
            type: 'function',
            function: { name: call.name, arguments: call.arguments },
          })),
        }),
  };
  return {
    id,
    custom_id,
    response: {
      status_code: 200,
      request_id: `req_${freshId()}`,
      body: {
        id: `chatcmpl-${freshId()}`,
        object: 'chat.completion',
        created: Math.floor(extras.createdAtMs / 1000),
        choices: [
          {
            index: 0,
            message,
            logprobs: null,
            finish_reason: result.finishReason === undefined ? null : FINISH_REASONS[result.finishReason],
          },
        ],
        usage: usageOf(result.usage),
      },
    },
    error: null,
  };
}

function usageOf(usage: Usage): Record<string, unknown> {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    ...(usage.cachedInputTokens === undefined
      ? {}
      : { prompt_tokens_details: { cached_tokens: usage.cachedInputTokens } }),
    ...(usage.reasoningTokens === undefined
      ? {}
      : { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } }),
  };
}

function freshId(): string {
  return randomUUID().replaceAll('-', '');
}

/**
 * The task id and outcome a Batch API output line records: fulfilled when its response has status 200 and
 * it has no error. `undefined` for anything that is not such a line.
 *
 * @example
 * const outcome = batchLineOutcome(JSON.parse(line)); // { taskId: 'request-1', status: 'fulfilled' }
 */
export function batchLineOutcome(
  json: unknown,
): { readonly taskId: string; readonly status: 'fulfilled' | 'rejected' } | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const line = json as { custom_id?: unknown; response?: { status_code?: unknown } | null; error?: unknown };
  if (typeof line.custom_id !== 'string' || !('response' in line || 'error' in line)) return undefined;
  const fulfilled = line.response?.status_code === 200 && line.error == null;
  return { taskId: line.custom_id, status: fulfilled ? 'fulfilled' : 'rejected' };
}
