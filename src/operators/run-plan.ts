import { from } from 'rxjs';
import type { Observable } from 'rxjs';
import type { InvalidTask } from '../core/invalid-task.js';
import { describe } from '../core/validate.js';
import type { Tool } from '../tools/define-tool.js';
import type { PlanNode } from '../tools/plan.js';
import { dag } from './dag.js';
import type { DagConfig, DagEvent } from './dag.js';

/**
 * Runs a whole plan, such as one parsed from model output or JSON: `from(plan).pipe(dag(tools, config))`.
 * The nodes may be anything; each is checked with `PlanNodeSchema`, and one that does not match settles as
 * rejected `ValidationError` (its dependents as `DependencyFailedError`) instead of throwing.
 *
 * ```
 * plan:    [s1, s2, sum]          sum refers to ${s1.top} and ${s2.top}; s1 runs 5 frames, s2 8, sum 4
 * result:  (ab)-A--(Bc)(C|)       a b c = node-started, A B C = node-settled
 * ```
 *
 * @example
 * runPlan(JSON.parse(text), [search, summarize, save], { concurrency: 4 }).subscribe(console.log);
 */
export function runPlan(
  plan: Iterable<unknown>,
  tools: readonly Tool[],
  config?: DagConfig,
): Observable<DagEvent> {
  if (
    typeof (plan as Partial<Iterable<unknown>> | null)?.[Symbol.iterator] !== 'function' ||
    typeof plan === 'string'
  ) {
    throw new TypeError(`Expected \`plan\` to be an array of plan nodes, got ${describe(plan)}`);
  }
  const operator = dag(tools, config);
  // dag checks every node against PlanNodeSchema, so unknown items are safe to hand over.
  return from(plan as Iterable<PlanNode | InvalidTask>).pipe(operator);
}
