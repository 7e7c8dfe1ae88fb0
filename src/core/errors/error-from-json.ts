import { z } from 'zod';
import { BudgetExhaustedError, BudgetExhaustedInfoSchema } from './budget-exhausted-error.js';
import { CancelledError, CancelledInfoSchema } from './cancelled-error.js';
import { CycleError, CycleInfoSchema } from './cycle-error.js';
import { DependencyFailedError, DependencyFailedInfoSchema } from './dependency-failed-error.js';
import { DuplicateIdError, DuplicateIdInfoSchema } from './duplicate-id-error.js';
import { ForbiddenError, ForbiddenInfoSchema } from './forbidden-error.js';
import { LimitError, LimitInfoSchema } from './limit-error.js';
import { MaxStepsError, MaxStepsInfoSchema } from './max-steps-error.js';
import { MissingDependencyError, MissingDependencyInfoSchema } from './missing-dependency-error.js';
import { NoResultError, NoResultInfoSchema } from './no-result-error.js';
import { ProtocolError, ProtocolInfoSchema } from './protocol-error.js';
import { ProviderError, ProviderInfoSchema } from './provider-error.js';
import { QueueFullError, QueueFullInfoSchema } from './queue-full-error.js';
import { RateLimitError, RateLimitInfoSchema } from './rate-limit-error.js';
import { RefusalError, RefusalInfoSchema } from './refusal-error.js';
import type { ErrorCode, RxAgentError } from './rx-agent-error.js';
import { StoreUnavailableError, StoreUnavailableInfoSchema } from './store-unavailable-error.js';
import { TimeoutError, TimeoutInfoSchema } from './timeout-error.js';
import { UnknownToolError, UnknownToolInfoSchema } from './unknown-tool-error.js';
import { ValidationError, ValidationInfoSchema } from './validation-error.js';
import { WorkerError, WorkerInfoSchema } from './worker-error.js';

/**
 * The class of every code. The compiler holds each class to its code, and a new code to having a class.
 *
 * @example
 * const Class = ERROR_CLASSES.E_TIMEOUT; // TimeoutError
 */
export const ERROR_CLASSES = {
  E_TIMEOUT: TimeoutError,
  E_QUEUE_FULL: QueueFullError,
  E_RATE_LIMITED: RateLimitError,
  E_BUDGET_EXHAUSTED: BudgetExhaustedError,
  E_PROVIDER: ProviderError,
  E_REFUSED: RefusalError,
  E_CANCELLED: CancelledError,
  E_VALIDATION: ValidationError,
  E_DEPENDENCY_FAILED: DependencyFailedError,
  E_CYCLE: CycleError,
  E_MISSING_DEPENDENCY: MissingDependencyError,
  E_DUPLICATE_ID: DuplicateIdError,
  E_UNKNOWN_TOOL: UnknownToolError,
  E_MAX_STEPS: MaxStepsError,
  E_NO_RESULT: NoResultError,
  E_WORKER: WorkerError,
  E_PROTOCOL: ProtocolError,
  E_FORBIDDEN: ForbiddenError,
  E_LIMIT: LimitError,
  E_STORE_UNAVAILABLE: StoreUnavailableError,
} as const satisfies {
  readonly [C in ErrorCode]: new (options: never) => RxAgentError & { readonly code: C };
};

/** Any error rxagent produces, as a union that `code` narrows: `if (e.code === 'E_TIMEOUT') e.info.limit`. */
export type AnyRxAgentError = InstanceType<(typeof ERROR_CLASSES)[ErrorCode]>;

/** The JSON {@link errorFromJSON} reads: what `toJSON()` wrote, in this process or another. */
export interface ErrorJSONInput {
  readonly code: string;
  readonly message: string;
  readonly retryable?: boolean;
  readonly info?: unknown;
  readonly name?: string;
}

type Revive = (info: unknown, json: ErrorJSONInput) => AnyRxAgentError | undefined;

/** Rebuilds a class from its checked `info`, with the message it was sent with. */
function reviver<I>(
  schema: z.ZodType<I>,
  make: (options: I & { message: string }) => AnyRxAgentError,
): Revive {
  return (info, json) => {
    const parsed = schema.safeParse(info);
    return parsed.success ? make({ ...parsed.data, message: json.message }) : undefined;
  };
}

const REVIVERS: { readonly [C in ErrorCode]: Revive } = {
  E_TIMEOUT: reviver(TimeoutInfoSchema, (o) => new TimeoutError(o)),
  E_QUEUE_FULL: reviver(QueueFullInfoSchema, (o) => new QueueFullError(o)),
  E_RATE_LIMITED: reviver(RateLimitInfoSchema, (o) => new RateLimitError(o)),
  E_BUDGET_EXHAUSTED: reviver(BudgetExhaustedInfoSchema, (o) => new BudgetExhaustedError(o)),
  // Only a provider's answer may override the derived retryability, so only it is carried over.
  E_PROVIDER: (info, json) =>
    reviver(ProviderInfoSchema, (o) =>
      json.retryable === undefined
        ? new ProviderError(o)
        : new ProviderError({ ...o, retryable: json.retryable }),
    )(info, json),
  E_REFUSED: reviver(RefusalInfoSchema, (o) => new RefusalError(o)),
  E_CANCELLED: reviver(CancelledInfoSchema, (o) => new CancelledError(o)),
  E_VALIDATION: reviver(ValidationInfoSchema, (o) => new ValidationError(o)),
  E_DEPENDENCY_FAILED: reviver(DependencyFailedInfoSchema, (o) => new DependencyFailedError(o)),
  E_CYCLE: reviver(CycleInfoSchema, (o) => new CycleError(o)),
  E_MISSING_DEPENDENCY: reviver(MissingDependencyInfoSchema, (o) => new MissingDependencyError(o)),
  E_DUPLICATE_ID: reviver(DuplicateIdInfoSchema, (o) => new DuplicateIdError(o)),
  E_UNKNOWN_TOOL: reviver(UnknownToolInfoSchema, (o) => new UnknownToolError(o)),
  E_MAX_STEPS: reviver(MaxStepsInfoSchema, (o) => new MaxStepsError(o)),
  E_NO_RESULT: reviver(NoResultInfoSchema, (o) => new NoResultError(o)),
  E_WORKER: reviver(WorkerInfoSchema, (o) => new WorkerError(o)),
  E_PROTOCOL: reviver(ProtocolInfoSchema, (o) => new ProtocolError(o)),
  E_FORBIDDEN: reviver(ForbiddenInfoSchema, (o) => new ForbiddenError(o)),
  E_LIMIT: reviver(LimitInfoSchema, (o) => new LimitError(o)),
  E_STORE_UNAVAILABLE: reviver(StoreUnavailableInfoSchema, (o) => new StoreUnavailableError(o)),
};

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(REVIVERS, code);
}

/**
 * Rebuilds an error from its `toJSON()`, possibly written by another process: the class its `code` names,
 * with the same message, `info` and `retryable`, so `instanceof` works again. The `cause` does not travel. A
 * JSON whose code this version does not know, or whose `info` does not fit its class, comes back as a
 * `WorkerError` with the same message and the JSON as `cause`, so a result is never lost on the way.
 *
 * @example
 * const error = errorFromJSON(JSON.parse(line).error);
 * if (error instanceof TimeoutError) console.log(error.info.limit);
 */
export function errorFromJSON(json: ErrorJSONInput): AnyRxAgentError {
  const revived = isErrorCode(json.code) ? REVIVERS[json.code](json.info ?? {}, json) : undefined;
  return revived ?? new WorkerError({ thrown: json.name ?? json.code, message: json.message, cause: json });
}
