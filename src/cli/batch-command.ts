import { existsSync } from 'node:fs';
import type { OperatorFunction } from 'rxjs';
import { priceOf } from '../budget/prices.js';
import type { InvalidTask } from '../core/invalid-task.js';
import type { Settled, Task, TaskEvent } from '../core/types.js';
import type { DefaultAgent } from '../models/openai/default-agent.js';
import { openaiBatchStatus, type BatchReport } from '../models/openai/batch-status.js';
import { openaiBatch } from '../models/openai/openai-batch.js';
import type { CommandIo } from './command-io.js';
import { UsageError } from './options.js';
import type { RunOptions } from './run-command.js';

/** The journal `rxagent run --batch` keeps beside its output. */
export function journalOf(out: string): string {
  return `${out}.batches`;
}

/** The environment with `--base-url` in place of `OPENAI_BASE_URL`. */
function providerEnv(baseUrl: string | undefined, env: CommandIo['env']): CommandIo['env'] {
  return baseUrl === undefined ? env : { ...env, OPENAI_BASE_URL: baseUrl };
}

/**
 * The operator `rxagent run --batch` runs tasks with: `openaiBatch` on the provider the flags chose, journaled
 * beside the output and priced at the catalog's batch rate. Flags that only a live pool uses are refused.
 */
export function batchRun(
  options: RunOptions,
  agent: DefaultAgent,
  model: string | undefined,
  env: CommandIo['env'],
): OperatorFunction<Task | InvalidTask, TaskEvent> {
  if (agent.kind !== 'openai' || model === undefined) {
    throw new UsageError('--batch needs a provider with a Batch API: set OPENAI_API_KEY or --base-url');
  }
  const live = [
    ['--tpm', options.tpm],
    ['--rpm', options.rpm],
    ['--max-cost', options.maxCost],
    ['--queue-limit', options.queueLimit],
  ].filter(([, value]) => value !== undefined);
  if (live.length > 0) {
    throw new UsageError(
      `--batch does not take ${live.map(([flag]) => String(flag)).join(', ')}: the Batch API queues and limits requests itself`,
    );
  }
  return openaiBatch({
    model,
    journal: journalOf(options.out),
    priceOf: (name) => priceOf(name),
    pollIntervalMs: options.pollInterval,
    maxPollIntervalMs: Math.max(60_000, options.pollInterval),
    env: providerEnv(options.baseUrl, env),
  });
}

/** The line `run --batch` adds to its summary: what the batch price saved against the live one. */
export function batchSavings(results: readonly Settled<unknown>[]): string {
  const cost = results.reduce((sum, result) => sum + (result.usage?.cost ?? 0), 0);
  if (cost === 0) return '';
  return `batch price $${cost.toFixed(4)}, saving $${cost.toFixed(4)} against the live price\n`;
}

/** The flags of `rxagent batch status`, parsed. */
export interface BatchStatusOptions {
  readonly baseUrl?: string;
}

/**
 * `rxagent batch status results.jsonl`: every batch in the journal of a `--batch` run, as the provider reports
 * it now — status and request counts — and a total. Resolves with the exit code.
 */
export async function batchStatusCommand(
  results: string,
  options: BatchStatusOptions,
  io: CommandIo,
): Promise<number> {
  const journal = journalOf(results);
  if (!existsSync(journal)) {
    throw new UsageError(
      `no batch journal at ${journal}: "rxagent run … --out ${results} --batch" writes one`,
    );
  }
  let reports: BatchReport[];
  try {
    reports = await openaiBatchStatus({ journal, env: providerEnv(options.baseUrl, io.env) });
  } catch (error) {
    // The key and URL are checked before any request: a missing one is the user's to fix.
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  for (const report of reports) io.stdout.write(`${reportLine(report)}\n`);
  io.stdout.write(`${totalLine(reports)}\n`);
  return 0;
}

function reportLine(report: BatchReport): string {
  const what = `${report.model}, ${report.tasks} task${report.tasks === 1 ? '' : 's'}, ${report.fileId}`;
  if (report.batchId === undefined) return `(no batch)  the run stopped before creating one  (${what})`;
  if (report.error !== undefined) return `${report.batchId}  unknown  ${report.error}  (${what})`;
  const counts = report.requestCounts;
  const done =
    counts === undefined ? '' : `  ${counts.completed}/${counts.total} done, ${counts.failed} failed`;
  return `${report.batchId}  ${report.status ?? 'unknown'}${done}  (${what})`;
}

function totalLine(reports: readonly BatchReport[]): string {
  const byStatus = new Map<string, number>();
  let total = 0;
  let completed = 0;
  let failed = 0;
  for (const report of reports) {
    const status = report.status ?? (report.batchId === undefined ? 'not created' : 'unknown');
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    total += report.requestCounts?.total ?? report.tasks;
    completed += report.requestCounts?.completed ?? 0;
    failed += report.requestCounts?.failed ?? 0;
  }
  const statuses = [...byStatus].map(([status, n]) => `${n} ${status}`).join(', ');
  const files = `${reports.length} input file${reports.length === 1 ? '' : 's'}`;
  return `${files}: ${statuses || 'none'}; ${completed}/${total} requests done, ${failed} failed`;
}
