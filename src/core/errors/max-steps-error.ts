import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link MaxStepsError}. */
export interface MaxStepsInfo {
  /** The task the loop ran. */
  readonly taskId: string;
  /** The limit that was reached. */
  readonly maxSteps: number;
  /** The tools the model still asked for in its last step. */
  readonly pendingTools: readonly string[];
}

/** @internal What `errorFromJSON` checks a step limit's `info` against. */
export const MaxStepsInfoSchema: z.ZodType<MaxStepsInfo> = z.object({
  taskId: z.string(),
  maxSteps: z.number(),
  pendingTools: z.array(z.string()),
});

/**
 * `agentLoop` reached `maxSteps` model calls without a final answer.
 *
 * @example
 * if (error instanceof MaxStepsError) console.log(`still wanted ${error.info.pendingTools.join(', ')}`);
 */
export class MaxStepsError extends RxAgentError<MaxStepsInfo> {
  override readonly name = 'MaxStepsError';
  override readonly code = 'E_MAX_STEPS';
  constructor({ message, cause, ...info }: MaxStepsInfo & ErrorFields) {
    super({
      info,
      message:
        message ??
        `agentLoop stopped after ${info.maxSteps} steps without a final answer; the model still asked for ${info.pendingTools.join(', ')}`,
      cause,
      retryable: false,
    });
  }
}
