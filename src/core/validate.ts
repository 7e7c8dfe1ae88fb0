import type { SchedulerLike } from 'rxjs';

/**
 * Describes a value for an error message: `-1 (number)`, `"5" (string)`, `undefined`, `an object`.
 *
 * @example
 * throw new TypeError(`Expected \`path\` to be a file path, got ${describe(path)}`);
 */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  if (typeof value === 'number' || typeof value === 'boolean') return `${value} (${typeof value})`;
  return `${typeof value} value`;
}

/**
 * Throws `TypeError` unless `value` is an integer ≥ `min` (or `Infinity` when allowed); returns it typed.
 *
 * @example
 * const concurrency = expectInteger('concurrency', config.concurrency ?? 4, 1, true);
 */
export function expectInteger(name: string, value: unknown, min: number, allowInfinity = false): number {
  const ok =
    typeof value === 'number' &&
    value >= min &&
    (Number.isInteger(value) || (allowInfinity && value === Number.POSITIVE_INFINITY));
  if (!ok) {
    const range = allowInfinity
      ? `an integer from ${min} and up, or Infinity`
      : `an integer from ${min} and up`;
    throw new TypeError(`Expected \`${name}\` to be ${range}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Throws `TypeError` unless `value` is a finite number ≥ `min`; returns it typed.
 *
 * @example
 * const baseDelayMs = expectNumber('baseDelayMs', config.baseDelayMs ?? 500, 0);
 */
export function expectNumber(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(
      `Expected \`${name}\` to be a finite number from ${min} and up, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Throws `TypeError` unless `value` is a function.
 *
 * @example
 * if (config.monitor !== undefined) expectFunction('monitor', config.monitor);
 */
export function expectFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
}

/**
 * Throws `TypeError` unless `value` is one of `choices`; returns it narrowed to them.
 *
 * @example
 * const window = expectOneOf('window', config.window ?? 'sliding', ['sliding', 'bucket']);
 */
export function expectOneOf<C extends string>(name: string, value: unknown, choices: readonly C[]): C {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new TypeError(
      `Expected \`${name}\` to be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as C;
}

/**
 * Throws `TypeError` unless `value` is an object other than `null` or an array, as a config must be; checked
 * first, so that the checks of its fields can read them safely.
 *
 * @example
 * expectConfig('config', config);
 */
export function expectConfig(name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be a config object, got ${describe(value)}`);
  }
}

/**
 * Throws `TypeError` unless `value` is a finite number greater than 0; meant for durations, as its message
 * speaks of milliseconds. Returns it typed.
 *
 * @example
 * if (config.each !== undefined) expectPositive('each', config.each);
 */
export function expectPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `Expected \`${name}\` to be a positive finite number of milliseconds, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Throws `TypeError` unless `value` looks like an RxJS `SchedulerLike` (has `now` and `schedule`); returns it
 * typed.
 *
 * @example
 * const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
 */
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

/**
 * Compiles only when `K` names every option of `T`, so a new option cannot be left out of the unknown-key
 * check: the error names what is missing. A list typed as `string[]` (not `as const`) is not checked.
 */
export type KnowsEvery<T, K extends readonly string[]> = [Exclude<keyof T & string, K[number]>] extends [
  never,
]
  ? unknown
  : { readonly missingOptions: Exclude<keyof T & string, K[number]> };

/**
 * Throws `TypeError` on an option `owner` does not know, so a misspelt limit is not silently ignored.
 *
 * @example
 * expectKnownKeys('myOperator', config, ['concurrency', 'scheduler']);
 */
export function expectKnownKeys<T extends object, const K extends readonly string[]>(
  owner: string,
  config: T,
  known: K & KnowsEvery<T, K>,
): void {
  const unknown = Object.keys(config).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw new TypeError(
      `Unknown option \`${unknown}\` for ${owner}; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
}
