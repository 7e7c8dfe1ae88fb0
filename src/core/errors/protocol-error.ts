import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** What was wrong with a frame a gateway client sent. */
export type ProtocolProblem =
  'not-json' | 'unknown-type' | 'binary' | 'unknown-task' | 'closing' | 'unhandled';

/** The `info` of a {@link ProtocolError}. */
export interface ProtocolInfo {
  /** What was wrong with the frame. */
  readonly problem: ProtocolProblem;
  /** The task the frame named, for `'unknown-task'`. */
  readonly taskId?: string;
}

/** @internal What `errorFromJSON` checks a protocol error's `info` against. */
export const ProtocolInfoSchema: z.ZodType<ProtocolInfo> = z.object({
  problem: z.enum(['not-json', 'unknown-type', 'binary', 'unknown-task', 'closing', 'unhandled']),
  taskId: z.string().exactOptional(),
});

const MESSAGES: { readonly [P in ProtocolProblem]: (taskId: string | undefined) => string } = {
  'not-json': () => 'Frame is not valid JSON',
  'unknown-type': () => 'Unknown frame type',
  binary: () => 'Binary frames are not accepted; send JSON text',
  'unknown-task': (taskId) => `No task ${JSON.stringify(taskId ?? '')} of this client is waiting or running`,
  closing: () => 'The gateway is closing and takes no new tasks',
  unhandled: () => 'The gateway failed to handle this frame',
};

/**
 * A gateway client sent a frame the protocol does not allow: not JSON, binary, of no known `type`, cancelling
 * a task that is not waiting or running, or submitting while the gateway closes. Sent as an `error` frame.
 *
 * @example
 * socket.send(JSON.stringify(errorFrame(new ProtocolError({ problem: 'binary' }))));
 */
export class ProtocolError extends RxAgentError<ProtocolInfo> {
  override readonly name = 'ProtocolError';
  override readonly code = 'E_PROTOCOL';
  constructor({ message, cause, ...info }: ProtocolInfo & ErrorFields) {
    super({ info, message: message ?? MESSAGES[info.problem](info.taskId), cause, retryable: false });
  }
}
