import type { RxAgentError } from './errors/index.js';

/**
 * An item a source could not turn into a task (a malformed JSONL line, a bad frame). It flows into the pool
 * like a task and settles at once as rejected with its error, so bad input is reported, never silently lost.
 *
 * @example
 * const parsed = parseTask(payload, 'webhook');
 * subject.next(parsed.success ? parsed.data : new InvalidTask(`webhook-${count}`, parsed.error));
 */
export class InvalidTask {
  readonly taskId: string;
  readonly error: RxAgentError;
  /** The item's `meta`, when its source could read one despite the error; its result carries it. */
  readonly meta: unknown;
  constructor(taskId: string, error: RxAgentError, meta?: unknown) {
    this.taskId = taskId;
    this.error = error;
    this.meta = meta;
  }
}
