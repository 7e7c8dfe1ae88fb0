import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link LimitError}. */
export interface LimitInfo {
  /** The gateway limit that would be passed. */
  readonly limit: 'watchedPerSocket';
  /** What the socket holds now. */
  readonly used: number;
  /** The limit's value. */
  readonly max: number;
}

/** @internal What `errorFromJSON` checks a gateway limit's `info` against. */
export const LimitInfoSchema: z.ZodType<LimitInfo> = z.object({
  limit: z.literal('watchedPerSocket'),
  used: z.number(),
  max: z.number(),
});

/**
 * A `subscribe` would take a socket past the gateway's `limits.watchedPerSocket`; nothing of it was added. Sent
 * as an `error` frame.
 *
 * @example
 * if (frame.type === 'error' && frame.code === 'E_LIMIT') console.warn(frame.message);
 */
export class LimitError extends RxAgentError<LimitInfo> {
  override readonly name = 'LimitError';
  override readonly code = 'E_LIMIT';
  constructor({ message, cause, ...info }: LimitInfo & ErrorFields) {
    super({
      info,
      message:
        message ??
        `Too many watches: this socket watches ${info.used} and may watch ${info.max}; nothing was added`,
      cause,
      retryable: false,
    });
  }
}
