import { map, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runPlan } from '../../src/operators/run-plan.js';
import type { DagEvent } from '../../src/operators/dag.js';
import { defineTool } from '../../src/tools/define-tool.js';
import { parsePlan } from '../../src/tools/plan.js';

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

const search = defineTool({
  name: 'search',
  input: z.object({ query: z.string() }),
  run: ({ query }) => timer(query.length * 10).pipe(map(() => query.toUpperCase())),
});
const summarize = defineTool({
  name: 'summarize',
  input: z.object({ first: z.string(), second: z.string() }),
  run: ({ first, second }) => timer(5).pipe(map(() => `${first}+${second}`)),
});

const show = (event: DagEvent): string =>
  event.type === 'node-started'
    ? `>${event.id}`
    : event.result.status === 'fulfilled'
      ? `${event.id}=${String(event.result.value)}`
      : `${event.id}!${event.result.error.code}`;

describe('runPlan', () => {
  it('runs a parsed LLMCompiler plan, the join starting as its last input arrives', () => {
    const parsed = parsePlan(
      '1. search("abc")\n2. search("abcdefghij")\n3. summarize($1, "and $2")\n4. join()',
      [search, summarize],
    );
    if (!parsed.success) throw parsed.error;
    testScheduler.run(({ expectObservable }) => {
      const expected = '(ab) 26ms A 69ms (Bc) 1ms (C|)';
      const values = { a: '>1', b: '>2', A: '1=ABC', B: '2=ABCDEFGHIJ', c: '>3', C: '3=ABC+and ABCDEFGHIJ' };
      expectObservable(runPlan(parsed.data, [search, summarize]).pipe(map(show))).toBe(expected, values);
    });
  });

  it('validates nodes from outside, settling bad ones and their dependents instead of throwing', () => {
    testScheduler.run(({ expectObservable }) => {
      const plan = JSON.parse(
        '[{"id":"a","tool":"search","args":{"query":1}},{"id":"b","tool":"search","args":{"query":"$a"}},{"id":"c","tool":"search","args":"x"}]',
      ) as unknown[];
      const values = { a: 'a!E_VALIDATION', b: 'b!E_DEPENDENCY_FAILED', c: 'c!E_VALIDATION' };
      expectObservable(runPlan(plan, [search]).pipe(map(show))).toBe('(abc|)', values);
    });
  });
});
