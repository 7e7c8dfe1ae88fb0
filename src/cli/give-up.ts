import { ProviderError } from '../core/errors/index.js';
import type { RxAgentError } from '../core/errors/index.js';
import type { TaskEvent } from '../core/types.js';

/** Settled tasks that must all fail the same hopeless way before a run gives up. */
export const GIVE_UP_AFTER = 3;

/**
 * Failures that every other task of the run will meet too: a key the provider refuses (401, 403), a model or
 * endpoint it does not have (404), an exhausted quota, a server that cannot be reached at all. Their
 * `ProviderError` has stopped retrying, so the task met it after its retries.
 */
function hopeless(error: RxAgentError): boolean {
  if (!(error instanceof ProviderError)) return false;
  const { status, type } = error.info;
  if (status === 401 || status === 403 || status === 404) return true;
  return type === 'insufficient_quota' || type === 'connection';
}

/** Two failures are the same when the provider said the same thing the same way. */
function sameFailure(a: RxAgentError, b: RxAgentError): boolean {
  return a.code === b.code && a.message === b.message;
}

/**
 * Watches a run's first settled tasks: when the first `after` that ran all failed with the same hopeless
 * provider error, returns that error (every task left would fail the same way, and each costs a request); a
 * task that succeeds, or fails otherwise, disarms it for the rest of the run.
 *
 * @example
 * const check = giveUpOnHopelessFailures();
 * events$.pipe(tap((event) => { const cause = check(event); if (cause) stop(cause); }));
 */
export function giveUpOnHopelessFailures(
  after = GIVE_UP_AFTER,
): (event: TaskEvent) => RxAgentError | undefined {
  let armed = true;
  let first: RxAgentError | undefined;
  let count = 0;
  return (event) => {
    if (!armed || event.type !== 'settled' || event.result.attempts === 0) return undefined;
    const { result } = event;
    if (
      result.status === 'fulfilled' ||
      !hopeless(result.error) ||
      (first !== undefined && !sameFailure(first, result.error))
    ) {
      armed = false;
      return undefined;
    }
    first ??= result.error;
    count++;
    if (count < after) return undefined;
    armed = false;
    return first;
  };
}
