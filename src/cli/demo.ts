import { asyncScheduler, defer, finalize, lastValueFrom, map, tap, timer } from 'rxjs';
import { z } from 'zod';
import { createBudget } from '../budget/create-budget.js';
import type { Agent, Task } from '../core/types.js';
import { simulatedModel } from '../models/simulated.js';
import { allSettled } from '../operators/all-settled.js';
import { runAgents } from '../operators/run-agents.js';
import { runPlan } from '../operators/run-plan.js';
import { fromTasks } from '../sources/from-tasks.js';
import { defineTool } from '../tools/define-tool.js';
import type { CommandIo } from './command-io.js';
import { serveUntilInterrupt } from './serve-command.js';

/** The flags of `rxagent demo`, parsed. */
export interface DemoOptions {
  readonly serve: boolean;
  readonly port: number;
}

interface Pattern {
  readonly title: string;
  /** Runs the pattern, drawing a live line; resolves with a summary and the time the work took step by step. */
  readonly run: (live: (line: string) => void) => Promise<{ summary: string; sequentialMs: number }>;
}

const TOPIC = 'grid-scale batteries';

/**
 * `rxagent demo` (what `npm start` runs): the four patterns of the toolkit on the simulated model, offline,
 * each with a live line and its speed-up against running the same work one step after another.
 */
export async function demoCommand(options: DemoOptions, io: CommandIo): Promise<number> {
  io.stderr.write('rxagent demo: using the simulated model (offline, seeded)\n\n');
  const live = liveLine(io.stderr);
  for (const [index, pattern] of PATTERNS.entries()) {
    io.stdout.write(`${index + 1}. ${pattern.title}\n`);
    const started = asyncScheduler.now();
    const { summary, sequentialMs } = await pattern.run(live.draw);
    const wallMs = asyncScheduler.now() - started;
    live.clear();
    io.stdout.write(
      `   ${summary}\n   ${seconds(wallMs)} against ${seconds(sequentialMs)} one after another: ${(sequentialMs / wallMs).toFixed(1)}× faster\n\n`,
    );
  }
  if (options.serve) {
    await serveUntilInterrupt(
      { agent: simulatedModel({ seed: 7 }), port: options.port, pool: { concurrency: 8 } },
      io,
    );
  }
  return 0;
}

const PATTERNS: readonly Pattern[] = [
  {
    title: `Research fan-out: four questions on ${TOPIC} at once, partial results kept`,
    run: async (live) => {
      const questions = ['history', 'chemistry', 'costs', 'open problems'].map<Task>((aspect, i) => ({
        id: aspect,
        input: `Write the ${aspect} section of a report on ${TOPIC}.`,
        maxOutputTokens: 40 + i * 10,
      }));
      // One section fails on every attempt, as providers sometimes do: the report goes out without it.
      const agent = timed(
        simulatedModel({
          seed: 3,
          latency: { minMs: 200, maxMs: 500 },
          tokensPerSecond: 60,
          failures: { on: (task) => (task.id === 'costs' ? 'error' : 'none') },
        }),
      );
      const all = await lastValueFrom(
        fromTasks(questions).pipe(
          runAgents(agent, { concurrency: 4, timeoutMs: 10_000, retry: { maxRetries: 1, baseDelayMs: 100 } }),
          tapProgress(live, questions.length, {}),
          allSettled(),
        ),
      );
      return {
        summary: `${all.fulfilled}/${all.total} sections completed (${rejectedIds(all.results)} failed after its retry)`,
        sequentialMs: agent.busyMs(),
      };
    },
  },
  {
    title: 'A pool of 5 over 50 documents, each pulled from its source only when a slot is free',
    run: async (live) => {
      const docs = Array.from({ length: 50 }, (_, i) => `Summarize document ${i + 1} in two sentences.`);
      const agent = timed(
        simulatedModel({ seed: 5, latency: { minMs: 100, maxMs: 300 }, tokensPerSecond: 200 }),
      );
      const seen = { peak: 0 };
      const all = await lastValueFrom(
        fromTasks(docs.map<Task>((input, i) => ({ id: `doc-${i + 1}`, input, maxOutputTokens: 30 }))).pipe(
          runAgents(agent, { concurrency: 5 }),
          tapProgress(live, docs.length, seen),
          allSettled(),
        ),
      );
      return {
        summary: `${all.summary}, at most ${seen.peak} running at once`,
        sequentialMs: agent.busyMs(),
      };
    },
  },
  {
    title:
      'A tool DAG: three searches, a summary of them, then a save; each step starts when its inputs exist',
    run: async (live) => {
      const search = defineTool({
        name: 'search',
        input: z.object({ query: z.string() }),
        run: ({ query }) =>
          lastValueFrom(timer(400 + query.length * 10).pipe(map(() => ({ top: `best source on ${query}` })))),
      });
      const summarize = defineTool({
        name: 'summarize',
        input: z.object({ text: z.string() }),
        run: ({ text }) => lastValueFrom(timer(500).pipe(map(() => `summary of: ${text}`))),
      });
      const save = defineTool({
        name: 'save',
        input: z.object({ doc: z.string() }),
        parallel: false,
        run: ({ doc }) => lastValueFrom(timer(200).pipe(map(() => `saved ${doc.length} characters`))),
      });
      const plan = [
        { id: 's1', tool: 'search', args: { query: 'solid-state batteries' } },
        { id: 's2', tool: 'search', args: { query: 'sodium-ion batteries' } },
        { id: 's3', tool: 'search', args: { query: 'flow batteries' } },
        { id: 'sum', tool: 'summarize', args: { text: '${s1.top} vs ${s2.top} vs ${s3.top}' } },
        { id: 'out', tool: 'save', args: { doc: '$sum' } },
      ];
      let sequentialMs = 0;
      let settled = 0;
      let running = 0;
      let peak = 0;
      await lastValueFrom(
        runPlan(plan, [search, summarize, save], { concurrency: 4 }).pipe(
          tap((event) => {
            if (event.type === 'node-started') {
              peak = Math.max(peak, ++running);
              live(`   running ${event.id} (${event.tool})`);
            } else {
              if (event.result.attempts > 0) running--;
              settled++;
              sequentialMs += event.result.durationMs;
              live(`   ${event.id} ${event.result.status} — ${settled}/${plan.length} nodes`);
            }
          }),
        ),
      );
      return {
        summary: `${settled}/${plan.length} nodes settled, up to ${peak} steps running at once`,
        sequentialMs,
      };
    },
  },
  {
    title: 'A throttled batch: 40 prompts paced by a 60,000 tokens/minute budget (1,000 tokens a second)',
    run: async (live) => {
      const budget = createBudget({ tokensPerMinute: 60_000 });
      let peakWaiting = 0;
      const watch = budget.state$.subscribe((state) => {
        peakWaiting = Math.max(peakWaiting, state.waiting);
      });
      const provider = simulatedModel({
        seed: 9,
        latency: { minMs: 100, maxMs: 200 },
        tokensPerSecond: 300,
        rateLimit: { tokensPerMinute: 60_000 },
      });
      const agent = timed(provider);
      const prompts = Array.from({ length: 40 }, (_, i) => ({
        id: `p${i + 1}`,
        input: `Classify ticket ${i + 1} by urgency.`,
        maxOutputTokens: 120,
      }));
      const all = await lastValueFrom(
        fromTasks(prompts).pipe(
          runAgents(agent, { concurrency: 10, budget }),
          tapProgress(live, prompts.length, {}),
          allSettled(),
        ),
      );
      watch.unsubscribe();
      return {
        summary: `${all.summary}; up to ${peakWaiting} tasks waited for the budget, the provider answered 429 ${provider.stats.rateLimited} times`,
        sequentialMs: agent.busyMs(),
      };
    },
  },
];

function tapProgress<E extends { type: string }>(
  live: (line: string) => void,
  total: number,
  seen: { peak?: number },
) {
  let done = 0;
  let running = 0;
  return tap<E>((event) => {
    if (event.type === 'started') running++;
    if (event.type === 'settled') {
      done++;
      running = Math.max(0, running - 1);
    }
    seen.peak = Math.max(seen.peak ?? 0, running);
    live(`   ${done}/${total} settled, ${running} running`);
  });
}

/** An agent that adds up the time its runs take, which is what running them one after another would cost. */
function timed(agent: Agent): Agent & { busyMs: () => number } {
  let busy = 0;
  return {
    run: (task, context) =>
      defer(() => {
        const start = asyncScheduler.now();
        return agent.run(task, context).pipe(
          finalize(() => {
            busy += asyncScheduler.now() - start;
          }),
        );
      }),
    busyMs: () => busy,
  };
}

function rejectedIds(results: readonly { status: string; taskId: string }[]): string {
  return results
    .filter((r) => r.status === 'rejected')
    .map((r) => `"${r.taskId}"`)
    .join(', ');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function liveLine(stream: CommandIo['stderr']): { draw: (line: string) => void; clear: () => void } {
  const tty = stream.isTTY === true;
  return {
    draw: (line) => {
      if (tty) stream.write(`\r\x1b[2K${line}`);
    },
    clear: () => {
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}
