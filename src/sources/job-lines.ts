import { DuplicateIdError, ValidationError } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import { parseTask } from '../core/schemas.js';
import type { ParseResult } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import { parseBatchRequestLine } from '../wire/openai-batch.js';
import { parseRequestsLine, requestsLineId } from '../wire/openai-requests.js';

/**
 * The formats of job files `fromJsonl` reads: rxagent's own tasks, OpenAI Batch API input lines (which vLLM's
 * batch runner reads too), and the request lines of the openai-cookbook's parallel processor.
 */
export type JobFormat = 'rxagent' | 'openai-batch' | 'openai-requests';

/** The formats, in the order `format` names them. */
export const JOB_FORMATS: readonly JobFormat[] = ['rxagent', 'openai-batch', 'openai-requests'];

/** `TaskSchema` caps ids at 256 characters; ids of bad lines are one longer, so no task can have one. */
const INVALID_ID_LENGTH = 257;

/**
 * The id of a line that has none of its own (not JSON, not UTF-8, too long, or a duplicate): `line-N` padded
 * with dots to 257 characters, one more than a task id may have, so it never equals one.
 *
 * @example
 * lineId(3); // 'line-3......' (257 characters)
 */
export function lineId(number: number): string {
  return `line-${number}`.padEnd(INVALID_ID_LENGTH, '.');
}

/**
 * What format a parsed line looks like, from its keys: `custom_id` or `body` is a Batch API line; `messages`,
 * or `model` without `id`, a request body of the cookbook's processor; any other object an rxagent task.
 * `undefined` for JSON that is not an object.
 */
function shapeOf(json: unknown): JobFormat | undefined {
  if (!isObject(json)) return undefined;
  if ('custom_id' in json || 'body' in json) return 'openai-batch';
  if ('messages' in json || ('model' in json && !('id' in json))) return 'openai-requests';
  return 'rxagent';
}

/** The id a line gives itself, even when it is not a valid line, so that its result can still be joined. */
function ownId(format: JobFormat, json: unknown, number: number): string | undefined {
  if (!isObject(json)) return undefined;
  const id =
    format === 'rxagent'
      ? json['id']
      : format === 'openai-batch'
        ? json['custom_id']
        : requestsLineId(json, number);
  return typeof id === 'string' && id.length >= 1 && id.length < INVALID_ID_LENGTH ? id : undefined;
}

/** The meta a line gives its task, kept on its result even when the line is not valid. */
function ownMeta(format: JobFormat, json: unknown): unknown {
  if (!isObject(json)) return undefined;
  return format === 'rxagent' ? json['meta'] : format === 'openai-requests' ? json['metadata'] : undefined;
}

function parseAs(format: JobFormat, json: unknown, number: number, source: string): ParseResult<Task> {
  switch (format) {
    case 'rxagent':
      return parseTask(json, source);
    case 'openai-batch':
      return parseBatchRequestLine(json, source);
    case 'openai-requests':
      return parseRequestsLine(json, number, source);
  }
}

/**
 * Makes the reader of one pass over a file: it turns each parsed line into a task or an `InvalidTask`, keeps
 * to one format (the given one, or with `'auto'` the format of the first valid line, reported to `onFormat`),
 * and refuses a line whose id an earlier line already has. A bad line keeps the id and meta it gives itself
 * when it has them, so its result joins back to it; other bad lines and duplicates get {@link lineId}.
 *
 * @example
 * const read = jobLineReader('auto', (format, line) => console.log(`${format} (line ${line})`));
 * const item = read(JSON.parse(text), 1);
 */
export function jobLineReader(
  format: JobFormat | 'auto',
  onFormat?: (format: JobFormat, line: number) => void,
): (json: unknown, number: number) => Task | InvalidTask {
  const given = format === 'auto' ? undefined : format;
  let detected: { readonly format: JobFormat; readonly line: number } | undefined;
  // Every id seen, with the line that has it: a file's ids are checked for duplicates as it streams.
  const firstLines = new Map<string, number>();
  return (json, number) => {
    const source = `line ${number}`;
    const shape = shapeOf(json);
    const expected = given ?? detected?.format;
    const own = shape ?? expected ?? 'rxagent';
    const result =
      expected !== undefined && own !== expected
        ? wrongFormat(own, expected, detected?.line, source)
        : parseAs(own, json, number, source);
    if (result.success && expected === undefined) {
      detected = { format: own, line: number };
      onFormat?.(own, number);
    }
    const item = result.success
      ? result.data
      : new InvalidTask(ownId(own, json, number) ?? lineId(number), result.error, ownMeta(own, json));
    const id = item instanceof InvalidTask ? item.taskId : item.id;
    if (id.length === INVALID_ID_LENGTH) return item;
    const firstLine = firstLines.get(id);
    if (firstLine === undefined) {
      firstLines.set(id, number);
      return item;
    }
    return new InvalidTask(
      lineId(number),
      new DuplicateIdError({ kind: 'task', id, line: number, firstLine }),
      item.meta,
    );
  };
}

function wrongFormat(
  shape: JobFormat,
  expected: JobFormat,
  detectedAt: number | undefined,
  source: string,
): ParseResult<Task> {
  const why =
    detectedAt === undefined ? `read as ${expected}` : `${expected} (detected from line ${detectedAt})`;
  const message = `Wrong format (${source}): the line is ${shape}, but the file is ${why}; a file holds one format, so the line was not run`;
  return {
    success: false,
    error: new ValidationError({
      issues: [{ code: 'custom', path: [], message, input: shape }],
      source,
      message,
    }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
