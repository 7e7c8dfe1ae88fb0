import { Observable, Subscription } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscriber } from 'rxjs';
import { z } from 'zod';
import { CancelledError, RxAgentError, ValidationError, toRxAgentError } from '../../core/errors/index.js';
import { InvalidTask } from '../../core/invalid-task.js';
import type { Settled } from '../../core/types.js';
import { NO_USAGE } from '../../core/usage.js';
import { runTool } from '../../tools/define-tool.js';
import type { Tool } from '../../tools/define-tool.js';
import {
  CycleError,
  DependencyFailedError,
  DuplicateIdError,
  MissingDependencyError,
  UnknownToolError,
} from '../../core/errors/index.js';
import { PlanNodeSchema } from '../../tools/plan.js';
import type { PlanNode } from '../../tools/plan.js';
import { findReferences, substitute } from '../../tools/references.js';
import { longestPathFrom } from './critical-path.js';
import { DrainLoop } from '../../core/drain-loop.js';

/** What `dag` emits: a node started running, or a node settled (exactly once per node that arrived). */
export type DagEvent =
  | { readonly type: 'node-started'; readonly id: string; readonly tool: string }
  | {
      readonly type: 'node-settled';
      readonly id: string;
      readonly tool: string;
      readonly result: Settled<unknown>;
    };

export interface DagEngineOptions {
  readonly concurrency: number;
  readonly onFailure: 'skip-dependents' | 'fail-fast';
  readonly scheduler: SchedulerLike;
  readonly wrap: ((run$: Observable<unknown>, node: PlanNode) => Observable<unknown>) | undefined;
  /** How ready nodes queue for a slot; `'fifo'` is only for the benchmark's peer. */
  readonly order: 'critical-path' | 'fifo';
  /** `false` takes arguments literally, for model tool calls where `$x` is just text. */
  readonly references: boolean;
}

interface NodeState {
  readonly id: string;
  readonly toolName: string;
  readonly node: PlanNode | undefined;
  readonly tool: Tool | undefined;
  readonly deps: readonly string[];
  readonly dependents: NodeState[];
  pending: number;
  phase: 'waiting' | 'ready' | 'running' | 'settled';
  args: unknown;
  startedAt: number;
  run: Subscription | undefined;
  result: Settled<unknown> | undefined;
}

type Work = { readonly kind: 'fulfilled' | 'rejected'; readonly state: NodeState };

/** The engine behind `dag`: options are already checked. */
export function dagEngine(
  tools: readonly Tool[],
  options: DagEngineOptions,
): OperatorFunction<PlanNode | InvalidTask, DagEvent> {
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  return (source) =>
    new Observable<DagEvent>((subscriber) => {
      const run = new DagRun(byName, options, subscriber);
      run.open(source);
      return () => {
        run.teardown();
      };
    });
}

/**
 * One subscription's plan: nodes arrive (possibly while the plan still streams in), wait for their
 * dependencies, queue for a slot when ready, run, and settle exactly once. Every change is recorded as work
 * and worked through by one `DrainLoop`, as a loop rather than recursion, so long chains of tools that
 * finish synchronously cannot overflow the stack.
 */
class DagRun {
  readonly #byName: ReadonlyMap<string, Tool>;
  readonly #options: DagEngineOptions;
  readonly #subscriber: Subscriber<DagEvent>;
  /** Every node by id, from arrival. */
  readonly #nodes = new Map<string, NodeState>();
  /** Nodes waiting for ids that have not arrived yet. */
  readonly #waitingFor = new Map<string, NodeState[]>();
  /** Values of fulfilled nodes, for references in arguments. */
  readonly #results = new Map<string, unknown>();
  /** Cached longest remaining paths, cleared when the graph changes. */
  readonly #ranks = new Map<NodeState, number>();
  /** Tools marked `parallel: false` that are running now. */
  readonly #busyTools = new Set<string>();
  /** Ready nodes, in the order they became ready. */
  #ready: NodeState[] = [];
  /** Settlements whose consequences (dependents freed or failed) are still to be handled. */
  #work: Work[] = [];
  #workAt = 0;
  #total = 0;
  #settledCount = 0;
  #running = 0;
  #arrivals = 0;
  #inputDone = false;
  #failedFast = false;
  /** Nodes that arrive synchronously while subscribing (an array plan) are all known before the first
   * dispatch, so critical-path order sees the whole plan rather than whichever node came first. */
  #subscribed = false;
  readonly #input = new Subscription();
  readonly #loop = new DrainLoop(() => {
    this.#step();
  });

  constructor(
    byName: ReadonlyMap<string, Tool>,
    options: DagEngineOptions,
    subscriber: Subscriber<DagEvent>,
  ) {
    this.#byName = byName;
    this.#options = options;
    this.#subscriber = subscriber;
  }

  open(source: Observable<PlanNode | InvalidTask>): void {
    this.#input.add(
      source.subscribe({
        next: (item) => {
          this.#arrive(item);
          this.#pump();
        },
        error: (error: unknown) => {
          this.#subscriber.error(error);
        },
        complete: () => {
          this.#inputDone = true;
          this.#reportMissing();
          this.#pump();
        },
      }),
    );
    this.#subscribed = true;
    this.#pump();
  }

  teardown(): void {
    this.#input.unsubscribe();
    for (const state of this.#nodes.values()) state.run?.unsubscribe();
    this.#nodes.clear();
    this.#results.clear();
    this.#ready = [];
  }

  #pump(): void {
    if (!this.#subscribed || !this.#loop.run()) return;
    if (this.#inputDone && this.#settledCount === this.#total && !this.#subscriber.closed) {
      this.#subscriber.complete();
    }
  }

  /** Handles recorded work first, then starts ready nodes while slots are free. */
  #step(): void {
    while (!this.#subscriber.closed) {
      const next = this.#work[this.#workAt];
      if (next !== undefined) {
        this.#workAt++;
        this.#handle(next);
        continue;
      }
      this.#work = [];
      this.#workAt = 0;
      if (this.#running >= this.#options.concurrency) break;
      const index = this.#pickNext();
      if (index < 0) break;
      const [state] = this.#ready.splice(index, 1);
      this.#start(state as NodeState);
    }
  }

  #create(
    id: string,
    toolName: string,
    node: PlanNode | undefined,
    tool: Tool | undefined,
    deps: readonly string[],
  ): NodeState {
    this.#total++;
    return {
      id,
      toolName,
      node,
      tool,
      deps,
      dependents: [],
      pending: 0,
      phase: 'waiting',
      args: undefined,
      startedAt: 0,
      run: undefined,
      result: undefined,
    };
  }

  /** Registering makes the id resolvable; nodes that waited for it become its dependents. */
  #register(state: NodeState): void {
    this.#nodes.set(state.id, state);
    this.#ranks.clear();
    const waiters = this.#waitingFor.get(state.id);
    if (waiters === undefined) return;
    this.#waitingFor.delete(state.id);
    for (const waiter of waiters) if (waiter.phase !== 'settled') state.dependents.push(waiter);
  }

  #settle(state: NodeState, outcome: { value: unknown } | { error: RxAgentError }): void {
    if (state.phase === 'settled') return;
    const ran = state.phase === 'running';
    state.phase = 'settled';
    this.#settledCount++;
    const durationMs = ran ? this.#options.scheduler.now() - state.startedAt : 0;
    if (ran) {
      this.#running--;
      this.#busyTools.delete(state.toolName);
      const run = state.run;
      state.run = undefined;
      run?.unsubscribe();
    }
    state.args = undefined;
    // A node settled without running (skipped, cancelled, bad) shortens the paths through it; a node that
    // ran was no longer on any ready node's remaining path.
    if (!ran) this.#ranks.clear();
    const result: Settled<unknown> =
      'error' in outcome
        ? { status: 'rejected', taskId: state.id, error: outcome.error, attempts: ran ? 1 : 0, durationMs }
        : {
            status: 'fulfilled',
            taskId: state.id,
            value: outcome.value,
            usage: NO_USAGE,
            attempts: 1,
            durationMs,
          };
    state.result = result;
    if (result.status === 'fulfilled') this.#results.set(state.id, result.value);
    this.#work.push({ kind: result.status === 'fulfilled' ? 'fulfilled' : 'rejected', state });
    this.#subscriber.next({ type: 'node-settled', id: state.id, tool: state.toolName, result });
  }

  #dependencyFailed(state: NodeState, dependency: NodeState): DependencyFailedError {
    const error = dependency.result?.status === 'rejected' ? dependency.result.error : undefined;
    const failed = error instanceof DependencyFailedError ? error.info.failed : dependency.id;
    return new DependencyFailedError({ nodeId: state.id, dependency: dependency.id, failed, cause: error });
  }

  #makeReady(state: NodeState): void {
    const tool = state.tool as Tool;
    const node = state.node as PlanNode;
    const substituted = this.#options.references
      ? substitute(node.args, this.#results)
      : ({ success: true, data: node.args } as const);
    if (!substituted.success) {
      const message = substituted.issues.map((issue) => issue.message).join('; ');
      this.#settle(state, {
        error: new ValidationError({
          issues: substituted.issues,
          source: `node ${state.id}`,
          message: `Invalid arguments for node "${state.id}": ${message}`,
        }),
      });
      return;
    }
    let parsed: ReturnType<Tool['input']['safeParse']>;
    try {
      parsed = tool.input.safeParse(substituted.data);
    } catch (error) {
      this.#settle(state, { error: toRxAgentError(error) });
      return;
    }
    if (!parsed.success) {
      this.#settle(state, {
        error: new ValidationError({
          issues: parsed.error.issues,
          source: `node ${state.id}`,
          message: `Invalid arguments for tool "${tool.name}" in node "${state.id}": ${z.prettifyError(parsed.error)}`,
        }),
      });
      return;
    }
    state.args = parsed.data;
    state.phase = 'ready';
    this.#ready.push(state);
  }

  /**
   * Only a new node can close a cycle, so the cycle (its strongly connected group) runs through it: the nodes
   * it reaches through dependents that also reach it back.
   */
  #cycleThrough(start: NodeState): NodeState[] | undefined {
    const reached = new Set<NodeState>();
    const stack = [start];
    for (let state = stack.pop(); state !== undefined; state = stack.pop()) {
      for (const next of state.dependents) {
        if (next.phase !== 'settled' && !reached.has(next)) {
          reached.add(next);
          stack.push(next);
        }
      }
    }
    if (!reached.has(start)) return undefined;
    const members = new Set([start]);
    stack.push(start);
    for (let state = stack.pop(); state !== undefined; state = stack.pop()) {
      for (const id of state.deps) {
        const dep = this.#nodes.get(id);
        if (dep !== undefined && reached.has(dep) && !members.has(dep)) {
          members.add(dep);
          stack.push(dep);
        }
      }
    }
    return [...this.#nodes.values()].filter((state) => members.has(state));
  }

  #rejectOnArrival(id: string, toolName: string, error: RxAgentError, node?: PlanNode): void {
    const state = this.#create(id, toolName, node, undefined, []);
    if (!this.#nodes.has(id)) this.#register(state);
    this.#settle(state, { error });
  }

  #arrive(item: unknown): void {
    const position = this.#arrivals++;
    const toolName = readString(item, 'tool') ?? '';
    if (item instanceof InvalidTask) {
      this.#rejectOnArrival(item.taskId, toolName, item.error);
      return;
    }
    const parsed = PlanNodeSchema.safeParse(item);
    if (!parsed.success) {
      const id = readString(item, 'id') || `#${position}`;
      this.#rejectOnArrival(
        id,
        toolName,
        new ValidationError({
          issues: parsed.error.issues,
          source: `plan node ${position}`,
          message: `Invalid plan node "${id}": ${z.prettifyError(parsed.error)}`,
        }),
      );
      return;
    }
    const node = parsed.data;
    if (this.#nodes.has(node.id)) {
      const error = new DuplicateIdError({ kind: 'node', id: node.id });
      this.#settle(this.#create(node.id, node.tool, node, undefined, []), { error });
      return;
    }
    const tool = this.#byName.get(node.tool);
    if (tool === undefined) {
      const known = [...this.#byName.keys()];
      const error = new UnknownToolError({ nodeId: node.id, tool: node.tool, known });
      this.#rejectOnArrival(node.id, node.tool, error, node);
      return;
    }
    const refs = this.#options.references ? findReferences(node.args) : new Set<string>();
    const state = this.#create(node.id, node.tool, node, tool, [
      ...new Set([...(node.dependsOn ?? []), ...refs]),
    ]);
    this.#register(state);
    let failedDependency: NodeState | undefined;
    for (const id of state.deps) {
      const dep = this.#nodes.get(id);
      if (dep === undefined) {
        state.pending++;
        const waiters = this.#waitingFor.get(id);
        if (waiters === undefined) this.#waitingFor.set(id, [state]);
        else waiters.push(state);
      } else if (dep.phase !== 'settled') {
        state.pending++;
        dep.dependents.push(state);
      } else if (dep.result?.status === 'rejected') failedDependency ??= dep;
    }
    if (failedDependency !== undefined) {
      this.#settle(state, { error: this.#dependencyFailed(state, failedDependency) });
      return;
    }
    const cycle = this.#cycleThrough(state);
    if (cycle !== undefined) {
      const ids = cycle.map((member) => member.id);
      for (const member of cycle)
        this.#settle(member, { error: new CycleError({ nodeId: member.id, cycle: ids }) });
      return;
    }
    if (state.pending === 0) this.#makeReady(state);
  }

  #failFast(failed: NodeState): void {
    this.#failedFast = true;
    this.#inputDone = true;
    this.#input.unsubscribe();
    this.#ready = [];
    for (const state of this.#nodes.values()) {
      if (state.phase === 'settled') continue;
      const error = new CancelledError({
        reason: 'fail-fast',
        taskId: state.id,
        message: `Node "${state.id}" was cancelled because node "${failed.id}" failed (fail-fast)`,
      });
      this.#settle(state, { error });
    }
  }

  #handle({ kind, state }: Work): void {
    if (kind === 'rejected') {
      if (this.#options.onFailure === 'fail-fast') {
        if (!this.#failedFast) this.#failFast(state);
        return;
      }
      for (const dependent of state.dependents) {
        if (dependent.phase !== 'settled') {
          this.#settle(dependent, { error: this.#dependencyFailed(dependent, state) });
        }
      }
      return;
    }
    for (const dependent of state.dependents) {
      if (dependent.phase === 'waiting' && --dependent.pending === 0) this.#makeReady(dependent);
    }
  }

  #rankOf(state: NodeState): number {
    return longestPathFrom(
      state,
      (s) => s.dependents.filter((d) => d.phase !== 'settled'),
      (s) => s.tool?.durationHint ?? 1,
      this.#ranks,
    );
  }

  /**
   * Critical path first: the ready node with the longest remaining path to a sink, ties in ready order. A
   * linear scan, because ranks shift while a plan streams in and ready sets are small.
   */
  #pickNext(): number {
    let best = -1;
    let bestRank = -1;
    for (const [index, state] of this.#ready.entries()) {
      if (this.#busyTools.has(state.toolName)) continue;
      if (this.#options.order === 'fifo') return index;
      const rank = this.#rankOf(state);
      if (rank > bestRank) {
        best = index;
        bestRank = rank;
      }
    }
    return best;
  }

  #start(state: NodeState): void {
    const tool = state.tool as Tool;
    state.phase = 'running';
    state.startedAt = this.#options.scheduler.now();
    this.#running++;
    if (!tool.parallel) this.#busyTools.add(tool.name);
    this.#subscriber.next({ type: 'node-started', id: state.id, tool: tool.name });
    if (this.#subscriber.closed) return;
    let run$ = runTool(tool, state.args);
    const { wrap } = this.#options;
    if (wrap !== undefined) {
      try {
        run$ = wrap(run$, { ...(state.node as PlanNode), args: state.args as Record<string, unknown> });
      } catch (error) {
        this.#settle(state, { error: toRxAgentError(error) });
        return;
      }
    }
    let last: unknown;
    const subscription = run$.subscribe({
      next: (value) => {
        last = value;
      },
      error: (error: unknown) => {
        this.#settle(state, { error: toRxAgentError(error) });
        this.#pump();
      },
      complete: () => {
        this.#settle(state, { value: last });
        this.#pump();
      },
    });
    if (state.result === undefined) state.run = subscription;
  }

  #reportMissing(): void {
    const missing = new Map<NodeState, string[]>();
    for (const [id, waiters] of this.#waitingFor) {
      for (const waiter of waiters) {
        if (waiter.phase === 'settled') continue;
        const ids = missing.get(waiter);
        if (ids === undefined) missing.set(waiter, [id]);
        else ids.push(id);
      }
    }
    this.#waitingFor.clear();
    for (const state of this.#nodes.values()) {
      const ids = missing.get(state);
      if (ids === undefined) continue;
      this.#settle(state, { error: new MissingDependencyError({ nodeId: state.id, missing: ids }) });
    }
  }
}

function readString(item: unknown, key: string): string | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const value = (item as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}
