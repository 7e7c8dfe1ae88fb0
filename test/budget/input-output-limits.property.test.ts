// Anthropic-style separate limits: a provider that keeps a strict 60 s window of input tokens (ITPM) and one
// of output tokens (OTPM), charging the output cap at admission and adjusting it to the real output when the
// run reports usage. Whole batches run against simulatedModel in virtual time, with an input estimator off by
// up to ±10 %; no 60 s window may exceed either limit.
import fc from 'fast-check';
import { VirtualTimeScheduler, from } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createBudget } from '../../src/budget/create-budget.js';
import { textOf } from '../../src/core/agent-event.js';
import type { Task } from '../../src/core/types.js';
import { simulatedModel, type AdmittedRequest } from '../../src/models/simulated.js';
import { countTokens } from '../../src/models/simulated-text.js';
import { runAgents } from '../../src/operators/run-agents.js';

const MINUTE = 60_000;

interface Batch {
  readonly tasks: number;
  /** Minutes of the input limit the batch needs. */
  readonly inputWindows: number;
  /** Minutes of the output limit the batch needs (of its real output). */
  readonly outputWindows: number;
  /** Output cap of every task; the real output is a fixed share of it. */
  readonly cap: number;
  readonly share: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly bias: number;
}

/** The most a 60 s window of admissions holds, by `amount`. */
function busiest(admitted: readonly AdmittedRequest[], amount: (e: AdmittedRequest) => number): number {
  let max = 0;
  let sum = 0;
  let tail = 0;
  for (const entry of admitted) {
    sum += amount(entry);
    for (let e = admitted[tail]; e !== undefined && e.at + MINUTE <= entry.at; e = admitted[++tail]) {
      sum -= amount(e);
    }
    max = Math.max(max, sum);
  }
  return max;
}

function run(batch: Batch) {
  const scheduler = new VirtualTimeScheduler(undefined, Number.POSITIVE_INFINITY);
  let seed = batch.seed;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const tasks: Task[] = Array.from({ length: batch.tasks }, (_, i) => ({
    id: `t${i}`,
    input: `Note ${i}: ${'lorem ipsum '.repeat(1 + Math.floor(random() * 60))}`,
    maxOutputTokens: batch.cap,
  }));
  const output = Math.max(1, Math.round(batch.cap * batch.share));
  const input = tasks.reduce((sum, t) => sum + countTokens(textOf(t)), 0);
  const inputTokensPerMinute = Math.ceil(input / batch.inputWindows);
  // At least one cap, so that every request can be admitted.
  const outputTokensPerMinute = Math.max(batch.cap, Math.ceil((output * batch.tasks) / batch.outputWindows));
  const model = simulatedModel({
    seed: batch.seed,
    scheduler,
    latency: { minMs: 100, maxMs: 400 },
    tokensPerSecond: 400,
    outputTokens: output,
    rateLimit: { inputTokensPerMinute, outputTokensPerMinute },
  });
  // A full minute of burst: Anthropic documents its limits as a bucket that holds the whole minute. With a
  // short burst, an output reserve larger than the burst would hold the bucket in debt until its run ends.
  const budget = createBudget({ inputTokensPerMinute, outputTokensPerMinute, burst: 60, scheduler });
  const estimate = (task: Task): number =>
    Math.max(1, Math.round(countTokens(textOf(task)) * (1 + batch.bias))) + batch.cap;
  let fulfilled = 0;
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
    });
  scheduler.flush();
  const { admitted, rateLimited } = model.stats;
  return {
    rateLimited,
    fulfilled,
    busiestInput: busiest(admitted, (e) => e.inputTokens ?? 0) / inputTokensPerMinute,
    busiestOutput: busiest(admitted, (e) => e.outputTokens ?? 0) / outputTokensPerMinute,
  };
}

const batches = fc.record({
  tasks: fc.integer({ min: 150, max: 400 }),
  inputWindows: fc.integer({ min: 2, max: 5 }),
  outputWindows: fc.integer({ min: 2, max: 5 }),
  cap: fc.integer({ min: 50, max: 800 }),
  share: fc.double({ min: 0.1, max: 1, noNaN: true }),
  concurrency: fc.integer({ min: 8, max: 64 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  bias: fc.double({ min: -0.1, max: 0.1, noNaN: true }),
});

describe('a budget with input and output limits against a provider enforcing both (ITPM/OTPM)', () => {
  it('never lets a 60 s window exceed either limit, and is never answered 429', () => {
    fc.assert(
      fc.property(batches, (batch) => {
        const outcome = run(batch);
        expect(outcome.rateLimited).toBe(0);
        expect(outcome.fulfilled).toBe(batch.tasks);
        expect(outcome.busiestInput).toBeLessThanOrEqual(1);
        expect(outcome.busiestOutput).toBeLessThanOrEqual(1);
      }),
      { numRuns: 20, seed: 20_270_101 },
    );
  }, 120_000);
});
