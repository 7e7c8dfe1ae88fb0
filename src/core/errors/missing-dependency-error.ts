import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link MissingDependencyError}. */
export interface MissingDependencyInfo {
  /** The node rejected. */
  readonly nodeId: string;
  /** Ids the node refers to that never arrived before the plan completed. */
  readonly missing: readonly string[];
}

/** @internal What `errorFromJSON` checks a missing dependency's `info` against. */
export const MissingDependencyInfoSchema: z.ZodType<MissingDependencyInfo> = z.object({
  nodeId: z.string(),
  missing: z.array(z.string()),
});

/**
 * A plan node refers to ids that are not in the plan.
 *
 * @example
 * if (error instanceof MissingDependencyError) console.log(`missing: ${error.info.missing.join(', ')}`);
 */
export class MissingDependencyError extends RxAgentError<MissingDependencyInfo> {
  override readonly name = 'MissingDependencyError';
  override readonly code = 'E_MISSING_DEPENDENCY';
  constructor({ message, cause, ...info }: MissingDependencyInfo & ErrorFields) {
    const ids = info.missing.map((id) => `"${id}"`).join(', ');
    super({
      info,
      message: message ?? `Node "${info.nodeId}" depends on ${ids}, not in the plan`,
      cause,
      retryable: false,
    });
  }
}
