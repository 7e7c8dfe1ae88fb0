import { Subject, asyncScheduler, lastValueFrom, reduce, tap } from 'rxjs';
import { createBudget } from '../budget/create-budget.js';
import type { Budget } from '../budget/create-budget.js';
import { costOf, priceOf } from '../budget/prices.js';
import type { Price } from '../budget/prices.js';
import { InvalidTask } from '../core/invalid-task.js';
import type { Task, TaskEvent } from '../core/types.js';
import { defaultAgent } from '../models/openai/default-agent.js';
import type { DefaultAgent } from '../models/openai/default-agent.js';
import { allSettled } from '../operators/all-settled.js';
import type { PoolState } from '../operators/pool.js';
import { runAgents } from '../operators/run-agents.js';
import { progress } from '../sinks/progress.js';
import { compactJsonl, readDoneIds, resultFormatOf, toJsonl } from '../sinks/to-jsonl.js';
import type { ResultFormat } from '../sinks/to-jsonl.js';
import { fromJsonl } from '../sources/from-jsonl.js';
import type { JobFormat } from '../sources/job-lines.js';
import { filterPull } from '../core/pull.js';
import type { PullSource } from '../core/pull.js';
import { batchRun, batchSavings, journalOf } from './batch-command.js';
import type { CommandIo } from './command-io.js';
import { drainOnInterrupt } from './drain.js';
import { giveUpOnHopelessFailures } from './give-up.js';
import { UsageError } from './options.js';
import { formatSummary, oneLine } from './summary.js';
import { openRunFiles } from './run-files.js';
import type { RunFiles } from './run-files.js';

/** How often a run prints its status line when stderr is not a terminal. */
const NON_TTY_PROGRESS_MS = 5_000;

/** The flags of `rxagent run`, parsed. */
export interface RunOptions {
  readonly out: string;
  readonly format: JobFormat | 'auto';
  readonly outFormat: ResultFormat;
  readonly model?: string;
  readonly baseUrl?: string;
  readonly concurrency: number;
  readonly queueLimit?: number;
  readonly tpm?: number;
  readonly rpm?: number;
  readonly maxCost?: number;
  readonly timeout: number;
  readonly retries: number;
  readonly resume: boolean;
  readonly drainTimeout: number;
  /** Submit through the provider's Batch API instead of the live pool. */
  readonly batch: boolean;
  /** With `batch`, the first wait between polls of a batch. */
  readonly pollInterval: number;
}

/**
 * `rxagent run prompts.jsonl --out results.jsonl`: every prompt through `runAgents`, results appended as
 * JSONL, a progress bar on stderr, a summary on stdout. Resolves with the exit code: 0 when every task was
 * fulfilled, 1 when some were rejected; throws `UsageError` for flags and files that cannot work.
 */
export async function runCommand(prompts: string, options: RunOptions, io: CommandIo): Promise<number> {
  const files = await openRunFiles(prompts, options, io.stdin ?? process.stdin, io.stdout);
  try {
    return await runFiles(files, options, io);
  } finally {
    await files.release();
  }
}

async function runFiles(files: RunFiles, options: RunOptions, io: CommandIo): Promise<number> {
  const { input: file, inputLabel: label } = files;
  const { agent, model } = chooseAgent(options, io.env);
  io.stderr.write(`rxagent: using ${agent.description}\n`);
  const price = model === undefined ? undefined : priceOf(model);
  // The Batch API is sent the model's own name; `model` names its provider too, for the price catalog.
  const batch = options.batch
    ? batchRun(options, agent, agent.kind === 'simulated' ? undefined : agent.model, io.env)
    : undefined;
  if (batch !== undefined)
    io.stderr.write(`rxagent: through the Batch API, journal ${journalOf(options.out)}\n`);
  const budget = budgetFrom(options, model, price);

  if (options.resume) await expectSameResultFormat(options.out, options.outFormat);
  const done = options.resume ? await readDoneIds(options.out) : new Set<string>();
  const pending = (onFormat?: (format: JobFormat, line: number) => void): PullSource<Task | InvalidTask> =>
    filterPull(
      fromJsonl(file, { format: options.format, ...(onFormat === undefined ? {} : { onFormat }) }),
      (task) => task instanceof InvalidTask || !done.has(task.id),
    );
  if (options.format !== 'auto')
    io.stderr.write(`rxagent: reading ${label} as ${options.format} (--format)\n`);
  // Set by the callback: TypeScript would narrow a plain `let` to its initial value here.
  const detection = { done: false };
  const total = await lastValueFrom(
    pending(
      options.format === 'auto'
        ? (format, line) => {
            detection.done = true;
            io.stderr.write(`rxagent: reading ${label} as ${format} (detected from line ${line})\n`);
          }
        : undefined,
    ).pipe(
      reduce((count, task) => {
        if (task instanceof InvalidTask) io.stderr.write(`rxagent: ${oneLine(task.error.message)}\n`);
        return count + 1;
      }, 0),
    ),
  );
  if (options.format === 'auto' && !detection.done) {
    io.stderr.write(`rxagent: no line of ${label} is valid in any format\n`);
  }
  if (total === 0 && done.size === 0) io.stderr.write(`rxagent: ${label} holds no tasks: nothing to run\n`);
  if (options.resume) io.stderr.write(`rxagent: resuming: ${done.size} done, ${total} to run\n`);

  const state$ = new Subject<PoolState>();
  const startedAt = asyncScheduler.now();
  const run =
    batch ??
    runAgents(agent, {
      concurrency: options.concurrency,
      ...(options.queueLimit === undefined ? {} : { queueLimit: options.queueLimit }),
      timeoutMs: options.timeout,
      retry: { maxRetries: options.retries },
      ...(budget === undefined ? {} : { budget }),
      monitor: (state) => {
        state$.next(state);
      },
    });
  const newline = io.stderr.isTTY === true ? '\n' : '';
  let budgetWaitMs = 0;
  const all = await lastValueFrom(
    drainOnInterrupt(() => pending(), run, {
      onInterrupt: io.onInterrupt,
      drainTimeoutMs: options.drainTimeout,
      notify: (message) => io.stderr.write(`${newline}rxagent: ${message}\n`),
      giveUp: giveUpOnHopelessFailures(),
    }).pipe(
      tap((event) => {
        if (event.type === 'admitted') budgetWaitMs += event.waitMs;
      }),
      toJsonl<TaskEvent>(files.out, { format: options.outFormat }),
      progress({
        total,
        state$,
        stream: io.stderr,
        // Without a terminal (CI logs, `| tee`), a status line every few seconds rather than a redrawn bar.
        force: true,
        intervalMs: io.stderr.isTTY === true ? 100 : NON_TTY_PROGRESS_MS,
        ...(price === undefined ? {} : { price: (usage) => costOf(price, usage) }),
      }),
      allSettled(),
    ),
  );
  // With results on stdout, the summary goes beside the other messages, so the output stays pure JSONL.
  const report = files.toStdout ? io.stderr : io.stdout;
  report.write(formatSummary(all, asyncScheduler.now() - startedAt, { price, budgetWaitMs }));
  if (batch !== undefined) report.write(batchSavings(all.results));
  if (options.resume) {
    const { kept, dropped } = await compactJsonl(options.out);
    io.stderr.write(
      `rxagent: ${options.out} holds one line per task: ${kept} kept, ${dropped} older or torn dropped\n`,
    );
  }
  return all.rejected === 0 ? 0 : 1;
}

/** A resumed run appends to the file it resumes: one file, one format, or tools reading it would trip. */
async function expectSameResultFormat(out: string, outFormat: ResultFormat): Promise<void> {
  const existing = await resultFormatOf(out);
  if (existing !== undefined && existing !== outFormat) {
    throw new UsageError(
      `--resume: ${out} holds ${existing} lines; resume with --out-format ${existing}, or write to another file`,
    );
  }
}

/** The agent the flags and environment ask for, and the model name that prices its usage. */
function chooseAgent(
  options: RunOptions,
  env: CommandIo['env'],
): { agent: DefaultAgent; model: string | undefined } {
  if (options.model === 'simulated') {
    if (options.baseUrl !== undefined) {
      throw new UsageError('--base-url needs a provider model; "--model simulated" runs offline');
    }
    return { agent: defaultAgent({ env: {}, model: 'simulated' }), model: undefined };
  }
  const providerEnv = options.baseUrl === undefined ? env : { ...env, OPENAI_BASE_URL: options.baseUrl };
  let agent: DefaultAgent;
  try {
    agent = defaultAgent({
      env: providerEnv,
      ...(options.model === undefined ? {} : { model: options.model }),
    });
  } catch (error) {
    // A provider named without its key: the provider's own message says what to set.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (agent.kind === 'simulated' && options.model !== undefined) {
    throw new UsageError(
      `--model ${options.model} needs OPENAI_API_KEY, ANTHROPIC_API_KEY or --base-url; without them only "simulated" runs`,
    );
  }
  return { agent, model: agent.kind === 'simulated' ? undefined : `${agent.kind}:${agent.model}` };
}

function budgetFrom(
  options: RunOptions,
  model: string | undefined,
  price: Price | undefined,
): Budget | undefined {
  if (options.maxCost !== undefined && price === undefined) {
    throw new UsageError(
      model === undefined
        ? '--max-cost needs a priced provider model; the simulated model has no price'
        : `--max-cost needs a price for model "${model}", and none is known`,
    );
  }
  if (options.tpm === undefined && options.rpm === undefined && options.maxCost === undefined)
    return undefined;
  return createBudget({
    ...(options.tpm === undefined ? {} : { tokensPerMinute: options.tpm }),
    ...(options.rpm === undefined ? {} : { requestsPerMinute: options.rpm }),
    ...(options.maxCost === undefined || model === undefined ? {} : { maxTotalCost: options.maxCost, model }),
  });
}
