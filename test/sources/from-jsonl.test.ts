import { constants } from 'node:buffer';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import fc from 'fast-check';
import { Subject, lastValueFrom, of, toArray } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DuplicateIdError } from '../../src/core/errors/index.js';
import { InvalidTask } from '../../src/core/invalid-task.js';
import { TaskSchema } from '../../src/core/schemas.js';
import type { Task, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { fromJsonl, splitLines } from '../../src/sources/from-jsonl.js';
import type { RawLine } from '../../src/sources/from-jsonl.js';
import { PULL, isPullable, pullSource } from '../../src/core/pull.js';

const dir = mkdtempSync(join(tmpdir(), 'rxagent-jsonl-'));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The id `fromJsonl` gives the bad line `n`. */
function lineId(n: number): string {
  return `line-${n}`.padEnd(257, '.');
}

async function read(
  path: string,
  options?: Parameters<typeof fromJsonl>[1],
): Promise<(Task | InvalidTask)[]> {
  return lastValueFrom(fromJsonl(path, options).pipe(toArray()));
}

/** What each item is, in short: a task's id, or a bad line's id and message. */
function summary(items: readonly (Task | InvalidTask)[]): unknown[] {
  return items.map((item) =>
    item instanceof InvalidTask ? { id: item.taskId, message: item.error.message } : item.id,
  );
}

/** Writes `{"id":"big","input":"xx…"}` of `bytes` bytes through a stream, never holding the line. */
async function writeHugeLine(path: string, before: string, bytes: number, after: string): Promise<void> {
  const out = createWriteStream(path);
  const head = '{"id":"big","input":"';
  const tail = '"}';
  const block = 'x'.repeat(1024 * 1024);
  out.write(`${before}\n${head}`);
  let left = bytes - head.length - tail.length;
  while (left > 0) {
    const piece = left >= block.length ? block : block.slice(0, left);
    left -= piece.length;
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end(`${tail}\n${after}\n`);
  await finished(out);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('fromJsonl', () => {
  it('reads tasks and turns bad lines into rejected results with their line numbers, keeping the ids they give', async () => {
    const path = file('mixed.jsonl', [
      '{"id":"a","input":"first"}',
      '',
      '{"id":"b","input":"second"',
      '{"id":"c","input":"third","color":"red"}',
      '{"id":"d","input":[{"role":"user","content":"fourth"}]}',
    ]);
    const source = fromJsonl(path);
    expect(isPullable(source)).toBe(true);
    const events = await lastValueFrom(
      source.pipe(
        pool((task) => of(task.id), { concurrency: 2 }),
        toArray(),
      ),
    );
    const settled = events.filter((e): e is Extract<TaskEvent, { type: 'settled' }> => e.type === 'settled');
    expect(settled.map((e) => [e.taskId, e.result.status])).toEqual([
      ['a', 'fulfilled'],
      [lineId(3), 'rejected'],
      ['c', 'rejected'],
      ['d', 'fulfilled'],
    ]);
    const [bad3, bad4] = settled.filter((e) => e.result.status === 'rejected').map((e) => e.result);
    expect(bad3?.status === 'rejected' && bad3.error.message).toMatch(/^Invalid JSON \(line 3\): /);
    expect(bad4?.status === 'rejected' && bad4.error).toMatchObject({
      code: 'E_VALIDATION',
      info: { source: 'line 4', issues: [{ code: 'unrecognized_keys', keys: ['color'] }] },
    });
  });

  it('pulls lines only as the pool has room, over a 100k-line file', async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) =>
      JSON.stringify({ id: `t${i}`, input: `prompt ${i}` }),
    );
    const path = file('big.jsonl', lines);
    let pulled = 0;
    const inner = fromJsonl(path);
    const counted = pullSource<Task | InvalidTask>(() => {
      const iterator = inner[PULL]() as AsyncIterator<Task | InvalidTask>;
      return {
        next: async () => {
          pulled++;
          return iterator.next();
        },
        return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
      };
    });
    const runs: Subject<string>[] = [];
    const started = new Subject<void>();
    const sub = counted
      .pipe(
        pool(
          () => {
            const run = new Subject<string>();
            runs.push(run);
            started.next();
            return run;
          },
          { concurrency: 2 },
        ),
      )
      .subscribe();
    const waitForRuns = (n: number): Promise<void> =>
      new Promise((resolve) => {
        if (runs.length >= n) {
          resolve();
          return;
        }
        const s = started.subscribe(() => {
          if (runs.length >= n) {
            s.unsubscribe();
            resolve();
          }
        });
      });
    await waitForRuns(2);
    for (let finished = 0; finished < 50; finished++) {
      const run = runs[finished]!;
      run.next('ok');
      run.complete();
      await waitForRuns(finished + 3);
      // Two running, at most one more asked for: the file is not read ahead of the pool.
      expect(pulled).toBeLessThanOrEqual(runs.length + 1);
    }
    expect(pulled).toBeLessThan(60);
    sub.unsubscribe();
  });

  describe('lines longer than maxLineBytes', () => {
    it('settles each as a bad line with its number and size, and reads the lines around it', async () => {
      const long = JSON.stringify({ id: 'long', input: 'y'.repeat(100) });
      const path = file('long.jsonl', [
        '{"id":"a","input":"first"}',
        long,
        '{"id":"b","input":"second"}',
        'z'.repeat(1000),
        '{"id":"c","input":"third"}',
      ]);
      const items = await read(path, { maxLineBytes: 64 });
      expect(summary(items)).toEqual([
        'a',
        {
          id: lineId(2),
          message: `Line too long (line 2): ${long.length} bytes, over the limit of 64 (\`maxLineBytes\`); it was read past, not parsed`,
        },
        'b',
        {
          id: lineId(4),
          message:
            'Line too long (line 4): 1000 bytes, over the limit of 64 (`maxLineBytes`); it was read past, not parsed',
        },
        'c',
      ]);
      expect(items[1]).toMatchObject({
        error: {
          code: 'E_VALIDATION',
          info: { issues: [], source: 'line 2', bytes: long.length, maxLineBytes: 64 },
        },
      });
      // A line of exactly the limit is read.
      expect(summary(await read(path, { maxLineBytes: long.length }))[1]).toBe('long');
    });

    it('does not count a CRLF line ending against the limit', async () => {
      const line = '{"id":"crlf","input":"x"}';
      const path = join(dir, 'crlf.jsonl');
      writeFileSync(path, `${line}\r\n${line.replace('crlf', 'next')}x\r\n`);
      const items = summary(await read(path, { maxLineBytes: line.length }));
      expect(items[0]).toBe('crlf');
      expect(items[1]).toMatchObject({
        message: expect.stringMatching(/^Line too long \(line 2\): 26 bytes/) as string,
      });
    });

    it('reads past a line over the default 8 MiB without ever joining or decoding it whole', async () => {
      const path = join(dir, 'huge.jsonl');
      const size = 8 * 1024 * 1024 + 1;
      await writeHugeLine(path, '{"id":"a","input":"before"}', size, '{"id":"b","input":"after"}');
      const concat = vi.spyOn(Buffer, 'concat');
      const decode = vi.spyOn(TextDecoder.prototype, 'decode');
      const items = await read(path);
      expect(summary(items)).toEqual([
        'a',
        {
          id: lineId(2),
          message: `Line too long (line 2): ${size} bytes, over the limit of 8388608 (\`maxLineBytes\`); it was read past, not parsed`,
        },
        'b',
      ]);
      // Lines a and b are decoded; the long one is neither joined nor decoded, so never a string.
      const decoded = decode.mock.calls.map(([input]) => input?.byteLength ?? 0);
      expect(decoded).toHaveLength(2);
      const joined = concat.mock.results.map((result) => (result.value as Buffer).length);
      expect(Math.max(...decoded, ...joined)).toBeLessThan(100);
    });

    it('reads a line as long as the limit when the limit is raised', async () => {
      const path = join(dir, 'raised.jsonl');
      const size = 9 * 1024 * 1024;
      await writeHugeLine(path, '{"id":"a","input":"before"}', size, '{"id":"b","input":"after"}');
      const items = await read(path, { maxLineBytes: size });
      expect(summary(items)).toEqual(['a', 'big', 'b']);
      expect((items[1] as Task).input).toHaveLength(size - '{"id":"big","input":""}'.length);
    });
  });

  describe('splitLines', () => {
    const byteArbitrary = fc.oneof(
      { arbitrary: fc.constant(0x0a), weight: 1 },
      { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 3 },
    );

    /**
     * The lines of `bytes` read whole: split at `\n`, the empty tail after a last newline is no line, and a
     * line's closing `\r` (of a CRLF file) not counted against the limit.
     */
    function expected(bytes: readonly number[], max: number): unknown[] {
      const segments: number[][] = [[]];
      for (const byte of bytes) {
        if (byte === 0x0a) segments.push([]);
        else segments[segments.length - 1]!.push(byte);
      }
      if (segments[segments.length - 1]!.length === 0) segments.pop();
      return segments.map((segment, i) => {
        const counted = segment.at(-1) === 0x0d ? segment.length - 1 : segment.length;
        return counted > max ? { number: i + 1, tooLong: counted } : { number: i + 1, bytes: segment };
      });
    }

    function chunksOf(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
      return [...cuts, bytes.length].map((cut, i) => bytes.subarray(i === 0 ? 0 : cuts[i - 1], cut));
    }

    function plain(line: RawLine): unknown {
      return 'bytes' in line ? { number: line.number, bytes: [...line.bytes] } : line;
    }

    it('gives the same lines however the bytes are split into chunks, and holds no line past the limit', async () => {
      const concat = vi.spyOn(Buffer, 'concat');
      await fc.assert(
        fc.asyncProperty(
          fc.array(byteArbitrary, { maxLength: 120 }),
          fc.array(fc.nat(), { maxLength: 12 }),
          fc.integer({ min: 1, max: 24 }),
          async (bytes, rawCuts, max) => {
            concat.mockClear();
            const cuts = [...new Set(rawCuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
            const lines: unknown[] = [];
            for await (const line of splitLines(chunksOf(Uint8Array.from(bytes), cuts), max)) {
              lines.push(plain(line));
            }
            expect(lines).toEqual(expected(bytes, max));
            // At most the limit and the line's closing `\r`.
            expect(concat.mock.results.every((result) => (result.value as Buffer).length <= max + 1)).toBe(
              true,
            );
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('encoding', () => {
    it('drops a byte order mark at the start of the file, and only there', async () => {
      const path = join(dir, 'bom.jsonl');
      const bom = '\uFEFF';
      writeFileSync(path, `${bom}{"id":"a","input":"first"}\r\n${bom}{"id":"b","input":"second"}\r\n`);
      const items = await read(path);
      expect(summary(items)).toEqual([
        'a',
        { id: lineId(2), message: expect.stringMatching(/^Invalid JSON \(line 2\): /) as unknown },
      ]);
    });

    it('reports a line that is not UTF-8 instead of replacing its bytes', async () => {
      const path = join(dir, 'latin1.jsonl');
      writeFileSync(
        path,
        Buffer.concat([
          Buffer.from('{"id":"u1","input":"caf\u00e9 \u20ac \u{1F600}"}\n'),
          Buffer.from('{"id":"u2'),
          Buffer.from([0xc3]),
          Buffer.from('","input":"x"}\n{"id":"u3","input":"caf'),
          Buffer.from([0xe9]),
          Buffer.from('"}\n{"id":"u4","input":"fine"}\n'),
        ]),
      );
      const items = await read(path);
      const message = (n: number): string =>
        `Invalid UTF-8 (line ${n}): the line holds bytes that are not UTF-8; it was not read, so that ids and inputs are never changed (save the file as UTF-8)`;
      expect(summary(items)).toEqual([
        'u1',
        { id: lineId(2), message: message(2) },
        { id: lineId(3), message: message(3) },
        'u4',
      ]);
      expect((items[0] as Task).input).toBe('caf\u00e9 \u20ac \u{1F600}');
      expect((items[1] as InvalidTask).error.info).toEqual({ issues: [], source: 'line 2' });
    });

    it('reads a character whose bytes straddle two 64 KiB chunks', async () => {
      const path = join(dir, 'straddle.jsonl');
      const head = '{"id":"a","input":"';
      const input = `${'x'.repeat(64 * 1024 - head.length - 1)}\u20ac${'y'.repeat(10)}`;
      writeFileSync(path, `${head}${input}"}\n`);
      const items = await read(path);
      expect((items[0] as Task).input).toBe(input);
    });
  });

  describe('ids of bad lines', () => {
    it('never equal a valid task id, even a task named line-N', async () => {
      const path = file('collide.jsonl', [
        '{"id":"line-2","input":"a"}',
        'not json',
        `{"id":"${lineId(2)}"}`,
      ]);
      const items = await read(path);
      expect(summary(items)).toEqual([
        'line-2',
        { id: lineId(2), message: expect.stringMatching(/^Invalid JSON \(line 2\)/) as unknown },
        { id: lineId(3), message: expect.stringMatching(/^Invalid task \(line 3\)/) as unknown },
      ]);
      fc.assert(
        fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (n) => {
          expect(TaskSchema.safeParse({ id: lineId(n), input: 'x' }).success).toBe(false);
          expect(lineId(n).startsWith(`line-${n}.`)).toBe(true);
        }),
      );
    });
  });

  describe('formats', () => {
    const FIXTURES = join(import.meta.dirname, 'fixtures');

    it("detects the format from the first valid line, says so, and reads the file's lines in it", async () => {
      const seen: [string, number][] = [];
      const onFormat = (format: string, line: number): void => {
        seen.push([format, line]);
      };
      const batch = await read(join(FIXTURES, 'openai-batch-guide.input.jsonl'), { onFormat });
      expect(summary(batch)).toEqual(['request-1', 'request-2']);
      const requests = await read(join(FIXTURES, 'cookbook-processor-chat.jsonl'), { onFormat });
      expect(summary(requests)).toEqual([
        '1',
        'line-2',
        {
          id: lineId(3),
          message: 'Task id "1" (line 3) is already used by line 1; the line was not run',
        },
      ]);
      const own = await read(file('own.jsonl', ['not json', '{"id":"a","input":"x"}']), { onFormat });
      expect(summary(own)).toHaveLength(2);
      expect(seen).toEqual([
        ['openai-batch', 1],
        ['openai-requests', 1],
        ['rxagent', 2],
      ]);
    });

    it('waits for a valid line to decide, and refuses lines of another format after it', async () => {
      const onFormat = vi.fn();
      const path = file('mixed-formats.jsonl', [
        readFileSync(join(FIXTURES, 'vllm-embeddings-batch.jsonl'), 'utf8').split('\n')[0] ?? '',
        readFileSync(join(FIXTURES, 'vllm-openai-example-batch.jsonl'), 'utf8').split('\n')[1] ?? '',
        '{"id":"mine","input":"Hello"}',
        '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"metadata":{"id":"m1"}}',
        '42',
      ]);
      const items = await read(path, { onFormat });
      expect(onFormat.mock.calls).toEqual([['openai-batch', 2]]);
      expect(summary(items)).toEqual([
        {
          id: 'request-1',
          message:
            'Unsupported url "/v1/embeddings" (line 1): rxagent runs chat completions ("/v1/chat/completions") only; the line was not run',
        },
        'request-2',
        {
          id: 'mine',
          message:
            'Wrong format (line 3): the line is rxagent, but the file is openai-batch (detected from line 2); a file holds one format, so the line was not run',
        },
        {
          id: 'm1',
          message:
            'Wrong format (line 4): the line is openai-requests, but the file is openai-batch (detected from line 2); a file holds one format, so the line was not run',
        },
        {
          id: lineId(5),
          message: expect.stringMatching(/^Invalid openai-batch line \(line 5\): /) as unknown,
        },
      ]);
      // A bad openai-requests line keeps its metadata, so its result carries it.
      expect((items[3] as InvalidTask).meta).toEqual({ id: 'm1' });
    });

    it('reads every line in the given format, refusing the others', async () => {
      const path = join(FIXTURES, 'openai-batch-guide.input.jsonl');
      const items = await read(path, { format: 'openai-requests' });
      expect(summary(items)).toEqual([
        {
          id: 'request-1',
          message:
            'Wrong format (line 1): the line is openai-batch, but the file is read as openai-requests; a file holds one format, so the line was not run',
        },
        { id: 'request-2', message: expect.stringMatching(/^Wrong format \(line 2\)/) as unknown },
      ]);
      expect(summary(await read(path, { format: 'openai-batch' }))).toEqual(['request-1', 'request-2']);
    });
  });

  describe('duplicate ids', () => {
    it('refuses a line whose id an earlier line has, valid or not, naming both lines', async () => {
      const path = file('duplicates.jsonl', [
        '{"id":"a","input":"first"}',
        '{"id":"b","input":"second","color":"red"}',
        '{"id":"a","input":"again","meta":{"row":3}}',
        '{"id":"b","input":"fixed"}',
        'not json',
        '{"id":"c","input":"third"}',
      ]);
      const items = await read(path);
      expect(summary(items)).toEqual([
        'a',
        { id: 'b', message: expect.stringMatching(/^Invalid task \(line 2\)/) as unknown },
        { id: lineId(3), message: 'Task id "a" (line 3) is already used by line 1; the line was not run' },
        { id: lineId(4), message: 'Task id "b" (line 4) is already used by line 2; the line was not run' },
        { id: lineId(5), message: expect.stringMatching(/^Invalid JSON \(line 5\)/) as unknown },
        'c',
      ]);
      const duplicate = items[2] as InvalidTask;
      expect(duplicate.error).toBeInstanceOf(DuplicateIdError);
      expect(duplicate.error).toMatchObject({
        code: 'E_DUPLICATE_ID',
        info: { kind: 'task', id: 'a', line: 3, firstLine: 1 },
      });
      expect(duplicate.meta).toEqual({ row: 3 });
    });

    it('gives every line of any file exactly one item, and no two items the same id', async () => {
      const line = fc.oneof(
        fc.constantFrom('a', 'b', 'c', 'line-2').map((id) => JSON.stringify({ id, input: 'x' })),
        fc.constantFrom('a', 'b').map((id) => JSON.stringify({ id, input: 5 })),
        fc.constantFrom('request-1', 'b').map((id) =>
          JSON.stringify({
            custom_id: id,
            method: 'POST',
            url: '/v1/chat/completions',
            body: { messages: [] },
          }),
        ),
        fc.constantFrom('not json', '[1]', '{"input":"no id"}'),
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 12 }), async (lines) => {
          const items = await read(file(`property-${run++}.jsonl`, lines));
          expect(items).toHaveLength(lines.length);
          const ids = items.map((item) => (item instanceof InvalidTask ? item.taskId : item.id));
          expect(new Set(ids).size).toBe(ids.length);
        }),
        { numRuns: 100 },
      );
    });
  });

  it('checks its arguments', () => {
    expect(() => fromJsonl('')).toThrow('Expected `path` to be a file path, got "" (string)');
    expect(() => fromJsonl('a.jsonl', null as never)).toThrow(
      'Expected `options` to be a config object, got null',
    );
    expect(() => fromJsonl('a.jsonl', { maxLineSize: 10 } as never)).toThrow(
      'Unknown option `maxLineSize` for fromJsonl; expected one of `maxLineBytes`, `format`, `onFormat`',
    );
    expect(() => fromJsonl('a.jsonl', { format: 'openai' as never })).toThrow(
      "Expected `format` to be one of 'rxagent', 'openai-batch', 'openai-requests', 'auto', got \"openai\" (string)",
    );
    expect(() => fromJsonl('a.jsonl', { format: 'rxagent', onFormat: () => undefined })).toThrow(
      "`onFormat` reports the format that `format: 'auto'` detects; with `format: 'rxagent'` there is nothing to detect",
    );
    expect(() => fromJsonl('a.jsonl', { onFormat: 'yes' as never })).toThrow(
      'Expected `onFormat` to be a function, got "yes" (string)',
    );
    const max = constants.MAX_STRING_LENGTH;
    for (const bad of [0, 1.5, '8', max + 1, Number.POSITIVE_INFINITY]) {
      expect(() => fromJsonl('a.jsonl', { maxLineBytes: bad as number })).toThrow(
        new RegExp(
          `^Expected \`maxLineBytes\` to be an integer from 1 to ${max} \\(the longest string V8 can build\\), got `,
        ),
      );
    }
    expect(isPullable(fromJsonl('a.jsonl', { maxLineBytes: max }))).toBe(true);
  });
});
