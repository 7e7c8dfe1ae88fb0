import {
  BehaviorSubject,
  Observable,
  take as takeOne,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
} from 'rxjs';
import { BudgetExhaustedError, type RateLimitError } from '../core/errors/index.js';
import type { RateLimitSnapshot, Usage } from '../core/types.js';
import { DrainLoop } from '../core/drain-loop.js';
import { InputCalibration } from './calibration.js';
import { costOf, type Price } from './prices.js';
import { isRateLimitHeaders, parseRateLimitHeaders, type HeadersLike } from '../core/rate-limit-headers.js';
import type { AcquireResult, Amounts, BudgetSpec, BudgetStore } from './store.js';
import { LIMIT_NAMES, type LimitName } from './token-bucket.js';
import type { Budget, BudgetRequest, BudgetState, Reservation } from './create-budget.js';

/** A budget's configuration once `createBudget` has checked it and merged the defaults. */
export interface ResolvedBudget {
  readonly spec: BudgetSpec;
  readonly price: Price | undefined;
  /** How the `tokens` and `outputTokens` limits are reconciled with usage (see `BudgetConfig.tokenAccounting`). */
  readonly accounting: {
    readonly tokens: 'admission' | 'usage';
    readonly outputTokens: 'admission' | 'usage';
  };
  /** Whether cache reads count against the `inputTokens` limit. */
  readonly cachedInputCounts: boolean;
  readonly headroom: number;
  readonly store: BudgetStore;
  readonly key: string;
  /** Makes reservation ids unique across budgets that share a store and key in one process. */
  readonly serial: number;
  readonly scheduler: SchedulerLike;
}

interface Waiter {
  readonly id: string;
  readonly amounts: Amounts;
  /** The input estimate and output reserve of the request (before calibration), when it split them. */
  readonly split: { readonly input: number; readonly output: number } | undefined;
  readonly subscriber: Subscriber<Reservation>;
}

type Delta = Record<LimitName, number>;

/** The limits a 429 on tokens may have come from. */
const TOKEN_LIMITS: readonly LimitName[] = ['tokens', 'inputTokens', 'outputTokens'];

const NO_CHANGE: Delta = { tokens: 0, inputTokens: 0, outputTokens: 0, requests: 0, cost: 0 };

function negated(amounts: Amounts): Delta {
  return {
    tokens: -(amounts.tokens ?? 0),
    inputTokens: -(amounts.inputTokens ?? 0),
    outputTokens: -(amounts.outputTokens ?? 0),
    requests: -(amounts.requests ?? 0),
    cost: -(amounts.cost ?? 0),
  };
}

/**
 * The budget `createBudget` returns. Runs wait in one line and are granted strictly in arrival order by
 * the store; the line is worked through by a `DrainLoop`, since a grant's callbacks (a reservation ending,
 * a run unsubscribing) come back into it on the same stack, and an asynchronous store answers later.
 */
export class SharedBudget implements Budget {
  readonly #config: ResolvedBudget;
  /** Runs waiting for a grant, oldest first. */
  readonly #line: Waiter[] = [];
  readonly #state$: BehaviorSubject<BudgetState>;
  readonly #calibration = new InputCalibration();
  readonly #costPerToken: number;
  /** Reservations made, for their ids. */
  #reservations = 0;
  /** The store is answering about the head of the line; nothing else is asked meanwhile. */
  #asking = false;
  /** Answers received, to tell a store that answered at once from one that will answer later. */
  #answers = 0;
  /** Wakes the line when the head's wait is over. */
  #timer: Subscription | undefined;
  readonly #loop = new DrainLoop(() => {
    this.#step();
  });

  constructor(config: ResolvedBudget) {
    this.#config = config;
    const { price } = config;
    this.#costPerToken = price === undefined ? 0 : Math.max(price.input, price.output) / 1_000_000;
    this.#state$ = new BehaviorSubject<BudgetState>({
      tokensAvailable: this.#has('tokens') ? Number.NaN : Number.POSITIVE_INFINITY,
      ...(this.#has('inputTokens') ? { inputTokensAvailable: Number.NaN } : {}),
      ...(this.#has('outputTokens') ? { outputTokensAvailable: Number.NaN } : {}),
      requestsAvailable: this.#has('requests') ? Number.NaN : Number.POSITIVE_INFINITY,
      spent: 0,
      waiting: 0,
      cooldownUntil: null,
    });
    this.#publish();
  }

  get state$(): Observable<BudgetState> {
    return this.#state$.asObservable();
  }

  reserve(request: BudgetRequest): Observable<Reservation> {
    const output = request.outputTokens;
    const split = output === undefined ? undefined : { input: Math.max(0, request.tokens - output), output };
    // Input reserved with the margin learned from past runs; the margin alone never makes a request larger
    // than a limit (one already larger is refused as before).
    const tokenLimit = this.#limitOf('tokens');
    const tokens =
      split === undefined || request.tokens > tokenLimit
        ? request.tokens
        : Math.min(this.#calibration.reserve(split.input) + split.output, tokenLimit);
    const inputLimit = this.#limitOf('inputTokens');
    // Unsplit, the input and output limits each take the whole estimate: either part may be all of it.
    const inputTokens =
      split === undefined || split.input > inputLimit
        ? (split?.input ?? request.tokens)
        : Math.min(this.#calibration.reserve(split.input), inputLimit);
    const amounts: Amounts = {
      tokens,
      inputTokens,
      outputTokens: split?.output ?? request.tokens,
      requests: request.requests ?? 1,
      cost: tokens * this.#costPerToken,
    };
    return new Observable<Reservation>((subscriber) => {
      const { key, serial } = this.#config;
      const waiter: Waiter = { id: `${key}:${serial}.${++this.#reservations}`, amounts, split, subscriber };
      this.#line.push(waiter);
      this.#pump();
      return () => {
        const index = this.#line.indexOf(waiter);
        if (index === -1) return;
        this.#line.splice(index, 1);
        if (index === 0) this.#pump();
        else this.#publish();
      };
    });
  }

  observe(report: RateLimitSnapshot | HeadersLike): void {
    const { store, key, spec, scheduler, headroom } = this.#config;
    const now = scheduler.now();
    const snapshot = isRateLimitHeaders(report) ? parseRateLimitHeaders(report, now) : report;
    const sync = (limit: LimitName, remaining?: number, providerLimit?: number, resetMs?: number): void => {
      const own = spec.limits.find((l) => l.name === limit);
      if (own === undefined || remaining === undefined) return;
      const resync = {
        remaining,
        providerLimit: providerLimit ?? own.limit / headroom,
        resetMs: resetMs ?? own.windowMs,
      };
      store.resync({ key, spec, limit, report: resync, now }).pipe(takeOne(1)).subscribe();
    };
    sync('tokens', snapshot.remainingTokens, snapshot.limitTokens, snapshot.resetTokensMs);
    sync('requests', snapshot.remainingRequests, snapshot.limitRequests, snapshot.resetRequestsMs);
    sync(
      'inputTokens',
      snapshot.remainingInputTokens,
      snapshot.limitInputTokens,
      snapshot.resetInputTokensMs,
    );
    sync(
      'outputTokens',
      snapshot.remainingOutputTokens,
      snapshot.limitOutputTokens,
      snapshot.resetOutputTokensMs,
    );
    this.#pump();
  }

  rateLimited(error: RateLimitError): void {
    const { store, key, spec, scheduler } = this.#config;
    const now = scheduler.now();
    const until = now + Math.max(0, error.retryAfterMs);
    // A 429 on tokens names no family (Anthropic's may be ITPM or OTPM), so it pauses every token limit; one
    // on a limit this budget does not declare still means the provider wants a pause.
    const named: LimitName[] =
      error.limit === 'tokens' ? TOKEN_LIMITS.filter((name) => this.#has(name)) : [error.limit];
    const targets = named.some((name) => this.#has(name)) ? named : spec.limits.map((l) => l.name);
    for (const name of targets) {
      store.coolDown({ key, spec, limit: name, until, now }).pipe(takeOne(1)).subscribe();
    }
    this.#pump();
  }

  #has(name: LimitName): boolean {
    return this.#config.spec.limits.some((l) => l.name === name);
  }

  /** The size of limit `name`, `Infinity` when the budget does not declare it. */
  #limitOf(name: LimitName): number {
    return this.#config.spec.limits.find((l) => l.name === name)?.limit ?? Number.POSITIVE_INFINITY;
  }

  /** Works through the line; the state is published once the loop is done. */
  #pump(): void {
    if (this.#loop.run()) this.#publish();
  }

  /** Asks the store for the head of the line until one must wait, or an asynchronous store has yet to answer. */
  #step(): void {
    const { store, key, spec, scheduler } = this.#config;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    let proceed = true;
    while (proceed && !this.#asking && this.#line.length > 0) {
      const head = this.#line[0] as Waiter;
      let sync = true;
      const before = this.#answers;
      this.#asking = true;
      store
        .acquire({ key, spec, id: head.id, amounts: head.amounts, now: scheduler.now() })
        .pipe(takeOne(1))
        .subscribe({
          next: (result) => {
            this.#asking = false;
            this.#answers++;
            proceed = this.#answer(head, result);
            if (!sync) this.#pump();
          },
          error: (error: unknown) => {
            this.#asking = false;
            this.#answers++;
            // The head may have left the line while the store was answering; then only it is gone.
            const index = this.#line.indexOf(head);
            if (index !== -1) this.#line.splice(index, 1);
            head.subscriber.error(
              new BudgetExhaustedError({
                reason: 'store-unavailable',
                message: `The budget store failed: ${String(error)}`,
                cause: error,
              }),
            );
            if (!sync) this.#pump();
          },
        });
      sync = false;
      if (this.#answers === before) proceed = false;
    }
  }

  /** Acts on the store's answer about `waiter`; `true` when the next in line may be asked at once. */
  #answer(waiter: Waiter, result: AcquireResult): boolean {
    const { store, key, spec, scheduler } = this.#config;
    const index = this.#line.indexOf(waiter);
    if (result.granted) {
      if (index === -1) {
        // Left the line while an asynchronous store was answering: give it all back.
        store
          .adjust({
            key,
            spec,
            id: waiter.id,
            delta: negated(waiter.amounts),
            now: scheduler.now(),
            final: true,
          })
          .pipe(takeOne(1))
          .subscribe();
        return true;
      }
      this.#line.splice(index, 1);
      waiter.subscriber.next(this.#reservationFor(waiter));
      waiter.subscriber.complete();
      return true;
    }
    if ('never' in result) {
      if (index !== -1) this.#line.splice(index, 1);
      waiter.subscriber.error(this.#exhausted(result, waiter));
      return true;
    }
    if (Number.isFinite(result.waitMs)) {
      this.#timer = scheduler.schedule(() => {
        this.#timer = undefined;
        this.#pump();
      }, result.waitMs);
    }
    return false;
  }

  #exhausted(result: Extract<AcquireResult, { never: string }>, waiter: Waiter): BudgetExhaustedError {
    const { spec } = this.#config;
    if (result.never === 'max-total-cost') {
      return new BudgetExhaustedError({
        reason: 'max-total-cost',
        maxTotalCost: spec.maxTotalCost ?? 0,
        spent: this.#state$.getValue().spent,
      });
    }
    const limit = result.limit ?? 'tokens';
    return new BudgetExhaustedError({
      reason: 'exceeds-capacity',
      limit,
      requested: waiter.amounts[limit] ?? 0,
      capacity: spec.limits.find((l) => l.name === limit)?.limit ?? 0,
    });
  }

  /** A granted request: reconciled with usage, ended once. */
  #reservationFor(waiter: Waiter): Reservation {
    const { store, key, spec, scheduler, price, accounting, cachedInputCounts } = this.#config;
    const held: Delta = { ...NO_CHANGE, ...waiter.amounts };
    const reserved: Readonly<Delta> = { ...held };
    const { split } = waiter;
    const used = { tokens: 0, input: 0, countedInput: 0, output: 0, cost: 0 };
    let charged = false;
    let ended = false;
    const change = (delta: Delta, final: boolean): void => {
      for (const name of LIMIT_NAMES) held[name] += delta[name];
      store
        .adjust({ key, spec, id: waiter.id, delta, now: scheduler.now(), final })
        .pipe(takeOne(1))
        .subscribe(() => {
          this.#pump();
        });
    };
    return {
      charge: (usage: Usage) => {
        if (ended) return;
        if (!charged && split !== undefined) this.#calibration.observe(split.input, usage.inputTokens);
        charged = true;
        used.tokens += usage.inputTokens + usage.outputTokens;
        used.input += usage.inputTokens;
        const cacheReads = cachedInputCounts ? 0 : Math.min(usage.inputTokens, usage.cachedInputTokens ?? 0);
        used.countedInput += usage.inputTokens - cacheReads;
        used.output += usage.outputTokens;
        used.cost += usage.cost ?? (price === undefined ? 0 : costOf(price, usage));
        // At admission the provider charged the input it counts plus the whole output reserve: with the
        // split known, that is the charge exactly (a refund when the reservation was larger); without it,
        // only usage above the reservation is known to have been charged.
        const admitted =
          split === undefined
            ? Math.max(reserved.tokens, used.tokens)
            : Math.max(used.input + split.output, used.tokens);
        const tokens = accounting.tokens === 'usage' ? used.tokens : admitted;
        // The output limit was charged the reserve; Anthropic adjusts it to the real output at the end.
        const output =
          accounting.outputTokens === 'usage' ? used.output : Math.max(reserved.outputTokens, used.output);
        change(
          {
            tokens: tokens - held.tokens,
            inputTokens: used.countedInput - held.inputTokens,
            outputTokens: output - held.outputTokens,
            requests: 0,
            cost: used.cost - held.cost,
          },
          false,
        );
      },
      end: (outcome) => {
        if (ended) return;
        ended = true;
        const refund = outcome === 'unused' && !charged;
        change(refund ? negated(held) : NO_CHANGE, true);
      },
    };
  }

  #publish(): void {
    const { store, key, spec, scheduler } = this.#config;
    store
      .view({ key, spec, now: scheduler.now() })
      .pipe(takeOne(1))
      .subscribe((view) => {
        const next: BudgetState = {
          tokensAvailable: view.available.tokens ?? Number.POSITIVE_INFINITY,
          ...(view.available.inputTokens === undefined
            ? {}
            : { inputTokensAvailable: view.available.inputTokens }),
          ...(view.available.outputTokens === undefined
            ? {}
            : { outputTokensAvailable: view.available.outputTokens }),
          requestsAvailable: view.available.requests ?? Number.POSITIVE_INFINITY,
          ...(view.available.cost === undefined ? {} : { costAvailable: view.available.cost }),
          spent: view.spent,
          waiting: this.#line.length,
          cooldownUntil: view.cooldownUntil > scheduler.now() ? view.cooldownUntil : null,
        };
        const last = this.#state$.getValue();
        const same = (Object.keys(next) as (keyof BudgetState)[]).every((k) => Object.is(next[k], last[k]));
        if (!same || Object.keys(last).length !== Object.keys(next).length) this.#state$.next(next);
      });
  }
}
