import { asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import type { RateLimitError } from '../core/errors/index.js';
import type { RateLimitSnapshot, Usage } from '../core/types.js';
import {
  describe,
  expectConfig,
  expectKnownKeys,
  expectNumber,
  expectOneOf,
  expectScheduler,
} from '../core/validate.js';
import { priceOf, type Price } from './prices.js';
import type { HeadersLike } from '../core/rate-limit-headers.js';
import { memoryStore } from './memory-store.js';
import { SharedBudget } from './shared-budget.js';
import type { BudgetSpec, BudgetStore } from './store.js';
import { limitSpec, type LimitName, type LimitSpec } from './token-bucket.js';

/**
 * Configuration of {@link createBudget}. Declare at least one limit; every declared limit must grant a run.
 */
export interface BudgetConfig {
  /** Tokens per minute the provider allows, input and output together (OpenAI's TPM). @defaultValue no limit */
  readonly tokensPerMinute?: number;
  /**
   * Input tokens per minute the provider allows (Anthropic's ITPM). Charged each run's input estimate at the
   * grant, reconciled to the input the provider counts (see `cachedInputCounts`). @defaultValue no limit
   */
  readonly inputTokensPerMinute?: number;
  /**
   * Output tokens per minute the provider allows (Anthropic's OTPM). Charged each run's output reserve
   * (`outputTokens` of the request, its `max_tokens`) at the grant, reconciled as `tokenAccounting` says.
   * A request that does not split its tokens is charged all of them here. @defaultValue no limit
   */
  readonly outputTokensPerMinute?: number;
  /**
   * Whether input read from the provider's prompt cache (`usage.cachedInputTokens`) counts against
   * `inputTokensPerMinute`. Anthropic counts `input_tokens` and cache writes against ITPM but not cache
   * reads (for most current models; set `true` for those whose docs mark cache reads as counted). Only the
   * input limit follows this: `tokensPerMinute` always counts every input token, as OpenAI does.
   * @defaultValue false
   */
  readonly cachedInputCounts?: boolean;
  /** Requests per minute the provider allows. @defaultValue no limit */
  readonly requestsPerMinute?: number;
  /** Dollars per minute to spend at most; needs a priced `model`. @defaultValue no limit */
  readonly costPerMinute?: number;
  /** Dollars after which nothing new starts; needs a priced `model`. @defaultValue no cap */
  readonly maxTotalCost?: number;
  /** Share of every per-minute limit this budget may use, in (0, 1]; leave the rest to other programs. @defaultValue 1 */
  readonly headroom?: number;
  /** Model whose price turns usage into dollars (`prices`, else the genai-prices catalog). @defaultValue none */
  readonly model?: string;
  /** Dollars per one million tokens, by model; overrides the catalog. @defaultValue `{}` */
  readonly prices?: Readonly<Record<string, Price>>;
  /**
   * Seconds of the per-minute rate the smoothing bucket lets through at once, in (0, 60]; below 60 with
   * `window: 'bucket'`, whose refill is what the burst leaves of the limit. @defaultValue 1
   */
  readonly burst?: number;
  /**
   * How the provider counts: `'sliding'`, a strict 60 s sliding window (the budget keeps a 60 s log and
   * reaches the full limit); `'bucket'`, a continuously refilled bucket (no log; the refill rate leaves
   * room for the burst, so requests up to the burst are also safe against a sliding window).
   * @defaultValue 'sliding'
   */
  readonly window?: 'sliding' | 'bucket';
  /**
   * What the provider's token limits count of the output: `'admission'`, the reserve charged when a request
   * is admitted (OpenAI: input tokens + `max_tokens`), so unused output is never refunded and only an
   * overshoot is charged; `'usage'`, the tokens really used, so `usage` refunds or charges the difference
   * (Anthropic's OTPM: charged `max_tokens` at the start, adjusted to the real output at the end). Input is
   * always reconciled to what the provider counted, and money to usage.
   * @defaultValue 'admission' for `tokensPerMinute`, 'usage' for `outputTokensPerMinute`; a value given applies to both
   */
  readonly tokenAccounting?: 'admission' | 'usage';
  /** Where the buckets live; share a store and `key` to share limits. @defaultValue `memoryStore()` */
  readonly store?: BudgetStore;
  /** Name of this budget's buckets in the store. @defaultValue a name unique to this budget */
  readonly key?: string;
  /** Clock and timers. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** A budget as `state$` shows it. Emitted on every change (grant, reconcile, cooldown, resync, queue). */
export interface BudgetState {
  /** Tokens that could be granted now; `Infinity` without a token limit. */
  readonly tokensAvailable: number;
  /** Input tokens that could be granted now, when `inputTokensPerMinute` is set. */
  readonly inputTokensAvailable?: number;
  /** Output tokens that could be granted now, when `outputTokensPerMinute` is set. */
  readonly outputTokensAvailable?: number;
  /** Requests that could be granted now; `Infinity` without a request limit. */
  readonly requestsAvailable: number;
  /** Dollars per minute that could be granted now, when `costPerMinute` is set. */
  readonly costAvailable?: number;
  /** Dollars charged so far, running runs at their estimate. */
  readonly spent: number;
  /** Runs waiting for a grant. */
  readonly waiting: number;
  /** Scheduler time until which a provider 429 stops grants, or `null`. */
  readonly cooldownUntil: number | null;
}

/** What a run asks a budget for. */
export interface BudgetRequest {
  /** Estimated tokens (input + reserved output). */
  readonly tokens: number;
  /**
   * Of `tokens`, the output reserved (`max_tokens`); the rest is the input estimate. Given, the budget
   * learns how far input estimates fall from what the provider counts (`usage.inputTokens`), reserves
   * input with that margin, and reconciles each run to its exact admission charge (input counted + this).
   * @defaultValue unknown: `tokens` is reserved as it is, and only usage above it is charged
   */
  readonly outputTokens?: number;
  /** Requests the run makes. @defaultValue 1 */
  readonly requests?: number;
}

/** A granted request, to be reconciled with usage and ended exactly once. */
export interface Reservation {
  /** Counts a `usage` report of the run (several add up). */
  charge(usage: Usage): void;
  /** The run is over: `'used'` keeps what the provider counted, `'unused'` refunds all of it. */
  end(outcome: 'used' | 'unused'): void;
}

/** Limits on tokens, requests and money shared by every run that goes through `throttleBudget`. */
export interface Budget {
  /** The budget's state, on every change; replays the latest to new subscribers. */
  readonly state$: Observable<BudgetState>;
  /**
   * Waits in line until every limit grants `request`, then emits the reservation and completes.
   * Unsubscribing before the grant leaves the line; a request that can never be granted errors with
   * `BudgetExhaustedError`.
   */
  reserve(request: BudgetRequest): Observable<Reservation>;
  /** Re-synchronises with what the provider reports: a `RateLimitSnapshot`, or `x-ratelimit-*` or `anthropic-ratelimit-*` headers. */
  observe(report: RateLimitSnapshot | HeadersLike): void;
  /** A provider 429: no grant on its limit until `retryAfterMs` from now, for every run sharing the budget. */
  rateLimited(error: RateLimitError): void;
}

const CONFIG_KEYS = [
  'tokensPerMinute',
  'inputTokensPerMinute',
  'outputTokensPerMinute',
  'cachedInputCounts',
  'requestsPerMinute',
  'costPerMinute',
  'maxTotalCost',
  'headroom',
  'model',
  'prices',
  'burst',
  'window',
  'tokenAccounting',
  'store',
  'key',
  'scheduler',
] as const;

let budgets = 0;

function positive(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = expectNumber(name, value, 0);
  if (n === 0) throw new TypeError(`Expected \`${name}\` to be a number above 0, got ${describe(value)}`);
  return n;
}

function resolvePrice(config: BudgetConfig): Price | undefined {
  if (config.prices !== undefined) expectConfig('prices', config.prices);
  const needsPrice = config.costPerMinute !== undefined || config.maxTotalCost !== undefined;
  if (config.model !== undefined && typeof config.model !== 'string') {
    throw new TypeError(`Expected \`model\` to be a model name, got ${describe(config.model)}`);
  }
  const price = config.model === undefined ? undefined : priceOf(config.model, config.prices);
  if (needsPrice && price === undefined) {
    throw new TypeError(
      config.model === undefined
        ? 'Expected `model` with `costPerMinute` or `maxTotalCost`, got no model: money is computed from its price'
        : `Expected a price for model ${JSON.stringify(config.model)} with \`costPerMinute\` or \`maxTotalCost\`, got none: pass \`prices: { ${JSON.stringify(config.model)}: { input, output } }\` in dollars per 1M tokens`,
    );
  }
  return price;
}

function resolveSpec(config: BudgetConfig): BudgetSpec {
  const headroom = config.headroom ?? 1;
  if (typeof headroom !== 'number' || !(headroom > 0 && headroom <= 1)) {
    throw new TypeError(`Expected \`headroom\` to be a number in (0, 1], got ${describe(headroom)}`);
  }
  const burst = positive('burst', config.burst) ?? 1;
  if (burst > 60) throw new TypeError(`Expected \`burst\` to be at most 60 seconds, got ${describe(burst)}`);
  const sliding = expectOneOf('window', config.window ?? 'sliding', ['sliding', 'bucket']) === 'sliding';
  // A bucket refills at (limit − capacity) / 60 s and its capacity is burst/60 of the limit: a 60 s burst
  // leaves no refill at all, so the first minute's grants would be the last.
  if (!sliding && burst >= 60) {
    throw new TypeError(
      `Expected \`burst\` to be below 60 seconds with \`window: 'bucket'\` (a full-minute burst leaves the bucket no refill), got ${describe(burst)}`,
    );
  }
  const perMinute: [LimitName, number | undefined][] = [
    ['tokens', positive('tokensPerMinute', config.tokensPerMinute)],
    ['inputTokens', positive('inputTokensPerMinute', config.inputTokensPerMinute)],
    ['outputTokens', positive('outputTokensPerMinute', config.outputTokensPerMinute)],
    ['requests', positive('requestsPerMinute', config.requestsPerMinute)],
    ['cost', positive('costPerMinute', config.costPerMinute)],
  ];
  const maxTotalCost = positive('maxTotalCost', config.maxTotalCost);
  const limits: LimitSpec[] = [];
  for (const [name, value] of perMinute) {
    if (value !== undefined)
      limits.push(limitSpec(name, value * headroom, { burstMs: burst * 1_000, sliding }));
  }
  if (limits.length === 0 && maxTotalCost === undefined) {
    throw new TypeError(
      'Expected at least one of `tokensPerMinute`, `inputTokensPerMinute`, `outputTokensPerMinute`, `requestsPerMinute`, `costPerMinute` or `maxTotalCost`, got none',
    );
  }
  return maxTotalCost === undefined ? { limits } : { limits, maxTotalCost };
}

/**
 * Creates a budget: limits on tokens (all together, or input and output apart), requests and dollars per
 * minute and on total dollars, shared by every run that goes through `throttleBudget(budget, ...)`.
 *
 * Each per-minute limit is scaled by `headroom` and enforced by a small smoothing bucket (`burst`
 * seconds' worth, debt-based so no request up to the limit is impossible) plus, by default, an exact
 * 60 s log, so a pool runs at the provider's limit without ever being answered 429 by a
 * sliding-window provider (see `token-bucket.ts` for the arithmetic). Waiting runs are granted strictly
 * in arrival order. A provider 429 passing through `throttleBudget` pauses the limit it names for
 * `retryAfterMs`; `rate-limits` events re-synchronise the buckets with the provider's counts.
 *
 * @example
 * const budget = createBudget({ tokensPerMinute: 90_000, requestsPerMinute: 500, maxTotalCost: 25, model: 'gpt-4o-mini' });
 * budget.state$.subscribe((s) => console.log(s.tokensAvailable, s.waiting, s.spent));
 *
 * // Anthropic's separate input and output limits (ITPM / OTPM); cache reads do not count against ITPM.
 * const claude = createBudget({ inputTokensPerMinute: 400_000, outputTokensPerMinute: 80_000, requestsPerMinute: 4_000 });
 */
export function createBudget(config: BudgetConfig): Budget {
  expectConfig('config', config);
  expectKnownKeys('createBudget', config, CONFIG_KEYS);
  const price = resolvePrice(config);
  const spec = resolveSpec(config);
  const accounting =
    config.tokenAccounting === undefined
      ? undefined
      : expectOneOf('tokenAccounting', config.tokenAccounting, ['admission', 'usage']);
  const cachedInputCounts = config.cachedInputCounts ?? false;
  if (typeof cachedInputCounts !== 'boolean') {
    throw new TypeError(`Expected \`cachedInputCounts\` to be a boolean, got ${describe(cachedInputCounts)}`);
  }
  const scheduler =
    config.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', config.scheduler);
  const store = config.store ?? memoryStore();
  if (typeof (store as Partial<BudgetStore>).acquire !== 'function') {
    throw new TypeError(
      `Expected \`store\` to be a BudgetStore (such as memoryStore()), got ${describe(store)}`,
    );
  }
  const serial = ++budgets;
  const shared = new SharedBudget({
    spec,
    price,
    accounting: { tokens: accounting ?? 'admission', outputTokens: accounting ?? 'usage' },
    cachedInputCounts,
    headroom: config.headroom ?? 1,
    store,
    key: config.key ?? `budget-${serial}`,
    serial,
    scheduler,
  });
  // A plain object, so that a budget can be wrapped by spreading it, as the `Budget` interface invites.
  return {
    state$: shared.state$,
    reserve: (request) => shared.reserve(request),
    observe: (report) => {
      shared.observe(report);
    },
    rateLimited: (error) => {
      shared.rateLimited(error);
    },
  };
}
