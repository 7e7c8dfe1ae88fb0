import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link NoResultError}. */
export interface NoResultInfo {
  /** The task whose worker completed empty. */
  readonly taskId: string;
}

/** @internal What `errorFromJSON` checks a missing result's `info` against. */
export const NoResultInfoSchema: z.ZodType<NoResultInfo> = z.object({ taskId: z.string() });

/**
 * A pool worker completed without emitting a result.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof NoResultError) console.log(result.error.info.taskId);
 */
export class NoResultError extends RxAgentError<NoResultInfo> {
  override readonly name = 'NoResultError';
  override readonly code = 'E_NO_RESULT';
  constructor({ message, cause, ...info }: NoResultInfo & ErrorFields) {
    super({
      info,
      message: message ?? `The worker for task "${info.taskId}" completed without a result`,
      cause,
      retryable: false,
    });
  }
}
