import type { SchedulerLike, Subscription } from 'rxjs';
import type { Budget, BudgetState } from '../budget/create-budget.js';
import type { Price } from '../budget/prices.js';
import { Deque } from '../core/deque.js';
import type { RxAgentError } from '../core/errors/index.js';
import type { Agent } from '../core/types.js';
import type { CooldownConfig, ResolvedDeployment } from './config.js';

/** One deployment as `router.state$` shows it. */
export interface DeploymentState {
  readonly id: string;
  readonly role: 'primary' | 'fallback';
  /** Attempts running on it now. */
  readonly inFlight: number;
  /**
   * The share of its budget's limits it could grant now, from 0 to 1, as its budget last reported; 0 while
   * its budget cools down after a 429, 1 without a budget.
   */
  readonly headroom: number;
  /** Scheduler time its cooldown ends; `Infinity` until `reconfigure`; `null` when it is in service. */
  readonly coolingUntil: number | null;
  /** The error that took it out of service, while it is out. */
  readonly coolingBecause: RxAgentError | null;
  /** Attempts sent to it, and how many of them succeeded and failed (counting failures of every kind). */
  readonly attempts: number;
  readonly fulfilled: number;
  readonly failed: number;
  /** Median duration of its recent successful attempts, in ms; `null` before the first. */
  readonly p50LatencyMs: number | null;
  /** Moving estimates of its time to first token and time per further token; `null` before measured. */
  readonly ttftMs: number | null;
  readonly msPerToken: number | null;
}

/** What a deployment needs from the router it belongs to. */
export interface DeploymentHost {
  readonly scheduler: SchedulerLike;
  readonly cooldown: Required<CooldownConfig>;
  readonly warn: (message: string) => void;
  /** A deployment went out of service or came back: waiting attempts look again. */
  availabilityChanged(): void;
}

/** Weight of the newest sample in the moving latency estimates. */
const SMOOTHING = 0.2;
/** Successful attempts whose durations the median is taken over. */
const RECENT = 64;

/** A moving average; `undefined` until its first sample. */
export class Ewma {
  #value: number | undefined;

  get value(): number | undefined {
    return this.#value;
  }

  add(sample: number): void {
    this.#value = this.#value === undefined ? sample : this.#value + SMOOTHING * (sample - this.#value);
  }
}

/**
 * One deployment's live state: what is in flight on it, its recent failures and cooldown, its latency
 * estimates and its budget's last reported headroom. Its agent and budget change only by `reconfigure`.
 */
export class Deployment {
  readonly id: string;
  readonly role: 'primary' | 'fallback';
  readonly weight: number;
  readonly models: ReadonlySet<string> | undefined;
  readonly model: string | undefined;
  readonly price: Price | undefined;
  /** Its position in `deployments`, which breaks ties between equally good choices. */
  readonly order: number;
  agent: Agent;
  budget: Budget | undefined;
  inFlight = 0;
  attempts = 0;
  fulfilled = 0;
  failed = 0;
  readonly ttft = new Ewma();
  readonly msPerToken = new Ewma();
  readonly #host: DeploymentHost;
  /** Scheduler time the cooldown ends (`Infinity`: until reconfigured), or `null` in service. */
  #coolingUntil: number | null = null;
  #coolingBecause: RxAgentError | null = null;
  /** Ends the cooldown. */
  #coolTimer: Subscription | undefined;
  /** Ends of the attempts within the current window, oldest first, and how many of them failed. */
  readonly #outcomes = new Deque<{ readonly at: number; readonly failed: boolean }>();
  #failuresInWindow = 0;
  /** Durations of the last successful attempts, a ring of `RECENT`. */
  readonly #durations: number[] = [];
  #durationAt = 0;
  #budgetState: BudgetState | undefined;
  #budgetSubscription: Subscription | undefined;
  /** The largest availability each limit has shown: its bucket when full, what `headroom` is relative to. */
  #peakTokens = 0;
  #peakRequests = 0;

  constructor(config: ResolvedDeployment, order: number, host: DeploymentHost) {
    this.id = config.id;
    this.role = config.role;
    this.weight = config.weight;
    this.models = config.models;
    this.model = config.model;
    this.price = config.price;
    this.order = order;
    this.agent = config.agent;
    this.budget = undefined;
    this.#host = host;
    this.#watch(config.budget);
  }

  /** Whether it may take a task naming `model` (none: any deployment may). */
  serves(model: string | undefined): boolean {
    return this.models === undefined || model === undefined || this.models.has(model);
  }

  /** Whether it is out of service at `now`. */
  isCooling(now: number): boolean {
    return this.#coolingUntil !== null && now < this.#coolingUntil;
  }

  /** When its cooldown ends (`Infinity`: never on its own), or `null` in service. */
  get coolingUntil(): number | null {
    return this.#coolingUntil;
  }

  get coolingBecause(): RxAgentError | null {
    return this.#coolingBecause;
  }

  /** The share of its budget it could grant now; see `DeploymentState.headroom`. */
  get headroom(): number {
    const state = this.#budgetState;
    if (state === undefined) return 1;
    if (state.cooldownUntil !== null && state.cooldownUntil > this.#host.scheduler.now()) return 0;
    return Math.min(
      share(state.tokensAvailable, this.#peakTokens),
      share(state.requestsAvailable, this.#peakRequests),
    );
  }

  /** An attempt was sent here. */
  started(): void {
    this.inFlight++;
    this.attempts++;
  }

  /** An attempt sent here succeeded after `durationMs`. */
  succeeded(durationMs: number): void {
    this.inFlight--;
    this.fulfilled++;
    this.#outcome(false);
    this.#durations[this.#durationAt] = durationMs;
    this.#durationAt = (this.#durationAt + 1) % RECENT;
  }

  /** An attempt sent here failed, or was stopped. */
  ended(failed: boolean): void {
    this.inFlight--;
    if (failed) this.failed++;
  }

  /** Median of the recent successful durations. */
  get p50LatencyMs(): number | null {
    if (this.#durations.length === 0) return null;
    const sorted = [...this.#durations].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  }

  /**
   * Counts a failure: with more than `allowedFails` within the window, making up at least `failureRate` of
   * the attempts that ended there, it cools for `cooldownMs`, or the provider's `retryAfterMs` when longer;
   * a 429 (`retryAfterMs` given) cools it at least that long anyway.
   */
  failure(error: RxAgentError, retryAfterMs: number | undefined): void {
    const { allowedFails, cooldownMs, failureRate } = this.#host.cooldown;
    this.#outcome(true);
    let ms = retryAfterMs ?? 0;
    const failures = this.#failuresInWindow;
    if (failures > allowedFails && failures >= failureRate * this.#outcomes.size) {
      ms = Math.max(ms, cooldownMs);
      // A cooldown served is a fresh start: the failures that caused it do not count again.
      this.#outcomes.clear();
      this.#failuresInWindow = 0;
    }
    if (ms > 0) this.#coolUntil(this.#host.scheduler.now() + ms, error);
  }

  /** Records how an attempt ended, forgetting those that ended before the window. */
  #outcome(failed: boolean): void {
    const now = this.#host.scheduler.now();
    const since = now - this.#host.cooldown.windowMs;
    for (
      let oldest = this.#outcomes.peek();
      oldest !== undefined && oldest.at <= since;
      oldest = this.#outcomes.peek()
    ) {
      this.#outcomes.shift();
      if (oldest.failed) this.#failuresInWindow--;
    }
    this.#outcomes.push({ at: now, failed });
    if (failed) this.#failuresInWindow++;
  }

  /** Takes it out of service until `reconfigure`, saying so once. */
  disable(error: RxAgentError): void {
    if (this.#coolingUntil === Number.POSITIVE_INFINITY) return;
    this.#host.warn(
      `rxagent router: deployment "${this.id}" is out of service until reconfigured (router.reconfigure('${this.id}', …)): ${error.message}`,
    );
    this.#coolUntil(Number.POSITIVE_INFINITY, error);
  }

  /** Puts it back in service, with a new agent or budget when given; its failures are forgotten. */
  reconfigure(agent: Agent | undefined, budget: Budget | undefined): void {
    if (agent !== undefined) this.agent = agent;
    if (budget !== undefined) this.#watch(budget);
    this.#outcomes.clear();
    this.#failuresInWindow = 0;
    this.#coolTimer?.unsubscribe();
    this.#coolTimer = undefined;
    this.#coolingUntil = null;
    this.#coolingBecause = null;
  }

  /** The state `router.state$` shows. */
  snapshot(): DeploymentState {
    return {
      id: this.id,
      role: this.role,
      inFlight: this.inFlight,
      headroom: this.headroom,
      coolingUntil: this.isCooling(this.#host.scheduler.now()) ? this.#coolingUntil : null,
      coolingBecause: this.#coolingBecause,
      attempts: this.attempts,
      fulfilled: this.fulfilled,
      failed: this.failed,
      p50LatencyMs: this.p50LatencyMs,
      ttftMs: this.ttft.value ?? null,
      msPerToken: this.msPerToken.value ?? null,
    };
  }

  #coolUntil(until: number, error: RxAgentError): void {
    if (this.#coolingUntil !== null && this.#coolingUntil >= until) return;
    this.#coolingUntil = until;
    this.#coolingBecause = error;
    this.#coolTimer?.unsubscribe();
    this.#coolTimer = undefined;
    if (Number.isFinite(until)) {
      const { scheduler } = this.#host;
      this.#coolTimer = scheduler.schedule(() => {
        this.#coolTimer = undefined;
        this.#coolingUntil = null;
        this.#coolingBecause = null;
        this.#host.availabilityChanged();
      }, until - scheduler.now());
    }
    this.#host.availabilityChanged();
  }

  /** Follows a budget's state, for `headroom`. */
  #watch(budget: Budget | undefined): void {
    this.#budgetSubscription?.unsubscribe();
    this.budget = budget;
    this.#budgetState = undefined;
    this.#peakTokens = 0;
    this.#peakRequests = 0;
    this.#budgetSubscription = budget?.state$.subscribe((state) => {
      this.#budgetState = state;
      if (state.tokensAvailable > this.#peakTokens) this.#peakTokens = state.tokensAvailable;
      if (state.requestsAvailable > this.#peakRequests) this.#peakRequests = state.requestsAvailable;
    });
  }
}

/** `available` as a share of `peak`; a limit the budget does not have, or has not reported yet, is no limit. */
function share(available: number, peak: number): number {
  if (!Number.isFinite(available) || Number.isNaN(available) || peak <= 0) return 1;
  return Math.max(0, Math.min(1, available / peak));
}
