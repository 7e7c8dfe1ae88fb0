// Four research questions on one topic, asked in parallel; the report uses whatever came back.
// Run: npx tsx examples/research-fanout.ts
import { from, lastValueFrom, tap } from 'rxjs';
import { allSettled, runAgents } from 'rxagent';
import type { Task } from 'rxagent';
import { defaultAgent } from 'rxagent/openai';

const topic = 'solid-state batteries';
const sections: Task[] = [
  { id: 'history', input: `Summarize the history of ${topic}.` },
  { id: 'chemistry', input: `Explain the chemistry behind ${topic}.` },
  { id: 'market', input: `Who are the main companies working on ${topic}?` },
  { id: 'risks', input: `What are the open risks of ${topic}?` },
];

// A real provider when OPENAI_API_KEY or OPENAI_BASE_URL is set; else the offline simulated model, set up to fail.
const model = defaultAgent({
  simulated: {
    seed: 3,
    latency: { minMs: 20, maxMs: 80 },
    tokensPerSecond: 500,
    failures: {
      // 'market' hits one transient 503 and recovers on retry; 'risks' keeps failing and is reported missing.
      on: (task, attempt) =>
        task.id === 'risks' || (task.id === 'market' && attempt === 1) ? 'error' : undefined,
      status: 503,
    },
  },
});
console.log(`using ${model.description}`);
const report = await lastValueFrom(
  from(sections).pipe(
    runAgents(model, { concurrency: 4, timeoutMs: 5_000, retry: { maxRetries: 1, baseDelayMs: 20 } }),
    tap((event) => {
      if (event.type === 'retry') console.log(`  (${event.taskId}: retrying after ${event.error.code})`);
    }),
    allSettled(),
  ),
);

console.log(`# ${topic}\n`);
for (const result of report.results) {
  if (result.status === 'fulfilled') {
    console.log(`## ${result.taskId}\n${result.value.slice(0, 120)}…\n`);
  } else {
    console.log(`## ${result.taskId}\n(missing: ${result.error.code} after ${result.attempts} attempts)\n`);
  }
}
console.log(`${report.fulfilled}/${report.total} sections completed`);
