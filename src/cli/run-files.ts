import { closeSync, createWriteStream, openSync, realpathSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { JsonlStream } from '../sinks/to-jsonl.js';
import { UsageError } from './options.js';

/** The files of a run, as `rxagent run` reads and writes them, `-` included. */
export interface RunFiles {
  /** A regular file holding the prompts: the one given, or stdin saved to a temporary file. */
  readonly input: string;
  /** The prompts' name for messages: the path given, or `stdin`. */
  readonly inputLabel: string;
  /** Where results are appended: the file given, or stdout for `-`. */
  readonly out: string | JsonlStream;
  /** True when results go to stdout, so the summary must go to stderr. */
  readonly toStdout: boolean;
  /** Removes what was saved of stdin. */
  readonly release: () => Promise<void>;
}

/** What the checks need of the run's flags. */
export interface RunFileOptions {
  readonly out: string;
  readonly resume: boolean;
  readonly batch: boolean;
}

/**
 * Checks and opens the files of a run before any task runs: `-` reads the prompts from stdin (saved to a
 * temporary file first, as a run reads its input again to settle what an interrupt left) and writes results to
 * stdout; the results file may not be the prompts file; `--resume` and `--batch` need a results file.
 */
export async function openRunFiles(
  file: string,
  options: RunFileOptions,
  stdin: AsyncIterable<Uint8Array | string>,
  stdout: JsonlStream,
): Promise<RunFiles> {
  const toStdout = options.out === '-';
  if (toStdout && options.resume) {
    throw new UsageError('--resume reads the results file it appends to; give --out a file, not "-"');
  }
  if (toStdout && options.batch) {
    throw new UsageError('--batch keeps its journal beside the results file; give --out a file, not "-"');
  }
  if (file !== '-') await expectReadableFile(file);
  if (!toStdout) expectWritableFile(options.out);
  if (file === '-') {
    const dir = await mkdtemp(join(tmpdir(), 'rxagent-stdin-'));
    const input = join(dir, 'stdin.jsonl');
    await pipeline(stdin, createWriteStream(input));
    return {
      input,
      inputLabel: 'stdin',
      out: toStdout ? stdout : options.out,
      toStdout,
      release: () => rm(dir, { recursive: true, force: true }),
    };
  }
  if (!toStdout && realpathSync(file) === realpathSync(options.out)) {
    throw new UsageError(
      `--out ${options.out} is the prompts file itself: results would be appended to the tasks; write them to another file`,
    );
  }
  return {
    input: file,
    inputLabel: file,
    out: toStdout ? stdout : options.out,
    toStdout,
    release: () => Promise.resolve(),
  };
}

async function expectReadableFile(file: string): Promise<void> {
  let isFile: boolean;
  try {
    const handle = await open(file, 'r');
    try {
      isFile = (await handle.stat()).isFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!isFile) throw new UsageError(`cannot read ${file}: not a file`);
}

/** Fails before any task runs, rather than after the first one settles. */
function expectWritableFile(file: string): void {
  try {
    closeSync(openSync(file, 'a'));
  } catch (error) {
    throw new UsageError(
      `--out ${file} cannot be written (${(error as NodeJS.ErrnoException).code ?? 'unwritable'})`,
    );
  }
}
