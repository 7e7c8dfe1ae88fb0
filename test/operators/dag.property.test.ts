import fc from 'fast-check';
import { VirtualTimeScheduler, mergeMap, of, tap, throwError, timer } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dag } from '../../src/operators/dag.js';
import { defineTool } from '../../src/tools/define-tool.js';
import type { PlanNode } from '../../src/tools/plan.js';

interface Spec {
  readonly durations: number[];
  readonly fails: boolean[];
  /** For each node, its dependencies as indices; some may point forward, making cycles. */
  readonly deps: number[][];
  readonly arrivals: number[];
  readonly concurrency: number;
  readonly failFast: boolean;
}

const specArbitrary = fc.integer({ min: 1, max: 14 }).chain((n) =>
  fc.record({
    durations: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: n, maxLength: n }),
    fails: fc.array(
      fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
      { minLength: n, maxLength: n },
    ),
    deps: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: n + 1 }), { maxLength: 3 }), {
      minLength: n,
      maxLength: n,
    }),
    arrivals: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: n, maxLength: n }),
    concurrency: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(Number.POSITIVE_INFINITY)),
    failFast: fc.boolean(),
  }),
);

/** Nodes that can run: Kahn's algorithm peels nodes whose dependencies are all peelable; the rest are in or behind a cycle, or behind a missing id. */
function runnable(spec: Spec): Set<number> {
  const n = spec.durations.length;
  const done = new Set<number>();
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = 0; i < n; i++) {
      if (!done.has(i) && (spec.deps[i] ?? []).every((d) => done.has(d))) {
        done.add(i);
        changed = true;
      }
    }
  }
  return done;
}

describe('dag over random plans', () => {
  it('settles every node once, starts none before its dependencies fulfilled, runs no cycle member, respects the cap', () => {
    fc.assert(
      fc.property(specArbitrary, (spec) => {
        const scheduler = new VirtualTimeScheduler();
        const n = spec.durations.length;
        const tool = defineTool({
          name: 't',
          input: z.object({ i: z.number() }),
          run: ({ i }) =>
            timer(spec.durations[i] ?? 0, scheduler).pipe(
              mergeMap(() => (spec.fails[i] === true ? throwError(() => new Error('x')) : of(i))),
            ),
        });
        // Node i refers to its dependencies half through dependsOn, half through `$id` references.
        const nodes: PlanNode[] = spec.durations.map((_, i) => {
          const deps = (spec.deps[i] ?? []).map((d) => `n${d}`);
          const refs = Object.fromEntries(deps.filter((_, k) => k % 2 === 1).map((id) => [id, `$${id}`]));
          return {
            id: `n${i}`,
            tool: 't',
            args: { i, ...refs },
            dependsOn: deps.filter((_, k) => k % 2 === 0),
          };
        });
        const plan$ = of(...nodes.keys()).pipe(
          mergeMap((i) =>
            timer(spec.arrivals[i] ?? 0, scheduler).pipe(mergeMap(() => of(nodes[i] as PlanNode))),
          ),
        );
        const arrived = new Set<string>();
        const started = new Map<string, number>();
        const settled = new Map<string, { at: number; ok: boolean; count: number }>();
        let running = 0;
        let maxRunning = 0;
        let completed = false;
        plan$
          .pipe(
            tap((node) => arrived.add(node.id)),
            dag([tool], {
              concurrency: spec.concurrency,
              onFailure: spec.failFast ? 'fail-fast' : 'skip-dependents',
              scheduler,
            }),
          )
          .subscribe({
            next: (event) => {
              if (event.type === 'node-started') {
                expect(started.has(event.id)).toBe(false);
                started.set(event.id, scheduler.now());
                maxRunning = Math.max(maxRunning, ++running);
                const i = Number(event.id.slice(1));
                for (const d of spec.deps[i] ?? []) {
                  const dep = settled.get(`n${d}`);
                  expect(dep?.ok).toBe(true);
                  expect(dep?.at).toBeLessThanOrEqual(scheduler.now());
                }
                return;
              }
              if (started.has(event.id)) running--;
              const previous = settled.get(event.id);
              settled.set(event.id, {
                at: scheduler.now(),
                ok: event.result.status === 'fulfilled',
                count: (previous?.count ?? 0) + 1,
              });
            },
            complete: () => {
              completed = true;
            },
          });
        scheduler.flush();
        expect(completed).toBe(true);
        // Fail-fast stops reading the plan; every node that arrived still settles.
        expect([...settled.keys()].sort()).toEqual([...arrived].sort());
        if (!spec.failFast) expect(arrived.size).toBe(n);
        for (const { count } of settled.values()) expect(count).toBe(1);
        expect(maxRunning).toBeLessThanOrEqual(spec.concurrency);
        const canRun = runnable(spec);
        for (const id of started.keys()) expect(canRun.has(Number(id.slice(1)))).toBe(true);
        if (!spec.failFast) {
          // Without fail-fast, a node that can run and whose ancestors all succeed does succeed.
          for (let i = 0; i < n; i++) {
            const upstreamOk = (j: number, seen = new Set<number>()): boolean =>
              spec.fails[j] !== true &&
              (spec.deps[j] ?? []).every((d) => seen.has(d) || upstreamOk(d, new Set([...seen, d])));
            if (canRun.has(i) && upstreamOk(i)) expect(settled.get(`n${i}`)?.ok).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
