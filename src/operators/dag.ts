import { asyncScheduler } from 'rxjs';
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import type { InvalidTask } from '../core/invalid-task.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectOneOf,
  expectScheduler,
} from '../core/validate.js';
import type { Tool } from '../tools/define-tool.js';
import type { PlanNode } from '../tools/plan.js';
import { dagEngine } from './internal/dag-engine.js';
import type { DagEvent } from './internal/dag-engine.js';

export type { DagEvent } from './internal/dag-engine.js';

/** How {@link dag} runs a plan. */
export interface DagConfig {
  /** The most nodes running at once. @defaultValue Infinity */
  readonly concurrency?: number;
  /**
   * What a rejected node does to the rest. `'skip-dependents'`: every transitive dependent settles as
   * `DependencyFailedError` (naming the node that failed) without running, and independent branches finish.
   * `'fail-fast'`: the first rejection stops reading the plan, aborts every running tool (their signals fire)
   * and settles every other unsettled node as `CancelledError` with reason `'fail-fast'`.
   * @defaultValue 'skip-dependents'
   */
  readonly onFailure?: 'skip-dependents' | 'fail-fast';
  /** Where `durationMs` is measured. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
  /**
   * Wraps each node's run, so tool calls can go through a budget, `timeoutWith` or `retryBackoff` like agent
   * runs. Gets the node with its arguments already resolved; the last value is the result.
   * @defaultValue none
   */
  readonly wrap?: (run$: Observable<unknown>, node: PlanNode) => Observable<unknown>;
}

/**
 * Runs a plan of tool calls by dependency: each node starts the moment its last dependency fulfils, while
 * later nodes may still be streaming in, under a concurrency cap that lets the longest remaining path go first.
 * Every node that arrives settles exactly once as a `node-settled` event (a `Settled` with `taskId` = node
 * id, zero usage, `attempts` 1 when it ran and 0 when it never did); nodes that run emit `node-started` first.
 * Arguments get `$id` / `${id.path}` references replaced, then are checked by the tool's zod schema
 * (`ValidationError` on failure). Bad plans settle the nodes concerned as rejected: `E_DUPLICATE_ID` (the later
 * node), `E_UNKNOWN_TOOL`, `E_CYCLE` (every node of the cycle, nothing of it runs), `E_MISSING_DEPENDENCY`
 * (when the plan completes without the id), `E_VALIDATION` (a node that does not match `PlanNodeSchema`, or an
 * `InvalidTask` from a source). Completes when the plan has completed and every node has settled;
 * unsubscribing aborts running tools. An error from the plan itself aborts running tools and is passed on.
 *
 * ```
 * plan:   a-b-c-----|           c depends on a and b; a runs 3 frames, b 5, c 4
 * dag:    a-bA---(Bc)(C|)       a b c = node-started, A B C = node-settled: c starts as b settles
 * ```
 *
 * @example
 * planNodes$.pipe(dag([search, summarize, save], { concurrency: 4 })).subscribe((event) => {
 *   if (event.type === 'node-settled') console.log(event.id, event.result.status);
 * });
 */
export function dag(
  tools: readonly Tool[],
  config: DagConfig = {},
): OperatorFunction<PlanNode | InvalidTask, DagEvent> {
  checkTools(tools);
  expectConfig('config', config);
  expectKnownKeys('dag', config, ['concurrency', 'onFailure', 'scheduler', 'wrap']);
  const { concurrency = Number.POSITIVE_INFINITY, onFailure = 'skip-dependents', scheduler, wrap } = config;
  expectInteger('concurrency', concurrency, 1, true);
  expectOneOf('onFailure', onFailure, ['skip-dependents', 'fail-fast']);
  if (wrap !== undefined) expectFunction('wrap', wrap);
  return dagEngine(tools, {
    concurrency,
    onFailure,
    scheduler: scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', scheduler),
    wrap,
    order: 'critical-path',
    references: true,
  });
}

/** Throws `TypeError` unless `tools` is an array of tools (from `defineTool`) with distinct names. */
export function checkTools(tools: unknown): asserts tools is readonly Tool[] {
  if (!Array.isArray(tools)) {
    throw new TypeError(
      `Expected \`tools\` to be an array of tools from defineTool(), got ${describe(tools)}`,
    );
  }
  const names = new Set<string>();
  for (const [index, tool] of (tools as unknown[]).entries()) {
    const candidate = tool as Partial<Tool> | null;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      typeof candidate.name !== 'string' ||
      typeof candidate.run !== 'function'
    ) {
      throw new TypeError(
        `Expected \`tools[${index}]\` to be a tool from defineTool(), got ${describe(tool)}`,
      );
    }
    if (names.has(candidate.name)) {
      throw new TypeError(`Expected tool names to be distinct, got "${candidate.name}" twice`);
    }
    names.add(candidate.name);
  }
}
