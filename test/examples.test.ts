import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { describeRedis } from './support/redis-server.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

/** The environment without a provider or a Redis of the developer's: examples then run offline on their own. */
function offlineEnv(): NodeJS.ProcessEnv {
  const {
    OPENAI_API_KEY: _key,
    OPENAI_BASE_URL: _url,
    ANTHROPIC_API_KEY: _anthropicKey,
    ANTHROPIC_BASE_URL: _anthropicUrl,
    REDIS_URL: _redis,
    ...env
  } = process.env;
  return env;
}

async function example(name: string, timeout = 30_000): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
    cwd: root,
    timeout,
    env: offlineEnv(),
  });
  return stdout;
}

describe('examples', () => {
  it('research-fanout uses the sections that came back', async () => {
    const out = await example('research-fanout');
    expect(out).toContain('(missing: E_PROVIDER after 2 attempts)');
    expect(out.trim().split('\n').at(-1)).toBe('3/4 sections completed');
  }, 40_000);

  it('summarize-pool summarizes every document through a bounded queue, then drains', async () => {
    const out = await example('summarize-pool');
    expect(out).toContain('peak queue depth 10 (limit 10)');
    expect(out.trim().split('\n').at(-1)).toBe('50/50 documents summarized');
  }, 40_000);

  it('tool-dag runs the two searches together and saves time against sequential calls', async () => {
    const out = await example('tool-dag');
    const match = /Done in (\d+) ms; one call after another would take (\d+) ms/.exec(out);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeLessThan(Number(match![2]));
  }, 40_000);

  it('router spreads the prompts over three servers, the fallback taking those both primaries fail: no 429', async () => {
    const out = await example('router', 60_000);
    expect(out.trim().split('\n').at(-1)).toMatch(
      /^500 prompts: 500 fulfilled; answered by east \d+, west \d+, backup 50; 0 answered 429\.$/,
    );
  }, 90_000);

  it('two-providers runs the same prompts on OpenAI and Anthropic wire formats, with cached tokens and cost', async () => {
    const out = await example('two-providers');
    expect(out).toMatch(/^openai gpt-4o-mini: 100\/100 completed; .* \$0\.\d{4}$/m);
    // The recorded Anthropic answer read 6,289 of its 9,632 input tokens from the cache and wrote 3,337.
    expect(out).toMatch(
      /^anthropic claude-haiku-4-5: 100\/100 completed; 963200 input tokens \(628900 cached, 333700 written to cache\), .* \$0\.\d{4}$/m,
    );
  }, 40_000);

  it('throttled-batch stays under the provider limit: no 429', async () => {
    const out = await example('throttled-batch', 60_000);
    expect(out.trim().split('\n').at(-1)).toMatch(/^200 prompts in [\d.]+ s, 0 answered 429\.$/);
  }, 90_000);
});

describeRedis('the scale-out example', () => {
  it('gets exactly one result per task from three workers', async () => {
    const out = await example('scale-out/run', 90_000);
    // The example starts its own Redis, with the persistence the queue's guarantees need.
    expect(out).toContain('redis: append-only file on (appendfsync everysec)');
    expect(out).toMatch(/Summary: 30 tasks, 30 results \(30 distinct\)/);
    expect(out).toMatch(/exit codes 0,0,0,0/);
  }, 120_000);
});
