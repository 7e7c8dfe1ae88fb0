import type { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Observable } from 'rxjs';
import { InvalidTask } from '../core/invalid-task.js';
import { parseTask } from '../core/schemas.js';
import type { Task } from '../core/types.js';
import { describe, expectConfig, expectFunction, expectKnownKeys } from '../core/validate.js';

/** Options of {@link fromEmitter}. */
export interface FromEmitterOptions {
  /** An event that completes the source, such as `'end'`. @defaultValue never completes */
  readonly endEvent?: string;
  /** Gives a bare-string payload its task id. @defaultValue a random UUID */
  readonly id?: (prompt: string) => string;
}

/**
 * Turns an EventEmitter's events into tasks, as a push source (the pool's queue and overflow policy bound
 * what piles up). A string payload becomes a task with a fresh id; an object payload is validated as a
 * `Task`, and an invalid one becomes an `InvalidTask` that the pool settles as rejected. Unsubscribing
 * removes the listeners.
 *
 * ```
 * emitter:  --h--b--x--e      h = 'hi', b = { id: 'b', input: '…' }, x = { bad: 1 }, e = the `endEvent`
 * result:   --t--b--i--|      t = { id: <fresh UUID>, input: 'hi' }, i = InvalidTask('event-3')
 * ```
 *
 * @example
 * fromEmitter(queue, 'prompt', { endEvent: 'drained' }).pipe(runAgents(agent)).subscribe(console.log);
 */
export function fromEmitter(
  emitter: EventEmitter,
  eventName: string | symbol,
  options: FromEmitterOptions = {},
): Observable<Task | InvalidTask> {
  if (typeof (emitter as Partial<EventEmitter> | null)?.on !== 'function') {
    throw new TypeError(`Expected \`emitter\` to be an EventEmitter, got ${describe(emitter)}`);
  }
  if (typeof eventName !== 'string' && typeof eventName !== 'symbol') {
    throw new TypeError(`Expected \`eventName\` to be a string or symbol, got ${describe(eventName)}`);
  }
  expectConfig('options', options);
  expectKnownKeys('fromEmitter', options, ['endEvent', 'id']);
  if (options.id !== undefined) expectFunction('id', options.id);
  if (
    options.endEvent !== undefined &&
    typeof options.endEvent !== 'string' &&
    typeof options.endEvent !== 'symbol'
  ) {
    throw new TypeError(`Expected \`endEvent\` to be an event name, got ${describe(options.endEvent)}`);
  }
  const makeId = options.id ?? ((): string => randomUUID());
  return new Observable<Task | InvalidTask>((subscriber) => {
    let count = 0;
    const onEvent = (payload: unknown): void => {
      count++;
      if (typeof payload === 'string') {
        try {
          subscriber.next({ id: makeId(payload), input: payload });
        } catch (error) {
          subscriber.error(error);
        }
        return;
      }
      const where = `event ${count}`;
      const result = parseTask(payload, where);
      subscriber.next(result.success ? result.data : new InvalidTask(`event-${count}`, result.error));
    };
    const onEnd = (): void => {
      subscriber.complete();
    };
    emitter.on(eventName, onEvent);
    if (options.endEvent !== undefined) emitter.once(options.endEvent, onEnd);
    return () => {
      emitter.off(eventName, onEvent);
      if (options.endEvent !== undefined) emitter.off(options.endEvent, onEnd);
    };
  });
}
