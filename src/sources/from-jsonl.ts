import { constants } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { TextDecoder } from 'node:util';
import { ValidationError } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import { parseTask } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import { describe, expectConfig, expectKnownKeys } from '../core/validate.js';
import { pullSource } from '../core/pull.js';
import type { PullSource } from '../core/pull.js';

/** Options of {@link fromJsonl}. */
export interface FromJsonlOptions {
  /**
   * The longest line read, in bytes of UTF-8 without its newline. A longer line is read past chunk by chunk
   * and never held whole, and settles as rejected with a `ValidationError` giving its line number and size.
   * At most `buffer.constants.MAX_STRING_LENGTH` (536,870,888 on 64-bit Node), the longest string V8 can
   * build.
   *
   * @defaultValue 8388608 (8 MiB)
   */
  readonly maxLineBytes?: number;
}

const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
/** `TaskSchema` caps ids at 256 characters; ids of bad lines are one longer, so no task can have one. */
const INVALID_ID_LENGTH = 257;

/**
 * Reads tasks from a JSON Lines file, one `Task` object per line (`{"id":"a","input":"…"}`), as a pull source:
 * the pool reads the next line only when it has room, so a file of millions of lines streams through in
 * bounded memory (the file is read in chunks of 64 KiB, at most one chunk ahead of the pool, and a line is
 * held only up to `maxLineBytes`). Blank lines are skipped, and a UTF-8 byte order mark at the start of the
 * file is dropped. A line that is too long, not UTF-8, not JSON or not a valid task becomes an `InvalidTask`
 * with a `ValidationError` whose message and `info.source` give the line number (`line 3`), which the pool
 * settles as rejected while the run goes on. Its id is `line-N` padded with dots to 257 characters
 * (`line-3....…`): one more than `TaskSchema` allows a task id, so it never equals the id of a real task.
 *
 * ```
 * file:    {a}  {b}  not-json  {c}
 * result:  a----b----line-3…----c|     (each line pulled when the pool asks)
 * ```
 *
 * @example
 * fromJsonl('prompts.jsonl').pipe(runAgents(agent, { concurrency: 5 }), toJsonl('results.jsonl')).subscribe();
 * fromJsonl('transcripts.jsonl', { maxLineBytes: 64 * 1024 * 1024 }); // lines of up to 64 MiB
 */
export function fromJsonl(path: string, options: FromJsonlOptions = {}): PullSource<Task | InvalidTask> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('fromJsonl', options, ['maxLineBytes']);
  const maxLineBytes = expectMaxLineBytes(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  return pullSource(() => readTasks(path, maxLineBytes));
}

function expectMaxLineBytes(value: unknown): number {
  const max = constants.MAX_STRING_LENGTH;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(
      `Expected \`maxLineBytes\` to be an integer from 1 to ${max} (the longest string V8 can build), got ${describe(value)}`,
    );
  }
  return value;
}

/** One line of a file: its bytes, or only its size when it was longer than the limit. */
export type RawLine =
  | { readonly number: number; readonly bytes: Uint8Array }
  | { readonly number: number; readonly tooLong: number };

/**
 * Splits a stream of byte chunks into lines at `\n`, numbered from 1. A line's bytes are kept (as views of
 * the chunks) only while they fit in `maxLineBytes`; past that they are dropped and only counted, so a line
 * of any length costs at most `maxLineBytes` plus the chunk being read. The engine of {@link fromJsonl}; not
 * part of the package's API.
 *
 * @example
 * for await (const line of splitLines(createReadStream('a.jsonl'), 1024)) console.log(line.number);
 */
export async function* splitLines(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxLineBytes: number,
): AsyncGenerator<RawLine> {
  let parts: Uint8Array[] = [];
  // Bytes of the current line seen so far; counted on past the limit, where `parts` stays empty.
  let size = 0;
  let number = 0;
  // A line's closing `\r` (CRLF files) is not counted against the limit.
  let lastByte = -1;
  const take = (): RawLine => {
    number++;
    const counted = lastByte === 0x0d ? size - 1 : size;
    lastByte = -1;
    const line: RawLine =
      counted > maxLineBytes
        ? { number, tooLong: counted }
        : { number, bytes: parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size) };
    parts = [];
    size = 0;
    return line;
  };
  const append = (part: Uint8Array): void => {
    if (part.length === 0) return;
    size += part.length;
    lastByte = part[part.length - 1] ?? -1;
    // One byte past the limit is still held: it may be the line's `\r`.
    if (size > maxLineBytes + 1) parts = [];
    else parts.push(part);
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      append(chunk.subarray(start, end));
      yield take();
      start = end + 1;
    }
    append(chunk.subarray(start));
  }
  if (size > 0) yield take();
}

async function* readTasks(path: string, maxLineBytes: number): AsyncGenerator<Task | InvalidTask> {
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  // One decoder for all lines: `fatal` refuses bytes that are not UTF-8 instead of replacing them with
  // U+FFFD, and `ignoreBOM` keeps a mark inside the file, where it is not whitespace to JSON; the one at the
  // start is dropped below.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  try {
    for await (const line of splitLines(stream as AsyncIterable<Buffer>, maxLineBytes)) {
      const task =
        'tooLong' in line ? tooLong(line.number, line.tooLong, maxLineBytes) : parseLine(line, decoder);
      if (task !== undefined) yield task;
    }
  } finally {
    stream.destroy();
  }
}

function tooLong(number: number, bytes: number, maxLineBytes: number): InvalidTask {
  const source = `line ${number}`;
  return invalid(
    number,
    new ValidationError({
      issues: [],
      source,
      bytes,
      maxLineBytes,
      message: `Line too long (${source}): ${bytes} bytes, over the limit of ${maxLineBytes} (\`maxLineBytes\`); it was read past, not parsed`,
    }),
  );
}

/** The task on one line, an `InvalidTask` for a bad line, `undefined` for a blank one. */
function parseLine(
  line: { number: number; bytes: Uint8Array },
  decoder: TextDecoder,
): Task | InvalidTask | undefined {
  const { number } = line;
  const source = `line ${number}`;
  const bytes = number === 1 && startsWithBom(line.bytes) ? line.bytes.subarray(3) : line.bytes;
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return invalid(
      number,
      new ValidationError({
        issues: [],
        source,
        message: `Invalid UTF-8 (${source}): the line holds bytes that are not UTF-8; it was not read, so that ids and inputs are never changed (save the file as UTF-8)`,
      }),
    );
  }
  if (text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return invalid(
      number,
      new ValidationError({
        issues: [],
        source,
        message: `Invalid JSON (${source}): ${(error as Error).message}`,
      }),
    );
  }
  const result = parseTask(json, source);
  return result.success ? result.data : invalid(number, result.error);
}

function startsWithBom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

function invalid(number: number, error: ValidationError): InvalidTask {
  return new InvalidTask(`line-${number}`.padEnd(INVALID_ID_LENGTH, '.'), error);
}
