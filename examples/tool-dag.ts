// The plan from the tool-DAG issue on simulated tools: two searches run at once, the summary starts the
// moment both have results, the save after it. Run with `npx tsx examples/tool-dag.ts`.
import { asyncScheduler, map, timer } from 'rxjs';
import { z } from 'zod';
import { defineTool, runPlan } from 'rxagent';

const latency = (ms: number) => timer(ms);

const search = defineTool({
  name: 'search',
  input: z.object({ query: z.string() }),
  run: ({ query }) => latency(query.length * 15).pipe(map(() => ({ top: `${query}: best paper`, hits: 42 }))),
});
const summarize = defineTool({
  name: 'summarize',
  input: z.object({ text: z.string() }),
  durationHint: 3,
  run: ({ text }) => latency(300).pipe(map(() => `Summary of ${text}`)),
});
const save = defineTool({
  name: 'save',
  input: z.object({ doc: z.string() }),
  parallel: false,
  run: ({ doc }) => latency(100).pipe(map(() => `saved ${doc.length} chars`)),
});

const plan = [
  { id: 's1', tool: 'search', args: { query: 'solid-state batteries' } },
  { id: 's2', tool: 'search', args: { query: 'sodium-ion batteries' } },
  { id: 'sum', tool: 'summarize', args: { text: '${s1.top} vs ${s2.top}' } },
  { id: 'out', tool: 'save', args: { doc: '$sum' } },
];

const start = asyncScheduler.now();
const at = () => `${String(asyncScheduler.now() - start).padStart(4)} ms`;
let sequential = 0;
runPlan(plan, [search, summarize, save], { concurrency: 4 }).subscribe({
  next: (event) => {
    if (event.type === 'node-started') {
      console.log(`${at()}  start  ${event.id} (${event.tool})`);
      return;
    }
    const { result } = event;
    sequential += result.durationMs;
    const outcome = result.status === 'fulfilled' ? JSON.stringify(result.value) : result.error.message;
    console.log(`${at()}  end    ${event.id} after ${result.durationMs} ms: ${outcome}`);
  },
  complete: () => {
    const total = asyncScheduler.now() - start;
    console.log(
      `\nDone in ${total} ms; one call after another would take ${sequential} ms (saved ${sequential - total} ms).`,
    );
  },
});
