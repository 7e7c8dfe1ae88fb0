import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The environment of a user with no provider configured, so the CLI picks the simulated model. */
function offlineEnv(): NodeJS.ProcessEnv {
  const {
    OPENAI_API_KEY: _key,
    OPENAI_BASE_URL: _url,
    ANTHROPIC_API_KEY: _anthropicKey,
    ANTHROPIC_BASE_URL: _anthropicUrl,
    RXAGENT_MODEL: _model,
    ...env
  } = process.env;
  return env;
}

/** A running `rxagent` child process, with its output so far and its exit. */
export interface Cli {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code once the process has exited and its streams have closed. */
  readonly exit: Promise<number | null>;
  /** Resolves once stderr or stdout contains `text`; rejects if the process exits first. */
  waitFor(stream: 'stdout' | 'stderr', text: string | RegExp): Promise<void>;
}

/**
 * Starts `src/cli/main.ts` with tsx from the repository root, as `npm start` and users do, with no provider
 * configured unless `env` configures one.
 */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...offlineEnv(), ...env },
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(stdin);
  const waiters = new Set<() => void>();
  const cli: Cli = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => {
      child.on('close', (code) => {
        resolve(code);
      });
    }),
    waitFor: (stream, text) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          const seen = cli[stream];
          if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
        void cli.exit.then(() => {
          if (waiters.delete(check))
            reject(new Error(`exited before ${stream} showed ${String(text)}:\n${cli.stderr}`));
        });
      }),
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    cli.stdout += chunk;
    for (const waiter of [...waiters]) waiter();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    cli.stderr += chunk;
    for (const waiter of [...waiters]) waiter();
  });
  return cli;
}

/** Runs `rxagent` to its end. */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args, env, stdin);
  const code = await cli.exit;
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/** A temporary directory for one test, removed by `remove()`. */
export async function tempDir(): Promise<{ path: (name: string) => string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'rxagent-cli-'));
  return {
    path: (name) => join(dir, name),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Writes a prompts file of `count` tasks `t1`…`tN`. */
export async function writePrompts(
  file: string,
  count: number,
  extra: Record<string, unknown> = {},
): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `t${i + 1}`);
  await writeFile(
    file,
    ids.map((id) => JSON.stringify({ id, input: `Say ${id}`, ...extra })).join('\n') + '\n',
  );
  return ids;
}

/** One parsed result line of the output file. */
export interface ResultLine {
  readonly taskId: string;
  readonly status: 'fulfilled' | 'rejected';
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly info?: { readonly reason?: string };
  };
}

export async function readResults(file: string): Promise<ResultLine[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ResultLine);
}

/** How many lines name each task id. */
export function countById(results: readonly ResultLine[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { taskId } of results) counts.set(taskId, (counts.get(taskId) ?? 0) + 1);
  return counts;
}
