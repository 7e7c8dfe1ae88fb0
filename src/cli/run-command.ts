import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Subject, asyncScheduler, lastValueFrom, reduce } from 'rxjs';
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
import { readDoneIds, toJsonl } from '../sinks/to-jsonl.js';
import { fromJsonl } from '../sources/from-jsonl.js';
import { filterPull } from '../core/pull.js';
import type { PullSource } from '../core/pull.js';
import type { CommandIo } from './command-io.js';
import { drainOnInterrupt } from './drain.js';
import { UsageError } from './options.js';
import { formatSummary } from './summary.js';

/** The flags of `rxagent run`, parsed. */
export interface RunOptions {
  readonly out: string;
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
}

/**
 * `rxagent run prompts.jsonl --out results.jsonl`: every prompt through `runAgents`, results appended as
 * JSONL, a progress bar on stderr, a summary on stdout. Resolves with the exit code: 0 when every task was
 * fulfilled, 1 when some were rejected; throws `UsageError` for flags and files that cannot work.
 */
export async function runCommand(file: string, options: RunOptions, io: CommandIo): Promise<number> {
  await expectReadableFile(file);
  expectWritableFile(options.out);
  const { agent, model } = chooseAgent(options, io.env);
  io.stderr.write(`rxagent: using ${agent.description}\n`);
  const price = model === undefined ? undefined : priceOf(model);
  const budget = budgetFrom(options, model, price);

  const done = options.resume ? await readDoneIds(options.out) : new Set<string>();
  const pending = (): PullSource<Task | InvalidTask> =>
    filterPull(fromJsonl(file), (task) => task instanceof InvalidTask || !done.has(task.id));
  const total = await lastValueFrom(
    pending().pipe(
      reduce((count, task) => {
        if (task instanceof InvalidTask) io.stderr.write(`rxagent: ${oneLine(task.error.message)}\n`);
        return count + 1;
      }, 0),
    ),
  );
  if (options.resume) io.stderr.write(`rxagent: resuming: ${done.size} done, ${total} to run\n`);

  const state$ = new Subject<PoolState>();
  const startedAt = asyncScheduler.now();
  const run = runAgents(agent, {
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
  const all = await lastValueFrom(
    drainOnInterrupt(pending, run, {
      onInterrupt: io.onInterrupt,
      drainTimeoutMs: options.drainTimeout,
      notify: (message) => io.stderr.write(`${newline}rxagent: ${message}\n`),
    }).pipe(
      toJsonl<TaskEvent>(options.out),
      progress({
        total,
        state$,
        stream: io.stderr,
        ...(price === undefined ? {} : { price: (usage) => costOf(price, usage) }),
      }),
      allSettled(),
    ),
  );
  io.stdout.write(formatSummary(all, asyncScheduler.now() - startedAt, price));
  return all.rejected === 0 ? 0 : 1;
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

/** A zod report spans lines; stderr gets one line per bad input line. */
function oneLine(message: string): string {
  return message
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(' ');
}
