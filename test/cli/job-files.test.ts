// The job files users already have (test/sources/fixtures/SOURCES.md says where each comes from), run through
// `rxagent run` on the simulated model and joined back to their input lines by id.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readResults, runCli, tempDir } from './spawn-cli.js';

const FIXTURES = join(import.meta.dirname, '..', 'sources', 'fixtures');
const SLOW = 60_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** The parsed lines of a JSONL file. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** One Batch API output line, as far as these tests read it. */
interface BatchLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: {
    readonly status_code: number;
    readonly body: {
      readonly object: string;
      readonly choices: readonly {
        readonly message: { readonly content: string };
        readonly finish_reason: string;
      }[];
      readonly usage: {
        readonly prompt_tokens: number;
        readonly completion_tokens: number;
        readonly total_tokens: number;
      };
    };
  } | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

async function readBatchLines(file: string): Promise<BatchLine[]> {
  return jsonLines(await readFile(file, 'utf8')) as unknown as BatchLine[];
}

/** The `custom_id`s of a Batch API input file, in order. */
function customIds(name: string): string[] {
  return jsonLines(readFileSync(fixture(name), 'utf8')).map((line) => line['custom_id'] as string);
}

describe('rxagent run on the files users have', () => {
  it(
    "runs the Batch guide's input file, says it detected the format, and joins every result by custom_id",
    async () => {
      const out = dir.path('results.jsonl');
      const { code, stdout, stderr } = await runCli([
        'run',
        fixture('openai-batch-guide.input.jsonl'),
        '-o',
        out,
      ]);
      expect(stderr).toContain(
        `rxagent: reading ${fixture('openai-batch-guide.input.jsonl')} as openai-batch (detected from line 1)\n`,
      );
      expect(code).toBe(0);
      expect(stdout).toMatch(/^2\/2 completed: 2 fulfilled, 0 rejected\n/);
      const results = await readResults(out);
      expect(results.map((r) => r.taskId).sort()).toEqual(customIds('openai-batch-guide.input.jsonl'));
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    },
    SLOW,
  );

  it(
    "writes Batch API output lines for vLLM's example batch that join back one to one",
    async () => {
      const out = dir.path('results.jsonl');
      const { code, stderr } = await runCli([
        'run',
        fixture('vllm-openai-example-batch.jsonl'),
        '-o',
        out,
        '--format',
        'openai-batch',
        '--out-format',
        'openai-batch',
      ]);
      expect(stderr).toContain(
        `rxagent: reading ${fixture('vllm-openai-example-batch.jsonl')} as openai-batch (--format)\n`,
      );
      expect(code).toBe(0);
      const lines = await readBatchLines(out);
      expect(lines.map((line) => line.custom_id).sort()).toEqual(
        customIds('vllm-openai-example-batch.jsonl'),
      );
      for (const line of lines) {
        expect(line.id).toMatch(/^batch_req_/);
        expect(line.error).toBeNull();
        expect(line.response?.status_code).toBe(200);
        const body = line.response?.body;
        expect(body?.object).toBe('chat.completion');
        expect(body?.choices[0]?.message.content).not.toBe('');
        expect(body?.choices[0]?.finish_reason).toBe('stop');
        expect(body?.usage.total_tokens).toBe(
          (body?.usage.prompt_tokens ?? 0) + (body?.usage.completion_tokens ?? 0),
        );
      }
    },
    SLOW,
  );

  it(
    "refuses vLLM's embeddings lines naming the url, and still writes one line per custom_id",
    async () => {
      const out = dir.path('results.jsonl');
      const { code, stdout, stderr } = await runCli([
        'run',
        fixture('vllm-embeddings-batch.jsonl'),
        '-o',
        out,
        '--out-format',
        'openai-batch',
      ]);
      expect(code).toBe(1);
      expect(stderr).toContain(
        'rxagent: Unsupported url "/v1/embeddings" (line 1): rxagent runs chat completions ("/v1/chat/completions") only; the line was not run\n',
      );
      expect(stderr).toContain(
        `rxagent: no line of ${fixture('vllm-embeddings-batch.jsonl')} is valid in any format\n`,
      );
      expect(stdout).toMatch(/^0\/2 completed: 0 fulfilled, 2 rejected \(E_VALIDATION ×2\)\n/);
      const lines = await readBatchLines(out);
      expect(lines.map((line) => [line.custom_id, line.response, line.error?.code])).toEqual([
        ['request-1', null, 'E_VALIDATION'],
        ['request-2', null, 'E_VALIDATION'],
      ]);
    },
    SLOW,
  );

  it(
    "settles the cookbook's JSON-mode and image tasks as the simulated model's and rxagent's refusals, joinable by custom_id",
    async () => {
      const movies = dir.path('movies.jsonl');
      const moviesRun = await runCli(['run', fixture('cookbook-batch-movies.jsonl'), '-o', movies]);
      expect(moviesRun.code).toBe(1);
      // The line is valid; the simulated model cannot answer in JSON mode, and says so rather than ignore it.
      const movieResults = await readResults(movies);
      expect(movieResults.map((r) => [r.taskId, r.status, r.error?.code]).sort()).toEqual([
        ['task-0', 'rejected', 'E_VALIDATION'],
        ['task-1', 'rejected', 'E_VALIDATION'],
      ]);
      expect(movieResults.find((r) => r.taskId === 'task-0')?.error?.message).toBe(
        'Task "task-0" asks for `responseFormat`, which simulatedModel cannot honour; it supports `model`, `temperature`, `topP`, `seed`, `stop`',
      );
      const furniture = dir.path('furniture.jsonl');
      const furnitureRun = await runCli([
        'run',
        fixture('cookbook-batch-furniture.jsonl'),
        '-o',
        furniture,
        '--out-format',
        'openai-batch',
      ]);
      expect(furnitureRun.code).toBe(1);
      expect(furnitureRun.stderr).toContain(
        'rxagent: Invalid openai-batch line (line 1): ✖ `image_url` content: rxagent sends text only, so a message with images, audio or files is not run → at body.messages[1].content[1]\n',
      );
      expect((await readBatchLines(furniture)).map((line) => [line.custom_id, line.error?.code])).toEqual([
        ['task-0', 'E_VALIDATION'],
      ]);
    },
    SLOW,
  );

  it(
    "runs cookbook processor lines with their metadata as meta, and refuses a reused row_id and the cookbook's embeddings",
    async () => {
      const out = dir.path('results.jsonl');
      const { code, stderr } = await runCli(['run', fixture('cookbook-processor-chat.jsonl'), '-o', out]);
      expect(code).toBe(1);
      expect(stderr).toContain(`as openai-requests (detected from line 1)\n`);
      expect(stderr).toContain(
        'rxagent: Task id "1" (line 3) is already used by line 1; the line was not run\n',
      );
      const byId = new Map(jsonLines(await readFile(out, 'utf8')).map((line) => [line['taskId'], line]));
      expect(byId.get('1')).toMatchObject({ status: 'fulfilled', meta: { row_id: 1 } });
      expect(byId.get('line-2')).toMatchObject({ status: 'fulfilled' });
      expect(byId.get('line-2')).not.toHaveProperty('meta');
      expect(byId.get('line-3'.padEnd(257, '.'))).toMatchObject({
        status: 'rejected',
        error: { code: 'E_DUPLICATE_ID', info: { id: '1', line: 3, firstLine: 1 } },
        meta: { row_id: 1 },
      });

      const embeddings = dir.path('embeddings.jsonl');
      const run = await runCli(['run', fixture('cookbook-example-requests.jsonl'), '-o', embeddings]);
      expect(run.code).toBe(1);
      const lines = jsonLines(await readFile(embeddings, 'utf8'));
      expect(
        lines.map((line) => [line['taskId'], (line['error'] as { code: string }).code, line['meta']]),
      ).toEqual([
        ['1', 'E_VALIDATION', { row_id: 1 }],
        ['line-2', 'E_VALIDATION', undefined],
        ['line-3', 'E_VALIDATION', undefined],
      ]);
    },
    SLOW,
  );

  it(
    'refuses a format it does not know, as one line with the choices',
    async () => {
      const { code, stderr } = await runCli([
        'run',
        fixture('openai-batch-guide.input.jsonl'),
        '-o',
        dir.path('out.jsonl'),
        '--out-format',
        'csv',
      ]);
      expect(code).toBe(2);
      expect(stderr).toBe(
        "rxagent: option '--out-format <format>' argument 'csv' is invalid. Allowed choices are rxagent, openai-batch.\n",
      );
    },
    SLOW,
  );

  it(
    'resumes from a Batch API output file, running only what it does not hold as done, and leaves one line per id',
    async () => {
      const out = dir.path('results.jsonl');
      const [guideRequest2] = readFileSync(fixture('openai-batch-guide.output.jsonl'), 'utf8').split('\n');
      // request-2 done (the guide's own output line), request-1 expired (the guide's error-file shape).
      const expired = {
        id: 'batch_req_123',
        custom_id: 'request-1',
        response: null,
        error: {
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.',
        },
      };
      await writeFile(out, `${guideRequest2}\n${JSON.stringify(expired)}\n`);
      const args = ['run', fixture('openai-batch-guide.input.jsonl'), '-o', out, '--resume'];
      const mismatch = await runCli(args);
      expect(mismatch.code).toBe(2);
      expect(mismatch.stderr).toContain(
        `rxagent: --resume: ${out} holds openai-batch lines; resume with --out-format openai-batch, or write to another file\n`,
      );
      const { code, stdout, stderr } = await runCli([...args, '--out-format', 'openai-batch']);
      expect(code).toBe(0);
      expect(stderr).toContain('rxagent: resuming: 1 done, 1 to run\n');
      expect(stdout).toMatch(/^1\/1 completed/);
      expect(stderr).toContain(`rxagent: ${out} holds one line per task: 2 kept, 1 older or torn dropped\n`);
      const text = await readFile(out, 'utf8');
      const lines = jsonLines(text) as unknown as BatchLine[];
      expect(lines.map((line) => line.custom_id)).toEqual(['request-2', 'request-1']);
      expect(text.split('\n')[0]).toBe(guideRequest2);
      expect(lines[1]?.response?.status_code).toBe(200);
    },
    SLOW,
  );
});
