import type { SchedulerLike } from 'rxjs';
import { describe } from '../../core/validate.js';

/** Throws `TypeError` unless `value` looks like an RxJS `SchedulerLike` (has `now` and `schedule`). */
export function expectScheduler(name: string, value: unknown): SchedulerLike {
  const candidate = value as Partial<SchedulerLike> | null;
  if (
    typeof value !== 'object' ||
    candidate === null ||
    typeof candidate.now !== 'function' ||
    typeof candidate.schedule !== 'function'
  ) {
    throw new TypeError(
      `Expected \`${name}\` to be an RxJS scheduler (such as asyncScheduler), got ${describe(value)}`,
    );
  }
  return value as SchedulerLike;
}

/** Throws `TypeError` on an option the operator does not know, so a misspelt limit is not silently ignored. */
export function expectKnownKeys(operator: string, config: object, known: readonly string[]): void {
  const unknown = Object.keys(config).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw new TypeError(
      `Unknown option \`${unknown}\` for ${operator}; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
}

/** Throws `TypeError` unless `value` is a finite number greater than 0. */
export function expectPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `Expected \`${name}\` to be a positive finite number of milliseconds, got ${describe(value)}`,
    );
  }
  return value;
}
