import type { RateLimitSnapshot } from '../core/types.js';

/** A request the provider admitted, and what it charged for it. */
export interface AdmittedRequest {
  /** Scheduler time of admission, in milliseconds. */
  readonly at: number;
  /** The task the request ran. */
  readonly taskId: string;
  /** Input tokens plus the reserved output tokens. */
  readonly tokens: number;
}

export type Admission =
  | { readonly admitted: true; readonly limits: RateLimitSnapshot }
  | { readonly admitted: false; readonly limit: 'tokens' | 'requests'; readonly retryAfterMs: number }
  | { readonly admitted: false; readonly limit: 'too-large'; readonly tokensPerMinute: number };

export interface WindowLimits {
  readonly tokensPerMinute?: number | undefined;
  readonly requestsPerMinute?: number | undefined;
}

const WINDOW_MS = 60_000;

/**
 * A strict sliding 60 s window, as providers document theirs: a request is charged in full when admitted and
 * the charge counts until exactly 60 s later. Entries are kept oldest first with a moving head, so pruning is
 * amortised O(1).
 */
export function slidingWindow(limits: WindowLimits): {
  admit(now: number, request: Omit<AdmittedRequest, 'at'>): Admission;
} {
  const { tokensPerMinute: tpm, requestsPerMinute: rpm } = limits;
  let entries: AdmittedRequest[] = [];
  let head = 0;
  let used = 0;

  const prune = (now: number): void => {
    for (let e = entries[head]; e !== undefined && e.at + WINDOW_MS <= now; e = entries[head]) {
      used -= e.tokens;
      head++;
    }
    if (head > 1024 && head * 2 > entries.length) {
      entries = entries.slice(head);
      head = 0;
    }
  };

  // Time until the oldest entries whose charges add up to `needed` have slid out.
  const waitToFree = (now: number, needed: number, charge: (e: AdmittedRequest) => number): number => {
    let freed = 0;
    for (let i = head; i < entries.length; i++) {
      const e = entries[i] as AdmittedRequest;
      freed += charge(e);
      if (freed >= needed) return e.at + WINDOW_MS - now;
    }
    return WINDOW_MS;
  };

  return {
    admit(now, request) {
      prune(now);
      if (tpm !== undefined && request.tokens > tpm) {
        return { admitted: false, limit: 'too-large', tokensPerMinute: tpm };
      }
      const count = entries.length - head;
      const tokenWait =
        tpm !== undefined && used + request.tokens > tpm
          ? waitToFree(now, used + request.tokens - tpm, (e) => e.tokens)
          : 0;
      const requestWait =
        rpm !== undefined && count + 1 > rpm ? waitToFree(now, count + 1 - rpm, () => 1) : 0;
      // Report the limit that frees up later, so a retry after `retryAfterMs` is admitted.
      if (tokenWait > 0 || requestWait > 0) {
        return tokenWait >= requestWait
          ? { admitted: false, limit: 'tokens', retryAfterMs: tokenWait }
          : { admitted: false, limit: 'requests', retryAfterMs: requestWait };
      }
      entries.push({ at: now, ...request });
      used += request.tokens;
      return {
        admitted: true,
        limits: {
          ...(tpm === undefined
            ? {}
            : { limitTokens: tpm, remainingTokens: tpm - used, resetTokensMs: WINDOW_MS }),
          ...(rpm === undefined
            ? {}
            : { limitRequests: rpm, remainingRequests: rpm - count - 1, resetRequestsMs: WINDOW_MS }),
        },
      };
    },
  };
}
