// Task events as short strings, so marbles and timelines of runAgents tests stay readable.
import type { Task, TaskEvent } from '../../src/core/types.js';

/** One task per letter of `ids`, keyed by it, with the letter as its input: marble values. */
export const tasks = (ids: string): Record<string, Task> =>
  Object.fromEntries(Array.from(ids).map((id) => [id, { id, input: id }]));

/**
 * One short string per event: `a>` started, `a~x` delta, `a!retry2:1` retry (attempt, delay),
 * `a!route1:east`, `a!admitted1:0` (attempt, wait), `a!hedge2:3` (attempt, after), `a=xy#2@5` fulfilled
 * (value, attempts, duration), `a!E_TIMEOUT#1` rejected.
 */
export function view(event: TaskEvent): string {
  switch (event.type) {
    case 'started':
      return `${event.taskId}>`;
    case 'delta':
      return `${event.taskId}~${event.text}`;
    case 'retry':
      return `${event.taskId}!retry${event.attempt}:${event.delayMs}`;
    case 'tool':
      return `${event.taskId}!tool`;
    case 'route':
      return `${event.taskId}!route${event.attempt}:${event.deployment}`;
    case 'admitted':
      return `${event.taskId}!admitted${event.attempt}:${event.waitMs}`;
    case 'hedge':
      return `${event.taskId}!hedge${event.attempt}:${event.afterMs}`;
    case 'settled':
      return event.result.status === 'fulfilled'
        ? `${event.taskId}=${event.result.value}#${event.result.attempts}@${event.result.durationMs}`
        : `${event.taskId}!${event.result.error.code}#${event.result.attempts}`;
  }
}
