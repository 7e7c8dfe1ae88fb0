import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link ProviderError}. */
export interface ProviderInfo {
  /** The HTTP status; absent for connection and stream failures. */
  readonly status?: number;
  /**
   * The provider's error type (`'insufficient_quota'`), or rxagent's kind of failure in the same snake_case
   * (`'connection'`, `'malformed_chunk'`); the README lists them.
   */
  readonly type?: string;
  /** The provider's error code, when its answer had one (`'rate_limit_exceeded'`). */
  readonly code?: string;
  /** The provider's id of the request, for its support. */
  readonly requestId?: string;
  /** Stream chunks parsed before a failure while streaming. */
  readonly chunks?: number;
  /** Text streamed before the failure, kept so callers can use partial output; absent when none came. */
  readonly partialText?: string;
}

/** @internal What `errorFromJSON` checks a provider failure's `info` against. */
export const ProviderInfoSchema: z.ZodType<ProviderInfo> = z.object({
  status: z.number().exactOptional(),
  type: z.string().exactOptional(),
  code: z.string().exactOptional(),
  requestId: z.string().exactOptional(),
  chunks: z.number().exactOptional(),
  partialText: z.string().exactOptional(),
});

/** What the {@link ProviderError} constructor takes. */
export type ProviderErrorOptions = ProviderInfo &
  ErrorFields & {
    /**
     * Overrides the retryability derived from `status` and `type`, when the provider said (`x-should-retry`).
     * @defaultValue false for `insufficient_quota` and `request_too_large`; else true without a status
     * (connection and stream failures) and for 408, 409, 429 and 5xx
     */
    readonly retryable?: boolean;
  };

/** Failures that the same request meets again however long it waits. */
const FINAL_TYPES: readonly string[] = ['insufficient_quota', 'request_too_large'];

/**
 * The model provider failed. Retryable for 408/409/429/5xx and for connection and stream failures, never for
 * `insufficient_quota` or `request_too_large`, unless the provider said otherwise.
 *
 * @example
 * if (error instanceof ProviderError && error.info.partialText !== undefined) {
 *   console.log(`partial answer: ${error.info.partialText}`);
 * }
 */
export class ProviderError extends RxAgentError<ProviderInfo> {
  override readonly name = 'ProviderError';
  override readonly code = 'E_PROVIDER';
  constructor({ message, cause, retryable, ...info }: ProviderErrorOptions) {
    const answered = info.status === undefined ? 'failed' : `answered ${info.status}`;
    super({
      info,
      message: message ?? `Provider ${answered}${info.type === undefined ? '' : ` (${info.type})`}`,
      cause,
      retryable: retryable ?? isRetryable(info),
    });
  }
}

function isRetryable({ status, type }: ProviderInfo): boolean {
  if (type !== undefined && FINAL_TYPES.includes(type)) return false;
  if (status === undefined) return true;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}
