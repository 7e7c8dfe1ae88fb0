/** Every machine-readable error code rxagent produces, each with its own class. Listed in the README. */
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

/**
 * What every error constructor takes beside the fields of its `info`:
 * `new TimeoutError({ limit: 'total', ms: 5_000, seen: 3, cause, message })`.
 */
export interface ErrorFields {
  /** Replaces the message built from the fields. @defaultValue a message built from the fields */
  readonly message?: string;
  /** What caused the error, kept as the standard `Error#cause` (never in `info`). @defaultValue none */
  readonly cause?: unknown;
}

/** An error as plain JSON, as `toJSON()` gives it and {@link errorFromJSON} takes it back. */
export interface RxAgentErrorJSON<C extends ErrorCode = ErrorCode, I = unknown> {
  readonly name: string;
  readonly code: C;
  readonly message: string;
  readonly retryable: boolean;
  readonly info: I;
}

/** What a subclass hands to the {@link RxAgentError} constructor. */
interface BaseFields<I> {
  readonly info: I;
  readonly message: string;
  readonly cause: unknown;
  readonly retryable: boolean;
}

/**
 * Base class of every error rxagent produces: a stable `code`, structured `info` whose every field is declared,
 * `retryable` derived from the fields, and the `cause`. There is one subclass per {@link ErrorCode}, so
 * `instanceof` and `code` tell the same thing; `toJSON()` and {@link errorFromJSON} carry errors between
 * processes.
 *
 * @example
 * if (error instanceof RxAgentError && error.code === 'E_TIMEOUT') console.log(error.info);
 */
export abstract class RxAgentError<I extends object = object> extends Error {
  abstract override readonly name: string;
  abstract readonly code: ErrorCode;
  readonly info: I;
  /** Whether trying the same request again may succeed; `retryBackoff`'s `defaultRetryable` reads it. */
  readonly retryable: boolean;

  protected constructor({ info, message, cause, retryable }: BaseFields<I>) {
    super(message, cause === undefined ? undefined : { cause });
    this.info = info;
    this.retryable = retryable;
  }

  /** A plain-JSON view, for JSONL files, WebSocket frames and Redis streams; {@link errorFromJSON} reverses it. */
  toJSON(): RxAgentErrorJSON<this['code'], I> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      info: this.info,
    };
  }
}
