// Files as users have them: `-` for stdin and stdout, the results file never the prompts file, an empty input
// said to be empty.
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir, writePrompts } from './spawn-cli.js';

const SLOW = 60_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

describe('rxagent run with files as users have them', () => {
  it(
    'reads prompts from stdin and writes pure JSONL to stdout, the summary to stderr',
    async () => {
      const prompts = ['a', 'b', 'c'].map((id) => JSON.stringify({ id, input: `Say ${id}` })).join('\n');
      const { code, stdout, stderr } = await runCli(['run', '-', '--out', '-'], {}, `${prompts}\n`);
      expect(code).toBe(0);
      const lines = stdout.trimEnd().split('\n');
      expect(lines.map((line) => (JSON.parse(line) as { taskId: string }).taskId).sort()).toEqual([
        'a',
        'b',
        'c',
      ]);
      expect(stderr).toContain('rxagent: reading stdin as rxagent (detected from line 1)');
      expect(stderr).toContain('3/3 completed: 3 fulfilled, 0 rejected');
      // Not a terminal: plain status lines, no redrawing.
      expect(stderr).toMatch(/^\[#{20}\] 3\/3 .*$/m);
      expect(stderr).not.toContain('\r');
      expect(stderr).not.toContain('\u001b');
    },
    SLOW,
  );

  it(
    'refuses a results file that is the prompts file, and "-" where a file is needed, touching nothing',
    async () => {
      const input = dir.path('in.jsonl');
      await writePrompts(input, 2);
      const before = await readFile(input, 'utf8');
      const same = await runCli(['run', input, '--out', `${dir.path('.')}/in.jsonl`]);
      expect(same.code).toBe(2);
      expect(same.stderr).toMatch(/--out .*in\.jsonl is the prompts file itself/);
      expect(await readFile(input, 'utf8')).toBe(before);
      const resume = await runCli(['run', input, '--out', '-', '--resume']);
      expect(resume.code).toBe(2);
      expect(resume.stderr).toContain(
        '--resume reads the results file it appends to; give --out a file, not "-"',
      );
    },
    SLOW,
  );

  it(
    'says when the prompts file holds no tasks',
    async () => {
      const input = dir.path('empty.jsonl');
      await writeFile(input, '\n\n');
      const { code, stderr } = await runCli(['run', input, '--out', dir.path('out.jsonl')]);
      expect(code).toBe(0);
      expect(stderr).toContain(`rxagent: ${input} holds no tasks: nothing to run`);
    },
    SLOW,
  );
});
