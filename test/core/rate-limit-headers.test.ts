import { describe, expect, it } from 'vitest';
import { parseDuration, parseRateLimitHeaders } from '../../src/core/rate-limit-headers.js';

describe('parseDuration', () => {
  it('reads the durations providers put in x-ratelimit-reset-*', () => {
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('1s')).toBe(1_000);
    expect(parseDuration('6m0s')).toBe(360_000);
    expect(parseDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseDuration('17.28s')).toBe(17_280);
    expect(parseDuration('2')).toBe(2_000);
  });

  it('answers undefined for anything else', () => {
    expect(parseDuration('')).toBeUndefined();
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('5x')).toBeUndefined();
    expect(parseDuration('1s garbage')).toBeUndefined();
  });
});

describe('parseRateLimitHeaders', () => {
  it('reads fetch Headers and plain records of any case', () => {
    const fetched = new Headers({
      'x-ratelimit-limit-tokens': '90000',
      'x-ratelimit-remaining-tokens': '12',
      'x-ratelimit-reset-tokens': '6m0s',
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-reset-requests': '120ms',
    });
    expect(parseRateLimitHeaders(fetched)).toEqual({
      limitTokens: 90_000,
      remainingTokens: 12,
      resetTokensMs: 360_000,
      limitRequests: 500,
      remainingRequests: 499,
      resetRequestsMs: 120,
    });
    expect(parseRateLimitHeaders({ 'X-RateLimit-Remaining-Requests': ['7'], other: 'x' })).toEqual({
      remainingRequests: 7,
    });
  });

  it('leaves out malformed values instead of throwing', () => {
    expect(
      parseRateLimitHeaders({ 'x-ratelimit-remaining-tokens': 'lots', 'x-ratelimit-reset-tokens': '?' }),
    ).toEqual({});
  });
});
