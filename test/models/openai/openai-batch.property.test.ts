// Settle-once for openaiBatch: over random workloads and faults on a real HTTP server — requests that fail,
// batches that expire, fail validation or are cancelled by someone else, uploads and polls that 5xx, answers
// to create that get lost, duplicate ids, invalid lines, and subscribers that leave — every task that enters
// settles exactly once, or (unsubscribed) not at all and its batches are cancelled.
import fc from 'fast-check';
import OpenAI from 'openai';
import { from, type Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors/index.js';
import { InvalidTask } from '../../../src/core/invalid-task.js';
import type { Task, TaskEvent } from '../../../src/core/types.js';
import { openaiBatch } from '../../../src/models/openai/openai-batch.js';
import type { ApiRoute, BatchCue } from '../../support/openai-batch-api.js';
import { startOpenAIServer, type OpenAIServer } from '../../support/openai-server.js';

/** A server of its own for each run, so no cue of one run is left for the next. */
async function startServer(): Promise<OpenAIServer> {
  const server = await startOpenAIServer({ batchStepMs: 2 });
  server.when('[bad]', { status: 400 });
  server.when('[busy]', { status: 503 });
  return server;
}

const taskKind = fc.constantFrom('ok', 'ok', 'bad', 'busy', 'invalid', 'duplicate');
const batchCue: fc.Arbitrary<BatchCue | 'cancel'> = fc.oneof(
  fc.constant({}),
  fc.record({ expireAfter: fc.nat(3) }),
  fc.record({ fail: fc.record({ line: fc.integer({ min: 1, max: 3 }) }) }),
  fc.constant('cancel' as const),
);
const apiFault = fc.record({
  route: fc.constantFrom<ApiRoute>('upload', 'create', 'retrieve', 'content', 'list'),
  status: fc.constantFrom(500, 503, 400),
  afterWork: fc.boolean(),
});

describe('openaiBatch settles every task exactly once', () => {
  it('under random workloads and faults', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(taskKind, { minLength: 1, maxLength: 8 }),
        fc.array(batchCue, { maxLength: 3 }),
        fc.array(apiFault, { maxLength: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
        async (kinds, cues, faults, maxRequestsPerFile, leaveAfterMs) => {
          const server = await startServer();
          try {
            await check(server, kinds, cues, faults, maxRequestsPerFile, leaveAfterMs);
          } finally {
            await server.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});

async function check(
  server: OpenAIServer,
  kinds: readonly string[],
  cues: readonly (BatchCue | 'cancel')[],
  faults: readonly { route: ApiRoute; status: number; afterWork: boolean }[],
  maxRequestsPerFile: number,
  leaveAfterMs: number | undefined,
): Promise<void> {
  const run = 0;
  const cancels = new Set<number>();
  cues.forEach((cue, i) => {
    if (cue === 'cancel') {
      cancels.add(run + i);
      server.cueBatch({ holdIn: 'in_progress' });
    } else server.cueBatch(cue);
  });
  for (const fault of faults) server.cueApi(fault.route, fault);
  const items: (Task | InvalidTask)[] = kinds.map((kind, i) =>
    kind === 'invalid'
      ? new InvalidTask(`line-${run}-${i}`, new ValidationError({ issues: [], source: `line ${i}` }))
      : { id: kind === 'duplicate' && i > 0 ? `t${run}-0` : `t${run}-${i}`, input: `[${kind}] ${i}` },
  );
  const ids = items.map((item) => (item instanceof InvalidTask ? item.taskId : item.id));
  const events: TaskEvent[] = [];
  let subscription: Subscription | undefined;
  const ended = new Promise<'complete' | 'left'>((resolve, reject) => {
    subscription = from(items)
      .pipe(
        openaiBatch({
          model: 'test-model',
          baseURL: server.url,
          env: {},
          pollIntervalMs: 2,
          maxPollIntervalMs: 8,
          maxRetries: 2,
          maxRequestsPerFile,
        }),
      )
      .subscribe({
        next: (event) => events.push(event),
        error: reject,
        complete: () => {
          resolve('complete');
        },
      });
    if (leaveAfterMs !== undefined) {
      setTimeout(() => {
        subscription?.unsubscribe();
        resolve('left');
      }, leaveAfterMs);
    }
  });
  // Someone else cancels the batches cued for it, once they run.
  const client = new OpenAI({ apiKey: 'k', baseURL: server.url, maxRetries: 0 });
  const canceller = setInterval(() => {
    for (const index of cancels) {
      const batch = server.batches[index];
      if (batch?.object.status !== 'in_progress') continue;
      cancels.delete(index);
      client.batches.cancel(batch.object.id).catch(() => undefined);
    }
  }, 2);
  const how = await ended.finally(() => {
    clearInterval(canceller);
  });

  const settled = events.flatMap((e) => (e.type === 'settled' ? [e.taskId] : []));
  const count = (list: readonly string[]) => {
    const counts = new Map<string, number>();
    for (const id of list) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  };
  if (how === 'complete') {
    expect([...count(settled)].sort()).toEqual([...count(ids)].sort());
  } else {
    for (const [id, n] of count(settled)) expect(n).toBeLessThanOrEqual(count(ids).get(id) ?? 0);
    // Every batch still holding an unsettled task is cancelled (one whose create was under way, once answered).
    const unsettled = (batch: (typeof server.batches)[number]) =>
      (server.files.get(batch.object['input_file_id'] as string)?.content.toString() ?? '')
        .split('\n')
        .filter((line) => line !== '')
        .some((line) => !settled.includes((JSON.parse(line) as { custom_id: string }).custom_id));
    const FINISHED = ['completed', 'failed', 'expired', 'cancelled', 'cancelling'];
    await waitUntil(() => server.batches.every((b) => FINISHED.includes(b.object.status) || !unsettled(b)));
  }
  const started = events.flatMap((e) => (e.type === 'started' ? [e.taskId] : []));
  expect(new Set(started).size).toBe(started.length);
  // No batch holds a custom_id twice, and no file became two batches.
  const files = server.batches.map((b) => b.object.input_file_id);
  expect(new Set(files).size).toBe(files.length);
}

/** Resolves once `predicate` holds, checking every few ms; fails the run after 20 s (a loaded machine is slow). */
async function waitUntil(predicate: () => boolean): Promise<void> {
  for (let waited = 0; !predicate(); waited += 5) {
    if (waited > 20_000) throw new Error('still not true after 20 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
