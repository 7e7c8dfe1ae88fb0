import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** Why a task was cancelled; the README's "Error codes" table says where each comes from. */
export type CancelReason =
  'unsubscribed' | 'closed' | 'drain-deadline' | 'client-cancel' | 'disconnect' | 'fail-fast';

/** The `info` of a {@link CancelledError}. */
export interface CancelledInfo {
  readonly reason: CancelReason;
  /** The task cancelled, when one task was. */
  readonly taskId?: string;
}

/** @internal What `errorFromJSON` checks a cancellation's `info` against. */
export const CancelledInfoSchema: z.ZodType<CancelledInfo> = z.object({
  reason: z.enum(['unsubscribed', 'closed', 'drain-deadline', 'client-cancel', 'disconnect', 'fail-fast']),
  taskId: z.string().exactOptional(),
});

const WHY: { readonly [R in CancelReason]: string } = {
  unsubscribed: 'its run was unsubscribed',
  closed: 'the pool was closed',
  'drain-deadline': 'still running at the drain deadline',
  'client-cancel': 'by its client',
  disconnect: 'its client disconnected',
  'fail-fast': 'another task failed (fail-fast)',
};

/**
 * The task was cancelled before it could settle on its own.
 *
 * @example
 * const cancelledByUser = error instanceof CancelledError && error.info.reason === 'client-cancel';
 */
export class CancelledError extends RxAgentError<CancelledInfo> {
  override readonly name = 'CancelledError';
  override readonly code = 'E_CANCELLED';
  constructor({ message, cause, ...info }: CancelledInfo & ErrorFields) {
    const what = info.taskId === undefined ? 'The task' : `Task "${info.taskId}"`;
    super({
      info,
      message: message ?? `${what} was cancelled: ${WHY[info.reason]}`,
      cause,
      retryable: false,
    });
  }
}
