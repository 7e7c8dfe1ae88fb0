import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link WorkerError}. */
export interface WorkerInfo {
  /** What was thrown: the error's `name` (`'TypeError'`), or `typeof` for a value that is not an Error. */
  readonly thrown: string;
}

/** @internal What `errorFromJSON` checks a worker failure's `info` against. */
export const WorkerInfoSchema: z.ZodType<WorkerInfo> = z.object({ thrown: z.string() });

/**
 * A user callback or worker threw something that is not an `RxAgentError`; the original is the `cause`.
 * {@link toRxAgentError} makes these.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof WorkerError) console.error(result.error.cause);
 */
export class WorkerError extends RxAgentError<WorkerInfo> {
  override readonly name = 'WorkerError';
  override readonly code = 'E_WORKER';
  constructor({ message, cause, ...info }: WorkerInfo & ErrorFields) {
    super({ info, message: message ?? `A worker threw ${info.thrown}`, cause, retryable: false });
  }
}

/**
 * Turns anything thrown into an `RxAgentError`: a {@link WorkerError} keeping the original as `cause`, unless it
 * already is one.
 *
 * @example
 * run$.pipe(catchError((error: unknown) => of({ failed: toRxAgentError(error).toJSON() })));
 */
export function toRxAgentError(error: unknown): RxAgentError {
  if (error instanceof RxAgentError) return error as RxAgentError;
  if (error instanceof Error)
    return new WorkerError({ thrown: error.name, message: error.message, cause: error });
  return new WorkerError({
    thrown: error === null ? 'null' : typeof error,
    message: `Non-error thrown: ${safeString(error)}`,
    cause: error,
  });
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
