import {
  BehaviorSubject,
  Observable,
  asyncScheduler,
  take as takeOne,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
} from 'rxjs';
import { BudgetExhaustedError, type RateLimitError } from '../core/errors.js';
import type { RateLimitSnapshot, Usage } from '../core/types.js';
import {
  describe,
  expectConfig,
  expectKnownKeys,
  expectNumber,
  expectOneOf,
  expectScheduler,
} from '../core/validate.js';
import { InputCalibration } from './calibration.js';
import { costOf, priceOf, type Price } from './estimate.js';
import { parseRateLimitHeaders, type HeadersLike } from '../core/rate-limit-headers.js';
import { memoryStore } from './memory-store.js';
import type { AcquireResult, Amounts, BudgetSpec, BudgetStore } from './store.js';
import { limitSpec, type LimitName, type LimitSpec } from './token-bucket.js';

/**
 * Configuration of {@link createBudget}. Declare at least one limit; every declared limit must grant a run.
 */
export interface BudgetConfig {
  /** Tokens per minute the provider allows. @defaultValue no limit */
  readonly tokensPerMinute?: number;
  /** Requests per minute the provider allows. @defaultValue no limit */
  readonly requestsPerMinute?: number;
  /** Dollars per minute to spend at most; needs a priced `model`. @defaultValue no limit */
  readonly costPerMinute?: number;
  /** Dollars after which nothing new starts; needs a priced `model`. @defaultValue no cap */
  readonly maxTotalCost?: number;
  /** Share of every per-minute limit this budget may use, in (0, 1]; leave the rest to other programs. @defaultValue 1 */
  readonly headroom?: number;
  /** Model whose price turns usage into dollars (gpt-tokenizer's metadata, or `prices`). @defaultValue none */
  readonly model?: string;
  /** Dollars per one million input and output tokens, by model; overrides the built-in prices. @defaultValue `{}` */
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
   * What the provider's token limit counts: `'admission'`, the estimate charged when a request is
   * admitted (OpenAI: input tokens + `max_tokens`), so unused output is never refunded and only an
   * overshoot is charged; `'usage'`, the tokens really used, so `usage` refunds or charges the difference.
   * Money is always reconciled with usage.
   * @defaultValue 'admission'
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
  /** Re-synchronises with what the provider reports: a `RateLimitSnapshot` or `x-ratelimit-*` headers. */
  observe(report: RateLimitSnapshot | HeadersLike): void;
  /** A provider 429: no grant on its limit until `retryAfterMs` from now, for every run sharing the budget. */
  rateLimited(error: RateLimitError): void;
}

interface Waiter {
  readonly id: string;
  readonly amounts: Amounts;
  /** The input estimate and output reserve within `amounts.tokens`, when the request split them. */
  readonly split: { readonly input: number; readonly output: number } | undefined;
  readonly subscriber: Subscriber<Reservation>;
}

const CONFIG_KEYS = [
  'tokensPerMinute',
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
];

let budgets = 0;

function positive(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = expectNumber(name, value, 0);
  if (n === 0) throw new TypeError(`Expected \`${name}\` to be a number above 0, got ${describe(value)}`);
  return n;
}

function isHeaders(report: RateLimitSnapshot | HeadersLike): report is HeadersLike {
  return (
    typeof (report as { get?: unknown }).get === 'function' ||
    Object.keys(report).some((k) => k.toLowerCase().startsWith('x-ratelimit-'))
  );
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
      'Expected at least one of `tokensPerMinute`, `requestsPerMinute`, `costPerMinute` or `maxTotalCost`, got none',
    );
  }
  return maxTotalCost === undefined ? { limits } : { limits, maxTotalCost };
}

/**
 * Creates a budget: limits on tokens, requests and dollars per minute and on total dollars, shared by
 * every run that goes through `throttleBudget(budget, ...)`.
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
 */
export function createBudget(config: BudgetConfig): Budget {
  expectConfig('config', config);
  expectKnownKeys('createBudget', config, CONFIG_KEYS);
  const price = resolvePrice(config);
  const spec = resolveSpec(config);
  const accounting = expectOneOf('tokenAccounting', config.tokenAccounting ?? 'admission', [
    'admission',
    'usage',
  ]);
  const scheduler =
    config.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', config.scheduler);
  const store = config.store ?? memoryStore();
  if (typeof (store as Partial<BudgetStore>).acquire !== 'function') {
    throw new TypeError(
      `Expected \`store\` to be a BudgetStore (such as memoryStore()), got ${describe(store)}`,
    );
  }
  const serial = ++budgets;
  const key = config.key ?? `budget-${serial}`;
  const has = (name: LimitName): boolean => spec.limits.some((l) => l.name === name);
  const costPerToken = price === undefined ? 0 : Math.max(price.input, price.output) / 1_000_000;
  const calibration = new InputCalibration();
  const tokenLimit = spec.limits.find((l) => l.name === 'tokens')?.limit;

  const queue: Waiter[] = [];
  const state$ = new BehaviorSubject<BudgetState>({
    tokensAvailable: has('tokens') ? Number.NaN : Number.POSITIVE_INFINITY,
    requestsAvailable: has('requests') ? Number.NaN : Number.POSITIVE_INFINITY,
    spent: 0,
    waiting: 0,
    cooldownUntil: null,
  });
  let reservations = 0;
  let pumping = false;
  let reentries = 0;
  let asking = false;
  let answers = 0;
  let timer: Subscription | undefined;

  const publish = (): void => {
    store
      .view(key, spec, scheduler.now())
      .pipe(takeOne(1))
      .subscribe((view) => {
        const next: BudgetState = {
          tokensAvailable: view.available.tokens ?? Number.POSITIVE_INFINITY,
          requestsAvailable: view.available.requests ?? Number.POSITIVE_INFINITY,
          ...(view.available.cost === undefined ? {} : { costAvailable: view.available.cost }),
          spent: view.spent,
          waiting: queue.length,
          cooldownUntil: view.cooldownUntil > scheduler.now() ? view.cooldownUntil : null,
        };
        const last = state$.getValue();
        const same = (Object.keys(next) as (keyof BudgetState)[]).every((k) => Object.is(next[k], last[k]));
        if (!same || Object.keys(last).length !== Object.keys(next).length) state$.next(next);
      });
  };

  const exhausted = (
    result: Extract<AcquireResult, { never: string }>,
    waiter: Waiter,
  ): BudgetExhaustedError =>
    result.never === 'max-total-cost'
      ? new BudgetExhaustedError(
          `Budget spent: ${state$.getValue().spent.toFixed(4)} of the \`maxTotalCost\` of ${spec.maxTotalCost ?? 0} dollars; nothing new starts`,
          { reason: 'max-total-cost', maxTotalCost: spec.maxTotalCost },
        )
      : new BudgetExhaustedError(
          `A request of ${waiter.amounts[result.limit ?? 'tokens'] ?? 0} ${result.limit ?? 'tokens'} exceeds the budget's limit of ${spec.limits.find((l) => l.name === result.limit)?.limit ?? 0} per minute and can never be granted`,
          {
            reason: 'exceeds-capacity',
            limit: result.limit,
            requested: waiter.amounts[result.limit ?? 'tokens'],
          },
        );

  const reservationFor = (waiter: Waiter): Reservation => {
    const held = {
      tokens: waiter.amounts.tokens ?? 0,
      requests: waiter.amounts.requests ?? 0,
      cost: waiter.amounts.cost ?? 0,
    };
    const reserved = held.tokens;
    const { split } = waiter;
    const used = { tokens: 0, input: 0, cost: 0 };
    let charged = false;
    let ended = false;
    const change = (delta: { tokens: number; requests: number; cost: number }, final: boolean): void => {
      held.tokens += delta.tokens;
      held.requests += delta.requests;
      held.cost += delta.cost;
      store
        .adjust(key, spec, waiter.id, delta, scheduler.now(), final)
        .pipe(takeOne(1))
        .subscribe(() => {
          pump();
        });
    };
    return {
      charge(usage) {
        if (ended) return;
        if (!charged && split !== undefined) calibration.observe(split.input, usage.inputTokens);
        charged = true;
        used.tokens += usage.inputTokens + usage.outputTokens;
        used.input += usage.inputTokens;
        used.cost += usage.cost ?? (price === undefined ? 0 : costOf(price, usage));
        // At admission the provider charged the input it counts plus the whole output reserve: with the
        // split known, that is the charge exactly (a refund when the reservation was larger); without it,
        // only usage above the reservation is known to have been charged.
        const admitted =
          split === undefined
            ? Math.max(reserved, used.tokens)
            : Math.max(used.input + split.output, used.tokens);
        const tokens = accounting === 'usage' ? used.tokens : admitted;
        change({ tokens: tokens - held.tokens, requests: 0, cost: used.cost - held.cost }, false);
      },
      end(outcome) {
        if (ended) return;
        ended = true;
        const refund = outcome === 'unused' && !charged;
        change(
          refund
            ? { tokens: -held.tokens, requests: -held.requests, cost: -held.cost }
            : { tokens: 0, requests: 0, cost: 0 },
          true,
        );
      },
    };
  };

  const answer = (waiter: Waiter, result: AcquireResult): boolean => {
    const index = queue.indexOf(waiter);
    if (result.granted) {
      if (index === -1) {
        // Left the line while an asynchronous store was answering: give it all back.
        const back = {
          tokens: -(waiter.amounts.tokens ?? 0),
          requests: -(waiter.amounts.requests ?? 0),
          cost: -(waiter.amounts.cost ?? 0),
        };
        store.adjust(key, spec, waiter.id, back, scheduler.now(), true).pipe(takeOne(1)).subscribe();
        return true;
      }
      queue.splice(index, 1);
      waiter.subscriber.next(reservationFor(waiter));
      waiter.subscriber.complete();
      return true;
    }
    if ('never' in result) {
      if (index !== -1) queue.splice(index, 1);
      waiter.subscriber.error(exhausted(result, waiter));
      return true;
    }
    if (Number.isFinite(result.waitMs)) {
      timer = scheduler.schedule(() => {
        timer = undefined;
        pump();
      }, result.waitMs);
    }
    return false;
  };

  // Asks the store for the head of the line until one must wait; re-entrant calls re-run the loop.
  function pump(): void {
    if (pumping) {
      reentries++;
      return;
    }
    pumping = true;
    try {
      let handled = reentries;
      do {
        handled = reentries;
        timer?.unsubscribe();
        timer = undefined;
        let proceed = true;
        while (proceed && !asking && queue.length > 0) {
          const head = queue[0] as Waiter;
          let sync = true;
          const before = answers;
          asking = true;
          store
            .acquire(key, spec, head.id, head.amounts, scheduler.now())
            .pipe(takeOne(1))
            .subscribe({
              next: (result) => {
                asking = false;
                answers++;
                proceed = answer(head, result);
                if (!sync) pump();
              },
              error: (error: unknown) => {
                asking = false;
                answers++;
                // The head may have left the line while the store was answering; then only it is gone.
                const index = queue.indexOf(head);
                if (index !== -1) queue.splice(index, 1);
                head.subscriber.error(
                  new BudgetExhaustedError(
                    `The budget store failed: ${String(error)}`,
                    { reason: 'store-unavailable', cause: error },
                    { cause: error },
                  ),
                );
                if (!sync) pump();
              },
            });
          sync = false;
          if (answers === before) proceed = false;
        }
      } while (reentries !== handled);
    } finally {
      pumping = false;
    }
    publish();
  }

  const coolDownOn = (limit: LimitName, until: number): void => {
    // A 429 on a limit this budget does not declare still means the provider wants a pause.
    const targets = has(limit) ? [limit] : spec.limits.map((l) => l.name);
    for (const name of targets)
      store.coolDown(key, spec, name, until, scheduler.now()).pipe(takeOne(1)).subscribe();
    pump();
  };

  publish();
  return {
    state$: state$.asObservable(),
    reserve(request) {
      const output = request.outputTokens;
      const split =
        output === undefined ? undefined : { input: Math.max(0, request.tokens - output), output };
      // Input reserved with the margin learned from past runs; the margin alone never makes a request
      // larger than the limit (one already larger is refused as before).
      const limit = tokenLimit ?? Number.POSITIVE_INFINITY;
      const tokens =
        split === undefined || request.tokens > limit
          ? request.tokens
          : Math.min(calibration.reserve(split.input) + split.output, limit);
      const amounts: Amounts = {
        tokens,
        requests: request.requests ?? 1,
        cost: tokens * costPerToken,
      };
      return new Observable<Reservation>((subscriber) => {
        // Budgets sharing a store and key in one process must not share reservation ids.
        const waiter: Waiter = { id: `${key}:${serial}.${++reservations}`, amounts, split, subscriber };
        queue.push(waiter);
        pump();
        return () => {
          const index = queue.indexOf(waiter);
          if (index === -1) return;
          queue.splice(index, 1);
          if (index === 0) pump();
          else publish();
        };
      });
    },
    observe(report) {
      const snapshot = isHeaders(report) ? parseRateLimitHeaders(report) : report;
      const now = scheduler.now();
      const sync = (limit: LimitName, remaining?: number, providerLimit?: number, resetMs?: number): void => {
        const own = spec.limits.find((l) => l.name === limit);
        if (own === undefined || remaining === undefined) return;
        const headroom = config.headroom ?? 1;
        const report = {
          remaining,
          providerLimit: providerLimit ?? own.limit / headroom,
          resetMs: resetMs ?? own.windowMs,
        };
        store.resync(key, spec, limit, report, now).pipe(takeOne(1)).subscribe();
      };
      sync('tokens', snapshot.remainingTokens, snapshot.limitTokens, snapshot.resetTokensMs);
      sync('requests', snapshot.remainingRequests, snapshot.limitRequests, snapshot.resetRequestsMs);
      pump();
    },
    rateLimited(error) {
      coolDownOn(error.limit, scheduler.now() + Math.max(0, error.retryAfterMs));
    },
  };
}
