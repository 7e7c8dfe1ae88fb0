import { z, type core } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link ValidationError}. */
export interface ValidationInfo {
  /** The zod issues. */
  readonly issues: readonly core.$ZodIssue[];
  /** Where the input came from, such as `line 12` or `frame`; absent when the caller did not say. */
  readonly source?: string;
  /** `fromJsonl`, for a line longer than `maxLineBytes`: the line's length in bytes. */
  readonly bytes?: number;
  /** `fromJsonl`, for a line longer than `maxLineBytes`: that limit. */
  readonly maxLineBytes?: number;
}

/** @internal What `errorFromJSON` checks a validation failure's `info` against. */
export const ValidationInfoSchema: z.ZodType<ValidationInfo> = z.object({
  issues: z.array(
    z.custom<core.$ZodIssue>(
      (issue) =>
        typeof issue === 'object' &&
        issue !== null &&
        typeof (issue as { message?: unknown }).message === 'string' &&
        Array.isArray((issue as { path?: unknown }).path),
    ),
  ),
  source: z.string().exactOptional(),
  bytes: z.number().exactOptional(),
  maxLineBytes: z.number().exactOptional(),
});

/**
 * Input did not match its schema. Carries the zod issues.
 *
 * @example
 * const parsed = parseTask(JSON.parse(line), 'line 12');
 * if (!parsed.success) {
 *   for (const issue of parsed.error.info.issues) console.error(issue.path, issue.message);
 * }
 */
export class ValidationError extends RxAgentError<ValidationInfo> {
  override readonly name = 'ValidationError';
  override readonly code = 'E_VALIDATION';
  constructor({ message, cause, ...info }: ValidationInfo & ErrorFields) {
    const where = info.source === undefined ? '' : ` (${info.source})`;
    const issues = info.issues.map((issue) => issue.message).join('; ');
    super({ info, message: message ?? `Invalid input${where}: ${issues}`, cause, retryable: false });
  }
}
