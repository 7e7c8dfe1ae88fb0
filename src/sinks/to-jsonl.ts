import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Observable } from 'rxjs';
import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Settled, TaskEvent } from '../core/types.js';
import { describe, expectConfig, expectKnownKeys } from '../core/validate.js';
import { settledToJson } from '../wire/protocol.js';

/** Options of {@link toJsonl}. */
export interface ToJsonlOptions {
  /** Also `fsync` after each line, so a line survives a power cut, not only a crash. @defaultValue false */
  readonly fsync?: boolean;
}

/**
 * Appends each settled result to a JSON Lines file as `{ taskId, status, value | error, usage, attempts,
 * durationMs }` (errors as their `toJSON()`), and passes every value on unchanged. Each line is written to
 * the file before its `settled` goes downstream, so when a run crashes, every result seen is in the file and
 * {@link readDoneIds} tells which tasks to skip when resuming. Takes task events or `Settled` values.
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
  path: string,
  options: ToJsonlOptions = {},
): MonoTypeOperatorFunction<T> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('toJsonl', options, ['fsync']);
  const fsync = options.fsync ?? false;
  return (source) =>
    new Observable<T>((subscriber) => {
      // Synchronous appends keep lines whole and in order, and make "written" mean written before going on.
      let fd: number | undefined = openSync(path, 'a+');
      endTornLine(fd);
      const subscription = source.subscribe({
        next: (value) => {
          const result = settledOf(value);
          if (result !== undefined && fd !== undefined) {
            try {
              writeSync(fd, `${JSON.stringify(lineOf(result))}\n`);
              if (fsync) fsyncSync(fd);
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

function lineOf(result: Settled<unknown>): Record<string, unknown> {
  const json = settledToJson(result);
  const { taskId, status, ...rest } = json;
  return { taskId, status, ...rest };
}

/** Options of {@link readDoneIds}. */
export interface ReadDoneIdsOptions {
  /** Count rejected results as done too, so failed tasks are not run again. @defaultValue false */
  readonly includeRejected?: boolean;
}

/**
 * Reads the ids of the tasks a `toJsonl` file already holds, to skip them when resuming a run. A missing file
 * gives an empty set; a torn last line (a crash mid-write) is ignored.
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
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const { taskId, status } = (entry ?? {}) as { taskId?: unknown; status?: unknown };
    if (typeof taskId !== 'string') continue;
    if (status === 'fulfilled' || (options.includeRejected === true && status === 'rejected'))
      done.add(taskId);
  }
  return done;
}
