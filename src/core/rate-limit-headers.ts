import { asyncScheduler } from 'rxjs';
import type { RateLimitSnapshot } from './types.js';

// In core because two layers read these headers and may not import each other: models turn them into
// `rate-limits` events, and `Budget.observe` accepts them as they come.

/** Response headers as `fetch` gives them, or a plain record as Node's `http` and most SDKs do. */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | number | readonly string[] | undefined>>;

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const DURATION = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h)/;

/**
 * Parses a Go-style duration as the `x-ratelimit-reset-*` headers carry it (`20ms`, `1s`, `6m0s`,
 * `1h2m3.5s`) into milliseconds; a bare number counts as seconds, as in `retry-after`.
 *
 * Returns `undefined` for anything else, so a provider's malformed header never throws inside a run.
 *
 * @example
 * parseDuration('6m0s'); // 360000
 * parseDuration('20ms'); // 20
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1_000;
  let rest = trimmed;
  let total = 0;
  while (rest !== '') {
    const match = DURATION.exec(rest);
    if (match === null) return undefined;
    const part = match[0];
    const unit = /[a-zµ]+$/.exec(part)?.[0] ?? '';
    total += Number(part.slice(0, part.length - unit.length)) * (UNIT_MS[unit] ?? Number.NaN);
    rest = rest.slice(part.length);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Whether a rate-limit report is headers (a `Headers`, or a record with rate-limit header keys), not a snapshot. */
export function isRateLimitHeaders(report: RateLimitSnapshot | HeadersLike): report is HeadersLike {
  return (
    hasGet(report) ||
    Object.keys(report).some((k) => {
      const key = k.toLowerCase();
      return key.startsWith('x-ratelimit-') || key.startsWith('anthropic-ratelimit-');
    })
  );
}

function hasGet(headers: object): headers is { get(name: string): string | null } {
  return typeof (headers as { get?: unknown }).get === 'function';
}

function headerValue(headers: HeadersLike, name: string): string | undefined {
  if (hasGet(headers)) return headers.get(name) ?? undefined;
  const record = headers;
  // Plain records keep whatever case the sender used; HTTP header names are case-insensitive.
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  if (value === undefined) return undefined;
  return typeof value === 'object' ? value[0] : String(value);
}

function count(headers: HeadersLike, name: string): number | undefined {
  const text = headerValue(headers, name);
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

function duration(headers: HeadersLike, name: string): number | undefined {
  const text = headerValue(headers, name);
  return text === undefined ? undefined : parseDuration(text);
}

// RFC 3339 as Anthropic writes its resets (`2026-02-25T20:02:37Z`); Date.parse alone accepts far more.
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** The time from `nowMs` until an RFC 3339 instant, 0 for one already past. */
function untilInstant(headers: HeadersLike, name: string, nowMs: number): number | undefined {
  const text = headerValue(headers, name)?.trim();
  if (text === undefined || !RFC_3339.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * Reads a provider's rate-limit headers into a `RateLimitSnapshot`: OpenAI's (and compatible servers')
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, whose resets are durations (`6m0s`), and
 * Anthropic's `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
 * whose resets are RFC 3339 instants, turned into the time from `nowMs`.
 *
 * Missing or malformed headers leave their field out, so the result can be fed to
 * `budget.observe` whatever the provider sends.
 *
 * @param nowMs - The current time, for Anthropic's reset instants. @defaultValue asyncScheduler.now()
 *
 * @example
 * const snapshot = parseRateLimitHeaders(response.headers, scheduler.now());
 * budget.observe(snapshot);
 */
export function parseRateLimitHeaders(
  headers: HeadersLike,
  nowMs: number = asyncScheduler.now(),
): RateLimitSnapshot {
  const anthropic = (family: string, field: 'limit' | 'remaining'): number | undefined =>
    count(headers, `anthropic-ratelimit-${family}-${field}`);
  const anthropicReset = (family: string): number | undefined =>
    untilInstant(headers, `anthropic-ratelimit-${family}-reset`, nowMs);
  const fields: [keyof RateLimitSnapshot, number | undefined][] = [
    ['limitTokens', count(headers, 'x-ratelimit-limit-tokens') ?? anthropic('tokens', 'limit')],
    ['limitRequests', count(headers, 'x-ratelimit-limit-requests') ?? anthropic('requests', 'limit')],
    ['remainingTokens', count(headers, 'x-ratelimit-remaining-tokens') ?? anthropic('tokens', 'remaining')],
    [
      'remainingRequests',
      count(headers, 'x-ratelimit-remaining-requests') ?? anthropic('requests', 'remaining'),
    ],
    ['resetTokensMs', duration(headers, 'x-ratelimit-reset-tokens') ?? anthropicReset('tokens')],
    ['resetRequestsMs', duration(headers, 'x-ratelimit-reset-requests') ?? anthropicReset('requests')],
    ['limitInputTokens', anthropic('input-tokens', 'limit')],
    ['remainingInputTokens', anthropic('input-tokens', 'remaining')],
    ['resetInputTokensMs', anthropicReset('input-tokens')],
    ['limitOutputTokens', anthropic('output-tokens', 'limit')],
    ['remainingOutputTokens', anthropic('output-tokens', 'remaining')],
    ['resetOutputTokensMs', anthropicReset('output-tokens')],
  ];
  const snapshot: Partial<Record<keyof RateLimitSnapshot, number>> = {};
  for (const [key, value] of fields) if (value !== undefined) snapshot[key] = value;
  return snapshot;
}
