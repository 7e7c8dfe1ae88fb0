import { Observable, Subscription } from 'rxjs';
import type { OperatorFunction, SchedulerLike } from 'rxjs';
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
  const { concurrency, scheduler, wrap } = options;
  return (source) =>
    new Observable<DagEvent>((subscriber) => {
      const nodes = new Map<string, NodeState>();
      const waitingFor = new Map<string, NodeState[]>();
      const results = new Map<string, unknown>();
      const ranks = new Map<NodeState, number>();
      const busyTools = new Set<string>();
      let ready: NodeState[] = [];
      let work: Work[] = [];
      let workAt = 0;
      let total = 0;
      let settledCount = 0;
      let running = 0;
      let arrivals = 0;
      let inputDone = false;
      let failedFast = false;
      const input = new Subscription();
      let subscribed = false;

      const create = (
        id: string,
        toolName: string,
        node: PlanNode | undefined,
        tool: Tool | undefined,
        deps: readonly string[],
      ): NodeState => {
        total++;
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
      };

      // Registering makes the id resolvable; nodes that waited for it become its dependents.
      const register = (state: NodeState): void => {
        nodes.set(state.id, state);
        ranks.clear();
        const waiters = waitingFor.get(state.id);
        if (waiters === undefined) return;
        waitingFor.delete(state.id);
        for (const waiter of waiters) if (waiter.phase !== 'settled') state.dependents.push(waiter);
      };

      const settle = (state: NodeState, outcome: { value: unknown } | { error: RxAgentError }): void => {
        if (state.phase === 'settled') return;
        const ran = state.phase === 'running';
        state.phase = 'settled';
        settledCount++;
        const durationMs = ran ? scheduler.now() - state.startedAt : 0;
        if (ran) {
          running--;
          busyTools.delete(state.toolName);
          const run = state.run;
          state.run = undefined;
          run?.unsubscribe();
        }
        state.args = undefined;
        // A node settled without running (skipped, cancelled, bad) shortens the paths through it; a node that
        // ran was no longer on any ready node's remaining path.
        if (!ran) ranks.clear();
        const result: Settled<unknown> =
          'error' in outcome
            ? // Core info interfaces have no index signature, hence the cast to the default info type.
              {
                status: 'rejected',
                taskId: state.id,
                error: outcome.error,
                attempts: ran ? 1 : 0,
                durationMs,
              }
            : {
                status: 'fulfilled',
                taskId: state.id,
                value: outcome.value,
                usage: NO_USAGE,
                attempts: 1,
                durationMs,
              };
        state.result = result;
        if (result.status === 'fulfilled') results.set(state.id, result.value);
        work.push({ kind: result.status === 'fulfilled' ? 'fulfilled' : 'rejected', state });
        subscriber.next({ type: 'node-settled', id: state.id, tool: state.toolName, result });
      };

      const dependencyFailed = (state: NodeState, dependency: NodeState): DependencyFailedError => {
        const error = dependency.result?.status === 'rejected' ? dependency.result.error : undefined;
        const failed = error instanceof DependencyFailedError ? error.info.failed : dependency.id;
        return new DependencyFailedError({
          nodeId: state.id,
          dependency: dependency.id,
          failed,
          cause: error,
        });
      };

      const makeReady = (state: NodeState): void => {
        const tool = state.tool as Tool;
        const node = state.node as PlanNode;
        const substituted = options.references
          ? substitute(node.args, results)
          : ({ success: true, data: node.args } as const);
        if (!substituted.success) {
          const message = substituted.issues.map((issue) => issue.message).join('; ');
          settle(state, {
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
          settle(state, { error: toRxAgentError(error) });
          return;
        }
        if (!parsed.success) {
          settle(state, {
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
        ready.push(state);
      };

      // Only a new node can close a cycle, so the cycle (its strongly connected group) runs through it:
      // the nodes it reaches through dependents that also reach it back.
      const cycleThrough = (start: NodeState): NodeState[] | undefined => {
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
            const dep = nodes.get(id);
            if (dep !== undefined && reached.has(dep) && !members.has(dep)) {
              members.add(dep);
              stack.push(dep);
            }
          }
        }
        const ordered = [...nodes.values()].filter((state) => members.has(state));
        return ordered;
      };

      const cancelled = (state: NodeState, failed: NodeState): CancelledError =>
        new CancelledError({
          reason: 'fail-fast',
          taskId: state.id,
          message: `Node "${state.id}" was cancelled because node "${failed.id}" failed (fail-fast)`,
        });

      const rejectOnArrival = (id: string, toolName: string, error: RxAgentError, node?: PlanNode): void => {
        const state = create(id, toolName, node, undefined, []);
        if (!nodes.has(id)) register(state);
        settle(state, { error });
      };

      const arrive = (item: unknown): void => {
        const position = arrivals++;
        const toolName = readString(item, 'tool') ?? '';
        if (item instanceof InvalidTask) {
          rejectOnArrival(item.taskId, toolName, item.error);
          return;
        }
        const parsed = PlanNodeSchema.safeParse(item);
        if (!parsed.success) {
          const id = readString(item, 'id') || `#${position}`;
          rejectOnArrival(
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
        if (nodes.has(node.id)) {
          const error = new DuplicateIdError({ kind: 'node', id: node.id });
          settle(create(node.id, node.tool, node, undefined, []), { error });
          return;
        }
        const tool = byName.get(node.tool);
        if (tool === undefined) {
          const known = [...byName.keys()];
          const error = new UnknownToolError({ nodeId: node.id, tool: node.tool, known });
          rejectOnArrival(node.id, node.tool, error, node);
          return;
        }
        const refs = options.references ? findReferences(node.args) : new Set<string>();
        const state = create(node.id, node.tool, node, tool, [
          ...new Set([...(node.dependsOn ?? []), ...refs]),
        ]);
        register(state);
        let failedDependency: NodeState | undefined;
        for (const id of state.deps) {
          const dep = nodes.get(id);
          if (dep === undefined) {
            state.pending++;
            const waiters = waitingFor.get(id);
            if (waiters === undefined) waitingFor.set(id, [state]);
            else waiters.push(state);
          } else if (dep.phase !== 'settled') {
            state.pending++;
            dep.dependents.push(state);
          } else if (dep.result?.status === 'rejected') failedDependency ??= dep;
        }
        if (failedDependency !== undefined) {
          settle(state, { error: dependencyFailed(state, failedDependency) });
          return;
        }
        const cycle = cycleThrough(state);
        if (cycle !== undefined) {
          const ids = cycle.map((member) => member.id);
          for (const member of cycle) {
            const error = new CycleError({ nodeId: member.id, cycle: ids });
            settle(member, { error });
          }
          return;
        }
        if (state.pending === 0) makeReady(state);
      };

      const failFast = (failed: NodeState): void => {
        failedFast = true;
        inputDone = true;
        input.unsubscribe();
        ready = [];
        for (const state of nodes.values()) {
          if (state.phase !== 'settled') settle(state, { error: cancelled(state, failed) });
        }
      };

      const handle = ({ kind, state }: Work): void => {
        if (kind === 'rejected') {
          if (options.onFailure === 'fail-fast') {
            if (!failedFast) failFast(state);
            return;
          }
          for (const dependent of state.dependents) {
            if (dependent.phase !== 'settled')
              settle(dependent, { error: dependencyFailed(dependent, state) });
          }
          return;
        }
        for (const dependent of state.dependents) {
          if (dependent.phase === 'waiting' && --dependent.pending === 0) makeReady(dependent);
        }
      };

      const rankOf = (state: NodeState): number =>
        longestPathFrom(
          state,
          (s) => s.dependents.filter((d) => d.phase !== 'settled'),
          (s) => s.tool?.durationHint ?? 1,
          ranks,
        );

      // Critical path first: the ready node with the longest remaining path to a sink, ties in ready order.
      // A linear scan, because ranks shift while a plan streams in and ready sets are small.
      const pickNext = (): number => {
        let best = -1;
        let bestRank = -1;
        for (const [index, state] of ready.entries()) {
          if (busyTools.has(state.toolName)) continue;
          if (options.order === 'fifo') return index;
          const rank = rankOf(state);
          if (rank > bestRank) {
            best = index;
            bestRank = rank;
          }
        }
        return best;
      };

      const start = (state: NodeState): void => {
        const tool = state.tool as Tool;
        state.phase = 'running';
        state.startedAt = scheduler.now();
        running++;
        if (!tool.parallel) busyTools.add(tool.name);
        subscriber.next({ type: 'node-started', id: state.id, tool: tool.name });
        if (subscriber.closed) return;
        let run$ = runTool(tool, state.args);
        if (wrap !== undefined) {
          try {
            run$ = wrap(run$, { ...(state.node as PlanNode), args: state.args as Record<string, unknown> });
          } catch (error) {
            settle(state, { error: toRxAgentError(error) });
            return;
          }
        }
        let last: unknown;
        const subscription = run$.subscribe({
          next: (value) => {
            last = value;
          },
          error: (error: unknown) => {
            settle(state, { error: toRxAgentError(error) });
            pump();
          },
          complete: () => {
            settle(state, { value: last });
            pump();
          },
        });
        if (state.result === undefined) state.run = subscription;
      };

      // All state changes funnel through here, as a loop rather than recursion, so long chains of tools
      // that finish synchronously cannot overflow the stack.
      // Nodes that arrive synchronously while subscribing (an array plan) are all known before the first
      // dispatch, so critical-path order sees the whole plan rather than whichever node came first.
      const loop = new DrainLoop(() => {
        while (!subscriber.closed) {
          const next = work[workAt];
          if (next !== undefined) {
            workAt++;
            handle(next);
            continue;
          }
          work = [];
          workAt = 0;
          if (running >= concurrency) break;
          const index = pickNext();
          if (index < 0) break;
          const [state] = ready.splice(index, 1);
          start(state as NodeState);
        }
      });
      const pump = (): void => {
        if (!subscribed || !loop.run()) return;
        if (inputDone && settledCount === total && !subscriber.closed) subscriber.complete();
      };

      const reportMissing = (): void => {
        const missing = new Map<NodeState, string[]>();
        for (const [id, waiters] of waitingFor) {
          for (const waiter of waiters) {
            if (waiter.phase === 'settled') continue;
            const ids = missing.get(waiter);
            if (ids === undefined) missing.set(waiter, [id]);
            else ids.push(id);
          }
        }
        waitingFor.clear();
        for (const state of nodes.values()) {
          const ids = missing.get(state);
          if (ids === undefined) continue;
          const error = new MissingDependencyError({ nodeId: state.id, missing: ids });
          settle(state, { error });
        }
      };

      input.add(
        source.subscribe({
          next: (item) => {
            arrive(item);
            pump();
          },
          error: (error: unknown) => {
            subscriber.error(error);
          },
          complete: () => {
            inputDone = true;
            reportMissing();
            pump();
          },
        }),
      );
      subscribed = true;
      pump();
      return () => {
        input.unsubscribe();
        for (const state of nodes.values()) state.run?.unsubscribe();
        nodes.clear();
        results.clear();
        ready = [];
      };
    });
}

function readString(item: unknown, key: string): string | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const value = (item as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}
