import { InvalidTask } from '../core/invalid-task.js';
import { parseTask } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import { describe, expectConfig, expectKnownKeys } from '../core/validate.js';
import { pullSource } from '../core/pull.js';
import type { PullSource } from '../core/pull.js';

/** Configuration of {@link fromTasks}. */
export interface FromTasksOptions {
  /** Prefix of the ids given to prompts (and to items with no usable id): `task-1`, `task-2`, … @defaultValue 'task-' */
  readonly idPrefix?: string;
}

type Item = Task | string;

/**
 * A pull source over an iterable or async iterable of tasks or prompts: `pool` and `runAgents` take the next
 * item only when a slot is free, so a generator of a million tasks streams through in flat memory.
 *
 * ```
 * items:   [ 'a', { id: 'x', input: 'b' }, 42 ]
 * result:  --{ id: 'task-1', input: 'a' }--{ id: 'x', input: 'b' }--InvalidTask('task-3')--|
 * ```
 *
 * A string becomes a task with a generated id named after its position (the third item is `task-3`); an
 * object is checked against the task schema and, if it does not fit, passed on as an `InvalidTask` that the
 * pool settles as rejected with the `ValidationError`. Each subscription (or pull) iterates afresh.
 *
 * @example
 * fromTasks(readPrompts()).pipe(runAgents(agent, { concurrency: 5 }), settle()).subscribe(console.log);
 */
export function fromTasks(
  items: Iterable<Item> | AsyncIterable<Item>,
  options: FromTasksOptions = {},
): PullSource<Task | InvalidTask> {
  if (typeof items === 'string') {
    throw new TypeError(
      `Expected \`items\` to be an iterable of tasks or prompts, got a string. Did you mean fromTasks([prompt])?`,
    );
  }
  const candidate = items as Partial<Iterable<Item> & AsyncIterable<Item>> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    (typeof candidate[Symbol.iterator] !== 'function' &&
      typeof candidate[Symbol.asyncIterator] !== 'function')
  ) {
    throw new TypeError(`Expected \`items\` to be an iterable or async iterable, got ${describe(items)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('fromTasks', options, ['idPrefix']);
  const prefix = options.idPrefix ?? 'task-';
  if (typeof prefix !== 'string') {
    throw new TypeError(`Expected \`idPrefix\` to be a string, got ${describe(prefix)}`);
  }
  return pullSource(() => {
    let position = 0;
    const convert = (item: unknown): Task | InvalidTask => toTask(item, ++position, prefix);
    if (typeof (items as Partial<AsyncIterable<Item>>)[Symbol.asyncIterator] === 'function') {
      const inner = (items as AsyncIterable<Item>)[Symbol.asyncIterator]();
      const iterator: AsyncIterator<Task | InvalidTask> = {
        next: () =>
          inner.next().then((r) => (r.done === true ? r : { done: false, value: convert(r.value) })),
        return: async () => {
          await inner.return?.();
          return { done: true, value: undefined };
        },
      };
      return iterator;
    }
    const inner = (items as Iterable<Item>)[Symbol.iterator]();
    const iterator: Iterator<Task | InvalidTask> = {
      next: () => {
        const r = inner.next();
        return r.done === true ? r : { done: false, value: convert(r.value) };
      },
      return: () => {
        inner.return?.();
        return { done: true, value: undefined };
      },
    };
    return iterator;
  });
}

function toTask(item: unknown, position: number, prefix: string): Task | InvalidTask {
  if (typeof item === 'string') return { id: `${prefix}${position}`, input: item };
  if (isPlainTask(item)) return item;
  const parsed = parseTask(item, `item ${position}`);
  if (parsed.success) return parsed.data;
  const id = (item as { id?: unknown } | null)?.id;
  return new InvalidTask(typeof id === 'string' && id !== '' ? id : `${prefix}${position}`, parsed.error);
}

/**
 * The common shape checked by hand, because the schema costs more per task than the pool itself. Anything
 * this does not accept is still judged by the schema, so it only ever says yes where the schema would.
 */
function isPlainTask(item: unknown): item is Task {
  if (typeof item !== 'object' || item === null || Object.getPrototypeOf(item) !== Object.prototype) {
    return false;
  }
  const task = item as Record<string, unknown>;
  for (const key in task) {
    const value = task[key];
    switch (key) {
      case 'id':
        if (typeof value !== 'string' || value.length === 0 || value.length > 256) return false;
        break;
      case 'input':
        if (typeof value !== 'string') return false;
        break;
      case 'maxOutputTokens':
        if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) return false;
        break;
      case 'priority':
        if (typeof value !== 'number' || !Number.isFinite(value)) return false;
        break;
      case 'meta':
        if (value === undefined) return false;
        break;
      default:
        return false;
    }
  }
  return typeof task['id'] === 'string' && typeof task['input'] === 'string';
}
