import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

async function example(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
    cwd: root,
    timeout: 30_000,
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
});
