import { asyncScheduler, type SchedulerLike } from 'rxjs';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectNumber,
  expectScheduler,
} from '../core/validate.js';
import type { Task, ToolCall } from '../core/types.js';

/** A fault the simulated model can inject into one run. */
export type SimulatedFault = 'error' | 'hang' | 'cut' | 'none';

/**
 * Faults, picked per run: by `on` when it returns a fault, else by the seeded rates. Each rate is the share
 * of runs (0 to 1) that get that fault; together they may not exceed 1.
 */
export interface SimulatedFailures {
  /**
   * Runs fail with a `ProviderError` (`info.status` = `status`) once the first-token latency has passed.
   * @defaultValue 0
   */
  readonly errorRate?: number;
  /** Runs emit nothing after admission and never end; only unsubscribing stops them. @defaultValue 0 */
  readonly hangRate?: number;
  /**
   * Runs stream `cutAfter` deltas and then fail with a retryable `ProviderError` whose `info.partialText` is
   * the text streamed so far, at the time the next delta was due.
   * @defaultValue 0
   */
  readonly cutRate?: number;
  /**
   * Picks the fault on cue: `attempt` counts the runs of this task id on this model, from 1. Returning
   * `undefined` leaves the choice to the rates; `'none'` forces a clean run.
   * @defaultValue no cue
   */
  readonly on?: (task: Task, attempt: number) => SimulatedFault | undefined;
  /** Deltas a cut stream delivers before it breaks. @defaultValue 3 */
  readonly cutAfter?: number;
  /** HTTP status of an `'error'` fault; 408, 409 and 5xx are retryable. @defaultValue 500 */
  readonly status?: number;
}

/** The provider's own limits, enforced over a strict sliding 60 s window per model instance. */
export interface SimulatedRateLimit {
  /** Input tokens plus reserved output tokens admitted per 60 s. @defaultValue unlimited */
  readonly tokensPerMinute?: number;
  /** Requests admitted per 60 s. @defaultValue unlimited */
  readonly requestsPerMinute?: number;
  /** Input tokens admitted per 60 s, apart from output (Anthropic's ITPM). @defaultValue unlimited */
  readonly inputTokensPerMinute?: number;
  /**
   * Output tokens admitted per 60 s (Anthropic's OTPM): a request is charged its output cap at admission,
   * adjusted to the output it really produced when it reports usage. @defaultValue unlimited
   */
  readonly outputTokensPerMinute?: number;
}

/**
 * Tool calls the model answers with: `step` is the number of tool-call rounds already in the conversation
 * (0 for a fresh prompt). Returning `undefined` or no calls makes the model answer with text.
 */
export type SimulatedToolScript = (task: Task, step: number) => readonly ToolCall[] | undefined;

/** First-token latency in milliseconds: a fixed figure, or drawn uniformly (seeded) from a range. */
export type SimulatedLatency = number | { readonly minMs: number; readonly maxMs: number };

/**
 * Slow first tokens: a share of runs (a server's long tail: a cold cache, a long prefill queue, a GC pause)
 * whose first-token latency is multiplied by a factor drawn from `slowdown`. Seeded per task and attempt, so
 * a run tried again draws afresh.
 */
export interface SimulatedStragglers {
  /** Share of runs that straggle, from 0 to 1. */
  readonly rate: number;
  /** The least and most factor applied to the first-token latency, each from 1. @defaultValue [10, 30] */
  readonly slowdown?: readonly [number, number];
}

/** Configuration of {@link simulatedModel}. Every field is optional. */
export interface SimulatedModelConfig {
  /** Makes every run reproducible: same seed, task id and attempt, same timing, text and faults. @defaultValue 1 */
  readonly seed?: number;
  /** Where all the model's time comes from. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
  /** Time from admission to the first delta. @defaultValue `{ minMs: 200, maxMs: 600 }` */
  readonly latency?: SimulatedLatency;
  /** Streaming speed: deltas (one token each) arrive 1000 / tokensPerSecond ms apart. @defaultValue 50 */
  readonly tokensPerSecond?: number;
  /**
   * Output tokens of a text answer, before the `maxOutputTokens` cap.
   * @defaultValue the words of the answer's opening plus 8 to 32 seeded filler words
   */
  readonly outputTokens?: number;
  /**
   * Output cap for tasks that set no `maxOutputTokens`; also what the rate limit reserves for them.
   * @defaultValue 512
   */
  readonly maxOutputTokens?: number;
  /** Injected faults. @defaultValue none */
  readonly failures?: SimulatedFailures;
  /** Runs whose first token comes 10×–30× later than `latency` draws. @defaultValue none */
  readonly stragglers?: SimulatedStragglers;
  /** Provider-side rate limit answered with `RateLimitError`. @defaultValue none */
  readonly rateLimit?: SimulatedRateLimit;
  /** Script of tool calls. @defaultValue never calls tools */
  readonly tools?: SimulatedToolScript;
}

/** The configuration with defaults merged and every field checked. */
export interface ResolvedConfig {
  readonly seed: number;
  readonly scheduler: SchedulerLike;
  readonly latency: { readonly minMs: number; readonly maxMs: number };
  readonly tokensPerSecond: number;
  readonly outputTokens: number | undefined;
  readonly maxOutputTokens: number;
  readonly failures: Required<Omit<SimulatedFailures, 'on'>> & Pick<SimulatedFailures, 'on'>;
  readonly stragglers: Required<SimulatedStragglers> | undefined;
  readonly rateLimit: SimulatedRateLimit | undefined;
  readonly tools: SimulatedToolScript | undefined;
}

const CONFIG_KEYS = [
  'seed',
  'scheduler',
  'latency',
  'tokensPerSecond',
  'outputTokens',
  'maxOutputTokens',
  'failures',
  'stragglers',
  'rateLimit',
  'tools',
] as const;
const FAILURE_KEYS = ['errorRate', 'hangRate', 'cutRate', 'on', 'cutAfter', 'status'] as const;
const RATE_LIMIT_KEYS = [
  'tokensPerMinute',
  'requestsPerMinute',
  'inputTokensPerMinute',
  'outputTokensPerMinute',
] as const;

function expectRate(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new TypeError(`Expected \`${name}\` to be a number from 0 to 1, got ${describe(value)}`);
  }
  return value;
}

function resolveLatency(value: unknown): ResolvedConfig['latency'] {
  if (typeof value === 'number') {
    const ms = expectNumber('latency', value, 0);
    return { minMs: ms, maxMs: ms };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(
      `Expected \`latency\` to be a number of milliseconds or \`{ minMs, maxMs }\`, got ${describe(value)}`,
    );
  }
  expectKnownKeys('simulatedModel `latency`', value, ['minMs', 'maxMs']);
  const { minMs, maxMs } = value as Record<string, unknown>;
  const min = expectInteger('latency.minMs', minMs, 0);
  return { minMs: min, maxMs: expectInteger('latency.maxMs', maxMs, min) };
}

function resolveFailures(value: unknown): ResolvedConfig['failures'] {
  const failures = (value ?? {}) as SimulatedFailures;
  expectConfig('failures', failures);
  expectKnownKeys('simulatedModel `failures`', failures, FAILURE_KEYS);
  const errorRate = expectRate('failures.errorRate', failures.errorRate ?? 0);
  const hangRate = expectRate('failures.hangRate', failures.hangRate ?? 0);
  const cutRate = expectRate('failures.cutRate', failures.cutRate ?? 0);
  if (errorRate + hangRate + cutRate > 1) {
    throw new TypeError(
      `Expected \`failures\` rates to add up to at most 1, got ${errorRate + hangRate + cutRate} (number)`,
    );
  }
  if (failures.on !== undefined) expectFunction('failures.on', failures.on);
  const status = expectInteger('failures.status', failures.status ?? 500, 400);
  if (status > 599) {
    throw new TypeError(
      `Expected \`failures.status\` to be an HTTP error status from 400 to 599, got ${status} (number)`,
    );
  }
  return {
    errorRate,
    hangRate,
    cutRate,
    cutAfter: expectInteger('failures.cutAfter', failures.cutAfter ?? 3, 0),
    status,
    ...(failures.on === undefined ? {} : { on: failures.on }),
  };
}

function resolveStragglers(value: unknown): ResolvedConfig['stragglers'] {
  if (value === undefined) return undefined;
  expectConfig('stragglers', value);
  expectKnownKeys('simulatedModel `stragglers`', value as object, ['rate', 'slowdown']);
  // Read as unknown: plain JavaScript may pass anything for the pair.
  const { rate, slowdown = [10, 30] } = value as { rate?: unknown; slowdown?: unknown };
  if (!Array.isArray(slowdown) || slowdown.length !== 2) {
    throw new TypeError(
      `Expected \`stragglers.slowdown\` to be a pair \`[least, most]\` of factors, got ${describe(slowdown)}`,
    );
  }
  const [first, second] = slowdown as unknown[];
  const least = expectNumber('stragglers.slowdown[0]', first, 1);
  return {
    rate: expectRate('stragglers.rate', rate),
    slowdown: [least, expectNumber('stragglers.slowdown[1]', second, least)],
  };
}

function resolveRateLimit(value: unknown): SimulatedRateLimit | undefined {
  if (value === undefined) return undefined;
  expectConfig('rateLimit', value);
  expectKnownKeys('simulatedModel `rateLimit`', value as object, RATE_LIMIT_KEYS);
  const limits = value as SimulatedRateLimit;
  if (RATE_LIMIT_KEYS.every((key) => limits[key] === undefined)) {
    throw new TypeError(
      'Expected `rateLimit` to set `tokensPerMinute`, `requestsPerMinute`, `inputTokensPerMinute` or `outputTokensPerMinute`, got none',
    );
  }
  const resolved: { -readonly [K in keyof SimulatedRateLimit]: number } = {};
  for (const key of RATE_LIMIT_KEYS) {
    const limit = limits[key];
    if (limit !== undefined) resolved[key] = expectInteger(`rateLimit.${key}`, limit, 1);
  }
  return resolved;
}

/** Checks a `simulatedModel` config and merges the defaults, in one place. */
export function resolveConfig(config: unknown): ResolvedConfig {
  if (config === undefined) config = {};
  if (typeof config === 'function') {
    throw new TypeError(
      '`config` must be an object, got a function instead. Did you mean `simulatedModel({ tools: fn })`?',
    );
  }
  expectConfig('config', config);
  expectKnownKeys('simulatedModel', config as object, CONFIG_KEYS);
  const c = config as SimulatedModelConfig;
  const tokensPerSecond = c.tokensPerSecond ?? 50;
  if (typeof tokensPerSecond !== 'number' || !Number.isFinite(tokensPerSecond) || tokensPerSecond <= 0) {
    throw new TypeError(
      `Expected \`tokensPerSecond\` to be a finite number above 0, got ${describe(tokensPerSecond)}`,
    );
  }
  if (c.tools !== undefined) expectFunction('tools', c.tools);
  return {
    seed: expectInteger('seed', c.seed ?? 1, 0),
    scheduler: expectScheduler('scheduler', c.scheduler ?? asyncScheduler),
    latency: resolveLatency(c.latency ?? { minMs: 200, maxMs: 600 }),
    tokensPerSecond,
    outputTokens: c.outputTokens === undefined ? undefined : expectInteger('outputTokens', c.outputTokens, 0),
    maxOutputTokens: expectInteger('maxOutputTokens', c.maxOutputTokens ?? 512, 1),
    failures: resolveFailures(c.failures),
    stragglers: resolveStragglers(c.stragglers),
    rateLimit: resolveRateLimit(c.rateLimit),
    tools: c.tools,
  };
}
