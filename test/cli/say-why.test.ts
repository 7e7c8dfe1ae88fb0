// A run that cannot succeed (a wrong key, a server that is not there) stops after its first few tasks and says
// why, instead of sending every request and printing only `E_PROVIDER ×50`.
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAIServer, type OpenAIServer } from '../support/openai-server.js';
import { readResults, runCli, tempDir, writePrompts } from './spawn-cli.js';

const SLOW = 60_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: OpenAIServer | undefined;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await dir.remove();
});

/** A loopback port nothing listens on: one the system just handed out and took back. */
async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) =>
    probe.close(() => {
      resolve();
    }),
  );
  return port;
}

function liveArgs(input: string, out: string, baseUrl: string): string[] {
  return ['run', input, '--out', out, '--base-url', baseUrl, '--concurrency', '2', '--retries', '0'];
}

describe('rxagent run says why', () => {
  it(
    'gives up after the first tasks all meet the same 401, cancels the rest with that cause, and names it',
    async () => {
      server = await startOpenAIServer();
      server.setBehavior({ status: 401 });
      const input = dir.path('in.jsonl');
      const out = dir.path('out.jsonl');
      await writePrompts(input, 40);
      const { code, stdout, stderr } = await runCli(liveArgs(input, out, server.url), {
        OPENAI_API_KEY: 'sk-wrong',
      });
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /rxagent: giving up: the first 3 task\(s\) all failed with E_PROVIDER: Provider answered 401: Incorrect API key provided\.; every task left is cancelled, none is sent/,
      );
      // The three that failed, and at most one more already in flight at concurrency 2.
      expect(server.requests.length).toBeLessThanOrEqual(4);
      const results = await readResults(out);
      expect(results).toHaveLength(40);
      expect(new Set(results.map((r) => r.taskId)).size).toBe(40);
      const cancelled = results.filter((r) => r.error?.code === 'E_CANCELLED');
      expect(cancelled.length).toBeGreaterThanOrEqual(36);
      expect(stdout).toMatch(
        /^ {2}E_PROVIDER ×\d: Provider answered 401: Incorrect API key provided\. \(tasks t1, /m,
      );
      expect(stdout).toMatch(
        /^ {2}E_CANCELLED ×\d+: Task "…" was cancelled: the run gave up after its first tasks all failed with E_PROVIDER: Provider answered 401/m,
      );
      // Nothing succeeded: no claim of how much faster it was.
      expect(stdout).not.toContain('faster');
    },
    SLOW,
  );

  it(
    'gives up on a server that cannot be reached, saying so in one line',
    async () => {
      const input = dir.path('in.jsonl');
      const out = dir.path('out.jsonl');
      await writePrompts(input, 20);
      const url = `http://127.0.0.1:${await deadPort()}/v1`;
      const { code, stdout, stderr } = await runCli(liveArgs(input, out, url), { OPENAI_API_KEY: 'sk-x' });
      expect(code).toBe(1);
      expect(stderr).toMatch(/rxagent: giving up: the first 3 task\(s\) all failed with E_PROVIDER: /);
      expect(stdout).toMatch(/^ {2}E_PROVIDER ×\d: .*ECONNREFUSED/m);
      expect(await readResults(out)).toHaveLength(20);
    },
    SLOW,
  );

  it(
    'goes on when failures differ or some tasks succeed',
    async () => {
      server = await startOpenAIServer();
      server.when('Say t1', { status: 401 });
      server.when('Say t2', { status: 401 });
      const input = dir.path('in.jsonl');
      const out = dir.path('out.jsonl');
      await writePrompts(input, 8);
      const { code, stdout, stderr } = await runCli(liveArgs(input, out, server.url), {
        OPENAI_API_KEY: 'sk-x',
      });
      expect(code).toBe(1);
      expect(stderr).not.toContain('giving up');
      expect(stdout).toContain('6/8 completed: 6 fulfilled, 2 rejected (E_PROVIDER ×2)');
      expect(stdout).toMatch(/faster\)/);
    },
    SLOW,
  );
});
