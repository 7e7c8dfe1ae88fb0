import { constants } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { TextDecoder } from 'node:util';
import { ValidationError } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import type { Task } from '../core/types.js';
import { describe, expectConfig, expectFunction, expectKnownKeys, expectOneOf } from '../core/validate.js';
import { pullSource } from '../core/pull.js';
import type { PullSource } from '../core/pull.js';
import { JOB_FORMATS, jobLineReader, lineId } from './job-lines.js';
import type { JobFormat } from './job-lines.js';

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
  /**
   * The format of the lines: `'rxagent'` (`{"id","input",…}`), `'openai-batch'` (Batch API input lines,
   * `{"custom_id","method","url","body"}`, as vLLM's batch runner reads them too), `'openai-requests'` (the
   * openai-cookbook parallel processor's request bodies with optional `metadata`), or `'auto'`: the format of
   * the first valid line, reported to `onFormat`. Either way a line of another format is an error for that
   * line, never read as the file's format.
   *
   * @defaultValue 'auto'
   */
  readonly format?: JobFormat | 'auto';
  /**
   * With `format: 'auto'`, called on each read of the file with the format it found and the line it found it
   * on. Not called when no line is valid. @defaultValue none
   */
  readonly onFormat?: (format: JobFormat, line: number) => void;
}

const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

/**
 * Reads tasks from a JSON Lines file as a pull source: the pool reads the next line only when it has room, so
 * a file of millions of lines streams through without being held (the file is read in chunks of 64 KiB, at
 * most one chunk ahead of the pool, and a line is held only up to `maxLineBytes`); what grows with the file is
 * one entry per distinct id, kept to refuse duplicates. Blank lines are skipped, and a UTF-8 byte order mark at
 * the start of the file is dropped.
 *
 * Each line is a task in the file's `format`: rxagent's own (`{"id":"a","input":"…"}`), an OpenAI Batch API
 * input line (id from `custom_id`, the chat.completions `body` read into `input`, `maxOutputTokens` and
 * `params`, unknown body fields kept for OpenAI in `params.providerOptions.openai`; a `url` other than
 * `/v1/chat/completions` is refused), or a line of the cookbook's parallel processor (the same body, its id
 * from `metadata.id`, `metadata.row_id` or `metadata.custom_id`, else `line-N`, and `metadata` kept as
 * `meta`). With `'auto'` (the default) the first valid line decides.
 *
 * A line that is too long, not UTF-8, not JSON, not a valid line of the format or of another format becomes
 * an `InvalidTask` with a `ValidationError` whose message and `info.source` give the line number (`line 3`),
 * which the pool settles as rejected while the run goes on. It keeps the id the line gives itself, when it
 * gives one, so its result joins back to it. A line whose id an earlier line has is refused with a
 * `DuplicateIdError` (`E_DUPLICATE_ID`, `info.line` and `info.firstLine`) and not run; the first keeps it.
 * Lines with no id of their own, and duplicates, get the id `line-N` padded with dots to 257 characters
 * (`line-3....…`): one more than `TaskSchema` allows a task id, so it never equals the id of a real task.
 *
 * ```
 * file:    {a}  {b}  not-json  {a}   {c}
 * result:  a----b----line-3…---line-4…--c|     (each line pulled when the pool asks; line 4 reuses a)
 * ```
 *
 * @example
 * fromJsonl('prompts.jsonl').pipe(runAgents(agent, { concurrency: 5 }), toJsonl('results.jsonl')).subscribe();
 * fromJsonl('batchinput.jsonl', { onFormat: (format) => console.log(`reading ${format}`) }); // 'openai-batch'
 * fromJsonl('transcripts.jsonl', { maxLineBytes: 64 * 1024 * 1024 }); // lines of up to 64 MiB
 */
export function fromJsonl(path: string, options: FromJsonlOptions = {}): PullSource<Task | InvalidTask> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('fromJsonl', options, ['maxLineBytes', 'format', 'onFormat']);
  const maxLineBytes = expectMaxLineBytes(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  const format = expectOneOf('format', options.format ?? 'auto', [...JOB_FORMATS, 'auto']);
  const { onFormat } = options;
  if (onFormat !== undefined) {
    expectFunction('onFormat', onFormat);
    if (format !== 'auto') {
      throw new TypeError(
        `\`onFormat\` reports the format that \`format: 'auto'\` detects; with \`format: '${format}'\` there is nothing to detect`,
      );
    }
  }
  return pullSource(() => readTasks(path, maxLineBytes, jobLineReader(format, onFormat)));
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

async function* readTasks(
  path: string,
  maxLineBytes: number,
  read: (json: unknown, number: number) => Task | InvalidTask,
): AsyncGenerator<Task | InvalidTask> {
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  // One decoder for all lines: `fatal` refuses bytes that are not UTF-8 instead of replacing them with
  // U+FFFD, and `ignoreBOM` keeps a mark inside the file, where it is not whitespace to JSON; the one at the
  // start is dropped below.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  try {
    for await (const line of splitLines(stream as AsyncIterable<Buffer>, maxLineBytes)) {
      const task =
        'tooLong' in line ? tooLong(line.number, line.tooLong, maxLineBytes) : parseLine(line, decoder, read);
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
  read: (json: unknown, number: number) => Task | InvalidTask,
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
  return read(json, number);
}

function startsWithBom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

function invalid(number: number, error: ValidationError): InvalidTask {
  return new InvalidTask(lineId(number), error);
}
