import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link QueueFullError}. */
export interface QueueFullInfo {
  /** The task refused or evicted; absent when the gateway refused a whole `submit` frame. */
  readonly taskId?: string;
  /** The limit that was full. */
  readonly queueLimit: number;
  /** The overflow policy that chose the task. */
  readonly overflow: 'reject' | 'drop-oldest' | 'drop-newest';
}

/** @internal What `errorFromJSON` checks a full queue's `info` against. */
export const QueueFullInfoSchema: z.ZodType<QueueFullInfo> = z.object({
  taskId: z.string().exactOptional(),
  queueLimit: z.number(),
  overflow: z.enum(['reject', 'drop-oldest', 'drop-newest']),
});

/**
 * A task was turned away or evicted because the pool's queue was full.
 *
 * @example
 * agentPool.submit(prompt).catch((error: unknown) => {
 *   if (error instanceof QueueFullError) console.warn(`busy: queue holds ${error.info.queueLimit}`);
 * });
 */
export class QueueFullError extends RxAgentError<QueueFullInfo> {
  override readonly name = 'QueueFullError';
  override readonly code = 'E_QUEUE_FULL';
  constructor({ message, cause, ...info }: QueueFullInfo & ErrorFields) {
    const what = info.taskId === undefined ? 'The tasks were' : `Task "${info.taskId}" was`;
    super({
      info,
      message:
        message ??
        `${what} refused: the queue is full (queueLimit ${info.queueLimit}, overflow '${info.overflow}')`,
      cause,
      retryable: false,
    });
  }
}
