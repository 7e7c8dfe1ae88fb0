import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Observable, asyncScheduler } from 'rxjs';
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Settled, TaskEvent, ToolCall } from '../core/types.js';
import { describe, expectConfig, expectKnownKeys, expectOneOf } from '../core/validate.js';
import { batchLineOutcome, settledToBatchLine } from '../wire/openai-batch.js';
import { settledToJson } from '../wire/protocol.js';

/** A stream {@link toJsonl} may write to instead of a file, such as `process.stdout`. */
export interface JsonlStream {
  write(text: string): unknown;
}

/** The formats {@link toJsonl} writes: rxagent's result lines, or OpenAI Batch API output lines. */
export type ResultFormat = 'rxagent' | 'openai-batch';

/** Options of {@link toJsonl}. */
export interface ToJsonlOptions {
  /** Also `fsync` after each line, so a line survives a power cut, not only a crash. @defaultValue false */
  readonly fsync?: boolean;
  /**
   * `'rxagent'`: `{ taskId, status, value | error, usage, attempts, durationMs, finishReason?, meta? }`.
   * `'openai-batch'`: a Batch API output line, `{ id, custom_id, response, error }`, so tools written for the
   * Batch API read the results (`settledToBatchLine` says what it holds and leaves out).
   *
   * @defaultValue 'rxagent'
   */
  readonly format?: ResultFormat;
}

/**
 * Appends each settled result to a JSON Lines file and passes every value on unchanged. Each line is written
 * to the file before its `settled` goes downstream, so when a run crashes, every result seen is in the file
 * and {@link readDoneIds} tells which tasks to skip when resuming. Takes task events or `Settled` values. Given
 * a stream (`process.stdout`) instead of a path, it hands each line to the stream (`fsync` does not apply).
 *
 * A line is `{ taskId, status, value | error, usage, attempts, durationMs, finishReason?, meta? }` (errors
 * as their `toJSON()`), or with `format: 'openai-batch'` a Batch API output line joined by `custom_id`: a
 * `chat.completion` for a fulfilled result, OpenAI's error shapes for a rejected one. Its
 * `message.tool_calls` come from the task's `tool` events, so they are written when task events come in,
 * not `Settled` values alone.
 *
 * ```
 * events:  --S--d--s--S--s--|   S started, d delta, s settled
 * result:  --S--d--s--S--s--|   a line appended at each s, before it is passed on
 * ```
 *
 * @example
 * const done = await readDoneIds('results.jsonl');
 * filterPull(fromJsonl('prompts.jsonl'), (t) => t instanceof InvalidTask || !done.has(t.id))
 *   .pipe(runAgents(agent), toJsonl('results.jsonl'))
 *   .subscribe();
 */
export function toJsonl<T extends TaskEvent<unknown> | Settled<unknown>>(
  path: string | JsonlStream,
  options: ToJsonlOptions = {},
): MonoTypeOperatorFunction<T> {
  const isStream = typeof (path as Partial<JsonlStream> | null)?.write === 'function';
  if (!isStream && (typeof path !== 'string' || path === '')) {
    throw new TypeError(`Expected \`path\` to be a file path or a stream, got ${describe(path)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('toJsonl', options, ['fsync', 'format']);
  const fsync = options.fsync ?? false;
  const format = expectOneOf('format', options.format ?? 'rxagent', ['rxagent', 'openai-batch']);
  return (source) =>
    new Observable<T>((subscriber) => {
      // Synchronous appends keep lines whole and in order, and make "written" mean written before going on.
      let fd: number | undefined = isStream ? undefined : openSync(path as string, 'a+');
      if (fd !== undefined) endTornLine(fd);
      const write = isStream
        ? (line: string) => (path as JsonlStream).write(line)
        : (line: string) => {
            if (fd === undefined) return;
            writeSync(fd, line);
            if (fsync) fsyncSync(fd);
          };
      const lineOf = format === 'rxagent' ? rxagentLine : batchLines();
      const subscription = source.subscribe({
        next: (value) => {
          const result = lineOf(value);
          if (result !== undefined) {
            try {
              write(`${JSON.stringify(result)}\n`);
            } catch (error) {
              subscriber.error(error);
              return;
            }
          }
          subscriber.next(value);
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
        complete: () => {
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        if (fd !== undefined) closeSync(fd);
        fd = undefined;
      };
    });
}

/** A run that crashed mid-write left a line without its newline; the next line must not be glued to it. */
function endTornLine(fd: number): void {
  const { size } = fstatSync(fd);
  if (size === 0) return;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  if (last[0] !== 0x0a) writeSync(fd, '\n');
}

function settledOf(value: TaskEvent<unknown> | Settled<unknown>): Settled<unknown> | undefined {
  if ('status' in value) return value;
  return value.type === 'settled' ? value.result : undefined;
}

/** The line of a settled result, `undefined` for other events. */
type LineOf = (value: TaskEvent<unknown> | Settled<unknown>) => object | undefined;

function rxagentLine(value: TaskEvent<unknown> | Settled<unknown>): object | undefined {
  const result = settledOf(value);
  if (result === undefined) return undefined;
  const { taskId, status, ...rest } = settledToJson(result);
  return { taskId, status, ...rest };
}

/** Batch lines, with the tool calls each running task has asked for so far, dropped when it settles. */
function batchLines(): LineOf {
  const calls = new Map<string, ToolCall[]>();
  return (value) => {
    if (!('status' in value) && value.type === 'tool') {
      calls.set(value.taskId, [...(calls.get(value.taskId) ?? []), ...value.calls]);
      return undefined;
    }
    const result = settledOf(value);
    if (result === undefined) return undefined;
    const toolCalls = calls.get(result.taskId);
    calls.delete(result.taskId);
    return settledToBatchLine(result, {
      ...(toolCalls === undefined ? {} : { toolCalls }),
      createdAtMs: asyncScheduler.now(),
    });
  };
}

/** The task id, outcome and format of a result line, `undefined` for a line that is no result. */
function outcomeOf(
  line: string,
): { readonly taskId: string; readonly status: unknown; readonly format: ResultFormat } | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return undefined;
  }
  const { taskId, status } = (entry ?? {}) as { taskId?: unknown; status?: unknown };
  if (typeof taskId === 'string') return { taskId, status, format: 'rxagent' };
  const batch = batchLineOutcome(entry);
  return batch === undefined ? undefined : { ...batch, format: 'openai-batch' };
}

/** Options of {@link readDoneIds}. */
export interface ReadDoneIdsOptions {
  /** Count rejected results as done too, so failed tasks are not run again. @defaultValue false */
  readonly includeRejected?: boolean;
}

/**
 * Reads the ids of the tasks a `toJsonl` file already holds, in either format, to skip them when resuming a
 * run. A missing file gives an empty set; a torn last line (a crash mid-write) is ignored.
 *
 * @example
 * const done = await readDoneIds('results.jsonl');
 */
export async function readDoneIds(path: string, options: ReadDoneIdsOptions = {}): Promise<Set<string>> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('readDoneIds', options, ['includeRejected']);
  const done = new Set<string>();
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    stream.once('error', resolve);
    stream.once('open', () => {
      resolve(undefined);
    });
  });
  if (opened?.code === 'ENOENT') return done;
  if (opened !== undefined) throw opened;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    const outcome = outcomeOf(line);
    if (outcome === undefined) continue;
    const { taskId, status } = outcome;
    if (status === 'fulfilled' || (options.includeRejected === true && status === 'rejected'))
      done.add(taskId);
  }
  return done;
}

/**
 * The format of a `toJsonl` file, from its first result line; `undefined` for a missing or empty file.
 *
 * @example
 * if ((await resultFormatOf('results.jsonl')) === 'openai-batch') console.log('Batch API lines');
 */
export async function resultFormatOf(path: string): Promise<ResultFormat | undefined> {
  try {
    for await (const line of readLines(path)) {
      const outcome = outcomeOf(line);
      if (outcome !== undefined) return outcome.format;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return undefined;
}

/** What {@link compactJsonl} did. */
export interface CompactResult {
  /** Lines kept: one per task id. */
  readonly kept: number;
  /** Lines dropped: older results of the same id, and lines that are no result (a torn line). */
  readonly dropped: number;
}

/**
 * Rewrites a `toJsonl` file (of either format) to hold one line per task id, the latest, in the order those
 * lines were written, dropping older results of the same id and lines that are no result. It reads the file
 * twice, holding one entry per id rather than the lines, writes the result beside it and renames it over the
 * file, so a crash leaves the old file or the new one, never half of one. A resumed run (`rxagent run
 * --resume`) ends with it, so the results file holds the outcome of each task once.
 *
 * @example
 * const { kept, dropped } = await compactJsonl('results.jsonl');
 */
export async function compactJsonl(path: string): Promise<CompactResult> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
  }
  const latest = new Map<string, number>();
  let index = 0;
  for await (const line of readLines(path)) {
    const outcome = outcomeOf(line);
    if (outcome !== undefined) latest.set(outcome.taskId, index);
    index++;
  }
  const temporary = `${path}.compacting`;
  const fd = openSync(temporary, 'w');
  let kept = 0;
  try {
    // Lines go out in chunks of about 64 KiB: one write per line would cost a system call each.
    let chunk = '';
    index = 0;
    for await (const line of readLines(path)) {
      const outcome = outcomeOf(line);
      if (outcome !== undefined && latest.get(outcome.taskId) === index) {
        chunk += `${line}\n`;
        kept++;
        if (chunk.length >= 65_536) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      index++;
    }
    writeSync(fd, chunk);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  return { kept, dropped: index - kept };
}

function readLines(path: string): AsyncIterable<string> {
  return createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
}
