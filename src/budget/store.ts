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

/**
 * Where a budget keeps its buckets. Every method is atomic on one `key` and answers through an
 * Observable that emits once and completes, so a store shared across processes (Redis, with the
 * arithmetic of `token-bucket.ts` in a Lua script) can replace `memoryStore` with no change to
 * `createBudget` or `throttleBudget`, and the in-memory store keeps working in virtual time.
 *
 * `now` is the budget's scheduler time; a shared store may use its own clock instead.
 */
export interface BudgetStore {
  /** Takes `amounts` from every limit at once if all of them grant it now; else takes nothing. */
  acquire(
    key: string,
    spec: BudgetSpec,
    id: string,
    amounts: Amounts,
    now: number,
  ): Observable<AcquireResult>;
  /**
   * Changes reservation `id` by `delta` per limit: negative refunds, positive charges. `final` says the
   * run is over, so its money no longer counts as possibly refundable.
   */
  adjust(
    key: string,
    spec: BudgetSpec,
    id: string,
    delta: Amounts,
    now: number,
    final: boolean,
  ): Observable<void>;
  /** Stops every grant on `limit` until `until` (a provider 429). */
  coolDown(key: string, spec: BudgetSpec, limit: LimitName, until: number, now: number): Observable<void>;
  /** Lowers `limit` to what the provider reports as remaining. */
  resync(
    key: string,
    spec: BudgetSpec,
    limit: LimitName,
    report: { readonly remaining: number; readonly providerLimit: number; readonly resetMs: number },
    now: number,
  ): Observable<void>;
  /** The budget as it stands at `now`. */
  view(key: string, spec: BudgetSpec, now: number): Observable<StoreView>;
}
