import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../src/tools/define-tool.js';
import { PlanNodeSchema, parsePlan } from '../../src/tools/plan.js';

const search = defineTool({
  name: 'search',
  input: z.object({ query: z.string(), limit: z.number().optional() }),
  run: () => 1,
});
const summarize = defineTool({
  name: 'summarize',
  input: z.object({ a: z.string(), b: z.string() }),
  run: () => 1,
});

describe('parsePlan', () => {
  it('reads an LLMCompiler plan, mapping positional arguments onto schema keys and dropping join()', () => {
    const text = [
      'Thought: I need two searches.',
      '1. search("solid-state", 3)',
      '2. search(\'sodium "ion"\', limit=5)',
      '3. summarize($1, "about $2")',
      '4. join()<END_OF_PLAN>',
    ].join('\n');
    expect(parsePlan(text, [search, summarize])).toEqual({
      success: true,
      data: [
        { id: '1', tool: 'search', args: { query: 'solid-state', limit: 3 } },
        { id: '2', tool: 'search', args: { query: 'sodium "ion"', limit: 5 } },
        { id: '3', tool: 'summarize', args: { a: '$1', b: 'about ${2}' } },
      ],
    });
  });

  it('keys positional arguments by index without tools, and reads lists, objects and Python literals', () => {
    const parsed = parsePlan('1. f([1, -2.5e1], {"k": None}, True, ${7})');
    expect(parsed).toEqual({
      success: true,
      data: [{ id: '1', tool: 'f', args: { 0: [1, -25], 1: { k: null }, 2: true, 3: '$7' } }],
    });
  });

  it('reports each malformed line as an issue instead of throwing', () => {
    const parsed = parsePlan('1. search("open\n2. nope(1)\n3 search\n4. search(1, 2, 3)', [search]);
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error.code).toBe('E_VALIDATION');
    expect(parsed.error.info.issues.map((i) => i.path)).toEqual([[0], [1], [2], [3]]);
    expect(parsed.error.message).toContain('line 2: unknown tool "nope" (known: search)');
    expect(parsed.error.message).toContain('search takes 2 argument(s), got 3');
  });
});

describe('PlanNodeSchema', () => {
  it('refuses unknown keys such as depends_on', () => {
    expect(PlanNodeSchema.safeParse({ id: 'a', tool: 't', args: {}, depends_on: ['b'] }).success).toBe(false);
    expect(PlanNodeSchema.safeParse({ id: 'a', tool: 't', args: {}, dependsOn: ['b'] }).success).toBe(true);
  });
});
