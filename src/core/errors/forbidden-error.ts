import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link ForbiddenError}. */
export interface ForbiddenInfo {
  /** What the gateway's `authorize` hook refused. */
  readonly action: 'submit' | 'cancel' | 'subscribe';
  /** The identity whose tasks it concerned, for a cancel or watch of another identity's tasks. */
  readonly owner?: string;
}

/** @internal What `errorFromJSON` checks a refusal by `authorize`'s `info` against. */
export const ForbiddenInfoSchema: z.ZodType<ForbiddenInfo> = z.object({
  action: z.enum(['submit', 'cancel', 'subscribe']),
  owner: z.string().exactOptional(),
});

/**
 * The gateway's `authorize` hook refused a submit, or a watch or cancel of another identity's tasks. Sent as
 * an `error` frame.
 *
 * @example
 * const refused = new ForbiddenError({ action: 'subscribe', owner: 'bob' });
 * console.log(refused.message); // This identity may not watch tasks of "bob"
 */
export class ForbiddenError extends RxAgentError<ForbiddenInfo> {
  override readonly name = 'ForbiddenError';
  override readonly code = 'E_FORBIDDEN';
  constructor({ message, cause, ...info }: ForbiddenInfo & ErrorFields) {
    super({ info, message: message ?? forbiddenMessage(info), cause, retryable: false });
  }
}

function forbiddenMessage({ action, owner }: ForbiddenInfo): string {
  if (action === 'submit') return 'This identity may not submit tasks; nothing was accepted';
  const verb = action === 'cancel' ? 'cancel' : 'watch';
  return `This identity may not ${verb} tasks${owner === undefined ? '' : ` of ${JSON.stringify(owner)}`}`;
}
