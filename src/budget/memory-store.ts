import { of, type Observable } from 'rxjs';
import type { AcquireCall, AcquireResult, BudgetStore, StoreView } from './store.js';
import {
  adjust,
  advance,
  available,
  coolDown,
  exceedsCapacity,
  initialState,
  resync,
  take,
  waitFor,
  type LimitName,
  type LimitSpec,
  type LimitState,
} from './token-bucket.js';

interface Entry {
  readonly limits: Map<LimitName, LimitState>;
  spent: number;
  /** Runs still able to refund money: id → dollars they hold. */
  readonly open: Map<string, number>;
}

/**
 * The default `BudgetStore`: buckets in this process's memory, answering synchronously (`of(...)`), so
 * budgets in one process share limits by sharing a store and a key.
 *
 * @example
 * const store = memoryStore();
 * const a = createBudget({ tokensPerMinute: 90_000, store });
 */
export function memoryStore(): BudgetStore {
  const entries = new Map<string, Entry>();

  const entryFor = (key: string): Entry => {
    let entry = entries.get(key);
    if (entry === undefined) {
      entry = { limits: new Map(), spent: 0, open: new Map() };
      entries.set(key, entry);
    }
    return entry;
  };

  const stateOf = (entry: Entry, spec: LimitSpec, now: number): LimitState => {
    const state = entry.limits.get(spec.name);
    const advanced = state === undefined ? initialState(spec, now) : advance(spec, state, now);
    entry.limits.set(spec.name, advanced);
    return advanced;
  };

  const acquire = (entry: Entry, { spec, id, amounts, now }: AcquireCall): AcquireResult => {
    if (spec.maxTotalCost !== undefined && entry.spent >= spec.maxTotalCost) {
      // Open runs may still refund; only when none can is the cap final.
      return entry.open.size > 0
        ? { granted: false, waitMs: Number.POSITIVE_INFINITY }
        : { granted: false, never: 'max-total-cost' };
    }
    let waitMs = 0;
    for (const limit of spec.limits) {
      const amount = amounts[limit.name] ?? 0;
      if (exceedsCapacity(limit, amount))
        return { granted: false, never: 'exceeds-capacity', limit: limit.name };
      waitMs = Math.max(waitMs, waitFor(limit, stateOf(entry, limit, now), amount, now));
    }
    if (waitMs > 0) return { granted: false, waitMs };
    for (const limit of spec.limits) {
      const amount = amounts[limit.name] ?? 0;
      entry.limits.set(limit.name, take(limit, stateOf(entry, limit, now), amount, now, id));
    }
    const cost = amounts.cost ?? 0;
    entry.spent += cost;
    entry.open.set(id, cost);
    return { granted: true };
  };

  return {
    acquire(call): Observable<AcquireResult> {
      return of(acquire(entryFor(call.key), call));
    },
    adjust({ key, spec, id, delta, now, final }): Observable<void> {
      const entry = entryFor(key);
      for (const limit of spec.limits) {
        const change = delta[limit.name] ?? 0;
        entry.limits.set(limit.name, adjust(limit, stateOf(entry, limit, now), id, change, now));
      }
      entry.spent = Math.max(0, entry.spent + (delta.cost ?? 0));
      if (final) entry.open.delete(id);
      return of(undefined);
    },
    coolDown({ key, spec, limit, until, now }): Observable<void> {
      const entry = entryFor(key);
      const limitSpec = spec.limits.find((l) => l.name === limit);
      if (limitSpec !== undefined) entry.limits.set(limit, coolDown(stateOf(entry, limitSpec, now), until));
      return of(undefined);
    },
    resync({ key, spec, limit, report, now }): Observable<void> {
      const entry = entryFor(key);
      const limitSpec = spec.limits.find((l) => l.name === limit);
      if (limitSpec !== undefined) {
        entry.limits.set(limit, resync(limitSpec, stateOf(entry, limitSpec, now), report, now));
      }
      return of(undefined);
    },
    view({ key, spec, now }): Observable<StoreView> {
      const entry = entryFor(key);
      const result: Partial<Record<LimitName, number>> = {};
      let cooldownUntil = Number.NEGATIVE_INFINITY;
      for (const limit of spec.limits) {
        const state = stateOf(entry, limit, now);
        result[limit.name] = available(limit, state);
        cooldownUntil = Math.max(cooldownUntil, state.cooldownUntil);
      }
      return of({ available: result, spent: entry.spent, cooldownUntil });
    },
  };
}
