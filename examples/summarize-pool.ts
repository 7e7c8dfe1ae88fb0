// A pool of 5 summarizing 50 documents for code that is not written as streams: the producer waits for
// room in the queue instead of overflowing it, then drains the pool.
// Run: npx tsx examples/summarize-pool.ts
import { filter, firstValueFrom } from 'rxjs';
import { AgentPool } from 'rxagent';
import { defaultAgent } from 'rxagent/openai';

const QUEUE_LIMIT = 10;
const documents = Array.from(
  { length: 50 },
  (_, i) => `Document ${i + 1}: quarterly notes on project ${i % 7}.`,
);

const agentPool = new AgentPool({
  agent: defaultAgent({ simulated: { seed: 5, latency: { minMs: 5, maxMs: 30 }, tokensPerSecond: 2_000 } }),
  concurrency: 5,
  queueLimit: QUEUE_LIMIT,
  timeoutMs: 5_000,
  onQueueFull: (task) => {
    console.warn(`queue full, ${task.id} refused`);
  },
});

let peakQueued = 0;
agentPool.state$.subscribe((state) => {
  peakQueued = Math.max(peakQueued, state.queued);
});

const summaries: Promise<unknown>[] = [];
for (const doc of documents) {
  // Backpressure for imperative code: wait until the queue has room rather than being refused.
  await firstValueFrom(agentPool.state$.pipe(filter((state) => state.queued < QUEUE_LIMIT)));
  summaries.push(agentPool.submit(`Summarize: ${doc}`));
}
await agentPool.drain();

const outcomes = await Promise.allSettled(summaries);
const done = outcomes.filter((o) => o.status === 'fulfilled').length;
const { meanWaitMs, usage } = agentPool.state;
console.log(`peak queue depth ${peakQueued} (limit ${QUEUE_LIMIT}), mean wait ${meanWaitMs.toFixed(0)} ms`);
console.log(`tokens: ${usage.inputTokens} in, ${usage.outputTokens} out`);
console.log(`${done}/${documents.length} documents summarized`);
