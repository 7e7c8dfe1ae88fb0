#!/usr/bin/env node
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { RxAgentError } from '../core/errors/index.js';
import { DEFAULT_CONCURRENCY } from '../operators/pool.js';
import { processIo } from './command-io.js';
import type { CommandIo } from './command-io.js';
import { demoCommand } from './demo.js';
import type { DemoOptions } from './demo.js';
import { UsageError, parseAmountFlag, parseDurationFlag, parseIntegerFlag, parseUrlFlag } from './options.js';
import { batchStatusCommand } from './batch-command.js';
import type { BatchStatusOptions } from './batch-command.js';
import { runCommand } from './run-command.js';
import type { RunOptions } from './run-command.js';
import { serveCommand } from './serve-command.js';
import type { ServeOptions } from './serve-command.js';

const RUN_HELP = `
Each line of the prompts file is a task, in one of three formats (--format auto detects it from the first
valid line and says which):
  rxagent          {"id":"a","input":"...","maxOutputTokens":200}
  openai-batch     OpenAI Batch API input lines (vLLM's run-batch reads them too):
                   {"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":...,"messages":[...]}}
  openai-requests  openai-cookbook api_request_parallel_processor.py lines: a request body with optional
                   "metadata" (id from metadata.id, row_id or custom_id, else line-N)
A line reusing an earlier line's id is refused (E_DUPLICATE_ID). --out-format openai-batch writes Batch API
output lines ({"id","custom_id","response","error"}) that join back to the input by custom_id.
Uses the provider --model names (anthropic:claude-haiku-4-5, openai:gpt-4o-mini); else OpenAI (or the
server at --base-url / OPENAI_BASE_URL) when OPENAI_API_KEY or a base URL is set, Anthropic when
ANTHROPIC_API_KEY is; else the offline simulated model. The first line on stderr says which.

Ctrl-C drains: no new task starts, running ones may finish within --drain-timeout, and every task
still ends in the output (the others as rejected E_CANCELLED). Ctrl-C again cancels at once.

A run whose first 3 tasks all fail the same hopeless way (401, 403, 404, no quota, no server) gives up:
the rest are written as cancelled with that cause, none sent. The summary lists each distinct failure.

Exit codes: 0 all fulfilled, 1 some rejected, 2 bad usage.

With --batch every task goes through the provider's Batch API instead (half price, results within 24h);
the batches are journaled in <out>.batches, so a run killed midway and started again with --resume
re-attaches to them and submits nothing twice. "rxagent batch status <out>" shows how they stand.

Examples:
  rxagent run prompts.jsonl --out results.jsonl --concurrency 8 --tpm 90000 --timeout 30s --resume
  rxagent run batchinput.jsonl --out results.jsonl --out-format openai-batch
  rxagent run prompts.jsonl --out results.jsonl --batch`;

/** Builds the `rxagent` command; `done` receives each subcommand's exit code. */
export function buildProgram(io: CommandIo, done: (code: number) => void): Command {
  const program = new Command('rxagent')
    .description('Run many LLM agent calls at once as RxJS streams.')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Commander's "error: …" becomes the same one-line shape as the commands' own usage errors.
      outputError: (text, write) => {
        write(`rxagent: ${text.replace(/^error: /, '')}`);
      },
    });

  program
    .command('run')
    .description('run every prompt of a JSONL file, appending results as JSONL')
    .argument('<prompts>', 'JSONL file, one task per line (- reads stdin)')
    .requiredOption(
      '-o, --out <file>',
      'results file (JSONL, appended; - writes to stdout, the summary to stderr)',
    )
    .option(
      '--model <name>',
      'provider:model (anthropic:…, openai:…), a model of the configured provider, or "simulated" (default: RXAGENT_MODEL)',
    )
    .option('--base-url <url>', 'OpenAI-compatible endpoint, such as http://localhost:11434/v1', parseUrlFlag)
    .option('-c, --concurrency <n>', 'tasks running at once', parseIntegerFlag(1), DEFAULT_CONCURRENCY)
    .option('--queue-limit <n>', 'tasks waiting at most', parseIntegerFlag(0))
    .option('--tpm <n>', 'tokens per minute budget', parseIntegerFlag(1))
    .option('--rpm <n>', 'requests per minute budget', parseIntegerFlag(1))
    .option('--max-cost <usd>', 'no task starts once this many dollars are spent', parseAmountFlag)
    .addOption(
      new Option('--timeout <duration>', 'time limit of each attempt (30s, 500ms, 2m)')
        .argParser(parseDurationFlag)
        .default(30_000, '30s'),
    )
    .option('--retries <n>', 'retries of a failed attempt', parseIntegerFlag(0), 2)
    .addOption(
      new Option('--format <format>', 'format of the prompts file')
        .choices(['auto', 'rxagent', 'openai-batch', 'openai-requests'])
        .default('auto'),
    )
    .addOption(
      new Option('--out-format <format>', 'format of the result lines')
        .choices(['rxagent', 'openai-batch'])
        .default('rxagent'),
    )
    .option(
      '--resume',
      'skip tasks already fulfilled in the output, then keep one line per task in it',
      false,
    )
    .addOption(
      new Option('--drain-timeout <duration>', 'on Ctrl-C, how long running tasks may go on')
        .argParser(parseDurationFlag)
        .default(10_000, '10s'),
    )
    .option(
      '--batch',
      "submit every task through the provider's Batch API: half price, done within 24h",
      false,
    )
    .addOption(
      new Option('--poll-interval <duration>', 'with --batch, the first wait between polls of a batch')
        .argParser(parseDurationFlag)
        .default(5_000, '5s'),
    )
    .addHelpText('after', RUN_HELP)
    .action(async (prompts: string, options: RunOptions) => {
      done(await runCommand(prompts, options, io));
    });

  program
    .command('serve')
    .description('serve the WebSocket gateway and the live dashboard until Ctrl-C')
    .option('-p, --port <n>', 'port to listen on (0 picks a free one)', parseIntegerFlag(0), 8080)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('-c, --concurrency <n>', 'tasks running at once', parseIntegerFlag(1), DEFAULT_CONCURRENCY)
    .option('--queue-limit <n>', 'tasks waiting at most', parseIntegerFlag(0), 200)
    .option('--tpm <n>', 'tokens per minute budget', parseIntegerFlag(1))
    .option('--rpm <n>', 'requests per minute budget', parseIntegerFlag(1))
    .option(
      '--allowed-hosts <names>',
      'host names it is reached by besides IP addresses and localhost, comma-separated (".example.com" adds subdomains)',
      (value: string) =>
        value
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== ''),
    )
    .action(async (options: ServeOptions) => {
      done(await serveCommand(options, io));
    });

  program
    .command('batch')
    .description('look after the batches of runs made with --batch')
    .command('status')
    .description('what is submitted, in progress and done, read from the journal beside the results')
    .argument('<results>', 'the --out file of a run with --batch')
    .option('--base-url <url>', 'OpenAI-compatible endpoint, such as http://localhost:8000/v1', parseUrlFlag)
    .action(async (results: string, options: BatchStatusOptions) => {
      done(await batchStatusCommand(results, options, io));
    });

  program
    .command('demo')
    .description('the four patterns of rxagent on the simulated model, offline, in under a minute')
    .option('--serve', 'then keep the dashboard open until Ctrl-C', false)
    .option('-p, --port <n>', 'port of the dashboard with --serve', parseIntegerFlag(0), 8080)
    .action(async (options: DemoOptions) => {
      done(await demoCommand(options, io));
    });

  return program;
}

/** Runs the command line; resolves with the exit code (2 for usage mistakes, printed as one line). */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    // Commander has already printed its message (or the help); only the exit code is left to choose.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      io.stderr.write(`rxagent: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * What the command prints when a run fails unexpectedly: one line for what the system or the toolkit reports
 * (a file that vanished mid-read, a disk that filled up, a typed error), a stack only for a real bug.
 */
export function failureMessage(error: unknown): string {
  if (error instanceof RxAgentError) return `rxagent: ${error.code}: ${error.message}\n`;
  // Node's system errors name the call and the path in their first line ("ENOENT: …, open 'x'").
  if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string') {
    return `rxagent: ${error.message.split('\n')[0] ?? ''}\n`;
  }
  return `rxagent: unexpected failure, please report it:\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
}

function version(): string {
  // The same relative path holds from src/cli (tsx) and from dist/cli (the installed bin).
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** True when this file is the program (tsx or node on the file, or the npm bin symlink), not an import. */
function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2), processIo).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(failureMessage(error));
      process.exitCode = 1;
    },
  );
}
