import { lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../../src/core/types.js';
import {
  DEFAULT_OPENAI_MODEL,
  defaultAgent,
  type DefaultAgent,
} from '../../../src/models/openai/default-agent.js';
import { startOpenAIServer, type OpenAIServer } from '../../support/openai-server.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ANTHROPIC_MODEL } from '../../../src/models/openai/default-agent.js';
import { startReplayServer, type ReplayServer } from '../../support/replay-server.js';

let server: OpenAIServer | undefined;
let replay: ReplayServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
  await replay?.close();
  replay = undefined;
});

// A recorded Anthropic Messages stream (see test/models/anthropic/fixtures/SOURCES.md: text.sse).
const ANTHROPIC_TEXT = readFileSync(join(import.meta.dirname, '../anthropic/fixtures/text.sse'));

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
      'simulated model (set OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY to use a real provider)',
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

  it('chooses Anthropic from ANTHROPIC_API_KEY or a provider prefix, and says what a named provider lacks', async () => {
    replay = await startReplayServer();
    replay.queue({ body: ANTHROPIC_TEXT }, { body: ANTHROPIC_TEXT });
    const env = { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: replay.origin };
    const byKey = defaultAgent({ env });
    expect(byKey.kind).toBe('anthropic');
    expect(byKey.description).toBe(`anthropic ${DEFAULT_ANTHROPIC_MODEL} at ${replay.origin}`);
    expect((await runOnce(byKey)).at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(replay.requests[0]).toMatchObject({
      path: '/v1/messages',
      body: { model: DEFAULT_ANTHROPIC_MODEL },
    });
    // With both providers configured, the prefix decides.
    const byPrefix = defaultAgent({
      env: { ...env, OPENAI_API_KEY: 'sk-openai', RXAGENT_MODEL: 'anthropic:claude-sonnet-5' },
    });
    expect(byPrefix).toMatchObject({ kind: 'anthropic', model: 'claude-sonnet-5' });
    await runOnce(byPrefix);
    expect(replay.requests[1]?.body).toMatchObject({ model: 'claude-sonnet-5' });
    expect(defaultAgent({ env: { ...env, OPENAI_API_KEY: 'sk-openai' } }).kind).toBe('openai');
    expect(() => defaultAgent({ env: {}, model: 'anthropic:claude-haiku-4-5' })).toThrow(/ANTHROPIC_API_KEY/);
    expect(() => defaultAgent({ env, model: 'anthropic:' })).toThrow(/Expected a model after "anthropic:"/);
    expect(defaultAgent({ env, model: 'simulated' }).kind).toBe('simulated');
  });
});
