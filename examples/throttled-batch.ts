// 200 prompts under a 20,000 tokens/minute budget, against a simulated provider that enforces the same limit
// as a strict sliding window: the pool slows down instead of being answered 429. Prompts are short (about
// 30 tokens each, output included) so the batch finishes in about ten seconds.
// Run: npx tsx examples/throttled-batch.ts
import { from, interval, lastValueFrom, tap } from 'rxjs';
import { createBudget, runAgents } from 'rxagent';
import type { Task } from 'rxagent';
import { defaultAgent } from 'rxagent/openai';

const TOKENS_PER_MINUTE = 20_000;
// Offline, the simulated provider enforces the limit itself, so a 429 would show in its stats.
const model = defaultAgent({
  simulated: {
    seed: 3,
    latency: { minMs: 50, maxMs: 150 },
    tokensPerSecond: 200,
    rateLimit: { tokensPerMinute: TOKENS_PER_MINUTE },
  },
});
const stats = model.kind === 'simulated' ? model.stats : undefined;
// A five-second burst gets the batch going; the 60 s log keeps every window within the limit.
const budget = createBudget({ tokensPerMinute: TOKENS_PER_MINUTE, burst: 5, model: 'gpt-4o-mini' });
const tasks: Task[] = Array.from({ length: 200 }, (_, i) => ({
  id: `p${i + 1}`,
  input: `Name a colour, #${i + 1}.`,
  maxOutputTokens: 20,
}));

let settled = 0;
let waiting = 0;
let spent = 0;
budget.state$.subscribe((state) => {
  waiting = state.waiting;
  spent = state.spent;
});
const started = Date.now();
const line = (): void => {
  // What the provider counted in the last 60 s: its sliding window, which must stay within the limit.
  const since = Date.now() - 60_000;
  const tokens = stats?.admitted.reduce((sum, r) => (r.at > since ? sum + r.tokens : sum), 0) ?? 0;
  process.stderr.write(
    `\r${settled}/200 settled · ${tokens}/${TOKENS_PER_MINUTE} tokens in the last minute · ${waiting} waiting for the budget · $${spent.toFixed(5)} · ${String(stats?.rateLimited ?? 0)} × 429   `,
  );
};
const ticker = interval(250).subscribe(line);

await lastValueFrom(
  from(tasks).pipe(
    runAgents(model, { concurrency: 20, budget }),
    tap((event) => {
      if (event.type === 'settled') settled++;
    }),
  ),
);
ticker.unsubscribe();
line();
process.stderr.write('\n');
console.log(
  `200 prompts in ${((Date.now() - started) / 1000).toFixed(1)} s, ${String(stats?.rateLimited ?? 0)} answered 429.`,
);
