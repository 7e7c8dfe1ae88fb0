// No estimate of a request's tokens is exact: another model's tokenizer, message framing, tool schemas. A budget
// that runs at the provider's limit must absorb that error, or it is answered 429 by a strict sliding window
// for every token it under-counts. These properties run whole batches against simulatedModel's strict 60 s
// window in virtual time, with an estimator off by up to ±10 % from what the provider counts.
import fc from 'fast-check';
import { VirtualTimeScheduler, from } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { textOf } from '../../src/core/agent-event.js';
import type { Task } from '../../src/core/types.js';
import { simulatedModel } from '../../src/models/simulated.js';
import { countTokens } from '../../src/models/simulated-text.js';
import { runAgents } from '../../src/operators/run-agents.js';

interface Outcome {
  readonly rateLimited: number;
  readonly fulfilled: number;
  /** The fluid bound (every token the provider charged, at exactly its rate) over the makespan. */
  readonly efficiency: number;
}

interface Batch {
  readonly tasks: number;
  /** How many minutes of the provider's limit the batch needs. */
  readonly windows: number;
  readonly output: number;
  readonly capOnModel: boolean;
  readonly concurrency: number;
  readonly burst: number;
  readonly seed: number;
  /** The estimator's systematic error, as a fraction of what the provider counts. */
  readonly bias: number;
  /** Its per-task error on top, up to this fraction either way. */
  readonly noise: number;
}

function run(batch: Batch): Outcome {
  const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
  let seed = batch.seed;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const tasks: Task[] = Array.from({ length: batch.tasks }, (_, i) => ({
    id: `t${i}`,
    input: `Note ${i}: ${'lorem ipsum '.repeat(1 + Math.floor(random() * 60))}`,
    ...(batch.capOnModel ? {} : { maxOutputTokens: batch.output }),
  }));
  const charged = tasks.reduce((sum, t) => sum + countTokens(textOf(t)) + batch.output, 0);
  const tokensPerMinute = Math.ceil(charged / batch.windows);
  const model = simulatedModel({
    seed: batch.seed,
    scheduler,
    latency: { minMs: 100, maxMs: 400 },
    tokensPerSecond: 400,
    outputTokens: Math.ceil(batch.output / 2),
    ...(batch.capOnModel ? { maxOutputTokens: batch.output } : {}),
    rateLimit: { tokensPerMinute },
  });
  const budget = createBudget({ tokensPerMinute, burst: batch.burst, scheduler });
  const errors = new Map(tasks.map((t) => [t.id, batch.bias + (random() * 2 - 1) * batch.noise]));
  // An estimator that is off: the provider's count times (1 + error), plus the output reserve.
  const estimate = (task: Task): number =>
    Math.max(1, Math.round(countTokens(textOf(task)) * (1 + (errors.get(task.id) ?? 0)))) +
    (task.maxOutputTokens ?? model.maxOutputTokens);
  let fulfilled = 0;
  let end = 0;
  from(tasks)
    .pipe(
      runAgents(model, {
        concurrency: batch.concurrency,
        budget,
        estimate,
        retry: { maxRetries: 5 },
        scheduler,
      }),
    )
    .subscribe({
      next: (event) => {
        if (event.type === 'settled' && event.result.status === 'fulfilled') fulfilled++;
      },
      complete: () => {
        end = scheduler.now();
      },
    });
  scheduler.flush();
  const bound = (charged / tokensPerMinute) * 60_000;
  return { rateLimited: model.stats.rateLimited, fulfilled, efficiency: bound / end };
}

const batches = fc.record({
  tasks: fc.integer({ min: 200, max: 500 }),
  windows: fc.integer({ min: 3, max: 6 }),
  output: fc.integer({ min: 20, max: 600 }),
  capOnModel: fc.boolean(),
  concurrency: fc.integer({ min: 8, max: 64 }),
  burst: fc.constantFrom(1, 2, 5),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  bias: fc.double({ min: -0.1, max: 0.1, noNaN: true }),
  noise: fc.double({ min: 0, max: 0.05, noNaN: true }),
});

describe('a budget against a strict sliding window, with an estimator off by up to ±10 %', () => {
  it('is never answered 429 and finishes within 5 % of the best possible makespan', () => {
    fc.assert(
      fc.property(batches, (batch) => {
        const outcome = run(batch);
        expect(outcome.rateLimited).toBe(0);
        expect(outcome.fulfilled).toBe(batch.tasks);
        expect(outcome.efficiency).toBeGreaterThanOrEqual(0.95);
      }),
      { numRuns: 25, seed: 20_261_201 },
    );
  }, 120_000);

  it('reserves the cap the model sends, not 1,024 tokens, when tasks set none', () => {
    const outcome = run({
      tasks: 300,
      windows: 4,
      output: 200,
      capOnModel: true,
      concurrency: 32,
      burst: 1,
      seed: 5,
      bias: 0,
      noise: 0,
    });
    expect(outcome.rateLimited).toBe(0);
    expect(outcome.efficiency).toBeGreaterThanOrEqual(0.95);
  });
});
