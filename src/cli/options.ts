import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../core/rate-limit-headers.js';

/** A mistake of the person at the keyboard: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Parses `30s`, `500ms`, `2m`, `1.5h`, `1m30s` or a bare number of seconds into milliseconds, as the
 * provider's rate-limit headers are read.
 *
 * @example
 * parseDurationFlag('1.5s'); // 1500
 */
export function parseDurationFlag(value: string): number {
  const parsed = parseDuration(value);
  if (parsed === undefined) {
    throw new InvalidArgumentError(`expected a duration such as 30s, 500ms or 2m, got "${value}"`);
  }
  const ms = Math.round(parsed);
  if (ms <= 0) throw new InvalidArgumentError(`expected a duration of at least 1ms, got "${value}"`);
  return ms;
}

/**
 * Makes a parser of whole numbers from `min` up.
 *
 * @example
 * parseIntegerFlag(1)('5'); // 5
 */
export function parseIntegerFlag(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected a whole number from ${min} and up, got "${value}"`);
    }
    return n;
  };
}

/**
 * Parses a positive amount, such as a price in dollars.
 *
 * @example
 * parseAmountFlag('2.50'); // 2.5
 */
export function parseAmountFlag(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  }
  return n;
}

/**
 * Checks an http(s) URL, such as an OpenAI-compatible endpoint, and returns it unchanged.
 *
 * @example
 * parseUrlFlag('http://localhost:11434/v1');
 */
export function parseUrlFlag(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`expected a URL such as http://localhost:8000/v1, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`expected an http or https URL, got "${value}"`);
  }
  return value;
}
