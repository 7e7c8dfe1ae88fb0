import { EMPTY, Observable, of } from 'rxjs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { defineTool, runTool } from '../../src/tools/define-tool.js';
import type { Tool } from '../../src/tools/define-tool.js';

const input = z.object({ query: z.string() });

describe('defineTool', () => {
  it('fills defaults and infers argument and result types', () => {
    const search = defineTool({ name: 'search', input, run: ({ query }) => query.length });
    expect(search).toMatchObject({ name: 'search', parallel: true, durationHint: 1 });
    expectTypeOf(search).toEqualTypeOf<Tool<{ query: string }, number>>();
    expectTypeOf<typeof search>().toExtend<Tool>();
  });

  it('throws TypeError on a malformed definition, saying what came', () => {
    const run = () => 1;
    expect(() => defineTool(null as never)).toThrow('Expected `definition` to be a config object, got null');
    expect(() => defineTool({ name: '', input, run })).toThrow('Expected `name` to be a tool name');
    expect(() => defineTool({ name: 'a', input: {} as never, run })).toThrow('to be a zod schema');
    expect(() => defineTool({ name: 'a', input, run, parallel: 'no' as never })).toThrow(
      '`parallel` of tool "a"',
    );
    expect(() => defineTool({ name: 'a', input, run, durationHint: -1 })).toThrow('`durationHint`');
    expect(() => defineTool({ name: 'a', input, run: 5 as never })).toThrow(
      'Expected `run` to be a function',
    );
  });
});

describe('runTool', () => {
  const values = (tool: Tool): unknown[] => {
    const out: unknown[] = [];
    runTool(tool, { query: 'q' }).subscribe({ next: (v) => out.push(v), error: (e: unknown) => out.push(e) });
    return out;
  };

  it('takes a plain value (even a string or array) as is, an Observable’s last value, an agent’s done text', () => {
    expect(values(defineTool({ name: 'a', input, run: () => 'text' }))).toEqual(['text']);
    expect(values(defineTool({ name: 'a', input, run: () => [1, 2] }))).toEqual([[1, 2]]);
    expect(values(defineTool({ name: 'a', input, run: () => of(1, 2, 3) }))).toEqual([3]);
    expect(values(defineTool({ name: 'a', input, run: () => EMPTY }))).toEqual([undefined]);
    const agentRun = of(
      { type: 'delta' as const, text: 'he' },
      { type: 'done' as const, text: 'hello', finishReason: 'stop' as const },
      { type: 'usage' as const, usage: { inputTokens: 1, outputTokens: 1 } },
    );
    expect(values(defineTool({ name: 'a', input, run: () => agentRun }))).toEqual(['hello']);
  });

  it('turns a synchronous throw into an error, and aborts the signal only when left early', () => {
    const boom = new Error('boom');
    expect(
      values(
        defineTool({
          name: 'a',
          input,
          run: () => {
            throw boom;
          },
        }),
      ),
    ).toEqual([boom]);
    let signal: AbortSignal | undefined;
    const never = defineTool({
      name: 'a',
      input,
      run: (_args, context) => {
        signal = context.signal;
        return new Observable<number>(() => undefined);
      },
    });
    runTool(never, {}).subscribe().unsubscribe();
    expect(signal?.aborted).toBe(true);
    const quick = defineTool({
      name: 'a',
      input,
      run: (_args, context) => ((signal = context.signal), of(1)),
    });
    runTool(quick, {}).subscribe().unsubscribe();
    expect(signal?.aborted).toBe(false);
  });
});
