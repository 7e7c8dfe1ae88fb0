import { defer, of, type Observable, type Subscriber, type Subscription } from 'rxjs';
import type { Budget, Reservation } from '../budget/create-budget.js';
import { CancelledError, RateLimitError, toRxAgentError, type RxAgentError } from '../core/errors/index.js';
import type { AgentEvent, RunContext, Task } from '../core/types.js';
import { requestPhase } from '../core/request-phase.js';
import { throttleBudget } from '../operators/throttle-budget.js';
import type { Deployment } from './deployment.js';
import { failureKind } from './failure-kind.js';

/** What the router remembers of one task across its attempts (the pool calls `run` once per attempt). */
export interface TaskRecord {
  /** The attempt under way, from 1: one per `run` call, and one more each time a run moves elsewhere. */
  attempt: number;
  /** Deployments where an attempt of the task failed: its next attempts go elsewhere while another can serve. */
  readonly failed: Set<Deployment>;
  /** Deployments that cannot serve the task at all (too large for their limit, its context, its content). */
  readonly excluded: Set<Deployment>;
  /** Where attempts of the task are running now (two when the pool hedges): another goes elsewhere if it can. */
  readonly active: Deployment[];
  /** After a context-window or content-policy refusal, only that kind's fallbacks may take the task. */
  kind: 'contextWindow' | 'contentPolicy' | undefined;
  /** Where the last attempt was stopped from outside before it ended, such as by a timeout. */
  stopped: Deployment | undefined;
  /** The last failure, which the task fails with when no deployment is left to try. */
  lastError: RxAgentError | undefined;
  /** The input's estimated tokens, counted once. */
  inputTokens: number | undefined;
}

/** What a routed run needs from its router. */
export interface RunHost {
  now(): number;
  /**
   * The deployments the attempt may go to now, best tier only; else when one comes back from a cooldown
   * (a time), or the error to fail with when none ever can. `skip` leaves out deployments for this run.
   */
  choose(
    task: Task,
    record: TaskRecord,
    skip: ReadonlySet<Deployment> | undefined,
  ): Deployment[] | number | RxAgentError;
  /** `candidates` best first, in the order their budgets are asked. */
  rank(task: Task, record: TaskRecord, candidates: readonly Deployment[]): Deployment[];
  /** What a deployment's budget reserves for the task. */
  request(task: Task, record: TaskRecord, deployment: Deployment): { tokens: number; outputTokens: number };
  /** Whether deployments are configured for a kind of refusal. */
  hasFallbacks(kind: 'contextWindow' | 'contentPolicy'): boolean;
  /** The run waits for a deployment: look at it again (now, or when the router's loop gets to it). */
  wake(run: RoutedRun): void;
  /** The run no longer waits. */
  left(run: RoutedRun): void;
  /** Something `state$` shows changed. */
  changed(): void;
  /** A typical answer's length was measured. */
  measured(outputTokens: number): void;
}

/** One attempt on one deployment. */
interface Leg {
  readonly deployment: Deployment;
  readonly startedAt: number;
  /** When the first output arrived. */
  firstAt: number | undefined;
  /** Whether output went out, after which a failure does not move the run. */
  output: boolean;
  deltas: number;
  outputTokens: number;
  /** Whether the request was handed to the deployment's agent. */
  sent: boolean;
  subscription: Subscription | undefined;
}

const WAITING = 0;
const RUNNING = 1;
const DONE = 2;

/**
 * One `run` call of the router: it waits until a deployment can take the attempt, runs it there, and, when
 * that deployment turns out unable to serve the task (a 401, a request too large for it, a refusal with
 * fallbacks configured) before any output, moves it to another one within the same call. Other failures end
 * the call, and the pool's retry calls `run` again.
 *
 * While waiting it holds a reservation request on the budget of every deployment it may go to, asked in the
 * strategy's order, so the best of those that can grant at once gets it, and otherwise the first that can.
 * The router's loop calls `refresh` whenever deployments go out of service or come back.
 */
export class RoutedRun {
  readonly #host: RunHost;
  readonly #task: Task;
  readonly #record: TaskRecord;
  readonly #context: RunContext;
  readonly #subscriber: Subscriber<AgentEvent>;
  #state = WAITING;
  /** Reservation requests waiting at the candidates' budgets. */
  readonly #asks = new Map<Deployment, Subscription>();
  /** Deployments whose budget failed to answer during this call; the next call may try them again. */
  #skip: Set<Deployment> | undefined;
  #leg: Leg | undefined;

  constructor(
    host: RunHost,
    task: Task,
    record: TaskRecord,
    context: RunContext,
    subscriber: Subscriber<AgentEvent>,
  ) {
    this.#host = host;
    this.#task = task;
    this.#record = record;
    this.#context = context;
    this.#subscriber = subscriber;
  }

  start(): void {
    requestPhase(this.#context, 'waiting');
    this.#host.wake(this);
  }

  /** Asks the budgets of the deployments it may go to now and lets go of those it may no longer go to. */
  refresh(): void {
    if (this.#state !== WAITING) return;
    const choice = this.#host.choose(this.#task, this.#record, this.#skip);
    if (!Array.isArray(choice)) {
      this.#dropAsks();
      // A time: it waits for a cooldown to end, and the router wakes it then.
      if (typeof choice !== 'number') this.#fail(choice);
      return;
    }
    for (const [deployment, ask] of this.#asks) {
      if (!choice.includes(deployment)) {
        this.#asks.delete(deployment);
        ask.unsubscribe();
      }
    }
    const fresh = choice.filter((d) => !this.#asks.has(d));
    for (const deployment of this.#host.rank(this.#task, this.#record, fresh)) {
      this.#ask(deployment);
      if (!this.#isWaiting()) return;
    }
  }

  // A method, so checks after a callback are not narrowed away: callbacks may change the state.
  #isWaiting(): boolean {
    return this.#state === WAITING;
  }

  /** The consumer left: whatever is asked or running is let go of. */
  stop(): void {
    if (this.#state === DONE) return;
    const leg = this.#leg;
    this.#state = DONE;
    this.#leg = undefined;
    this.#dropAsks();
    this.#host.left(this);
    if (leg === undefined) return;
    this.#ended(leg);
    leg.deployment.ended(false);
    // Stopped mid-request from outside, as by a timeout: if the task is tried again, that counts as a failure.
    if (leg.sent) this.#record.stopped = leg.deployment;
    leg.subscription?.unsubscribe();
    this.#host.changed();
  }

  #ask(deployment: Deployment): void {
    const budget = deployment.budget;
    if (budget === undefined) {
      this.#granted(deployment, undefined);
      return;
    }
    const subscription = budget.reserve(this.#host.request(this.#task, this.#record, deployment)).subscribe({
      next: (reservation) => {
        this.#asks.delete(deployment);
        this.#granted(deployment, { budget, reservation });
      },
      error: (error: unknown) => {
        this.#asks.delete(deployment);
        this.#refused(deployment, toRxAgentError(error));
      },
    });
    // A grant or refusal may have come at once, while subscribing.
    if (this.#isWaiting() && !subscription.closed) this.#asks.set(deployment, subscription);
  }

  #dropAsks(): void {
    for (const ask of this.#asks.values()) ask.unsubscribe();
    this.#asks.clear();
  }

  #granted(deployment: Deployment, grant: { budget: Budget; reservation: Reservation } | undefined): void {
    if (this.#state !== WAITING || deployment.isCooling(this.#host.now())) {
      // Granted after it stopped waiting, or by a deployment that went out of service meanwhile.
      grant?.reservation.end('unused');
      if (this.#state === WAITING) this.#host.wake(this);
      return;
    }
    this.#state = RUNNING;
    this.#dropAsks();
    this.#host.left(this);
    this.#start(deployment, grant);
  }

  /** A budget refused the request, or could not answer. */
  #refused(deployment: Deployment, error: RxAgentError): void {
    if (this.#state !== WAITING) return;
    this.#record.lastError = error;
    switch (failureKind(error)) {
      case 'disabled':
        deployment.disable(error);
        break;
      case 'unsuitable':
        this.#record.excluded.add(deployment);
        break;
      default:
        deployment.failure(error, undefined);
        (this.#skip ??= new Set()).add(deployment);
    }
    this.#host.wake(this);
  }

  #start(deployment: Deployment, grant: { budget: Budget; reservation: Reservation } | undefined): void {
    const leg: Leg = {
      deployment,
      startedAt: this.#host.now(),
      firstAt: undefined,
      output: false,
      deltas: 0,
      outputTokens: 0,
      sent: false,
      subscription: undefined,
    };
    this.#leg = leg;
    this.#record.active.push(deployment);
    deployment.started();
    this.#host.changed();
    this.#subscriber.next({ type: 'route', deployment: deployment.id, attempt: this.#record.attempt });
    if (this.#leg !== leg) {
      grant?.reservation.end('unused');
      return;
    }
    let run$: Observable<AgentEvent> = defer(() => deployment.agent.run(this.#task, this.#context));
    if (grant !== undefined) run$ = run$.pipe(throttleBudget(holding(grant.budget, grant.reservation)));
    requestPhase(this.#context, 'sent');
    leg.sent = true;
    const subscription = run$.subscribe({
      next: (event) => {
        this.#event(leg, event);
      },
      error: (error: unknown) => {
        this.#failed(leg, error);
      },
      complete: () => {
        this.#completed(leg);
      },
    });
    if (this.#leg === leg) leg.subscription = subscription;
    else subscription.unsubscribe();
  }

  #event(leg: Leg, event: AgentEvent): void {
    if (this.#leg !== leg) return;
    switch (event.type) {
      case 'delta':
        leg.deltas++;
        this.#output(leg);
        break;
      case 'tool-calls':
      case 'done':
        this.#output(leg);
        break;
      case 'usage':
        leg.outputTokens += event.usage.outputTokens;
        break;
      default:
    }
    this.#subscriber.next(event);
  }

  #output(leg: Leg): void {
    leg.output = true;
    leg.firstAt ??= this.#host.now();
  }

  #completed(leg: Leg): void {
    if (this.#leg !== leg) return;
    const now = this.#host.now();
    const { deployment, firstAt, startedAt } = leg;
    this.#leg = undefined;
    this.#ended(leg);
    this.#state = DONE;
    if (firstAt !== undefined) {
      deployment.ttft.add(firstAt - startedAt);
      const tokens = Math.max(leg.outputTokens, leg.deltas);
      if (tokens > 1) deployment.msPerToken.add((now - firstAt) / (tokens - 1));
      if (tokens > 0) this.#host.measured(tokens);
    }
    deployment.succeeded(now - startedAt);
    this.#host.changed();
    this.#subscriber.complete();
  }

  #failed(leg: Leg, thrown: unknown): void {
    if (this.#leg !== leg) return;
    const error = toRxAgentError(thrown);
    const { deployment } = leg;
    const record = this.#record;
    this.#leg = undefined;
    this.#ended(leg);
    // A run aborted from outside ended because its task was cancelled, not because the deployment failed.
    deployment.ended(!(error instanceof CancelledError));
    record.lastError = error;
    let moves = false;
    const kind = failureKind(error);
    switch (kind) {
      case 'rate-limit':
        record.failed.add(deployment);
        deployment.failure(error, error instanceof RateLimitError ? error.retryAfterMs : undefined);
        break;
      case 'transient':
        record.failed.add(deployment);
        deployment.failure(error, undefined);
        break;
      case 'disabled':
        deployment.disable(error);
        moves = true;
        break;
      case 'unsuitable':
        record.excluded.add(deployment);
        moves = true;
        break;
      case 'context-window':
      case 'content-policy': {
        const fallback = kind === 'context-window' ? 'contextWindow' : 'contentPolicy';
        record.excluded.add(deployment);
        if (this.#host.hasFallbacks(fallback)) {
          record.kind = fallback;
          moves = true;
        }
        break;
      }
      case 'task':
        break;
    }
    this.#host.changed();
    // As the pool's own retries: an attempt that already sent output is never made again.
    if (!moves || leg.output) {
      this.#state = DONE;
      this.#subscriber.error(error instanceof RateLimitError ? this.#rateLimit(error, deployment) : error);
      return;
    }
    record.attempt++;
    this.#state = WAITING;
    requestPhase(this.#context, 'waiting');
    this.#subscriber.next({ type: 'retry', attempt: record.attempt, delayMs: 0, error });
    if (this.#isWaiting()) this.#host.wake(this);
  }

  /**
   * A deployment's 429 as the router's own: the router can serve again as soon as another deployment can,
   * so a retry waits for that (none when one can at once), not for the deployment that answered 429.
   */
  #rateLimit(error: RateLimitError, deployment: Deployment): RateLimitError {
    const choice = this.#host.choose(this.#task, this.#record, undefined);
    const retryAfterMs = Array.isArray(choice)
      ? 0
      : typeof choice === 'number'
        ? Math.max(0, choice - this.#host.now())
        : error.retryAfterMs;
    return new RateLimitError({
      limit: error.limit,
      retryAfterMs,
      ...(error.info.status === undefined ? {} : { status: error.info.status }),
      message: `Deployment "${deployment.id}" is rate limited (${error.message}); the router can serve again in ${retryAfterMs} ms`,
      cause: error,
    });
  }

  /** The leg's deployment no longer runs this task for this call. */
  #ended(leg: Leg): void {
    const active = this.#record.active;
    active.splice(active.indexOf(leg.deployment), 1);
  }

  #fail(error: RxAgentError): void {
    this.#state = DONE;
    this.#host.left(this);
    this.#subscriber.error(error);
  }
}

/** A budget whose next request is the reservation already granted, so `throttleBudget` takes it from there. */
function holding(budget: Budget, reservation: Reservation): Budget {
  return {
    state$: budget.state$,
    reserve: () => of(reservation),
    observe: (report) => {
      budget.observe(report);
    },
    rateLimited: (error) => {
      budget.rateLimited(error);
    },
  };
}
