import { encode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_OUTPUT_TOKENS, estimateTokens } from '../../src/budget/estimate.js';

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
