import type { RateLimitSnapshot } from '../core/types.js';

/** A request the provider admitted, and what it charged for it. */
export interface AdmittedRequest {
  /** Scheduler time of admission, in milliseconds. */
  readonly at: number;
  /** The task the request ran. */
  readonly taskId: string;
  /** Input tokens plus the reserved output tokens. */
  readonly tokens: number;
  /** Input tokens, charged to the input-token limit. */
  readonly inputTokens?: number;
  /**
   * Output tokens charged to the output-token limit: the reserve (`max_tokens`) at admission, the real
   * output once the run reports it (Anthropic's OTPM).
   */
  readonly outputTokens?: number;
}

/** An admitted request as the window keeps it: its output charge changes when the run ends. */
type Entry = { -readonly [K in keyof AdmittedRequest]: AdmittedRequest[K] };

export type Admission =
  | { readonly admitted: true; readonly limits: RateLimitSnapshot }
  | { readonly admitted: false; readonly limit: 'tokens' | 'requests'; readonly retryAfterMs: number }
  | { readonly admitted: false; readonly limit: 'too-large'; readonly tokensPerMinute: number };

export interface WindowLimits {
  readonly tokensPerMinute?: number | undefined;
  readonly requestsPerMinute?: number | undefined;
  readonly inputTokensPerMinute?: number | undefined;
  readonly outputTokensPerMinute?: number | undefined;
}

const WINDOW_MS = 60_000;

/**
 * A strict sliding 60 s window, as providers document theirs: a request is charged in full when admitted and
 * the charge counts until exactly 60 s later. Entries are kept oldest first with a moving head, so pruning is
 * amortised O(1). Input and output tokens have windows of their own when their limits are set (Anthropic's
 * ITPM and OTPM); the output charge of an entry is adjusted to the real output by `settle`.
 */
export function slidingWindow(limits: WindowLimits): {
  /** Admits a request now, or says why not; an admitted request is the returned `entry`. */
  admit(now: number, request: Omit<AdmittedRequest, 'at'>): Admission & { readonly entry?: AdmittedRequest };
  /** Adjusts an admitted request's output charge to the output it really produced. */
  settle(now: number, entry: AdmittedRequest, outputTokens: number): void;
} {
  const { tokensPerMinute: tpm, requestsPerMinute: rpm } = limits;
  const { inputTokensPerMinute: itpm, outputTokensPerMinute: otpm } = limits;
  let entries: Entry[] = [];
  let head = 0;
  let used = 0;
  let usedInput = 0;
  let usedOutput = 0;

  const prune = (now: number): void => {
    for (let e = entries[head]; e !== undefined && e.at + WINDOW_MS <= now; e = entries[head]) {
      used -= e.tokens;
      usedInput -= e.inputTokens ?? 0;
      usedOutput -= e.outputTokens ?? 0;
      head++;
    }
    if (head > 1024 && head * 2 > entries.length) {
      entries = entries.slice(head);
      head = 0;
    }
  };

  // Time until the oldest entries whose charges add up to `needed` have slid out.
  const waitToFree = (now: number, needed: number, charge: (e: Entry) => number): number => {
    let freed = 0;
    for (let i = head; i < entries.length; i++) {
      const e = entries[i] as Entry;
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
      const input = request.inputTokens ?? 0;
      const output = request.outputTokens ?? 0;
      if (itpm !== undefined && input > itpm) {
        return { admitted: false, limit: 'too-large', tokensPerMinute: itpm };
      }
      if (otpm !== undefined && output > otpm) {
        return { admitted: false, limit: 'too-large', tokensPerMinute: otpm };
      }
      const count = entries.length - head;
      const tokenWait =
        tpm !== undefined && used + request.tokens > tpm
          ? waitToFree(now, used + request.tokens - tpm, (e) => e.tokens)
          : 0;
      const inputWait =
        itpm !== undefined && usedInput + input > itpm
          ? waitToFree(now, usedInput + input - itpm, (e) => e.inputTokens ?? 0)
          : 0;
      const outputWait =
        otpm !== undefined && usedOutput + output > otpm
          ? waitToFree(now, usedOutput + output - otpm, (e) => e.outputTokens ?? 0)
          : 0;
      const anyTokenWait = Math.max(tokenWait, inputWait, outputWait);
      const requestWait =
        rpm !== undefined && count + 1 > rpm ? waitToFree(now, count + 1 - rpm, () => 1) : 0;
      // Report the limit that frees up later, so a retry after `retryAfterMs` is admitted.
      if (anyTokenWait > 0 || requestWait > 0) {
        return anyTokenWait >= requestWait
          ? { admitted: false, limit: 'tokens', retryAfterMs: anyTokenWait }
          : { admitted: false, limit: 'requests', retryAfterMs: requestWait };
      }
      const entry: Entry = { at: now, ...request };
      entries.push(entry);
      used += request.tokens;
      usedInput += input;
      usedOutput += output;
      return {
        admitted: true,
        entry,
        limits: {
          ...(tpm === undefined
            ? {}
            : { limitTokens: tpm, remainingTokens: tpm - used, resetTokensMs: WINDOW_MS }),
          ...(rpm === undefined
            ? {}
            : { limitRequests: rpm, remainingRequests: rpm - count - 1, resetRequestsMs: WINDOW_MS }),
          ...(itpm === undefined
            ? {}
            : {
                limitInputTokens: itpm,
                remainingInputTokens: itpm - usedInput,
                resetInputTokensMs: WINDOW_MS,
              }),
          ...(otpm === undefined
            ? {}
            : {
                limitOutputTokens: otpm,
                remainingOutputTokens: otpm - usedOutput,
                resetOutputTokensMs: WINDOW_MS,
              }),
        },
      };
    },
    settle(now, admitted, outputTokens) {
      prune(now);
      const entry = admitted as Entry;
      // An entry that has left the window no longer counts; the record is still corrected.
      if (entry.at + WINDOW_MS > now) usedOutput += outputTokens - (entry.outputTokens ?? 0);
      entry.outputTokens = outputTokens;
    },
  };
}
