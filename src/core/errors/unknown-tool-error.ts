import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of an {@link UnknownToolError}. */
export interface UnknownToolInfo {
  /** The node rejected. */
  readonly nodeId: string;
  /** The tool name it asked for. */
  readonly tool: string;
  /** The tool names that were available. */
  readonly known: readonly string[];
}

/** @internal What `errorFromJSON` checks an unknown tool's `info` against. */
export const UnknownToolInfoSchema: z.ZodType<UnknownToolInfo> = z.object({
  nodeId: z.string(),
  tool: z.string(),
  known: z.array(z.string()),
});

/**
 * A plan node (or a model's tool call) names a tool that was not given.
 *
 * @example
 * if (error instanceof UnknownToolError) {
 *   console.log(`no tool ${error.info.tool}; known: ${error.info.known.join(', ')}`);
 * }
 */
export class UnknownToolError extends RxAgentError<UnknownToolInfo> {
  override readonly name = 'UnknownToolError';
  override readonly code = 'E_UNKNOWN_TOOL';
  constructor({ message, cause, ...info }: UnknownToolInfo & ErrorFields) {
    super({
      info,
      message:
        message ??
        `Node "${info.nodeId}" calls unknown tool "${info.tool}" (known: ${info.known.join(', ') || 'none'})`,
      cause,
      retryable: false,
    });
  }
}
