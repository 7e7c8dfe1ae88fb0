import { BehaviorSubject, Observable, type SchedulerLike } from 'rxjs';
import type { Budget } from '../budget/create-budget.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, estimateTokens } from '../budget/estimate.js';
import type { Price } from '../budget/prices.js';
import { CancelledError, ValidationError, type RxAgentError } from '../core/errors/index.js';
import { DrainLoop } from '../core/drain-loop.js';
import type { Agent, AgentEvent, RunContext, Task } from '../core/types.js';
import {
  expectAgent,
  expectBudget,
  type CooldownConfig,
  type ResolvedRouter,
  type RouterStrategy,
} from './config.js';
import { Deployment, Ewma, type DeploymentHost, type DeploymentState } from './deployment.js';
import { RoutedRun, type RunHost, type TaskRecord } from './routed-run.js';
import { pricing, rank } from './strategies.js';
import { describe, expectConfig, expectKnownKeys } from '../core/validate.js';

/** The router as `state$` shows it, on every routing change. */
export interface RouterState {
  /** Every deployment, in `deployments` order. */
  readonly deployments: readonly DeploymentState[];
  /** Attempts waiting for a deployment to grant them, or to come back from a cooldown. */
  readonly waiting: number;
}

/** What `reconfigure` may replace. */
export interface DeploymentChanges {
  readonly agent?: Agent;
  readonly budget?: Budget;
}

/** A preference tier: which deployments an attempt may go to before the next tier is considered. */
type Tier = (d: Deployment, failed: boolean) => boolean;

/** Fresh deployments first, primaries before fallbacks; then those where the task already failed. */
const TIERS: readonly Tier[] = [
  (d, failed) => d.role === 'primary' && !failed,
  (d, failed) => d.role === 'fallback' && !failed,
  (d, failed) => d.role === 'primary' && failed,
  (d, failed) => d.role === 'fallback' && failed,
];
/** Within a kind's fallback list, whatever the roles. */
const LIST_TIERS: readonly Tier[] = [(_d, failed) => !failed, (_d, failed) => failed];

/**
 * The state behind one `router(...)`: its deployments, what it remembers of each task (by the task object,
 * which the pool hands to every attempt), and the attempts waiting for a deployment. Waiting attempts are
 * looked at again by one `DrainLoop` whenever a deployment goes out of service or comes back, since those
 * changes arrive from inside the very callbacks (a grant, a failure) that the loop's work sets off.
 */
export class RouterEngine implements DeploymentHost, RunHost {
  readonly scheduler: SchedulerLike;
  readonly cooldown: Required<CooldownConfig>;
  readonly warn: (message: string) => void;
  readonly deployments: readonly Deployment[];
  readonly #strategy: RouterStrategy;
  readonly #random: () => number;
  readonly #countTokens: ((text: string) => number) | undefined;
  readonly #byId = new Map<string, Deployment>();
  readonly #lists: Readonly<Record<'contextWindow' | 'contentPolicy', readonly Deployment[]>>;
  readonly #records = new WeakMap<Task, TaskRecord>();
  /** Attempts waiting for a deployment. */
  readonly #waiting = new Set<RoutedRun>();
  /** Waiting attempts to look at again; all of them after an availability change. */
  readonly #dirty = new Set<RoutedRun>();
  #allDirty = false;
  readonly #loop = new DrainLoop(() => {
    this.#step();
  });
  readonly #state$: BehaviorSubject<RouterState>;
  /** The state changed while nobody watched; it is made again for the next watcher. */
  #stale = false;
  readonly #typicalOutput = new Ewma();
  readonly #priceOf: (deployment: Deployment, model: string | undefined) => Price | undefined = pricing();

  constructor(config: ResolvedRouter) {
    this.scheduler = config.scheduler;
    this.cooldown = config.cooldown;
    this.warn = config.warn;
    this.#strategy = config.strategy;
    this.#random = config.random;
    this.#countTokens = config.countTokens;
    this.deployments = config.deployments.map((d, i) => new Deployment(d, i, this));
    for (const d of this.deployments) this.#byId.set(d.id, d);
    const list = (ids: readonly string[]): Deployment[] => ids.map((id) => this.#byId.get(id) as Deployment);
    this.#lists = {
      contextWindow: list(config.fallbacks.contextWindow),
      contentPolicy: list(config.fallbacks.contentPolicy),
    };
    this.#state$ = new BehaviorSubject(this.#snapshot());
  }

  get state$(): Observable<RouterState> {
    return new Observable<RouterState>((subscriber) => {
      if (this.#stale) {
        this.#stale = false;
        this.#state$.next(this.#snapshot());
      }
      return this.#state$.subscribe(subscriber);
    });
  }

  /** The most output tokens an attempt may be sent with: the largest of the deployments' caps. */
  get maxOutputTokens(): number {
    return Math.max(...this.deployments.map((d) => d.agent.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS));
  }

  run(task: Task, context: RunContext): Observable<AgentEvent> {
    return new Observable<AgentEvent>((subscriber) => {
      const record = this.#recordFor(task);
      const run = new RoutedRun(this, task, record, context, subscriber);
      run.start();
      return () => {
        run.stop();
      };
    });
  }

  reconfigure(id: string, changes: DeploymentChanges = {}): void {
    const deployment = this.#byId.get(id);
    if (deployment === undefined) {
      throw new TypeError(
        `Expected \`id\` to name a deployment (${[...this.#byId.keys()].map((k) => JSON.stringify(k)).join(', ')}), got ${describe(id)}`,
      );
    }
    expectConfig('changes', changes);
    expectKnownKeys('reconfigure', changes, ['agent', 'budget']);
    const agent = changes.agent === undefined ? undefined : expectAgent('changes.agent', changes.agent);
    const budget = changes.budget === undefined ? undefined : expectBudget('changes.budget', changes.budget);
    deployment.reconfigure(agent, budget);
    this.availabilityChanged();
  }

  now(): number {
    return this.scheduler.now();
  }

  choose(
    task: Task,
    record: TaskRecord,
    skip: ReadonlySet<Deployment> | undefined,
  ): Deployment[] | number | RxAgentError {
    const now = this.now();
    const model = task.params?.model;
    const listed = record.kind === undefined ? undefined : this.#lists[record.kind];
    const eligible = (listed ?? this.deployments).filter(
      (d) => d.serves(model) && !record.excluded.has(d) && skip?.has(d) !== true,
    );
    const open = eligible.filter((d) => !d.isCooling(now));
    for (const tier of listed === undefined ? TIERS : LIST_TIERS) {
      const candidates = open.filter((d) => tier(d, record.failed.has(d)));
      if (candidates.length === 0) continue;
      if (record.active.length === 0) return candidates;
      // A hedge goes elsewhere than the attempt it races, when the tier has another deployment.
      const elsewhere = candidates.filter((d) => !record.active.includes(d));
      return elsewhere.length > 0 ? elsewhere : candidates;
    }
    let back = Number.POSITIVE_INFINITY;
    for (const d of eligible) back = Math.min(back, d.coolingUntil ?? Number.POSITIVE_INFINITY);
    if (Number.isFinite(back)) return back;
    return (
      record.lastError ??
      eligible.find((d) => d.coolingBecause !== null)?.coolingBecause ??
      new ValidationError({
        issues: [],
        message: `No deployment serves model ${JSON.stringify(model)}; the router's deployments serve ${this.deployments
          .map((d) => `${d.id}: ${d.models === undefined ? 'any model' : [...d.models].join(', ')}`)
          .join('; ')}`,
      })
    );
  }

  rank(task: Task, record: TaskRecord, candidates: readonly Deployment[]): Deployment[] {
    // A kind's fallbacks are tried in the order the configuration lists them.
    if (record.kind !== undefined) return [...candidates];
    return rank(this.#strategy, candidates, {
      task,
      inputTokens: () => this.#inputTokens(task, record),
      outputTokens: (d) => this.#outputTokens(task, d),
      typicalOutputTokens: this.#typicalOutput.value ?? 0,
      random: this.#random,
      priceOf: this.#priceOf,
    });
  }

  request(task: Task, record: TaskRecord, deployment: Deployment): { tokens: number; outputTokens: number } {
    const outputTokens = this.#outputTokens(task, deployment);
    return { tokens: this.#inputTokens(task, record) + outputTokens, outputTokens };
  }

  hasFallbacks(kind: 'contextWindow' | 'contentPolicy'): boolean {
    return this.#lists[kind].length > 0;
  }

  wake(run: RoutedRun): void {
    this.#waiting.add(run);
    this.#dirty.add(run);
    this.#loop.run();
  }

  left(run: RoutedRun): void {
    this.#waiting.delete(run);
    this.#dirty.delete(run);
  }

  availabilityChanged(): void {
    this.#allDirty = true;
    this.changed();
    this.#loop.run();
  }

  changed(): void {
    if (this.#state$.observed) this.#state$.next(this.#snapshot());
    else this.#stale = true;
  }

  measured(outputTokens: number): void {
    this.#typicalOutput.add(outputTokens);
  }

  #step(): void {
    if (this.#allDirty) {
      this.#allDirty = false;
      for (const run of this.#waiting) this.#dirty.add(run);
    }
    for (const run of this.#dirty) {
      this.#dirty.delete(run);
      run.refresh();
    }
  }

  #recordFor(task: Task): TaskRecord {
    let record = this.#records.get(task);
    if (record === undefined) {
      record = {
        attempt: 0,
        failed: new Set(),
        excluded: new Set(),
        active: [],
        kind: undefined,
        stopped: undefined,
        lastError: undefined,
        inputTokens: undefined,
      };
      this.#records.set(task, record);
    }
    record.attempt++;
    const stopped = record.stopped;
    if (stopped !== undefined) {
      // Its last attempt was stopped from outside and is now tried again: it failed there (a timeout).
      record.stopped = undefined;
      record.failed.add(stopped);
      stopped.failure(
        new CancelledError({
          reason: 'unsubscribed',
          taskId: task.id,
          message: `Attempt ${record.attempt - 1} of task "${task.id}" on deployment "${stopped.id}" was stopped before it ended, and the task is being tried again`,
        }),
        undefined,
      );
    }
    return record;
  }

  #inputTokens(task: Task, record: TaskRecord): number {
    record.inputTokens ??= estimateTokens(
      { input: task.input, maxOutputTokens: 0 },
      this.#countTokens === undefined ? {} : { countTokens: this.#countTokens },
    );
    return record.inputTokens;
  }

  #outputTokens(task: Task, deployment: Deployment): number {
    return task.maxOutputTokens ?? deployment.agent.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  }

  #snapshot(): RouterState {
    return { deployments: this.deployments.map((d) => d.snapshot()), waiting: this.#waiting.size };
  }
}
