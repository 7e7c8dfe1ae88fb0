import type { core } from 'zod';

/** Every machine-readable error code rxagent produces. Listed with their meaning in the README. */
export type ErrorCode =
  | 'E_TIMEOUT'
  | 'E_QUEUE_FULL'
  | 'E_RATE_LIMITED'
  | 'E_BUDGET_EXHAUSTED'
  | 'E_PROVIDER'
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
  | 'E_STORE_UNAVAILABLE';

export interface RxAgentErrorOptions<I> {
  readonly info: I;
  readonly cause?: unknown;
  /** Whether retrying the same request may succeed. */
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

/** A run took longer than a `timeoutWith` limit allows. Retryable. */
export class TimeoutError extends RxAgentError<TimeoutInfo> {
  override readonly name = 'TimeoutError';
  constructor(message: string, info: TimeoutInfo, options: ErrorOptions = {}) {
    super('E_TIMEOUT', message, { info, retryable: true, cause: options.cause });
  }
}

export interface QueueFullInfo {
  readonly taskId: string;
  readonly queueLimit: number;
  readonly overflow: 'reject' | 'drop-oldest' | 'drop-newest';
  readonly [key: string]: unknown;
}

/** A task was turned away or evicted because the pool's queue was full. */
export class QueueFullError extends RxAgentError<QueueFullInfo> {
  override readonly name = 'QueueFullError';
  constructor(message: string, info: QueueFullInfo, options: ErrorOptions = {}) {
    super('E_QUEUE_FULL', message, { info, cause: options.cause });
  }
}

export interface RateLimitInfo {
  readonly limit: 'tokens' | 'requests';
  readonly retryAfterMs: number;
  readonly status?: number;
  readonly [key: string]: unknown;
}

/** The provider (or a budget) answered 429. Retryable after `retryAfterMs`, which has no upper cap. */
export class RateLimitError extends RxAgentError<RateLimitInfo> {
  override readonly name = 'RateLimitError';
  constructor(message: string, info: RateLimitInfo, cause?: unknown) {
    super('E_RATE_LIMITED', message, { info, retryable: true, cause });
  }
  get retryAfterMs(): number {
    return this.info.retryAfterMs;
  }
  get limit(): 'tokens' | 'requests' {
    return this.info.limit;
  }
}

export interface BudgetExhaustedInfo {
  readonly reason: 'max-total-cost' | 'exceeds-capacity' | 'store-unavailable';
  readonly [key: string]: unknown;
}

/** A budget can never grant this run: the total-cost cap is spent, or the estimate exceeds a bucket. */
export class BudgetExhaustedError extends RxAgentError<BudgetExhaustedInfo> {
  override readonly name = 'BudgetExhaustedError';
  constructor(message: string, info: BudgetExhaustedInfo, options: ErrorOptions = {}) {
    super('E_BUDGET_EXHAUSTED', message, { info, cause: options.cause });
  }
}

export interface ProviderInfo {
  readonly status?: number;
  readonly type?: string;
  /** Text streamed before the failure, kept so callers can use partial output. */
  readonly partialText?: string;
  readonly [key: string]: unknown;
}

/** The model provider failed. `retryable` is true for 408/409/5xx/connection errors. */
export class ProviderError extends RxAgentError<ProviderInfo> {
  override readonly name = 'ProviderError';
  constructor(message: string, info: ProviderInfo, options: { retryable?: boolean; cause?: unknown } = {}) {
    super('E_PROVIDER', message, { info, retryable: options.retryable ?? false, cause: options.cause });
  }
}

export interface CancelledInfo {
  readonly reason:
    'unsubscribed' | 'closed' | 'drain-deadline' | 'client-cancel' | 'disconnect' | 'fail-fast';
  readonly taskId?: string;
  readonly [key: string]: unknown;
}

/** The task was cancelled before it could settle on its own. */
export class CancelledError extends RxAgentError<CancelledInfo> {
  override readonly name = 'CancelledError';
  constructor(message: string, info: CancelledInfo, options: ErrorOptions = {}) {
    super('E_CANCELLED', message, { info, cause: options.cause });
  }
}

export interface ValidationInfo {
  readonly issues: readonly core.$ZodIssue[];
  /** Where the input came from, such as `line 12` or `frame`. */
  readonly source?: string;
  readonly [key: string]: unknown;
}

/** Input did not match its schema. Carries the zod issues. */
export class ValidationError extends RxAgentError<ValidationInfo> {
  override readonly name = 'ValidationError';
  constructor(message: string, info: ValidationInfo, options: ErrorOptions = {}) {
    super('E_VALIDATION', message, { info, cause: options.cause });
  }
}

/** Turns anything thrown into an `RxAgentError`, keeping the original as `cause`. */
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
