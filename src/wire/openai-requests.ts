import type { ParseResult } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import { chatRequestToTask } from './chat-request.js';
import { checkedTask, invalidLine } from './openai-batch.js';

/** The keys of `metadata`, in order, whose value names the task. */
const ID_KEYS = ['id', 'row_id', 'custom_id'] as const;

/**
 * The id of a line of the cookbook's parallel processor: `metadata.id`, `metadata.row_id` or
 * `metadata.custom_id` (the first that is a string or a number, as text), else the line number (`line-12`).
 *
 * @example
 * requestsLineId({ model: 'm', messages: [], metadata: { row_id: 7 } }, 3); // '7'
 */
export function requestsLineId(json: unknown, lineNumber: number): string {
  const metadata = isObject(json) ? json['metadata'] : undefined;
  if (isObject(metadata)) {
    for (const key of ID_KEYS) {
      const value = metadata[key];
      if (typeof value === 'string' && value !== '') return value;
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    }
  }
  return `line-${lineNumber}`;
}

/**
 * Reads one line of the openai-cookbook's `api_request_parallel_processor.py` input (a chat.completions
 * request body, with an optional `metadata` field the processor keeps beside the request and never sends)
 * into a task: its id is {@link requestsLineId}'s, `metadata` becomes its `meta`, and the rest is read as
 * `chatRequestToTask` reads a body. A request that is not a chat completion (the cookbook's own example file
 * asks for embeddings) is refused, saying so.
 *
 * @example
 * const r = parseRequestsLine(JSON.parse(line), 12, 'line 12');
 */
export function parseRequestsLine(json: unknown, lineNumber: number, source: string): ParseResult<Task> {
  const id = requestsLineId(json, lineNumber);
  if (!isObject(json)) {
    return {
      success: false,
      error: invalidLine('openai-requests', source, [
        { code: 'custom', path: [], input: json, message: 'expected a request object' },
      ]),
    };
  }
  const { metadata, ...body } = json;
  if (!('messages' in body)) {
    const what =
      'input' in body
        ? 'an embeddings or Responses API request (`input`, no `messages`)'
        : 'prompt' in body
          ? 'a completions request (`prompt`, no `messages`)'
          : 'not a chat completions request (no `messages`)';
    return {
      success: false,
      error: invalidLine('openai-requests', source, [
        {
          code: 'custom',
          path: ['messages'],
          input: body,
          message: `${what}: rxagent runs chat completions only, so the line was not run`,
        },
      ]),
    };
  }
  const request = chatRequestToTask(body);
  if (!request.success)
    return { success: false, error: invalidLine('openai-requests', source, request.issues) };
  return checkedTask(
    { id, ...request.data, ...(metadata === undefined ? {} : { meta: metadata }) },
    'openai-requests',
    source,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
