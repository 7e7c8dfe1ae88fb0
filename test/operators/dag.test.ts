import { Observable, map, mergeMap, of, throwError, timeout, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidTask } from '../../src/core/invalid-task.js';
import { ValidationError } from '../../src/core/errors/index.js';
import { dag } from '../../src/operators/dag.js';
import type { DagEvent } from '../../src/operators/dag.js';
import { runPlan } from '../../src/operators/run-plan.js';
import { defineTool } from '../../src/tools/define-tool.js';
import type { PlanNode } from '../../src/tools/plan.js';

let testScheduler: TestScheduler;
let signals: Map<string, AbortSignal>;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
  signals = new Map();
});

const WorkArgs = z.object({
  ms: z.number().int().nonnegative(),
  tag: z.string(),
  fail: z.boolean().optional(),
});
const timed = (name: string, options: { parallel?: boolean; durationHint?: number } = {}) =>
  defineTool({
    name,
    input: WorkArgs,
    ...options,
    run: ({ ms, tag, fail }, { signal }) => {
      signals.set(tag, signal);
      return timer(ms).pipe(
        mergeMap(() => (fail === true ? throwError(() => new Error(`${tag} broke`)) : of(ms))),
      );
    },
  });
const work = timed('work');

function node(id: string, ms: number | string, extra: Partial<PlanNode> & { fail?: boolean } = {}): PlanNode {
  const { fail, ...rest } = extra;
  return { id, tool: 'work', args: { ms, tag: id, ...(fail === undefined ? {} : { fail }) }, ...rest };
}

/** `>a` started, `a=30` fulfilled with 30, `a!E_CODE` rejected. */
function show(event: DagEvent): string {
  if (event.type === 'node-started') return `>${event.id}`;
  const { result } = event;
  return result.status === 'fulfilled'
    ? `${event.id}=${JSON.stringify(result.value)}`
    : `${event.id}!${result.error.code}`;
}

function collect(source: Observable<DagEvent>): DagEvent[] {
  const events: DagEvent[] = [];
  source.subscribe((event) => events.push(event));
  return events;
}

function settledOf(events: DagEvent[], id: string) {
  const found = events.find((e) => e.type === 'node-settled' && e.id === id);
  if (found?.type !== 'node-settled') throw new Error(`no settled event for ${id}`);
  return found.result;
}

describe('dag: eager dispatch', () => {
  it('starts a node in the frame its last dependency settles, not when its level finishes', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const plan = cold(' (abc|)', { a: node('a', 30), b: node('b', 100), c: node('c', '$a') });
      const subs = '      (^!)';
      const expected = '  (ab) 26ms (Ac) 26ms C 39ms (B|)';
      const values = { a: '>a', b: '>b', A: 'a=30', c: '>c', C: 'c=30', B: 'b=100' };
      expectObservable(plan.pipe(dag([work], { scheduler: testScheduler }), map(show))).toBe(
        expected,
        values,
      );
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
  });

  it('runs a plan that is still streaming in, and completes only once the plan has', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const plan = hot('  a 19ms b 29ms c 9ms |', {
        a: node('a', 30),
        b: node('b', 10, { dependsOn: ['a'] }),
        c: node('c', 5, { dependsOn: ['b'] }),
      });
      const subs = '      ^ 59ms !';
      const expected = '  a 29ms (Ab) 6ms B 9ms c 4ms C 4ms |';
      const values = { a: '>a', A: 'a=30', b: '>b', B: 'b=10', c: '>c', C: 'c=5' };
      expectObservable(plan.pipe(dag([work]), map(show))).toBe(expected, values);
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
  });

  it('waits for a node that is referenced before it arrives', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const plan = hot('  b 9ms a 19ms |', { b: node('b', 5, { dependsOn: ['a'] }), a: node('a', 10) });
      const subs = '      ^ 29ms !';
      const expected = '  - 9ms a 9ms (Ab) 1ms B 4ms |';
      const values = { a: '>a', A: 'a=10', b: '>b', B: 'b=5' };
      expectObservable(plan.pipe(dag([work]), map(show))).toBe(expected, values);
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
  });
});

describe('dag: limits', () => {
  it('runs at most `concurrency` nodes at once', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const plan = cold(' (abcd|)', {
        a: node('a', 10),
        b: node('b', 10),
        c: node('c', 10),
        d: node('d', 10),
      });
      const subs = '      (^!)';
      const expected = '  (ab) 6ms (AcBd) 4ms (CD|)';
      const values = { a: '>a', b: '>b', c: '>c', d: '>d', A: 'a=10', B: 'b=10', C: 'c=10', D: 'd=10' };
      expectObservable(plan.pipe(dag([work], { concurrency: 2 }), map(show))).toBe(expected, values);
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
  });

  it('gives a slot to the longest remaining path first', () => {
    testScheduler.run(({ expectObservable }) => {
      const plan = [
        node('a', 10),
        node('b', 10),
        node('x', 10),
        node('y', 10, { dependsOn: ['x'] }),
        node('z', 10, { dependsOn: ['y'] }),
      ];
      // Ready order would run a and b first and finish at 40; the chain first finishes at 30.
      const expected = '(xa) 6ms (XyAb) 4ms (YzB) 5ms (Z|)';
      const values = {
        x: '>x',
        a: '>a',
        X: 'x=10',
        y: '>y',
        A: 'a=10',
        b: '>b',
        Y: 'y=10',
        z: '>z',
        B: 'b=10',
        Z: 'z=10',
      };
      expectObservable(runPlan(plan, [work], { concurrency: 2 }).pipe(map(show))).toBe(expected, values);
    });
  });

  it('stops counting a path once its nodes are skipped', () => {
    testScheduler.run(({ expectObservable }) => {
      const plan = [
        node('f', 1, { fail: true }),
        node('a', 10),
        node('x', 10),
        node('y', 10, { dependsOn: ['x', 'f'] }),
        node('z', 10, { dependsOn: ['y'] }),
      ];
      // f's failure skips y and z, so x's path is as short as a's and a, ready first, goes first.
      const expected = 'f (FYZa) 4ms (Ax) 6ms (X|)';
      const values = {
        f: '>f',
        F: 'f!E_WORKER',
        Y: 'y!E_DEPENDENCY_FAILED',
        Z: 'z!E_DEPENDENCY_FAILED',
        a: '>a',
        A: 'a=10',
        x: '>x',
        X: 'x=10',
      };
      expectObservable(runPlan(plan, [work], { concurrency: 1 }).pipe(map(show))).toBe(expected, values);
    });
  });

  it('weighs paths by each tool’s durationHint', () => {
    testScheduler.run(({ expectObservable }) => {
      const slow = timed('slow', { durationHint: 5 });
      const fast = timed('fast');
      const plan: PlanNode[] = [
        { ...node('q', 10), tool: 'fast' },
        { ...node('r', 10, { dependsOn: ['q'] }), tool: 'fast' },
        { ...node('p', 10), tool: 'slow' },
      ];
      const expected = 'p 9ms (Pq) 6ms (Qr) 6ms (R|)';
      const values = { p: '>p', P: 'p=10', q: '>q', Q: 'q=10', r: '>r', R: 'r=10' };
      expectObservable(runPlan(plan, [slow, fast], { concurrency: 1 }).pipe(map(show))).toBe(
        expected,
        values,
      );
    });
  });

  it('never overlaps two runs of a `parallel: false` tool', () => {
    testScheduler.run(({ expectObservable }) => {
      const save = timed('save', { parallel: false });
      const plan: PlanNode[] = [
        { ...node('s1', 10), tool: 'save' },
        { ...node('s2', 10), tool: 'save' },
        node('w', 10),
      ];
      const expected = '(ab) 6ms (AcB) 5ms (C|)';
      const values = { a: '>s1', b: '>w', A: 's1=10', c: '>s2', B: 'w=10', C: 's2=10' };
      expectObservable(runPlan(plan, [save, work]).pipe(map(show))).toBe(expected, values);
    });
  });
});

describe('dag: the parallel: false mutex under a cap', () => {
  it('holds a second call back while a slot is free, and lets other tools take that slot', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const save = timed('save', { parallel: false });
      const plan = hot('  a 4ms b 1ms c 7ms |', {
        a: { ...node('s1', 10), tool: 'save' },
        b: { ...node('s2', 5), tool: 'save' },
        c: node('w', 10),
      });
      const subs = '      ^ 14ms !';
      // s2 arrives at 5 with a slot free but waits for s1; w, arriving later, runs at once.
      const expected = '  a 6ms b 2ms (Ac)-C-(B|)';
      const values = { a: '>s1', b: '>w', A: 's1=10', c: '>s2', C: 's2=5', B: 'w=10' };
      expectObservable(plan.pipe(dag([save, work], { concurrency: 2 }), map(show))).toBe(expected, values);
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
  });
});

describe('dag: failures', () => {
  it('skips every transitive dependent of a failed node, naming it, while other branches finish', () => {
    const events: DagEvent[] = [];
    testScheduler.run(({ expectObservable }) => {
      const plan = [
        node('a', 10, { fail: true }),
        node('b', 10, { dependsOn: ['a'] }),
        node('c', '$b'),
        node('d', 20),
      ];
      const result = runPlan(plan, [work]).pipe(
        map((event) => {
          events.push(event);
          return show(event);
        }),
      );
      const expected = '(ad) 6ms (ABC) 5ms (D|)';
      const values = {
        a: '>a',
        d: '>d',
        A: 'a!E_WORKER',
        B: 'b!E_DEPENDENCY_FAILED',
        C: 'c!E_DEPENDENCY_FAILED',
        D: 'd=20',
      };
      expectObservable(result).toBe(expected, values);
    });
    const c = settledOf(events, 'c');
    expect(c.status === 'rejected' && c.error.info).toEqual({ nodeId: 'c', dependency: 'b', failed: 'a' });
    expect(c.status === 'rejected' && c.error.message).toBe(
      'Node "c" was skipped: its dependency "b" did not complete (node "a" failed)',
    );
    expect(c.attempts).toBe(0);
    const a = settledOf(events, 'a');
    expect(a).toMatchObject({ status: 'rejected', attempts: 1, durationMs: 10 });
  });

  it('fail-fast aborts running tools and cancels everything else', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const plan = hot('  (abc)', {
        a: node('a', 10, { fail: true }),
        b: node('b', 50),
        c: node('c', 5, { dependsOn: ['b'] }),
      });
      const subs = '      ^ 9ms !';
      const expected = '  (ab) 6ms (ABC|)';
      const values = { a: '>a', b: '>b', A: 'a!E_WORKER', B: 'b!E_CANCELLED', C: 'c!E_CANCELLED' };
      expectObservable(plan.pipe(dag([work], { onFailure: 'fail-fast' }), map(show))).toBe(expected, values);
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
    expect(signals.get('a')?.aborted).toBe(false);
    expect(signals.get('b')?.aborted).toBe(true);
  });

  it('settles bad plans naming the nodes: cycle, dependents of it, duplicate, unknown tool, invalid args, missing id', () => {
    const events: DagEvent[] = [];
    const ran: string[] = [];
    testScheduler.run(({ expectObservable }) => {
      const plan: unknown[] = [
        node('p', 20),
        node('q', 1, { dependsOn: ['r'] }),
        node('r', 1, { dependsOn: ['q'] }),
        node('s', '$q'),
        node('p', 1),
        { id: 'u', tool: 'nope', args: {} },
        node('v', 'x'),
        node('w', 1, { dependsOn: ['ghost'] }),
        node('y', '${p.nothing}'),
        { not: 'a node' },
        new InvalidTask('line-7', new ValidationError({ issues: [], message: 'bad line' })),
      ];
      const result = runPlan(plan, [work]).pipe(
        map((event) => {
          events.push(event);
          if (event.type === 'node-started') ran.push(event.id);
          return show(event);
        }),
      );
      const expected = '(qrsduvzlwp) 8ms (PY|)';
      const values = {
        q: 'q!E_CYCLE',
        r: 'r!E_CYCLE',
        s: 's!E_DEPENDENCY_FAILED',
        d: 'p!E_DUPLICATE_ID',
        u: 'u!E_UNKNOWN_TOOL',
        v: 'v!E_VALIDATION',
        z: '#9!E_VALIDATION',
        l: 'line-7!E_VALIDATION',
        w: 'w!E_MISSING_DEPENDENCY',
        p: '>p',
        P: 'p=20',
        Y: 'y!E_VALIDATION',
      };
      expectObservable(result).toBe(expected, values);
    });
    expect(ran).toEqual(['p']);
    const info = (id: string) => {
      const result = settledOf(events, id);
      return result.status === 'rejected' ? result.error.info : undefined;
    };
    expect(info('q')).toEqual({ nodeId: 'q', cycle: ['q', 'r'] });
    expect(info('w')).toEqual({ nodeId: 'w', missing: ['ghost'] });
    expect(info('u')).toEqual({ nodeId: 'u', tool: 'nope', known: ['work'] });
    expect(settledOf(events, 'v').status === 'rejected' && settledOf(events, 'v')).toMatchObject({
      error: { info: { issues: [{ path: ['ms'] }] } },
    });
    const y = settledOf(events, 'y');
    expect(y.status === 'rejected' && y.error.message).toContain('${p.nothing}');
  });

  it('rejects a node that depends on itself without running it', () => {
    const events = collect(runPlan([node('a', 1, { dependsOn: ['a'] })], [work]));
    expect(events.map(show)).toEqual(['a!E_CYCLE']);
  });
});

describe('dag: values and hooks', () => {
  it('replaces references by results, then validates with the tool schema', () => {
    const echo = defineTool({ name: 'echo', input: z.object({ text: z.string() }), run: ({ text }) => text });
    const search = defineTool({
      name: 'search',
      input: z.object({ query: z.string() }),
      run: ({ query }) => Promise.resolve({ top: `${query}!`, hits: [1, 2] }),
    });
    return new Promise<void>((done) => {
      const events: DagEvent[] = [];
      runPlan(
        [
          { id: 's1', tool: 'search', args: { query: 'solid' } },
          { id: 's2', tool: 'search', args: { query: 'sodium' } },
          { id: 'sum', tool: 'echo', args: { text: '${s1.top} vs ${s2.top} ${s1.hits}' } },
          { id: 'out', tool: 'echo', args: { text: '$sum' } },
        ],
        [search, echo],
      ).subscribe({
        next: (event) => events.push(event),
        complete: () => {
          expect(settledOf(events, 'out')).toMatchObject({ value: 'solid! vs sodium! [1,2]' });
          done();
        },
      });
    });
  });

  it('routes node runs through `wrap`, with resolved arguments', () => {
    const seen: unknown[] = [];
    testScheduler.run(({ expectObservable }) => {
      const result = runPlan([node('a', 10), node('b', '$a'), node('c', 30)], [work], {
        wrap: (run$, planNode) => {
          seen.push(planNode.args['ms']);
          return run$.pipe(timeout({ each: 15 }));
        },
      });
      const expected = '(ac) 6ms (Ab) 1ms C 4ms (B|)';
      const values = { a: '>a', c: '>c', A: 'a=10', b: '>b', B: 'b=10', C: 'c!E_WORKER' };
      expectObservable(result.pipe(map(show))).toBe(expected, values);
    });
    expect(seen).toEqual([10, 30, 10]);
  });

  it('aborts running tools when unsubscribed', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const plan = hot('  a 9ms b', { a: node('a', 100), b: node('b', 100) });
      const subs = '      ^ 14ms !';
      const expected = '  a 9ms b';
      expectObservable(plan.pipe(dag([work]), map(show)), subs).toBe(expected, { a: '>a', b: '>b' });
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
    expect(signals.get('a')?.aborted).toBe(true);
    expect(signals.get('b')?.aborted).toBe(true);
  });

  it('passes on an error of the plan itself, aborting running tools', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const plan = hot('  a 9ms #', { a: node('a', 100) });
      const subs = '      ^ 9ms !';
      expectObservable(plan.pipe(dag([work]), map(show))).toBe('a 9ms #', { a: '>a' });
      expectSubscriptions(plan.subscriptions).toBe(subs);
    });
    expect(signals.get('a')?.aborted).toBe(true);
  });

  it('runs a long chain of synchronous tools without growing the stack', () => {
    const inc = defineTool({ name: 'inc', input: z.object({ n: z.number() }), run: ({ n }) => n + 1 });
    const plan: PlanNode[] = [{ id: 'n0', tool: 'inc', args: { n: 0 } }];
    for (let i = 1; i < 20_000; i++) plan.push({ id: `n${i}`, tool: 'inc', args: { n: `$n${i - 1}` } });
    const events = collect(runPlan(plan, [inc]));
    expect(events).toHaveLength(40_000);
    expect(settledOf(events, 'n19999')).toMatchObject({ value: 20_000 });
  });
});

describe('dag: arguments', () => {
  it('throws TypeError on bad tools or config, saying what came', () => {
    expect(() => dag('work' as never)).toThrow(
      'Expected `tools` to be an array of tools from defineTool(), got',
    );
    expect(() => dag([work, work])).toThrow('Expected tool names to be distinct, got "work" twice');
    expect(() => dag([work], { concurrency: 0 })).toThrow('Expected `concurrency` to be an integer from 1');
    expect(() => dag([work], { onFailure: 'stop' as never })).toThrow(
      "one of 'skip-dependents', 'fail-fast'",
    );
    expect(() => dag([work], { concurency: 2 } as never)).toThrow('Unknown option `concurency` for dag');
    expect(() => dag([work], { scheduler: {} as never })).toThrow('RxJS scheduler');
    expect(() => runPlan('1. work()' as never, [work])).toThrow('Expected `plan` to be an array');
  });
});
