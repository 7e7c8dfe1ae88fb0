import { lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../../src/core/types.js';
import {
  DEFAULT_OPENAI_MODEL,
  defaultAgent,
  type DefaultAgent,
} from '../../../src/models/openai/default-agent.js';
import { startOpenAIServer, type OpenAIServer } from '../../support/openai-server.js';

let server: OpenAIServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function runOnce(agent: DefaultAgent): Promise<AgentEvent[]> {
  return lastValueFrom(
    agent.run({ id: 't1', input: 'hello' }, { signal: new AbortController().signal }).pipe(toArray()),
  );
}

describe('defaultAgent', () => {
  it('chooses the simulated model when no provider is configured', async () => {
    const agent = defaultAgent({ env: {}, simulated: { latency: 0, tokensPerSecond: 1_000 } });
    expect(agent.kind).toBe('simulated');
    expect(agent.description).toBe(
      'simulated model (set OPENAI_API_KEY or OPENAI_BASE_URL to use a real provider)',
    );
    expect((await runOnce(agent)).at(-1)).toMatchObject({ type: 'done' });
  });

  it('treats blank variables as unset', () => {
    expect(defaultAgent({ env: { OPENAI_API_KEY: ' ', OPENAI_BASE_URL: '' } }).kind).toBe('simulated');
  });

  it('chooses openai against OPENAI_BASE_URL, with the default model, and talks to it', async () => {
    server = await startOpenAIServer();
    const agent = defaultAgent({ env: { OPENAI_BASE_URL: server.url } });
    expect(agent.kind).toBe('openai');
    expect(agent.description).toBe(`openai ${DEFAULT_OPENAI_MODEL} at ${server.url}`);
    expect((await runOnce(agent)).at(-1)).toEqual({
      type: 'done',
      text: 'Echo: hello',
      finishReason: 'stop',
    });
    expect(server.requests[0]?.body).toMatchObject({ model: DEFAULT_OPENAI_MODEL });
  });

  it('takes the model from RXAGENT_MODEL and the key from OPENAI_API_KEY', async () => {
    server = await startOpenAIServer({ apiKey: 'sk-env' });
    const agent = defaultAgent({
      env: { OPENAI_API_KEY: 'sk-env', OPENAI_BASE_URL: server.url, RXAGENT_MODEL: 'llama3' },
    });
    expect(agent.description).toBe(`openai llama3 at ${server.url}`);
    await runOnce(agent);
    expect(server.requests[0]?.body).toMatchObject({ model: 'llama3' });
  });

  it('with only a key, points at api.openai.com and never shows the key or URL credentials', () => {
    const agent = defaultAgent({ env: { OPENAI_API_KEY: 'sk-secret' } });
    expect(agent).toMatchObject({
      kind: 'openai',
      description: 'openai gpt-4o-mini at https://api.openai.com/v1',
    });
    const withUser = defaultAgent({
      env: {},
      openai: { baseURL: 'http://me:pw@localhost:11434/v1', model: 'm' },
    });
    expect(withUser.description).toBe('openai m at http://localhost:11434/v1');
  });

  it('throws TypeError for options that are not an object', () => {
    expect(() => defaultAgent('openai' as never)).toThrow(
      'Expected `options` to be a config object, got "openai" (string)',
    );
    expect(() => defaultAgent({ env: { OPENAI_BASE_URL: 'not a url' } })).toThrow(
      'Expected OPENAI_BASE_URL to be an http(s) URL, got "not a url" (string)',
    );
  });
});
