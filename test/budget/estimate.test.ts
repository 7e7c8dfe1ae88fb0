import { encode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_OUTPUT_TOKENS, costOf, estimateTokens, priceOf } from '../../src/budget/estimate.js';

describe('estimateTokens', () => {
  it('counts input with the tokenizer and adds the output the task may produce', () => {
    const text = 'Summarise the quarterly report in three bullet points.';
    expect(estimateTokens({ input: text, maxOutputTokens: 200 })).toBe(encode(text).length + 200);
    expect(estimateTokens({ input: text })).toBe(encode(text).length + DEFAULT_MAX_OUTPUT_TOKENS);
    expect(estimateTokens({ input: text }, { defaultMaxOutputTokens: 50 })).toBe(encode(text).length + 50);
  });

  it('counts chat messages with their framing and tool calls', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'c1', name: 'search', arguments: '{"q":"rxjs"}' }],
      },
      { role: 'user', content: 'Hello there' },
    ] as const;
    const expected =
      3 +
      (3 + encode('Be brief.').length) +
      (3 + encode('search').length + encode('{"q":"rxjs"}').length) +
      (3 + encode('Hello there').length);
    expect(estimateTokens({ input: messages, maxOutputTokens: 10 })).toBe(expected + 10);
  });

  it('uses the provider counting it is given', () => {
    expect(
      estimateTokens(
        { input: 'x'.repeat(41), maxOutputTokens: 1 },
        { countTokens: (t) => Math.ceil(t.length / 4) },
      ),
    ).toBe(12);
  });
});

describe('priceOf', () => {
  it('takes overrides first, then gpt-tokenizer metadata, then the supplement, else undefined', () => {
    expect(priceOf('gpt-4o', { 'gpt-4o': { input: 1, output: 2 } })).toEqual({ input: 1, output: 2 });
    expect(priceOf('gpt-3.5-turbo')).toEqual({ input: 0.5, output: 1.5 });
    expect(priceOf('gpt-4o-mini')).toEqual({ input: 0.15, output: 0.6 });
    expect(priceOf('no-such-model')).toBeUndefined();
    expect(priceOf('toString')).toBeUndefined();
  });

  it('prices usage per million tokens', () => {
    expect(
      costOf({ input: 0.15, output: 0.6 }, { inputTokens: 1_000_000, outputTokens: 500_000 }),
    ).toBeCloseTo(0.45);
  });
});
