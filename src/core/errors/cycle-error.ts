import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link CycleError}. */
export interface CycleInfo {
  /** The node rejected. */
  readonly nodeId: string;
  /** Every node of the cycle (a strongly connected group), in arrival order. */
  readonly cycle: readonly string[];
}

/** @internal What `errorFromJSON` checks a cycle's `info` against. */
export const CycleInfoSchema: z.ZodType<CycleInfo> = z.object({
  nodeId: z.string(),
  cycle: z.array(z.string()),
});

/**
 * A plan node depends on itself, directly or through other nodes; nothing in the cycle runs.
 *
 * @example
 * if (error instanceof CycleError) console.log(`cycle: ${error.info.cycle.join(' → ')}`);
 */
export class CycleError extends RxAgentError<CycleInfo> {
  override readonly name = 'CycleError';
  override readonly code = 'E_CYCLE';
  constructor({ message, cause, ...info }: CycleInfo & ErrorFields) {
    super({
      info,
      message: message ?? `Node "${info.nodeId}" is in a dependency cycle: ${info.cycle.join(' → ')}`,
      cause,
      retryable: false,
    });
  }
}
