/**
 * The arithmetic of one limit (tokens, input tokens, output tokens, requests or dollars per minute): functions of a state and the time
 * `now`, with no clock and no I/O, so a store can run them anywhere (memory, or a Redis script on the
 * server's clock) and tests can check them directly. Each returns the next state; the log inside is an
 * array the next state takes over (appended to, its head moved on), so that a grant costs O(1) amortised
 * however many grants the window holds, instead of a copy of the log: keep only the latest state.
 *
 * Each limit combines two mechanisms:
 *
 * - A **smoothing bucket** of `capacity` units refilled continuously at `ratePerMs`. It keeps bursts to
 *   about `burst` seconds' worth, which is what providers that enforce per-second quotas need. It is
 *   debt-based: a request larger than the capacity is granted once the bucket is full and leaves the
 *   level negative; the next grant waits until the debt is repaid. So no ordinary request is ever
 *   impossible because the burst is small.
 * - With `window: 'sliding'`, a **log** of the last 60 s of grants: a grant is allowed only when the
 *   log's total plus the request stays within `limit`. This is exact against a provider that enforces a
 *   strict sliding window, for requests of any size up to the limit, so the refill rate can be the full
 *   `limit / 60 s` and throughput reaches the limit.
 *
 * With `window: 'bucket'` there is no log, and the refill rate is `(limit − capacity) / 60 s`: in any 60 s
 * a bucket grants at most `capacity + 60 s · rate = limit`, so requests no larger than the capacity never
 * exceed a sliding window either (requests larger than the capacity may overshoot one window by their
 * excess; that mode is for providers that refill a bucket, as OpenAI's headers suggest). The capacity
 * must therefore stay below the limit (a burst under 60 s): at `capacity = limit` the rate is 0 and an
 * emptied bucket never refills, which is why `createBudget` refuses a 60 s burst in this mode.
 */

/**
 * Which limit a spec describes: all tokens (OpenAI's TPM), input tokens and output tokens apart (Anthropic's
 * ITPM and OTPM), requests, or dollars.
 */
export type LimitName = 'tokens' | 'inputTokens' | 'outputTokens' | 'requests' | 'cost';

/** Every limit name, in the order stores list them. */
export const LIMIT_NAMES: readonly LimitName[] = [
  'tokens',
  'inputTokens',
  'outputTokens',
  'requests',
  'cost',
];

/** How one limit is enforced. Built by `createBudget`; stores receive it with every call. */
export interface LimitSpec {
  readonly name: LimitName;
  /** Units allowed per window, headroom already applied. */
  readonly limit: number;
  readonly windowMs: number;
  /** Units the smoothing bucket holds when full. */
  readonly capacity: number;
  /** Refill of the smoothing bucket, in units per millisecond. */
  readonly ratePerMs: number;
  /** Whether a 60 s log of grants is kept (the provider enforces a sliding window). */
  readonly sliding: boolean;
}

/** One grant still inside the sliding window. */
export interface LogEntry {
  readonly at: number;
  /** Changed in place when the reservation it belongs to is refunded. */
  amount: number;
  /** The reservation it belongs to, so reconciling can change it; absent for resync entries. */
  readonly id?: string;
}

/** The state of one limit at time `updatedAt`. */
export interface LimitState {
  readonly level: number;
  readonly updatedAt: number;
  /** Grants oldest first from `head` on (entries before it have left the window); empty unless sliding. */
  readonly log: LogEntry[];
  /** Index of the oldest entry still in the window. */
  readonly head: number;
  /** Sum of the amounts from `head` on, kept as entries come and go. */
  readonly used: number;
  /** The window's entries of each reservation, oldest first, so a refund finds them without a search. */
  readonly byId: Map<string, LogEntry[]>;
  /** No grant before this time (a provider 429 asked to wait). */
  readonly cooldownUntil: number;
}

/** Builds a limit's spec, so every store agrees on the arithmetic. */
export function limitSpec(
  name: LimitName,
  limit: number,
  options: { readonly burstMs: number; readonly sliding: boolean; readonly windowMs?: number },
): LimitSpec {
  const windowMs = options.windowMs ?? 60_000;
  const capacity = Math.min(limit, (limit * options.burstMs) / windowMs);
  // A bucket alone must leave room for its own burst inside every window (see the module comment).
  const perWindow = options.sliding ? limit : limit - capacity;
  return { name, limit, windowMs, capacity, ratePerMs: perWindow / windowMs, sliding: options.sliding };
}

/** A full limit at time `now`. */
export function initialState(spec: LimitSpec, now: number): LimitState {
  return {
    level: spec.capacity,
    updatedAt: now,
    log: [],
    head: 0,
    used: 0,
    byId: new Map(),
    cooldownUntil: Number.NEGATIVE_INFINITY,
  };
}

function remember(state: LimitState, entry: LogEntry): void {
  state.log.push(entry);
  if (entry.id === undefined) return;
  const entries = state.byId.get(entry.id);
  if (entries === undefined) state.byId.set(entry.id, [entry]);
  else entries.push(entry);
}

/**
 * The grants still in the window, oldest first (a copy, for reading).
 *
 * @internal
 */
export function liveLog(state: LimitState): LogEntry[] {
  return state.log.slice(state.head);
}

/** Entries that left the window are dropped from the array once they are most of it. */
const COMPACT_AFTER = 1024;

/** The state moved forward to `now`: the bucket refilled and expired log entries dropped. */
export function advance(spec: LimitSpec, state: LimitState, now: number): LimitState {
  const elapsed = Math.max(0, now - state.updatedAt);
  const level = Math.min(spec.capacity, state.level + elapsed * spec.ratePerMs);
  let { log, head, used } = state;
  for (let e = log[head]; e !== undefined && e.at + spec.windowMs <= now; e = log[head]) {
    used -= e.amount;
    head++;
    if (e.id === undefined) continue;
    // A reservation's entries leave in the order they came, so this one is the first of its list.
    const entries = state.byId.get(e.id);
    entries?.shift();
    if (entries?.length === 0) state.byId.delete(e.id);
  }
  if (head === log.length) {
    // Float sums drift; an empty window is exactly zero.
    log = [];
    head = 0;
    used = 0;
    state.byId.clear();
  } else if (head > COMPACT_AFTER && head * 2 > log.length) {
    log = log.slice(head);
    head = 0;
  }
  return { ...state, level, updatedAt: Math.max(now, state.updatedAt), log, head, used };
}

/** Units the sliding log holds (0 when the spec is not sliding). */
export function windowUsed(state: LimitState): number {
  return state.used;
}

/** Whether `amount` can never be granted: it is larger than the whole limit. */
export function exceedsCapacity(spec: LimitSpec, amount: number): boolean {
  return amount > spec.limit;
}

/**
 * Milliseconds until `amount` can be granted from an advanced state: 0 if now, `Infinity` if never.
 * The bucket needs `min(amount, capacity)` (debt covers the rest); the log needs the oldest entries
 * to slide out until the request fits.
 */
export function waitFor(spec: LimitSpec, state: LimitState, amount: number, now: number): number {
  if (exceedsCapacity(spec, amount)) return Number.POSITIVE_INFINITY;
  // A run that asks nothing of this limit is not held back by it, not even by its cooldown.
  if (amount <= 0) return 0;
  const needed = Math.min(amount, spec.capacity);
  const bucketWait =
    state.level >= needed
      ? 0
      : spec.ratePerMs > 0
        ? (needed - state.level) / spec.ratePerMs
        : Number.POSITIVE_INFINITY;
  let logWait = 0;
  if (spec.sliding) {
    // Only as many of the oldest entries as must slide out are read: O(1) amortised at a steady rate.
    let excess = windowUsed(state) + amount - spec.limit;
    for (let i = state.head; excess > 0 && i < state.log.length; i++) {
      const entry = state.log[i] as LogEntry;
      excess -= entry.amount;
      logWait = entry.at + spec.windowMs - now;
    }
  }
  // Whole milliseconds: a fractional wait could round to no progress at all in floating point.
  return Math.ceil(Math.max(bucketWait, logWait, state.cooldownUntil - now, 0));
}

/** Takes `amount` from an advanced state (callers check `waitFor` first). */
export function take(
  spec: LimitSpec,
  state: LimitState,
  amount: number,
  now: number,
  id: string,
): LimitState {
  if (!spec.sliding) return { ...state, level: state.level - amount };
  remember(state, { at: now, amount, id });
  return { ...state, level: state.level - amount, used: state.used + amount };
}

/**
 * Changes what reservation `id` holds by `delta`: a refund (negative) goes back to the bucket and
 * shrinks the reservation's log entry; a charge (positive) is taken from the bucket and logged now,
 * since the provider counts it no earlier than it learns of it.
 */
export function adjust(
  spec: LimitSpec,
  state: LimitState,
  id: string,
  delta: number,
  now: number,
): LimitState {
  if (delta === 0) return state;
  const level = Math.min(spec.capacity, state.level - delta);
  if (!spec.sliding) return { ...state, level };
  if (delta > 0) {
    remember(state, { at: now, amount: delta, id });
    return { ...state, level, used: state.used + delta };
  }
  let refund = -delta;
  let used = state.used;
  for (const entry of state.byId.get(id) ?? []) {
    if (refund <= 0) break;
    const back = Math.min(refund, entry.amount);
    refund -= back;
    entry.amount -= back;
    used -= back;
  }
  return { ...state, level, used };
}

/** No grant before `until`; an earlier cooldown never shortens a later one. */
export function coolDown(state: LimitState, until: number): LimitState {
  return { ...state, cooldownUntil: Math.max(state.cooldownUntil, until) };
}

/**
 * Re-synchronises an advanced state with what the provider reports: `used` units of its own limit are
 * spent (by this process or any other), `resetMs` until they are all restored, and `reserve` units of
 * the provider's limit are kept for others (`(1 − headroom) · provider limit`).
 *
 * The bucket level is lowered to what the provider still allows; the log gains an entry for usage it
 * did not know of, timed to slide out when the provider says it resets. Only ever makes the budget
 * more careful, never less: a report can be older than grants made since.
 */
export function resync(
  spec: LimitSpec,
  state: LimitState,
  report: { readonly remaining: number; readonly providerLimit: number; readonly resetMs: number },
  now: number,
): LimitState {
  const reserve = Math.max(0, report.providerLimit - spec.limit);
  const allowed = report.remaining - reserve;
  const level = Math.min(state.level, allowed);
  if (!spec.sliding) return { ...state, level };
  const unknown = report.providerLimit - report.remaining - windowUsed(state);
  if (unknown <= 0) return { ...state, level };
  const at = Math.min(now, now + Math.max(0, report.resetMs) - spec.windowMs);
  // Kept in time order: the entry goes after every one not later than it (binary search from the head).
  let low = state.head;
  let high = state.log.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((state.log[mid] as LogEntry).at <= at) low = mid + 1;
    else high = mid;
  }
  state.log.splice(low, 0, { at, amount: unknown });
  return { ...state, level, used: state.used + unknown };
}

/** What is available now: the smaller of the bucket level and, if sliding, the room in the window. */
export function available(spec: LimitSpec, state: LimitState): number {
  const room = spec.sliding ? spec.limit - windowUsed(state) : Number.POSITIVE_INFINITY;
  return Math.min(state.level, room);
}
