import { describe, expect, it } from 'vitest';
import { chatRequestToTask } from '../../src/wire/chat-request.js';

function issuesOf(body: unknown): { path: PropertyKey[]; message: string }[] {
  const result = chatRequestToTask(body, ['body']);
  if (result.success) throw new Error('expected the body to be refused');
  return result.issues.map(({ path, message }) => ({ path, message }));
}

describe('chatRequestToTask', () => {
  it('reads messages of every role into rxagent chat messages', () => {
    const result = chatRequestToTask({
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'system', content: 'Answer in French.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather in Paris?' },
            { type: 'text', text: 'And in Lyon?' },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '18°C' }] },
        { role: 'assistant', content: 'Il fait 18°C.', refusal: null },
      ],
    });
    expect(result).toEqual({
      success: true,
      data: {
        input: [
          { role: 'system', content: 'Be brief.' },
          { role: 'system', content: 'Answer in French.' },
          { role: 'user', content: 'Weather in Paris?\nAnd in Lyon?' },
          {
            role: 'assistant',
            content: '',
            toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }],
          },
          { role: 'tool', content: '18°C', toolCallId: 'call_1' },
          { role: 'assistant', content: 'Il fait 18°C.' },
        ],
      },
    });
  });

  it('reads the output cap and the parameters, and keeps every other field for OpenAI as it is', () => {
    const result = chatRequestToTask({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 50,
      max_completion_tokens: 80,
      temperature: 0.2,
      top_p: 0.9,
      stop: '\n\n',
      seed: 7,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object' }, strict: true },
      },
      tools: [
        {
          type: 'function',
          function: { name: 'lookup', description: 'Look up', parameters: { type: 'object' } },
        },
        { type: 'function', function: { name: 'now' } },
      ],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      n: 2,
      logprobs: true,
      frequency_penalty: 0.5,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(result).toEqual({
      success: true,
      data: {
        input: [{ role: 'user', content: 'Hi' }],
        maxOutputTokens: 80,
        params: {
          model: 'gpt-4o-mini',
          temperature: 0.2,
          topP: 0.9,
          stop: ['\n\n'],
          seed: 7,
          responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
          tools: [
            { name: 'lookup', description: 'Look up', parameters: { type: 'object' } },
            { name: 'now', parameters: { type: 'object', properties: {} } },
          ],
          toolChoice: { name: 'lookup' },
          providerOptions: { openai: { n: 2, logprobs: true, frequency_penalty: 0.5 } },
        },
      },
    });
  });

  it('reads null parameters as absent and `max_tokens` when it is the only cap', () => {
    expect(
      chatRequestToTask({
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 300,
        max_completion_tokens: null,
        temperature: null,
        stop: null,
        seed: null,
        response_format: { type: 'json_object' },
        tool_choice: 'none',
      }),
    ).toEqual({
      success: true,
      data: {
        input: [{ role: 'user', content: 'Hi' }],
        maxOutputTokens: 300,
        params: { responseFormat: { type: 'json_object' }, toolChoice: 'none' },
      },
    });
  });

  it('refuses images, audio and files at their own path, saying why', () => {
    expect(
      issuesOf({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } },
              { type: 'input_audio', input_audio: { data: '', format: 'wav' } },
            ],
          },
        ],
      }),
    ).toEqual([
      {
        path: ['body', 'messages', 0, 'content', 1],
        message:
          '`image_url` content: rxagent sends text only, so a message with images, audio or files is not run',
      },
      {
        path: ['body', 'messages', 0, 'content', 2],
        message:
          '`input_audio` content: rxagent sends text only, so a message with images, audio or files is not run',
      },
    ]);
  });

  it('refuses what a task cannot hold, naming the field as OpenAI does', () => {
    expect(issuesOf({ messages: [] })[0]?.path).toEqual(['body', 'messages']);
    expect(issuesOf({ messages: [{ role: 'user', content: 'x', name: 'ann' }] })[0]?.path).toEqual([
      'body',
      'messages',
      0,
    ]);
    expect(issuesOf({ messages: [{ role: 'tool', content: 'x' }] })[0]?.path).toEqual([
      'body',
      'messages',
      0,
      'tool_call_id',
    ]);
    expect(issuesOf({ messages: [{ role: 'user', content: 'x' }], temperature: 3 })[0]?.path).toEqual([
      'body',
      'temperature',
    ]);
    expect(
      issuesOf({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'custom', custom: {} }] })[0]
        ?.path,
    ).toEqual(['body', 'tools', 0, 'type']);
  });
});
