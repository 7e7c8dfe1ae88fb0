import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isRateLimitHeaders,
  parseDuration,
  parseRateLimitHeaders,
} from '../../src/core/rate-limit-headers.js';

const fixtures = join(import.meta.dirname, '..', 'models', 'anthropic', 'fixtures');

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

  it('reads all four anthropic-ratelimit-* families, resets as the time left from now', () => {
    // Recorded by anthropic-sdk-python (fixtures/errors/ratelimit-headers.200.json, see SOURCES.md).
    const recorded = JSON.parse(
      readFileSync(join(fixtures, 'errors', 'ratelimit-headers.200.json'), 'utf8'),
    ) as Record<string, string | number>;
    const now = Date.parse('2026-02-25T20:02:31Z');
    expect(parseRateLimitHeaders(recorded, now)).toEqual({
      limitRequests: 50,
      remainingRequests: 49,
      resetRequestsMs: 1_000,
      limitTokens: 38_000,
      remainingTokens: 36_000,
      resetTokensMs: 5_000,
      limitInputTokens: 30_000,
      remainingInputTokens: 28_000,
      resetInputTokensMs: 6_000,
      limitOutputTokens: 8_000,
      remainingOutputTokens: 8_000,
      resetOutputTokensMs: 5_000,
    });
    expect(isRateLimitHeaders(recorded)).toBe(true);
  });

  it('reads a reset already past as 0, and refuses instants that are not RFC 3339', () => {
    const headers = new Headers({
      'anthropic-ratelimit-requests-reset': '2026-02-17T23:44:11Z',
      'anthropic-ratelimit-tokens-reset': 'Tue, 17 Feb 2026 23:44:11 GMT',
      'anthropic-ratelimit-input-tokens-reset': '2026-02-17T23:44:12.500+00:00',
      'anthropic-ratelimit-output-tokens-reset': '30s',
    });
    expect(parseRateLimitHeaders(headers, Date.parse('2026-02-17T23:44:12Z'))).toEqual({
      resetRequestsMs: 0,
      resetInputTokensMs: 500,
    });
  });

  it('prefers x-ratelimit-* where a response carries both families', () => {
    const both = {
      'x-ratelimit-remaining-tokens': '10',
      'anthropic-ratelimit-tokens-remaining': '20',
      'anthropic-ratelimit-requests-remaining': '3',
    };
    expect(parseRateLimitHeaders(both, 0)).toEqual({ remainingTokens: 10, remainingRequests: 3 });
  });
});
