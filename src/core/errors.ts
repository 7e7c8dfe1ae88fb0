import type { core } from 'zod';

/** Every machine-readable error code rxagent produces. Listed with their meaning in the README. */
export type ErrorCode =
  | 'E_TIMEOUT'
  | 'E_QUEUE_FULL'
  | 'E_RATE_LIMITED'
  | 'E_BUDGET_EXHAUSTED'
  | 'E_PROVIDER'
  | 'E_REFUSED'
  | 'E_CANCELLED'
  | 'E_VALIDATION'
  | 'E_DEPENDENCY_FAILED'
  | 'E_CYCLE'
  | 'E_MISSING_DEPENDENCY'
  | 'E_DUPLICATE_ID'
  | 'E_UNKNOWN_TOOL'
  | 'E_MAX_STEPS'
  | 'E_NO_RESULT'
  | 'E_WORKER'
  | 'E_PROTOCOL'
  | 'E_FORBIDDEN'
  | 'E_LIMIT'
  | 'E_STORE_UNAVAILABLE';

/** What the {@link RxAgentError} constructor takes besides the code and message. */
export interface RxAgentErrorOptions<I> {
  /** Structured data about the failure, kept in `info` and in `toJSON()`. */
  readonly info: I;
  /** What caused it, kept as the standard `Error#cause`. @defaultValue none */
  readonly cause?: unknown;
  /** Whether retrying the same request may succeed; `defaultRetryable` reads it. @defaultValue false */
  readonly retryable?: boolean;
}

/**
 * Base class of every error rxagent produces: a stable `code`, structured `info`, and the `cause`.
 *
 * @example
 * if (error instanceof RxAgentError && error.code === 'E_TIMEOUT') console.log(error.info);
 */
export class RxAgentError<I = Record<string, unknown>> extends Error {
  override readonly name: string = 'RxAgentError';
  readonly code: ErrorCode;
  readonly info: I;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: RxAgentErrorOptions<I>) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.info = options.info;
    this.retryable = options.retryable ?? false;
  }

  /** A plain-JSON view, for JSONL files and WebSocket frames. */
  toJSON(): { name: string; code: ErrorCode; message: string; retryable: boolean; info: I } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      info: this.info,
    };
  }
}

/** The `info` of a {@link TimeoutError}. */
export interface TimeoutInfo {
  /** Which limit fired. */
  readonly limit: 'first' | 'each' | 'total';
  /** The limit in milliseconds. */
  readonly ms: number;
  /** Events seen before the limit fired. */
  readonly seen: number;
  /** Where the pool stood when the limit fired, filled in by `pool`. */
  readonly pool?: { readonly running: number; readonly waiting: number };
  readonly [key: string]: unknown;
}

/**
 * A run took longer than a `timeoutWith` limit allows. Retryable.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof TimeoutError) {
 *   console.log(`${result.error.info.limit} limit of ${result.error.info.ms}ms`, result.error.info.pool);
 * }
 */
export class TimeoutError extends RxAgentError<TimeoutInfo> {
  override readonly name = 'TimeoutError';
  constructor(message: string, info: TimeoutInfo, options: ErrorOptions = {}) {
    super('E_TIMEOUT', message, { info, retryable: true, cause: options.cause });
  }
}

/** The `info` of a {@link QueueFullError}. */
export interface QueueFullInfo {
  readonly taskId: string;
  readonly queueLimit: number;
  readonly overflow: 'reject' | 'drop-oldest' | 'drop-newest';
  readonly [key: string]: unknown;
}

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
  constructor(message: string, info: QueueFullInfo, options: ErrorOptions = {}) {
    super('E_QUEUE_FULL', message, { info, cause: options.cause });
  }
}

/** The `info` of a {@link RateLimitError}. */
export interface RateLimitInfo {
  /** The limit that was reached. */
  readonly limit: 'tokens' | 'requests';
  /** How long the provider (or budget) asks to wait before the next attempt. */
  readonly retryAfterMs: number;
  /** The HTTP status, when the error came from a response. */
  readonly status?: number;
  readonly [key: string]: unknown;
}

/**
 * The provider (or a budget) answered 429. Retryable after `retryAfterMs`, which has no upper cap.
 *
 * @example
 * budget.rateLimited(new RateLimitError('429 from the provider', { limit: 'tokens', retryAfterMs: 2_000 }));
 */
export class RateLimitError extends RxAgentError<RateLimitInfo> {
  override readonly name = 'RateLimitError';
  constructor(message: string, info: RateLimitInfo, cause?: unknown) {
    super('E_RATE_LIMITED', message, { info, retryable: true, cause });
  }
  /** `info.retryAfterMs`: how long to wait before the next attempt. */
  get retryAfterMs(): number {
    return this.info.retryAfterMs;
  }
  /** `info.limit`: the limit that was reached. */
  get limit(): 'tokens' | 'requests' {
    return this.info.limit;
  }
}

/** The `info` of a {@link BudgetExhaustedError}. */
export interface BudgetExhaustedInfo {
  readonly reason: 'max-total-cost' | 'exceeds-capacity' | 'store-unavailable';
  readonly [key: string]: unknown;
}

/**
 * A budget will not grant this run: the total-cost cap is spent, the estimate exceeds a whole limit, or the
 * budget's store stayed unreachable (`info.reason` says which).
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof BudgetExhaustedError) {
 *   console.log(`not run: ${result.error.info.reason}`);
 * }
 */
export class BudgetExhaustedError extends RxAgentError<BudgetExhaustedInfo> {
  override readonly name = 'BudgetExhaustedError';
  constructor(message: string, info: BudgetExhaustedInfo, options: ErrorOptions = {}) {
    // A store that could not answer passes once it is back, so only that refusal is worth retrying.
    super('E_BUDGET_EXHAUSTED', message, {
      info,
      cause: options.cause,
      retryable: info.reason === 'store-unavailable',
    });
  }
}

/** The `info` of a {@link ProviderError}. */
export interface ProviderInfo {
  /** The HTTP status; absent for connection and stream failures. */
  readonly status?: number;
  /** The provider's error type (`'insufficient_quota'`), or rxagent's kind of failure (`'connection'`). */
  readonly type?: string;
  /** Text streamed before the failure, kept so callers can use partial output; absent when none came. */
  readonly partialText?: string;
  readonly [key: string]: unknown;
}

/**
 * The model provider failed. `retryable` is true for 408/409/5xx/connection errors.
 *
 * @example
 * if (error instanceof ProviderError && error.info.partialText !== undefined) {
 *   console.log(`partial answer: ${error.info.partialText}`);
 * }
 */
export class ProviderError extends RxAgentError<ProviderInfo> {
  override readonly name = 'ProviderError';
  constructor(message: string, info: ProviderInfo, options: { retryable?: boolean; cause?: unknown } = {}) {
    super('E_PROVIDER', message, { info, retryable: options.retryable ?? false, cause: options.cause });
  }
}

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
  readonly [key: string]: unknown;
}

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
  constructor(message: string, info: RefusalInfo, options: ErrorOptions = {}) {
    super('E_REFUSED', message, { info, cause: options.cause });
  }
}

/** The `info` of a {@link CancelledError}. */
export interface CancelledInfo {
  readonly reason:
    'unsubscribed' | 'closed' | 'drain-deadline' | 'client-cancel' | 'disconnect' | 'fail-fast';
  /** The task cancelled, when one task was. */
  readonly taskId?: string;
  readonly [key: string]: unknown;
}

/**
 * The task was cancelled before it could settle on its own.
 *
 * @example
 * const cancelledByUser = error instanceof CancelledError && error.info.reason === 'client-cancel';
 */
export class CancelledError extends RxAgentError<CancelledInfo> {
  override readonly name = 'CancelledError';
  constructor(message: string, info: CancelledInfo, options: ErrorOptions = {}) {
    super('E_CANCELLED', message, { info, cause: options.cause });
  }
}

/** The `info` of a {@link ValidationError}. */
export interface ValidationInfo {
  readonly issues: readonly core.$ZodIssue[];
  /** Where the input came from, such as `line 12` or `frame`; absent when the caller did not say. */
  readonly source?: string;
  readonly [key: string]: unknown;
}

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
  constructor(message: string, info: ValidationInfo, options: ErrorOptions = {}) {
    super('E_VALIDATION', message, { info, cause: options.cause });
  }
}

/**
 * Turns anything thrown into an `RxAgentError` (code `E_WORKER` unless it already is one), keeping the
 * original as `cause`.
 *
 * @example
 * run$.pipe(catchError((error: unknown) => of({ failed: toRxAgentError(error).toJSON() })));
 */
export function toRxAgentError(error: unknown): RxAgentError {
  if (error instanceof RxAgentError) return error as RxAgentError;
  const message = error instanceof Error ? error.message : `Non-error thrown: ${safeString(error)}`;
  return new RxAgentError('E_WORKER', message, { info: {}, cause: error });
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
