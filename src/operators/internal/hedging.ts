import { Observable } from 'rxjs';
import type { ObservableInput, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import { CancelledError } from '../../core/errors/index.js';
import { onRequestPhase } from '../../core/request-phase.js';
import type { RequestPhase } from '../../core/request-phase.js';
import type { AgentEvent, RunContext, Task } from '../../core/types.js';
import { withRunContext } from '../../core/with-signal.js';
import { FirstTokenTimes, HEDGE_BURST } from './hedge-policy.js';
import type { HedgePolicy } from './hedge-policy.js';
import { isOutput } from './retry-policy.js';

/** What hedging needs of the pool engine it works in. */
export interface HedgeHost {
  readonly scheduler: SchedulerLike;
  now(): number;
  /** The concurrency limit now. */
  readonly limit: number;
  /** Tasks running. */
  readonly running: number;
  /** A hedge ended: the slot it took is free for the next task. */
  freed(): void;
}

/** What hedging needs of the run whose attempt it races. */
export interface HedgedRun {
  readonly task: Task;
  /** The run's own signal, which the signal of each racing attempt derives from. */
  readonly signal: AbortSignal;
  /** A hedge of the attempt is starting, `afterMs` after its request went out. */
  hedged(afterMs: number): void;
}

/**
 * The hedging of one pool: the token bucket that keeps hedges within `maxExtra` of the requests, the times to
 * first token its percentile delay is read from, the budget's cooldown, and the hedges running, each of which
 * takes a slot under the concurrency limit as a task does.
 */
export class Hedging {
  readonly #policy: HedgePolicy;
  readonly #host: HedgeHost;
  readonly #times: FirstTokenTimes | undefined;
  /** Hedges that may start now; a request earns `maxExtra` of one, up to `HEDGE_BURST`. */
  #tokens = 0;
  #running = 0;
  #started = 0;
  #cooldownUntil: number | null = null;
  readonly #cooldown: Subscription | undefined;

  constructor(policy: HedgePolicy, host: HedgeHost) {
    this.#policy = policy;
    this.#host = host;
    const { after } = policy;
    this.#times = 'percentile' in after ? new FirstTokenTimes(after.percentile) : undefined;
    this.#cooldown = policy.budget?.state$.subscribe((state) => {
      this.#cooldownUntil = state.cooldownUntil;
    });
  }

  /** Hedges running now, each holding a slot. */
  get running(): number {
    return this.#running;
  }

  /** Hedges started so far. */
  get started(): number {
    return this.#started;
  }

  /**
   * One attempt of `run`: `start` with a context of its own, and a second `start` should the first have no
   * output `after` its request went out; the first with output goes on, the other is unsubscribed at once.
   */
  race<R>(
    run: HedgedRun,
    start: (context: RunContext) => ObservableInput<AgentEvent | R>,
  ): Observable<AgentEvent | R> {
    return new Observable<AgentEvent | R>((subscriber) => {
      this.#tokens = Math.min(HEDGE_BURST, this.#tokens + this.#policy.maxExtra);
      const race = new Race(this, this.#host.scheduler, run, start, subscriber);
      race.launch(false);
      return () => {
        race.close();
      };
    });
  }

  close(): void {
    this.#cooldown?.unsubscribe();
  }

  /** The hedge delay now; `undefined` while too few first tokens are measured to read a percentile. */
  delay(): number | undefined {
    const { after } = this.#policy;
    return 'ms' in after ? after.ms : this.#times?.percentile;
  }

  measured(ms: number): void {
    this.#times?.add(ms);
  }

  /** Takes a hedge's token and slot, if a token is left, a slot is free and the budget is not cooling. */
  take(): boolean {
    const host = this.#host;
    // A hair under 1: tokens earned in steps of `maxExtra` add up with rounding errors.
    if (this.#tokens < 1 - 1e-9 || host.running + this.#running >= host.limit) return false;
    if (this.#cooldownUntil !== null && this.#cooldownUntil > host.now()) return false;
    this.#tokens -= 1;
    this.#running++;
    this.#started++;
    return true;
  }

  released(): void {
    this.#running--;
    this.#host.freed();
  }
}

/** One racing attempt. */
interface Leg {
  readonly hedge: boolean;
  subscription: Subscription | undefined;
  /** When its request went out; `undefined` while it has not, or waits again. */
  sentAt: number | undefined;
  live: boolean;
}

/** The race of one attempt against its hedge. */
class Race<R> {
  readonly #hedging: Hedging;
  readonly #scheduler: SchedulerLike;
  readonly #run: HedgedRun;
  readonly #start: (context: RunContext) => ObservableInput<AgentEvent | R>;
  readonly #subscriber: Subscriber<AgentEvent | R>;
  readonly #legs: Leg[] = [];
  #winner: Leg | undefined;
  #timer: Subscription | undefined;
  /** Whether it holds a hedge's slot, from the hedge's start until only one attempt is left. */
  #holding = false;
  #closed = false;

  constructor(
    hedging: Hedging,
    scheduler: SchedulerLike,
    run: HedgedRun,
    start: (context: RunContext) => ObservableInput<AgentEvent | R>,
    subscriber: Subscriber<AgentEvent | R>,
  ) {
    this.#hedging = hedging;
    this.#scheduler = scheduler;
    this.#run = run;
    this.#start = start;
    this.#subscriber = subscriber;
  }

  launch(hedge: boolean): void {
    const leg: Leg = { hedge, subscription: undefined, sentAt: undefined, live: true };
    this.#legs.push(leg);
    const taskId = this.#run.task.id;
    const attempt$ = withRunContext(
      (context) => {
        onRequestPhase(context, (phase) => {
          this.#phase(leg, phase);
        });
        return this.#start(context);
      },
      () => this.#run.signal,
      () =>
        new CancelledError({
          reason: 'unsubscribed',
          taskId,
          message: `Attempt of task "${taskId}" was stopped: another attempt answered first`,
        }),
    );
    const subscription = attempt$.subscribe({
      next: (value) => {
        this.#next(leg, value);
      },
      error: (error: unknown) => {
        this.#ended(leg, { error });
      },
      complete: () => {
        this.#ended(leg, undefined);
      },
    });
    if (leg.live && !this.#closed) leg.subscription = subscription;
    else subscription.unsubscribe();
  }

  /** Unsubscribed by the run: settled, cancelled, torn down, or a failed attempt to be retried. */
  close(): void {
    this.#closed = true;
    for (const leg of this.#legs) this.#drop(leg);
    this.#end();
  }

  /** The hedge delay counts from when the first attempt's request went out, and stops while it waits again. */
  #phase(leg: Leg, phase: RequestPhase): void {
    if (!leg.live || this.#winner !== undefined) return;
    leg.sentAt = phase === 'sent' ? this.#scheduler.now() : undefined;
    if (leg.hedge || this.#legs.length > 1) return;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    const delay = phase === 'sent' ? this.#hedging.delay() : undefined;
    if (delay === undefined) return;
    this.#timer = this.#scheduler.schedule(() => {
      this.#timer = undefined;
      this.#due(delay);
    }, delay);
  }

  #due(afterMs: number): void {
    if (this.#closed || this.#winner !== undefined || this.#legs.length > 1) return;
    if (!this.#hedging.take()) return;
    // Held from here, so that a consumer leaving on the `hedge` event gives the slot back through `close`.
    this.#holding = true;
    this.#run.hedged(afterMs);
    if (this.#isOpen()) this.launch(true);
  }

  // A method, so checks after a callback are not narrowed away: callbacks may close the race.
  #isOpen(): boolean {
    return !this.#closed;
  }

  #next(leg: Leg, value: AgentEvent | R): void {
    if (!leg.live) return;
    if (this.#winner === undefined && isOutput(value)) this.#win(leg);
    this.#subscriber.next(value);
  }

  #win(leg: Leg): void {
    this.#winner = leg;
    if (leg.sentAt !== undefined) this.#hedging.measured(this.#scheduler.now() - leg.sentAt);
    for (const other of this.#legs) if (other !== leg) this.#drop(other);
    this.#end();
  }

  /** A racing attempt failed or completed: the other goes on alone if there is one, else the race ends so. */
  #ended(leg: Leg, failure: { error: unknown } | undefined): void {
    if (!leg.live) return;
    // Torn down before it is passed on, as the pool does with a run: whatever the attempt held is released
    // before its slot is reused.
    this.#drop(leg);
    if (failure === undefined) {
      if (this.#winner === undefined) this.#win(leg);
      this.#subscriber.complete();
      return;
    }
    if (this.#winner === undefined && this.#legs.some((l) => l.live)) {
      this.#release();
      return;
    }
    this.#end();
    this.#subscriber.error(failure.error);
  }

  #drop(leg: Leg): void {
    if (!leg.live) return;
    leg.live = false;
    const subscription = leg.subscription;
    leg.subscription = undefined;
    subscription?.unsubscribe();
  }

  /** No more hedging: the timer is cleared and the hedge's slot given back. */
  #end(): void {
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    this.#release();
  }

  #release(): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.#hedging.released();
  }
}
