import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ValidationError } from '../core/errors.js';
import { InvalidTask } from '../core/invalid-task.js';
import { parseTask } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import { describe } from '../core/validate.js';
import { pullSource } from './pull.js';
import type { PullSource } from './pull.js';

/**
 * Reads tasks from a JSON Lines file, one `Task` object per line (`{"id":"a","input":"…"}`), as a pull source:
 * the pool reads the next line only when it has room, so a file of millions of lines streams through in
 * bounded memory (the file is read in chunks of 64 KiB, and at most about a thousand lines ahead). Blank
 * lines are skipped. A line that is not JSON or not a valid task becomes an `InvalidTask` with id `line-N`
 * and the line number in its error, which the pool settles as rejected while the run goes on.
 *
 * ```
 * file:    {a}  {b}  not-json  {c}
 * result:  a----b----line-3----c|     (each line pulled when the pool asks)
 * ```
 *
 * @example
 * fromJsonl('prompts.jsonl').pipe(runAgents(agent, { concurrency: 5 }), toJsonl('results.jsonl')).subscribe();
 */
export function fromJsonl(path: string): PullSource<Task | InvalidTask> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
  }
  return pullSource(() => readTasks(path));
}

async function* readTasks(path: string): AsyncGenerator<Task | InvalidTask> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 64 * 1024 });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  try {
    for await (const line of lines) {
      number++;
      if (line.trim() === '') continue;
      yield parseLine(line, number);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

function parseLine(line: string, number: number): Task | InvalidTask {
  const where = `line ${number}`;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    return new InvalidTask(
      `line-${number}`,
      new ValidationError(`Invalid JSON (${where}): ${(error as Error).message}`, {
        issues: [],
        source: where,
      }),
    );
  }
  const result = parseTask(json, where);
  return result.success ? result.data : new InvalidTask(`line-${number}`, result.error);
}
