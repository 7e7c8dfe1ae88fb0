import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import type { SchedulerLike, Subscriber, Subscription } from 'rxjs';
import {
  DuplicateIdError,
  ProviderError,
  ValidationError,
  toRxAgentError,
  type RxAgentError,
} from '../../core/errors/index.js';
import { InvalidTask } from '../../core/invalid-task.js';
import type { Task, TaskEvent, Usage } from '../../core/types.js';
import { costOf, NO_USAGE, type Price } from '../../core/usage.js';
import { appendJournal, readJournal, type Journal, type JournaledUpload } from './batch-journal.js';
import { parseResultLines, type BatchOutcome } from './batch-results.js';
import { chatRequestBody, type ChatRequestDefaults } from './chat-request.js';
import type { Sdk } from './sdk.js';

/** The Batch API bills half the live price (https://developers.openai.com/api/docs/guides/batch, Overview). */
export const BATCH_DISCOUNT = 0.5;

const ENDPOINT = '/v1/chat/completions';

/** Batch statuses after which nothing changes (the SDK's `Batch['status']`). */
const FINISHED: readonly Batch['status'][] = ['completed', 'failed', 'expired', 'cancelled'];

/** What the engine runs with, checked and defaulted by `openaiBatch`. */
export interface BatchEngineOptions {
  readonly connect: () => Promise<{ readonly sdk: Sdk; readonly client: OpenAI }>;
  readonly request: ChatRequestDefaults;
  readonly completionWindow: '24h';
  readonly maxRequestsPerFile: number;
  readonly maxBytesPerFile: number;
  readonly flushAfterMs: number;
  readonly pollIntervalMs: number;
  readonly maxPollIntervalMs: number;
  readonly maxRetries: number;
  readonly journal: string | undefined;
  readonly priceOf: ((model: string) => Price | undefined) | undefined;
  readonly scheduler: SchedulerLike;
}

/** A task that arrived and has not settled. */
interface Waiting {
  readonly task: Task;
  readonly arrivedAt: number;
  /** When its batch was created (or, for a journaled one, when it arrived); undefined until then. */
  startedAt: number | undefined;
}

/** Tasks gathered for the next input file of one model. */
interface Group {
  readonly model: string;
  readonly ids: string[];
  readonly lines: string[];
  bytes: number;
  readonly timer: Subscription;
}

/** An input file on its way through the Batch API, from upload to results. */
interface Tracked {
  readonly model: string;
  /** The custom_ids of its file, in line order. */
  readonly ids: readonly string[];
  /** From the journal of an earlier run: the requests it never ran are submitted again. */
  readonly inherited: boolean;
  fileId: string | undefined;
  fileCreatedAt: number;
  batchId: string | undefined;
  /** The provider refused to create a batch from the file (a 4xx), so none exists. */
  refused: boolean;
  status: Batch['status'] | undefined;
  /** Status and request counts at the last poll: polls back off while it stays the same. */
  seen: string;
  delayMs: number;
  /** Failed calls in a row; past `maxRetries` the batch's tasks are rejected with the last failure. */
  failures: number;
  timer: Subscription | undefined;
  /** Aborts its uploads, polls and downloads, but never a `batches.create`, whose answer names what to cancel. */
  readonly controller: AbortController;
  done: boolean;
}

/** The engine stopped (unsubscribed) while an asynchronous step was under way. */
class Stopped extends Error {}

/**
 * The engine of `openaiBatch`: gathers tasks into input files per model (within the request and byte
 * limits, or after `flushAfterMs`), uploads each, writes it to the journal, creates its batch, writes that,
 * polls with backoff on the scheduler, downloads the output and error files and settles each task by its
 * custom_id. State, all per subscription:
 *
 * - `#waiting`: tasks that arrived and have not settled; the stream completes when the source has and this is
 *   empty, so every task settles exactly once.
 * - `#groups`: the open group of each model; `#active`: every input file from upload until its tasks settle.
 * - `#journal`, `#byFile`: an earlier run's uploads, re-attached (never resubmitted) when one of their tasks
 *   arrives; `#held`: what such a batch said of tasks that have not arrived yet.
 */
export class BatchEngine {
  readonly #options: BatchEngineOptions;
  readonly #subscriber: Subscriber<TaskEvent>;
  readonly #waiting = new Map<string, Waiting>();
  readonly #seen = new Set<string>();
  readonly #groups = new Map<string, Group>();
  readonly #active = new Set<Tracked>();
  readonly #byFile = new Map<string, Tracked>();
  readonly #held = new Map<string, BatchOutcome>();
  readonly #journal: Journal | undefined;
  /** 'open' while the source runs, 'ending' once it completed, 'stopped' after unsubscribe or completion. */
  #state: 'open' | 'ending' | 'stopped' = 'open';
  #connection: Promise<{ readonly sdk: Sdk; readonly client: OpenAI }> | undefined;

  constructor(options: BatchEngineOptions, subscriber: Subscriber<TaskEvent>) {
    this.#options = options;
    this.#subscriber = subscriber;
    this.#journal = options.journal === undefined ? undefined : readJournal(options.journal);
  }

  /** A task (or a source's invalid item) arrives. */
  add(item: Task | InvalidTask): void {
    if (item instanceof InvalidTask) {
      this.#emitSettled(item.taskId, { kind: 'rejected', error: item.error }, undefined);
      return;
    }
    const id = item.id;
    if (this.#seen.has(id)) {
      const error = new DuplicateIdError({
        kind: 'task',
        id,
        message: `Task id "${id}" came a second time; a batch takes each custom_id once, so the first keeps it`,
      });
      this.#emitSettled(id, { kind: 'rejected', error }, undefined);
      return;
    }
    this.#seen.add(id);
    this.#waiting.set(id, { task: item, arrivedAt: this.#now(), startedAt: undefined });
    const held = this.#held.get(id);
    if (held !== undefined) {
      this.#held.delete(id);
      this.#deliver(id, held, undefined);
      return;
    }
    const fileId = this.#journal?.byTask.get(id);
    const upload = fileId === undefined ? undefined : this.#journal?.uploads.get(fileId);
    if (upload !== undefined) this.#attach(id, upload);
    else this.#enqueue(item);
  }

  /** The source completed: what is gathered goes out now, and the stream ends once every task settled. */
  end(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ending';
    this.#flushAll();
    this.#completeIfDone();
  }

  /**
   * Unsubscribed (or the source failed): timers stop, requests under way are aborted, and every batch that
   * still holds a task of this run is cancelled at the provider. Nothing is emitted any more.
   */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const group of this.#groups.values()) group.timer.unsubscribe();
    for (const tracked of this.#active) {
      tracked.timer?.unsubscribe();
      tracked.controller.abort();
      const holdsTask = tracked.ids.some((id) => this.#waiting.has(id));
      if (holdsTask && tracked.batchId !== undefined && !this.#isFinished(tracked))
        this.#cancel(tracked.batchId);
    }
    this.#groups.clear();
    this.#active.clear();
    this.#waiting.clear();
    this.#held.clear();
  }

  #now(): number {
    return this.#options.scheduler.now();
  }

  #isFinished(tracked: Tracked): boolean {
    return tracked.status !== undefined && FINISHED.includes(tracked.status);
  }

  #connect(): Promise<{ readonly sdk: Sdk; readonly client: OpenAI }> {
    this.#connection ??= this.#options.connect();
    return this.#connection;
  }

  /** Cancels at the provider; a cancel that fails has nobody left to tell, since the run was given up. */
  #cancel(batchId: string): void {
    this.#connect()
      .then(({ client }) => client.batches.cancel(batchId))
      .catch(() => undefined);
  }

  // ---- intake ----

  #enqueue(task: Task): void {
    const { maxRequestsPerFile, maxBytesPerFile } = this.#options;
    let line: string;
    let model: string;
    try {
      const body = chatRequestBody(task, this.#options.request);
      model = body['model'] as string;
      line = `${JSON.stringify({ custom_id: task.id, method: 'POST', url: ENDPOINT, body })}\n`;
    } catch (error) {
      this.#settle(task.id, { kind: 'rejected', error: toRxAgentError(error) });
      return;
    }
    const bytes = Buffer.byteLength(line);
    if (bytes > maxBytesPerFile) {
      const message = `Task "${task.id}" makes a batch request of ${bytes} bytes, more than maxBytesPerFile (${maxBytesPerFile})`;
      const error = new ValidationError({
        issues: [{ code: 'custom', path: ['input'], message }],
        source: 'openaiBatch',
        message,
      });
      this.#settle(task.id, { kind: 'rejected', error });
      return;
    }
    let group = this.#groups.get(model);
    if (group !== undefined && group.bytes + bytes > maxBytesPerFile) {
      this.#flush(group);
      group = undefined;
    }
    group ??= this.#open(model);
    group.ids.push(task.id);
    group.lines.push(line);
    group.bytes += bytes;
    if (group.ids.length >= maxRequestsPerFile) this.#flush(group);
  }

  #open(model: string): Group {
    const group: Group = {
      model,
      ids: [],
      lines: [],
      bytes: 0,
      timer: this.#options.scheduler.schedule(() => {
        if (this.#groups.get(model) === group) this.#flush(group);
      }, this.#options.flushAfterMs),
    };
    this.#groups.set(model, group);
    return group;
  }

  #flushAll(): void {
    for (const group of [...this.#groups.values()]) this.#flush(group);
  }

  #flush(group: Group): void {
    this.#groups.delete(group.model);
    group.timer.unsubscribe();
    const tracked = this.#track(group.model, group.ids, false);
    void this.#run(tracked, () => this.#submit(tracked, group.lines.join('')));
  }

  #track(model: string, ids: readonly string[], inherited: boolean): Tracked {
    const tracked: Tracked = {
      model,
      ids,
      inherited,
      fileId: undefined,
      fileCreatedAt: 0,
      batchId: undefined,
      refused: false,
      status: undefined,
      seen: '',
      delayMs: this.#options.pollIntervalMs,
      failures: 0,
      timer: undefined,
      controller: new AbortController(),
      done: false,
    };
    this.#active.add(tracked);
    return tracked;
  }

  /** A task of an earlier run's upload arrived: follow that upload's batch instead of submitting it again. */
  #attach(id: string, upload: JournaledUpload): void {
    this.#start(id);
    if (this.#byFile.has(upload.fileId)) return;
    const tracked = this.#track(upload.model, upload.taskIds, true);
    tracked.fileId = upload.fileId;
    tracked.fileCreatedAt = upload.fileCreatedAt;
    this.#byFile.set(upload.fileId, tracked);
    const { batchId } = upload;
    if (batchId === undefined) {
      void this.#run(tracked, () => this.#create(tracked, false));
    } else {
      tracked.batchId = batchId;
      void this.#run(tracked, () => this.#poll(tracked));
    }
  }

  // ---- the Batch API ----

  /**
   * Runs one asynchronous step of a tracked file; a failure it could not get past rejects the file's
   * waiting tasks (an inherited file never made into a batch is submitted afresh instead).
   */
  async #run(tracked: Tracked, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (thrown) {
      if (thrown instanceof Stopped || this.#state === 'stopped') return;
      const error = toRxAgentError(thrown);
      // An earlier run's file the provider will not make a batch from (expired, deleted) ran nothing.
      const notRun = tracked.inherited && tracked.refused;
      for (const id of tracked.ids) {
        this.#deliver(
          id,
          notRun ? { kind: 'not-run', error: asProviderError(error) } : { kind: 'rejected', error },
          tracked,
        );
      }
      this.#finish(tracked);
    }
  }

  /**
   * Calls the provider, retrying what may pass (5xx, connection failures) after the poll backoff, up to
   * `maxRetries` times in a row; the first other failure, or one too many, is thrown as rxagent's error.
   */
  async #call<T>(tracked: Tracked, request: (client: OpenAI, signal: AbortSignal) => Promise<T>): Promise<T> {
    for (;;) {
      const { sdk, client } = await this.#connect();
      this.#throwIfStopped();
      try {
        const result = await request(client, tracked.controller.signal);
        this.#throwIfStopped();
        tracked.failures = 0;
        return result;
      } catch (thrown) {
        this.#throwIfStopped();
        const error = this.#callError(sdk, thrown);
        tracked.failures += 1;
        if (!error.retryable || tracked.failures > this.#options.maxRetries) throw error;
        await this.#sleep(tracked, this.#backoff(tracked));
      }
    }
  }

  /** The SDK's failures (HTTP and connection) as `ProviderError`s; anything else is a bug, never retried. */
  #callError(sdk: Sdk, thrown: unknown): RxAgentError {
    if (!(thrown instanceof sdk.APIError)) return toRxAgentError(thrown);
    return sdk.errors.toProviderError(thrown, { chunks: 0, partialText: '' }, this.#now());
  }

  #throwIfStopped(): void {
    if (this.#state === 'stopped') throw new Stopped();
  }

  #backoff(tracked: Tracked): number {
    const delay = tracked.delayMs;
    tracked.delayMs = Math.min(delay * 2, this.#options.maxPollIntervalMs);
    return delay;
  }

  /** Waits on the scheduler; never resolves once the engine stops, which ends the step quietly. */
  #sleep(tracked: Tracked, ms: number): Promise<void> {
    return new Promise((resolve) => {
      tracked.timer = this.#options.scheduler.schedule(() => {
        resolve();
      }, ms);
    });
  }

  async #submit(tracked: Tracked, content: string): Promise<void> {
    const { sdk } = await this.#connect();
    const file = await this.#call(tracked, async (client, signal) =>
      client.files.create(
        { file: await sdk.toFile(Buffer.from(content), 'rxagent-batch.jsonl'), purpose: 'batch' },
        { signal },
      ),
    );
    tracked.fileId = file.id;
    tracked.fileCreatedAt = file.created_at;
    this.#byFile.set(file.id, tracked);
    if (this.#options.journal !== undefined) {
      appendJournal(this.#options.journal, {
        type: 'upload',
        fileId: file.id,
        fileCreatedAt: file.created_at,
        model: tracked.model,
        taskIds: tracked.ids,
      });
    }
    await this.#create(tracked, true);
  }

  /**
   * Creates the file's batch, exactly once: unless the file was just uploaded, and after any create whose
   * answer was lost, the provider's batches are searched for one made from the file before creating another.
   */
  async #create(tracked: Tracked, fresh: boolean): Promise<void> {
    const fileId = tracked.fileId ?? '';
    let batch = fresh ? undefined : await this.#find(tracked);
    while (batch === undefined) {
      const { sdk, client } = await this.#connect();
      try {
        // Not aborted on unsubscribe: the batch may be created anyway, and only its id lets it be cancelled.
        batch = await client.batches.create({
          input_file_id: fileId,
          endpoint: ENDPOINT,
          completion_window: this.#options.completionWindow,
        });
        tracked.failures = 0;
      } catch (thrown) {
        this.#throwIfStopped();
        const error = this.#callError(sdk, thrown);
        tracked.failures += 1;
        tracked.refused = !error.retryable;
        if (!error.retryable || tracked.failures > this.#options.maxRetries) throw error;
        await this.#sleep(tracked, this.#backoff(tracked));
        batch = await this.#find(tracked);
      }
    }
    tracked.batchId = batch.id;
    if (this.#options.journal !== undefined) {
      appendJournal(this.#options.journal, { type: 'batch', fileId, batchId: batch.id });
    }
    if (this.#state === 'stopped') {
      this.#cancel(batch.id);
      return;
    }
    tracked.delayMs = this.#options.pollIntervalMs;
    for (const id of tracked.ids) this.#start(id);
    this.#observe(tracked, batch);
  }

  /** The batch made from the tracked file, among the provider's batches no older than the file. */
  async #find(tracked: Tracked): Promise<Batch | undefined> {
    return this.#call(tracked, async (client, signal) => {
      for await (const batch of client.batches.list({ limit: 100 }, { signal })) {
        if (batch.input_file_id === tracked.fileId) return batch;
        // Listed newest first: past the file's creation no batch can have been made from it.
        if (batch.created_at < tracked.fileCreatedAt) return undefined;
      }
      return undefined;
    });
  }

  async #poll(tracked: Tracked): Promise<void> {
    const batchId = tracked.batchId ?? '';
    const batch = await this.#call(tracked, (client, signal) => client.batches.retrieve(batchId, { signal }));
    this.#observe(tracked, batch);
  }

  /** Takes in what a batch says: finished, its results are fetched; else the next poll is scheduled. */
  #observe(tracked: Tracked, batch: Batch): void {
    tracked.status = batch.status;
    if (FINISHED.includes(batch.status)) {
      void this.#run(tracked, () => this.#collect(tracked, batch));
      return;
    }
    const counts = batch.request_counts;
    const seen = `${batch.status} ${counts?.completed ?? 0} ${counts?.failed ?? 0}`;
    if (seen !== tracked.seen) tracked.delayMs = this.#options.pollIntervalMs;
    tracked.seen = seen;
    tracked.timer = this.#options.scheduler.schedule(() => {
      void this.#run(tracked, () => this.#poll(tracked));
    }, this.#backoff(tracked));
  }

  async #collect(tracked: Tracked, batch: Batch): Promise<void> {
    const outcomes = new Map<string, BatchOutcome>();
    for (const fileId of [batch.output_file_id, batch.error_file_id]) {
      if (fileId == null) continue;
      const text = await this.#call(tracked, async (client, signal) =>
        (await client.files.content(fileId, { signal })).text(),
      );
      for (const [id, outcome] of parseResultLines(text).outcomes) outcomes.set(id, outcome);
    }
    const price = this.#options.priceOf?.(tracked.model);
    tracked.ids.forEach((id, index) => {
      const outcome = outcomes.get(id) ?? withoutResult(batch, id, index + 1);
      this.#deliver(id, price === undefined ? outcome : priced(outcome, price), tracked);
    });
    this.#finish(tracked);
  }

  #finish(tracked: Tracked): void {
    tracked.done = true;
    tracked.timer?.unsubscribe();
    this.#active.delete(tracked);
    if (this.#state === 'ending') this.#flushAll();
    this.#completeIfDone();
  }

  // ---- settling ----

  /**
   * Hands one task its outcome: settled if it is waiting, kept if an earlier run's batch names a task that
   * has not arrived yet. A request an earlier run's batch never ran is submitted again instead.
   */
  #deliver(id: string, outcome: BatchOutcome, tracked: Tracked | undefined): void {
    if (this.#state === 'stopped') return;
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) {
      if (!this.#seen.has(id)) this.#held.set(id, outcome);
      return;
    }
    if (outcome.kind === 'not-run' && (tracked === undefined || tracked.inherited)) {
      this.#enqueue(waiting.task);
      return;
    }
    this.#settle(id, outcome);
  }

  #start(id: string): void {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined || waiting.startedAt !== undefined || this.#state === 'stopped') return;
    const now = this.#now();
    waiting.startedAt = now;
    this.#subscriber.next({ type: 'started', taskId: id, waitMs: now - waiting.arrivedAt });
  }

  #settle(id: string, outcome: BatchOutcome): void {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return;
    this.#waiting.delete(id);
    this.#emitSettled(id, outcome, waiting.startedAt);
    this.#completeIfDone();
  }

  #emitSettled(taskId: string, outcome: BatchOutcome, startedAt: number | undefined): void {
    if (this.#state === 'stopped') return;
    const attempts = startedAt === undefined ? 0 : 1;
    const durationMs = startedAt === undefined ? 0 : this.#now() - startedAt;
    if (outcome.kind === 'fulfilled') {
      if (outcome.calls.length > 0) this.#subscriber.next({ type: 'tool', taskId, calls: outcome.calls });
      const usage = outcome.usage ?? NO_USAGE;
      this.#subscriber.next({
        type: 'settled',
        taskId,
        result: { status: 'fulfilled', taskId, value: outcome.text, usage, attempts, durationMs },
      });
      return;
    }
    const usage = outcome.kind === 'rejected' && outcome.usage !== undefined ? { usage: outcome.usage } : {};
    this.#subscriber.next({
      type: 'settled',
      taskId,
      result: { status: 'rejected', taskId, error: outcome.error, ...usage, attempts, durationMs },
    });
  }

  #completeIfDone(): void {
    if (this.#state !== 'ending' || this.#waiting.size > 0) return;
    this.stop();
    this.#subscriber.complete();
  }
}

/** What a finished batch says of a task its files do not mention, from the batch's status. */
function withoutResult(batch: Batch, id: string, line: number): BatchOutcome {
  switch (batch.status) {
    case 'failed': {
      const errors = batch.errors?.data ?? [];
      const own = errors.find((e) => e.line === line);
      const first = own ?? errors[0];
      const what =
        first === undefined
          ? 'no reason given'
          : `${first.message ?? ''} (${first.code ?? 'no code'}${first.line == null ? '' : `, line ${first.line}`})`;
      const error = new ProviderError({
        type: 'batch_failed',
        ...(first?.code === undefined ? {} : { code: first.code }),
        // Only the line named is at fault; the others, and a limit on the whole batch, may pass another time.
        retryable: own === undefined,
        message: `Batch ${batch.id} failed validation${own === undefined ? '' : ` at task "${id}"`}: ${what}`,
      });
      return { kind: 'rejected', error };
    }
    case 'expired':
      return {
        kind: 'not-run',
        error: new ProviderError({
          type: 'batch_expired',
          retryable: true,
          message: `Batch ${batch.id} expired before it ran task "${id}"`,
        }),
      };
    case 'cancelled':
      return {
        kind: 'not-run',
        error: new ProviderError({
          type: 'batch_cancelled',
          retryable: false,
          message: `Batch ${batch.id} was cancelled before it ran task "${id}"`,
        }),
      };
    default:
      return {
        kind: 'rejected',
        error: new ProviderError({
          type: 'missing_result',
          message: `Batch ${batch.id} ${batch.status} without a result for task "${id}"`,
        }),
      };
  }
}

/** The outcome with its usage priced at the batch rate. */
function priced(outcome: BatchOutcome, price: Price): BatchOutcome {
  if (outcome.kind === 'not-run' || outcome.usage === undefined) return outcome;
  const usage: Usage = { ...outcome.usage, cost: costOf(price, outcome.usage) * BATCH_DISCOUNT };
  return { ...outcome, usage };
}

function asProviderError(error: RxAgentError): ProviderError {
  return error instanceof ProviderError
    ? error
    : new ProviderError({ type: 'batch_error', message: error.message, cause: error });
}
