import { parseDuration, parseRateLimitHeaders } from '../core/rate-limit-headers.js';
import type { RateLimitSnapshot } from '../core/types.js';

// Shared by every model's error mapping: a 429's delay is read the same way whichever SDK received it, and
// this file loads no SDK.

/** Used when a 429 names no delay anywhere: neither in its headers nor in its message. */
export const DEFAULT_RETRY_AFTER_MS = 1_000;

/** A header reader: `fetch` Headers, or a record wrapped in one. */
export interface HeaderSource {
  get(name: string): string | null;
}

/**
 * The delay a 429 asks for, in milliseconds and without any cap: `retry-after-ms`, then `retry-after` (seconds
 * or an HTTP date), then the reset of the limit that was hit (`x-ratelimit-reset-*` or `anthropic-ratelimit-*`;
 * for tokens, the latest reset among the token limits that read 0), then the message (OpenAI's "try again in
 * 1.2s", Azure's "Please retry after 7 seconds"), then {@link DEFAULT_RETRY_AFTER_MS}.
 */
export function retryAfterMsFrom(
  headers: HeaderSource | undefined,
  limit: 'tokens' | 'requests',
  message: string,
  nowMs: number,
): number {
  const ms = nonNegative(Number.parseFloat(headers?.get('retry-after-ms') ?? ''));
  if (ms !== undefined) return ms;
  const after = headers?.get('retry-after')?.trim();
  if (after !== undefined && after !== '') {
    const seconds = nonNegative(Number(after));
    if (seconds !== undefined) return seconds * 1_000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  const resetMs = headers === undefined ? undefined : resetOf(parseRateLimitHeaders(headers, nowMs), limit);
  if (resetMs !== undefined) return resetMs;
  return delayInMessage(message) ?? DEFAULT_RETRY_AFTER_MS;
}

function resetOf(limits: RateLimitSnapshot, limit: 'tokens' | 'requests'): number | undefined {
  if (limit === 'requests') return limits.resetRequestsMs;
  // Anthropic counts input and output tokens apart: the wait is for whichever exhausted limit resets last.
  const exhausted = [
    [limits.remainingTokens, limits.resetTokensMs],
    [limits.remainingInputTokens, limits.resetInputTokensMs],
    [limits.remainingOutputTokens, limits.resetOutputTokensMs],
  ]
    .filter(([remaining, reset]) => remaining === 0 && reset !== undefined)
    .map(([, reset]) => reset as number);
  return exhausted.length > 0 ? Math.max(...exhausted) : limits.resetTokensMs;
}

function delayInMessage(message: string): number | undefined {
  // Azure: "Please retry after 7 seconds." / "Try again in 2 seconds."; OpenAI: "Please try again in 1.2s."
  const seconds = /\b(?:retry after|try again in) (\d+(?:\.\d+)?) seconds?\b/i.exec(message)?.[1];
  if (seconds !== undefined) return Number(seconds) * 1_000;
  const duration = /\btry again in (\S+?)\.?(?:\s|$)/i.exec(message)?.[1];
  return duration === undefined ? undefined : parseDuration(duration);
}

function nonNegative(value: number): number | undefined {
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}
