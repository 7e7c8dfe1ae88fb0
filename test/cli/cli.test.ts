import { once } from 'node:events';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { createWriteStream } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { countById, readResults, runCli, startCli, tempDir, writePrompts } from './spawn-cli.js';
import { startReplayServer } from '../support/replay-server.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

const STACK_FRAME = /^\s+at /m;

/** Every test here starts Node with tsx at least once: seconds of real time, not a sleep. */
const SLOW = 60_000;

describe('rxagent run', () => {
  it(
    'runs every task of the file once, appends the results, and prints the summary',
    async () => {
      const ids = await writePrompts(dir.path('prompts.jsonl'), 20, { maxOutputTokens: 5 });
      const { code, stdout, stderr } = await runCli([
        'run',
        dir.path('prompts.jsonl'),
        '--out',
        dir.path('results.jsonl'),
        '--concurrency',
        '10',
      ]);
      expect(stderr.split('\n')[0]).toBe(
        'rxagent: using simulated model (set OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY to use a real provider)',
      );
      expect(code).toBe(0);
      const results = await readResults(dir.path('results.jsonl'));
      expect(results).toHaveLength(20);
      expect([...countById(results).keys()].sort()).toEqual([...ids].sort());
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
      expect(stdout).toMatch(/^20\/20 completed: 20 fulfilled, 0 rejected\n/);
      expect(stdout).toMatch(/^tokens: \d+ in, 100 out; cost not priced$/m);
      expect(stdout).toMatch(/^wall time \d+\.\ds against \d+\.\ds one after another \(\d+\.\d× faster\)$/m);
      // stderr is not a terminal here: no progress bar, no control characters.
      expect(stderr).not.toContain('\x1b');
      expect(stderr).not.toContain('\r');
    },
    SLOW,
  );

  it(
    '--resume runs only the tasks the output does not hold as fulfilled',
    async () => {
      const ids = await writePrompts(dir.path('prompts.jsonl'), 20, { maxOutputTokens: 5 });
      const previous = [
        ...ids.slice(0, 8).map((taskId) => ({ taskId, status: 'fulfilled', value: 'before', attempts: 1 })),
        { taskId: 't9', status: 'rejected', error: { code: 'E_TIMEOUT', message: 'late' }, attempts: 3 },
      ];
      await writeFile(
        dir.path('results.jsonl'),
        previous.map((line) => JSON.stringify(line)).join('\n') + '\n',
      );
      const { code, stdout, stderr } = await runCli([
        'run',
        dir.path('prompts.jsonl'),
        '-o',
        dir.path('results.jsonl'),
        '-c',
        '10',
        '--resume',
      ]);
      expect(code).toBe(0);
      expect(stderr).toContain('rxagent: resuming: 8 done, 12 to run\n');
      expect(stdout).toMatch(/^12\/12 completed/);
      const results = await readResults(dir.path('results.jsonl'));
      const counts = countById(results);
      for (const id of ids) expect(counts.get(id), id).toBe(id === 't9' ? 2 : 1);
      expect(
        results.slice(9).every((r) => r.status === 'fulfilled' && !ids.slice(0, 8).includes(r.taskId)),
      ).toBe(true);
    },
    SLOW,
  );

  it(
    'reports a malformed line with its number, writes it as rejected, runs the rest, and exits 1',
    async () => {
      await writePrompts(dir.path('prompts.jsonl'), 2, { maxOutputTokens: 5 });
      await appendFile(
        dir.path('prompts.jsonl'),
        [
          '{"id": "t3", "input": ',
          '{"id":"t4","input":"fine","maxOutputTokens":5}',
          '{"input":"no id"}',
          '',
        ].join('\n'),
      );
      const { code, stdout, stderr } = await runCli([
        'run',
        dir.path('prompts.jsonl'),
        '-o',
        dir.path('out.jsonl'),
      ]);
      expect(code).toBe(1);
      const bad = stderr.split('\n').filter((line) => /line \d+/.test(line));
      expect(bad).toHaveLength(2);
      expect(bad[0]).toMatch(/^rxagent: Invalid JSON \(line 3\): /);
      expect(bad[1]).toMatch(/^rxagent: Invalid task \(line 5\): .*id/);
      expect(stderr).not.toMatch(STACK_FRAME);
      const results = await readResults(dir.path('out.jsonl'));
      const byId = new Map(results.map((r) => [r.taskId, r]));
      // A bad line's id is `line-N` padded with dots past the 256 characters a task id may have.
      const line3 = 'line-3'.padEnd(257, '.');
      const line5 = 'line-5'.padEnd(257, '.');
      expect([...byId.keys()].sort()).toEqual([line3, line5, 't1', 't2', 't4']);
      expect(byId.get(line3)).toMatchObject({ status: 'rejected', error: { code: 'E_VALIDATION' } });
      expect(byId.get(line5)).toMatchObject({ status: 'rejected', error: { code: 'E_VALIDATION' } });
      expect(byId.get('t4')?.status).toBe('fulfilled');
      expect(stdout).toMatch(/^3\/5 completed: 3 fulfilled, 2 rejected \(E_VALIDATION ×2\)$/m);
    },
    SLOW,
  );

  it(
    'reads past a line over 8 MiB without a stack trace, and runs and writes the lines around it',
    async () => {
      const file = dir.path('prompts.jsonl');
      const size = 8 * 1024 * 1024 + 1;
      await writeHugeLine(file, size);
      const { code, stdout, stderr } = await runCli(['run', file, '-o', dir.path('out.jsonl')]);
      expect(stderr).not.toMatch(STACK_FRAME);
      expect(stderr).not.toContain('RangeError');
      expect(stderr).toContain(
        `rxagent: Line too long (line 2): ${size} bytes, over the limit of 8388608 (\`maxLineBytes\`); it was read past, not parsed\n`,
      );
      expect(code).toBe(1);
      const results = await readResults(dir.path('out.jsonl'));
      expect(results.map((r) => [r.taskId, r.status, r.error?.code])).toEqual(
        expect.arrayContaining([
          ['t1', 'fulfilled', undefined],
          ['line-2'.padEnd(257, '.'), 'rejected', 'E_VALIDATION'],
          ['t3', 'fulfilled', undefined],
        ]),
      );
      expect(results).toHaveLength(3);
      expect(stdout).toMatch(/^2\/3 completed: 2 fulfilled, 1 rejected \(E_VALIDATION ×1\)$/m);
    },
    SLOW,
  );

  describe('Ctrl-C', () => {
    async function interruptedRun(times: 1 | 2) {
      const ids = await writePrompts(dir.path('prompts.jsonl'), 200);
      const cli = startCli([
        'run',
        dir.path('prompts.jsonl'),
        '-o',
        dir.path('out.jsonl'),
        '-c',
        '2',
        '--drain-timeout',
        '30s',
      ]);
      await cli.waitFor('stderr', 'rxagent: using');
      await firstLine(dir.path('out.jsonl'), cli.exit);
      cli.child.kill('SIGINT');
      if (times === 2) {
        // Signals sent back to back may merge into one: send the second once the first is seen.
        await cli.waitFor('stderr', 'draining');
        cli.child.kill('SIGINT');
      }
      const code = await cli.exit;
      return {
        ids,
        code,
        stdout: cli.stdout,
        stderr: cli.stderr,
        results: await readResults(dir.path('out.jsonl')),
      };
    }

    it(
      'drains: running tasks finish, the others end in the output as cancelled, each task exactly once',
      async () => {
        const { ids, code, stdout, stderr, results } = await interruptedRun(1);
        expect(code).toBe(1);
        expect(stderr).toMatch(/^rxagent: draining: no new tasks start, \d running may finish within 30s/m);
        const counts = countById(results);
        expect([...counts.keys()].sort()).toEqual([...ids].sort());
        expect([...counts.values()].every((n) => n === 1)).toBe(true);
        const fulfilled = results.filter((r) => r.status === 'fulfilled');
        const rejected = results.filter((r) => r.status === 'rejected');
        expect(fulfilled.length).toBeGreaterThanOrEqual(1);
        expect(rejected.length).toBeGreaterThan(150);
        for (const r of rejected) {
          expect(r.error).toMatchObject({ code: 'E_CANCELLED', info: { reason: 'closed' } });
          expect(r.error?.message).toBe(`Task "${r.taskId}" was not started: the run was interrupted`);
        }
        expect(stdout).toContain(
          `${fulfilled.length}/200 completed: ${fulfilled.length} fulfilled, ${rejected.length} rejected (E_CANCELLED ×${rejected.length})`,
        );
        expect(stderr).not.toMatch(STACK_FRAME);
      },
      SLOW,
    );

    it(
      'a second Ctrl-C cancels the running tasks at once, and still every task is in the output',
      async () => {
        const { ids, code, stderr, results } = await interruptedRun(2);
        expect(code).toBe(1);
        const running = Number(
          /^rxagent: interrupted again: cancelling the (\d) running task\(s\) now$/m.exec(stderr)?.[1],
        );
        const counts = countById(results);
        expect([...counts.keys()].sort()).toEqual([...ids].sort());
        expect([...counts.values()].every((n) => n === 1)).toBe(true);
        const cut = results.filter((r) => r.error?.message.endsWith('interrupted twice'));
        expect(running).toBeGreaterThanOrEqual(1);
        expect(cut).toHaveLength(running);
        expect(cut.every((r) => r.error?.code === 'E_CANCELLED')).toBe(true);
      },
      SLOW,
    );
  });
});

/** Resolves once the file has a complete line: polled, since the writer is another process. */
async function firstLine(file: string, exit: Promise<unknown>): Promise<void> {
  const state = { exited: false };
  void exit.then(() => {
    state.exited = true;
  });
  for (let i = 0; i < 400; i++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes('\n')) return;
    if (state.exited) throw new Error('the run ended before writing a line');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no line in ${file} after 20s`);
}

describe('rxagent demo', () => {
  it(
    'runs the four patterns offline and prints a summary with its speed-up for each',
    async () => {
      const { code, stdout, stderr } = await runCli(['demo']);
      expect(code).toBe(0);
      expect(stdout.match(/^\d\. /gm)).toEqual(['1. ', '2. ', '3. ', '4. ']);
      expect(stdout.match(/one after another: \d+\.\d× faster$/gm)).toHaveLength(4);
      expect(stdout).toContain('3/4 sections completed ("costs" failed after its retry)');
      expect(stdout).toContain('50/50 completed, at most 5 running at once');
      expect(stdout).toContain('5/5 nodes settled');
      expect(stdout).toContain('40/40 completed');
      expect(stderr).not.toContain('\x1b');
    },
    SLOW,
  );
});

describe('rxagent serve', () => {
  it(
    'serves the dashboard until Ctrl-C, survives malformed requests, checks Host, then closes and exits 0',
    async () => {
      const cli = startCli(['serve', '--port', '0', '--allowed-hosts', 'gw.test, .corp.test']);
      await cli.waitFor('stdout', /dashboard at (http:\S+\/) /);
      const url = /dashboard at (http:\S+\/) /.exec(cli.stdout)?.[1] ?? '';
      const port = Number(new URL(url).port);
      for (const line of ['GET //[ HTTP/1.1', 'GET http://[ HTTP/1.1']) {
        const socket = connect(port, '127.0.0.1').resume();
        socket.end(`${line}\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
        await once(socket, 'close');
      }
      const status = async (host: string): Promise<number> => {
        const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } });
        req.end();
        const [response] = (await once(req, 'response')) as [IncomingMessage];
        response.resume();
        return response.statusCode ?? 0;
      };
      expect([await status('gw.test'), await status('a.corp.test:80'), await status('evil.test')]).toEqual([
        200, 200, 403,
      ]);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('<html');
      cli.child.kill('SIGINT');
      expect(await cli.exit).toBe(0);
    },
    SLOW,
  );
});

describe('usage mistakes', () => {
  it.concurrent.each([
    [
      ['run', 'p.jsonl', '-o', 'o.jsonl', '--concurrency', '0'],
      /^rxagent: option '-c, --concurrency <n>' argument '0' is invalid\. expected a whole number from 1 and up, got "0"$/,
    ],
    [
      ['run', 'p.jsonl', '-o', 'o.jsonl', '--timeout', 'abc'],
      /^rxagent: option '--timeout <duration>' argument 'abc' is invalid/,
    ],
    [['run', 'p.jsonl', '-o', 'o.jsonl', '--bogus'], /^rxagent: unknown option '--bogus'$/],
    [['run', 'missing.jsonl', '-o', 'o.jsonl'], /^rxagent: cannot read missing\.jsonl \(ENOENT\)$/],
    [['run', 'package.json'], /^rxagent: required option '-o, --out <file>' not specified$/],
    [
      ['run', 'package.json', '-o', '/no/such/dir/o.jsonl', '--model', 'simulated'],
      /^rxagent: --out \/no\/such\/dir\/o\.jsonl cannot be written \(ENOENT\)$/,
    ],
    [['frobnicate'], /^rxagent: unknown command 'frobnicate'$/],
  ])(
    '%j exits 2 with one line naming the mistake',
    async (args, message) => {
      const { code, stdout, stderr } = await runCli(args);
      expect(code).toBe(2);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(stderr.trimEnd()).toMatch(message);
      expect(stdout).toBe('');
    },
    SLOW,
  );

  it(
    '--model NAME without a provider is refused after naming the model in use',
    async () => {
      const { code, stderr } = await runCli([
        'run',
        'package.json',
        '-o',
        dir.path('o.jsonl'),
        '--model',
        'gpt-4o',
      ]);
      expect(code).toBe(2);
      expect(stderr).toBe(
        'rxagent: --model gpt-4o needs OPENAI_API_KEY, ANTHROPIC_API_KEY or --base-url; without them only "simulated" runs\n',
      );
    },
    SLOW,
  );
});

describe('providers', () => {
  it(
    '--model anthropic:NAME runs on Anthropic, says so, and prices the run from the catalog',
    async () => {
      const replay = await startReplayServer();
      try {
        // A recorded Anthropic Messages stream (test/models/anthropic/fixtures/SOURCES.md: text.sse).
        const body = await readFile(join(import.meta.dirname, '../models/anthropic/fixtures/text.sse'));
        replay.queue({ body }, { body });
        const ids = await writePrompts(dir.path('p.jsonl'), 2);
        const { code, stdout, stderr } = await runCli(
          ['run', dir.path('p.jsonl'), '-o', dir.path('o.jsonl'), '--model', 'anthropic:claude-haiku-4-5'],
          { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: replay.origin },
        );
        expect(stderr).toContain(`rxagent: using anthropic claude-haiku-4-5 at ${replay.origin}`);
        expect(code).toBe(0);
        expect(countById(await readResults(dir.path('o.jsonl')))).toEqual(new Map(ids.map((id) => [id, 1])));
        expect(replay.requests.map((r) => (r.body as { model?: string }).model)).toEqual([
          'claude-haiku-4-5',
          'claude-haiku-4-5',
        ]);
        expect(stdout).toMatch(/cost \$0\.\d{4}/);
      } finally {
        await replay.close();
      }
    },
    SLOW,
  );
});

describe('--help', () => {
  it.concurrent.each([['run'], ['serve'], ['demo']])(
    'rxagent %s --help prints the usage on stdout and exits 0',
    async (command) => {
      const { code, stdout, stderr } = await runCli([command, '--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: rxagent ${command} \\[options\\]`));
      expect(stderr).toBe('');
    },
    SLOW,
  );
});

/** Writes t1, a task line of `bytes` bytes, then t3, streaming the long line instead of holding it. */
async function writeHugeLine(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  const head = '{"id":"t2","input":"';
  const tail = '"}';
  const block = 'x'.repeat(1024 * 1024);
  out.write(`${JSON.stringify({ id: 't1', input: 'Say t1', maxOutputTokens: 5 })}\n${head}`);
  for (let left = bytes - head.length - tail.length; left > 0; left -= block.length) {
    if (!out.write(left >= block.length ? block : block.slice(0, left))) await once(out, 'drain');
  }
  out.end(`${tail}\n${JSON.stringify({ id: 't3', input: 'Say t3', maxOutputTokens: 5 })}\n`);
  await finished(out);
}
