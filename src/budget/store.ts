import type { Observable } from 'rxjs';
import type { LimitName, LimitSpec } from './token-bucket.js';

/** Units per limit, such as `{ tokens: 1200, requests: 1, cost: 0.0004 }`. */
export type Amounts = Readonly<Partial<Record<LimitName, number>>>;

/** The limits of one budget, sent with every store call so a shared store needs no set-up step. */
export interface BudgetSpec {
  readonly limits: readonly LimitSpec[];
  /** Dollars after which nothing new starts. @defaultValue no cap */
  readonly maxTotalCost?: number;
}

/** The answer to an acquire: granted (and taken), or how long to wait, or never. */
export type AcquireResult =
  | { readonly granted: true }
  | { readonly granted: false; readonly waitMs: number }
  | {
      readonly granted: false;
      readonly never: 'max-total-cost' | 'exceeds-capacity';
      /** The limit that can never grant it, for `exceeds-capacity`. */
      readonly limit?: LimitName;
    };

/** What a budget shows of its store: availability per limit, money, cooldowns. */
export interface StoreView {
  readonly available: Readonly<Partial<Record<LimitName, number>>>;
  /** Dollars charged so far (settled runs and what running ones reserved). */
  readonly spent: number;
  readonly cooldownUntil: number;
}

/** What every store call names: which budget, its limits, and when. */
export interface StoreCall {
  /** The budget's name in the store: calls with the same `key` share one set of buckets. */
  readonly key: string;
  /** The budget's limits, sent with every call so a shared store needs no set-up step. */
  readonly spec: BudgetSpec;
  /** The budget's scheduler time in ms; a shared store may use its own clock instead. */
  readonly now: number;
}

/** The argument of {@link BudgetStore.acquire}. */
export interface AcquireCall extends StoreCall {
  /** Names the reservation, so that `adjust` can change it later; unique among this process's budgets. */
  readonly id: string;
  /** Units to take from each limit; a limit left out takes none. */
  readonly amounts: Amounts;
}

/** The argument of {@link BudgetStore.adjust}. */
export interface AdjustCall extends StoreCall {
  /** The reservation to change, as named by its `acquire`. */
  readonly id: string;
  /** Change per limit: negative refunds, positive charges; a limit left out does not change. */
  readonly delta: Amounts;
  /** The run is over, so the money it holds no longer counts as possibly refundable. */
  readonly final: boolean;
}

/** The argument of {@link BudgetStore.coolDown}. */
export interface CoolDownCall extends StoreCall {
  /** The limit to pause. */
  readonly limit: LimitName;
  /** Time (on the clock of `now`) before which nothing is granted on `limit`. */
  readonly until: number;
}

/** The argument of {@link BudgetStore.resync}. */
export interface ResyncCall extends StoreCall {
  /** The limit the provider reported on. */
  readonly limit: LimitName;
  /** What the provider reported, as in its `x-ratelimit-*` headers. */
  readonly report: {
    /** Units the provider still allows in its window. */
    readonly remaining: number;
    /** The provider's whole limit; what it holds above the budget's own limit is left to others. */
    readonly providerLimit: number;
    /** Milliseconds until the provider's window is whole again. */
    readonly resetMs: number;
  };
}

/**
 * Where a budget keeps its buckets. Every method takes one object naming its arguments, is atomic on its
 * `key` and answers through an Observable that emits once and completes, so a store shared across
 * processes (Redis, with the arithmetic of `token-bucket.ts` in a Lua script) can replace `memoryStore`
 * with no change to `createBudget` or `throttleBudget`, and the in-memory store keeps working in virtual
 * time.
 *
 * `now` is the budget's scheduler time; a shared store may use its own clock instead.
 *
 * @example
 * // A store that counts grants, around another one.
 * const inner = memoryStore();
 * const counting: BudgetStore = {
 *   ...inner,
 *   acquire: (call) => inner.acquire(call).pipe(tap((r) => (grants += r.granted ? 1 : 0))),
 * };
 */
export interface BudgetStore {
  /** Takes `amounts` from every limit at once if all of them grant it now; else takes nothing. */
  acquire(call: AcquireCall): Observable<AcquireResult>;
  /** Changes reservation `id` by `delta` per limit; `final` ends the run's claim to a refund. */
  adjust(call: AdjustCall): Observable<void>;
  /** Stops every grant on `limit` until `until` (a provider 429). */
  coolDown(call: CoolDownCall): Observable<void>;
  /** Lowers `limit` to what the provider reports as remaining. */
  resync(call: ResyncCall): Observable<void>;
  /** The budget as it stands at `now`. */
  view(call: StoreCall): Observable<StoreView>;
}
