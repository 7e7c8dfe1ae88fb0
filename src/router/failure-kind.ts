import {
  BudgetExhaustedError,
  CancelledError,
  ProviderError,
  RateLimitError,
  RefusalError,
  ValidationError,
  type RxAgentError,
} from '../core/errors/index.js';

/**
 * What a failed attempt says about the deployment it ran on, which decides what the router does next:
 *
 * - `rate-limit`: a 429; the deployment cools for the `retryAfterMs` it asked and the failure counts.
 * - `transient`: a retryable failure (5xx, connection, cut stream, store unavailable); it counts, and the
 *   task's next attempt goes elsewhere.
 * - `disabled`: the deployment cannot serve anyone (401/403, `insufficient_quota`, a spend cap or another
 *   429 the provider says not to retry, its budget's total cost spent); it is out until reconfigured, and
 *   the task moves at once.
 * - `unsuitable`: the deployment cannot serve this task (a request larger than its limit, parameters its
 *   model does not take); the task moves at once.
 * - `context-window` / `content-policy`: the task goes to that kind's fallback deployments.
 * - `task`: the task's own failure (a bad request, a cancellation); nothing counts against the deployment.
 */
export type FailureKind =
  'rate-limit' | 'transient' | 'disabled' | 'unsuitable' | 'context-window' | 'content-policy' | 'task';

/** Provider codes and types that mean the prompt does not fit the model's context window. */
const CONTEXT_CODES: readonly string[] = ['context_length_exceeded', 'string_above_max_length'];
/** Provider codes and types that mean the request or answer was stopped by a content policy. */
const POLICY_CODES: readonly string[] = ['content_policy_violation', 'content_filter'];
/** OpenAI's "maximum context length is 8192 tokens", Anthropic's "prompt is too long: 215000 tokens > 200000 maximum". */
const CONTEXT_PHRASE =
  /\bcontext (?:length|window)\b|\bmaximum context\b|\bprompt is too long\b|\binput is too long\b/i;
/** Azure's "…triggering Azure OpenAI's content management policy". */
const POLICY_PHRASE = /\bcontent (?:management )?policy\b|\bcontent filter(?:ing)?\b/i;

/** Reads what a failed attempt's error says about its deployment; see {@link FailureKind}. */
export function failureKind(error: RxAgentError): FailureKind {
  if (error instanceof RateLimitError) return 'rate-limit';
  if (error instanceof RefusalError) return 'content-policy';
  if (error instanceof CancelledError) return 'task';
  if (error instanceof ValidationError) return 'unsuitable';
  if (error instanceof BudgetExhaustedError) {
    switch (error.info.reason) {
      case 'max-total-cost':
        return 'disabled';
      case 'exceeds-capacity':
        return 'unsuitable';
      case 'store-unavailable':
        return 'transient';
    }
  }
  if (error instanceof ProviderError) return providerKind(error);
  return error.retryable ? 'transient' : 'task';
}

function providerKind(error: ProviderError): FailureKind {
  const { status, type, code } = error.info;
  const named = (list: readonly string[]): boolean =>
    (type !== undefined && list.includes(type)) || (code !== undefined && list.includes(code));
  // A 429 the provider says not to retry is a spend cap or a quota: waiting a minute does not cure it.
  if (status === 401 || status === 403 || named(['insufficient_quota', 'billing_error'])) return 'disabled';
  if (status === 429 && !error.retryable && !named(['request_too_large'])) return 'disabled';
  if (named(['request_too_large'])) return 'unsuitable';
  const badRequest = status === 400 || status === 413 || status === 422;
  if (named(CONTEXT_CODES) || (badRequest && CONTEXT_PHRASE.test(error.message))) return 'context-window';
  if (named(POLICY_CODES) || (badRequest && POLICY_PHRASE.test(error.message))) return 'content-policy';
  return error.retryable ? 'transient' : 'task';
}
