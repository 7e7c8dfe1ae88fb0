// Every line of a job file yields exactly one result line, joinable by the id the line gives itself (or by
// `line-N…` when it gives none), whatever the mix of formats, bad lines and reused ids, in either output
// format, and still after a resumed run has compacted the file.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { InvalidTask } from '../../src/core/invalid-task.js';
import { filterPull } from '../../src/core/pull.js';
import { simulatedModel } from '../../src/models/simulated.js';
import { allSettled } from '../../src/operators/all-settled.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { compactJsonl, readDoneIds, toJsonl } from '../../src/sinks/to-jsonl.js';
import type { ResultFormat } from '../../src/sinks/to-jsonl.js';
import { fromJsonl } from '../../src/sources/from-jsonl.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'rxagent-job-files-'));

/** Every input line of the fixtures (output files left out), as users have them. */
const REAL_LINES = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.jsonl') && !name.endsWith('.output.jsonl'))
  .flatMap((name) => readFileSync(join(FIXTURES, name), 'utf8').split('\n'))
  .filter((line) => line !== '');

const LINE = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...REAL_LINES) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('a', 'b', 'request-1', 'line-2', '1')
      .map((id) => JSON.stringify({ id, input: `Say ${id}`, maxOutputTokens: 4 })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('not json', '[1, 2]', '{"input":"no id"}', '{"id":"x","input":1}'),
  },
);

/** The id of a result line of either format. */
function idOf(line: string): string {
  const json = JSON.parse(line) as { taskId?: string; custom_id?: string };
  return json.taskId ?? json.custom_id ?? '';
}

async function run(input: string, output: string, format: ResultFormat, resume: boolean): Promise<void> {
  const done = resume ? await readDoneIds(output) : new Set<string>();
  const agent = simulatedModel({ seed: 1, latency: 0, tokensPerSecond: 100_000 });
  await lastValueFrom(
    filterPull(fromJsonl(input), (task) => task instanceof InvalidTask || !done.has(task.id)).pipe(
      runAgents(agent, { concurrency: 8, retry: false }),
      toJsonl(output, { format }),
      allSettled(),
    ),
  );
  if (resume) await compactJsonl(output);
}

describe('job files end to end', () => {
  it('give one result line per input line, joinable by id, before and after a resumed run', async () => {
    let count = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(LINE, { minLength: 1, maxLength: 12 }),
        fc.constantFrom<ResultFormat>('rxagent', 'openai-batch'),
        async (lines, format) => {
          count++;
          const input = join(dir, `in-${count}.jsonl`);
          const output = join(dir, `out-${count}.jsonl`);
          writeFileSync(input, `${lines.join('\n')}\n`);
          const text = readFileSync(input, 'utf8');
          for (const resume of [false, true]) {
            await run(input, output, format, resume);
            const ids = readFileSync(output, 'utf8')
              .split('\n')
              .filter((line) => line !== '')
              .map(idOf);
            expect(ids).toHaveLength(lines.length);
            expect(new Set(ids).size).toBe(ids.length);
            for (const id of ids) {
              // An id the line gave itself, or `line-N` padded past the longest task id for a line with none.
              const lineNumber = /^line-(\d+)\.+$/.exec(id)?.[1];
              if (lineNumber !== undefined) expect(Number(lineNumber)).toBeLessThanOrEqual(lines.length);
              else
                expect(text.includes(JSON.stringify(id).slice(1, -1)) || /^line-\d+$/.test(id), id).toBe(
                  true,
                );
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
