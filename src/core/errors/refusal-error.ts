import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link RefusalError}. */
export interface RefusalInfo {
  /** `'refusal'`: the model declined and said why; `'content-filter'`: the provider's filter stopped it. */
  readonly reason: 'refusal' | 'content-filter';
  /** What the model said when it declined; `''` when a filter stopped it without a word. */
  readonly refusal: string;
  /** The model that declined, as the provider named it in its answer. */
  readonly model: string;
  /** Text streamed before the filter stopped the answer; absent when none came. */
  readonly partialText?: string;
}

/** @internal What `errorFromJSON` checks a refusal's `info` against. */
export const RefusalInfoSchema: z.ZodType<RefusalInfo> = z.object({
  reason: z.enum(['refusal', 'content-filter']),
  refusal: z.string(),
  model: z.string(),
  partialText: z.string().exactOptional(),
});

/**
 * The model declined the task, or the provider's content filter stopped its answer. Never retried: the same
 * request gets the same answer.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof RefusalError) {
 *   console.log(`${result.error.info.reason} from ${result.error.info.model}: ${result.error.info.refusal}`);
 * }
 */
export class RefusalError extends RxAgentError<RefusalInfo> {
  override readonly name = 'RefusalError';
  override readonly code = 'E_REFUSED';
  constructor({ message, cause, ...info }: RefusalInfo & ErrorFields) {
    super({
      info,
      message:
        message ??
        (info.reason === 'refusal'
          ? `Model ${info.model} refused: ${info.refusal}`
          : `The provider's content filter stopped ${info.model}`),
      cause,
      retryable: false,
    });
  }
}
