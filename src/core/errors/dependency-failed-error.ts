import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link DependencyFailedError}. */
export interface DependencyFailedInfo {
  /** The node that was skipped. */
  readonly nodeId: string;
  /** Its direct dependency that did not fulfil. */
  readonly dependency: string;
  /** The node whose own failure started the chain (equal to `dependency` for a direct failure). */
  readonly failed: string;
}

/** @internal What `errorFromJSON` checks a skipped node's `info` against. */
export const DependencyFailedInfoSchema: z.ZodType<DependencyFailedInfo> = z.object({
  nodeId: z.string(),
  dependency: z.string(),
  failed: z.string(),
});

/**
 * A plan node was not run because a node it depends on failed; `cause` is that node's error.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof DependencyFailedError) {
 *   console.log(`${result.error.info.nodeId} skipped: ${result.error.info.failed} failed`);
 * }
 */
export class DependencyFailedError extends RxAgentError<DependencyFailedInfo> {
  override readonly name = 'DependencyFailedError';
  override readonly code = 'E_DEPENDENCY_FAILED';
  constructor({ message, cause, ...info }: DependencyFailedInfo & ErrorFields) {
    // For a direct failure, the dependency's own message says most.
    const why =
      info.failed !== info.dependency
        ? `node "${info.failed}" failed`
        : cause instanceof Error
          ? cause.message
          : 'failed';
    super({
      info,
      message:
        message ??
        `Node "${info.nodeId}" was skipped: its dependency "${info.dependency}" did not complete (${why})`,
      cause,
      retryable: false,
    });
  }
}
