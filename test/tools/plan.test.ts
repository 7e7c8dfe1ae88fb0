import fc from 'fast-check';
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

describe('parsePlan on bare arguments', () => {
  // Verbatim from LLMCompiler's own movie planner prompt: SqueezeAILab/LLMCompiler, configs/movie/gpt_prompts.py
  // (PLANNER_PROMPT, with the Python string literals joined and END_OF_PLAN written out).
  const moviePlan = [
    'Question: Find a movie similar to Mission Impossible, The Silence of the Lambs, American Beauty, Star Wars Episode IV - A New Hope',
    'Options:',
    'Austin Powers International Man of Mystery',
    'Alesha Popvich and Tugarin the Dragon',
    'In Cold Blood',
    'Rosetta',
    'Thought: I need to find all movies in the Question.',
    '1. search("Mission Impossible")',
    '2. search("The Silence of the Lambs")',
    '3. search("American Beauty")',
    '4. search("Star Wars Episode IV - A New Hope")',
    'Thought: I need to find all movies in the Options.',
    '5. search(Austin Powers International Man of Mystery)',
    '6. search(Alesha Popvich and Tugarin the Dragon)',
    '7. search(In Cold Blood)',
    '8. search(Rosetta)',
    'Thought: I can answer the question now.',
    '9. join()<END_OF_PLAN>',
    '',
  ].join('\n');

  it("reads LLMCompiler's own planner example, unquoted titles included", () => {
    const titles = [
      'Mission Impossible',
      'The Silence of the Lambs',
      'American Beauty',
      'Star Wars Episode IV - A New Hope',
      'Austin Powers International Man of Mystery',
      'Alesha Popvich and Tugarin the Dragon',
      'In Cold Blood',
      'Rosetta',
    ];
    expect(parsePlan(moviePlan, [search])).toEqual({
      success: true,
      data: titles.map((query, i) => ({ id: String(i + 1), tool: 'search', args: { query } })),
    });
  });

  it('takes the whole bare text as one string, as LLMCompiler does, references included', () => {
    const parsed = parsePlan(
      [
        '1. search(True Lies)',
        '2. search(2001: A Space Odyssey)',
        '3. search(Crouching Tiger, Hidden Dragon)',
        "4. search(Ocean's Eleven (2001 film))",
        '5. math(abs(4444.43 - 11790))',
        '6. summarize($1 and $2)',
        '7. f(  padded  )',
      ].join('\n'),
    );
    expect(parsed.success && parsed.data.map((node) => node.args['0'])).toEqual([
      'True Lies',
      '2001: A Space Odyssey',
      'Crouching Tiger, Hidden Dragon',
      "Ocean's Eleven (2001 film)",
      'abs(4444.43 - 11790)',
      '${1} and ${2}',
      'padded',
    ]);
  });

  it('still reports unbalanced parentheses and malformed literals with their line numbers', () => {
    // Verbatim from LLMCompiler's parallel-QA planner prompt, whose line 2 lacks its closing parenthesis:
    // SqueezeAILab/LLMCompiler, configs/parallelqa/gpt_prompts.py (PLANNER_PROMPT).
    const missingParen = [
      '1. search("cheetah")',
      '2. math("cheetah max speed in km/h if 1.3 times slower?", ["$1"]',
      '3. search("greyhound")',
    ].join('\n');
    const parsed = parsePlan(
      [
        missingParen,
        '4. search(Austin Powers (film)',
        '5. search(Austin Powers) (film)',
        '6. search(a], b)',
        '7. search("unterminated)',
        '8. search([1, 2)',
        '9. search(query=Austin Powers)',
      ].join('\n'),
    );
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error.info.issues.map((issue) => issue.message)).toEqual([
      'line 2: unbalanced parentheses: `2. math("cheetah max speed in km/h if 1.3 times slower?", ["$1"]` does not end with `)`',
      'line 4: unbalanced `(` in `Austin Powers (film`',
      'line 5: unbalanced `)` in `Austin Powers) (film`',
      'line 6: unbalanced `]` in `a], b`',
      'line 7: unterminated string in `"unterminated`',
      'line 8: expected `]` at column 6 of `[1, 2`',
      'line 9: cannot read a value at `Austin Powers`',
    ]);
  });

  it('never throws, and reads any balanced bare text back whole', () => {
    const tricky = fc.string({
      unit: fc.constantFrom('(', ')', '[', ']', '{', '}', '"', "'", ',', '=', '$', '1', 'a', ' ', '\n'),
      maxLength: 40,
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), tricky), (text) => {
        const parsed = parsePlan(`1. f(${text})`);
        if (parsed.success) {
          if (!text.includes('\n')) expect(parsed.data).toHaveLength(1);
          return;
        }
        for (const issue of parsed.error.info.issues) {
          expect(issue.message.startsWith(`line ${Number(issue.path[0]) + 1}: `)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    const word = fc.stringMatching(/^[A-Za-z][A-Za-z' .:-]{0,20}$/);
    fc.assert(
      fc.property(word, (text) => {
        fc.pre(!/^(?:true|false|null|True|False|None)$/.test(text.trim()) && text.trim() !== '');
        const parsed = parsePlan(`1. f(${text})`);
        expect(parsed).toEqual({ success: true, data: [{ id: '1', tool: 'f', args: { 0: text.trim() } }] });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('PlanNodeSchema', () => {
  it('refuses unknown keys such as depends_on', () => {
    expect(PlanNodeSchema.safeParse({ id: 'a', tool: 't', args: {}, depends_on: ['b'] }).success).toBe(false);
    expect(PlanNodeSchema.safeParse({ id: 'a', tool: 't', args: {}, dependsOn: ['b'] }).success).toBe(true);
  });
});
