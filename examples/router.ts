// Three OpenAI-compatible servers as one agent: `router` spreads 500 prompts over "east" (60,000 tokens/min)
// and "west" (30,000 tokens/min, flaky: 503 to a fifth of its requests), with "backup" (20,000 tokens/min) as
// a fallback that serves only when neither primary can. Each deployment has its own budget, so no server is
// pushed past its limit; a live line shows each one's runs in flight, headroom and cooldown.
// The servers run in this process on free ports (test/support/openai-server.ts), so it runs offline.
// Run: npx tsx examples/router.ts
import { from, interval, lastValueFrom, tap } from 'rxjs';
import { createBudget, router, runAgents } from 'rxagent';
import type { DeploymentConfig, RouterState, Task } from 'rxagent';
import { openaiModel } from 'rxagent/openai';
import { startOpenAIServer, type OpenAIServer } from '../test/support/openai-server.js';

const PROMPTS = 500;
const east = await startOpenAIServer({ tokensPerMinute: 60_000 });
const west = await startOpenAIServer({ tokensPerMinute: 30_000 });
const backup = await startOpenAIServer({ tokensPerMinute: 20_000 });
// West answers 503 to the prompts whose number ends in 3 or 7, east to those ending in 7: those fail on
// both primaries, and their third attempt goes to the fallback.
west.when('3.', { status: 503 });
west.when('7.', { status: 503 });
east.when('7.', { status: 503 });

const deployment = (
  id: string,
  server: OpenAIServer,
  tokensPerMinute: number,
  role: 'primary' | 'fallback' = 'primary',
): DeploymentConfig => ({
  id,
  role,
  agent: openaiModel({
    model: 'gpt-4o-mini',
    baseURL: server.url,
    apiKey: 'local',
    defaultMaxOutputTokens: 20,
  }),
  // Five seconds of burst gets the batch going; the 60 s log keeps every window within the server's limit.
  budget: createBudget({ tokensPerMinute, burst: 5 }),
});

const agent = router({
  deployments: [
    deployment('east', east, 60_000),
    deployment('west', west, 30_000),
    deployment('backup', backup, 20_000, 'fallback'),
  ],
  strategy: 'most-headroom',
});

const tasks: Task[] = Array.from({ length: PROMPTS }, (_, i) => ({
  id: `p${i + 1}`,
  input: `Name a colour, #${i + 1}.`,
  maxOutputTokens: 20,
}));

let state: RouterState | undefined;
agent.state$.subscribe((s) => (state = s));
let settled = 0;
let fulfilled = 0;
const line = (): void => {
  const parts = (state?.deployments ?? []).map((d) => {
    const cooling = d.coolingUntil === null ? '' : ', cooling';
    return `${d.id} ${d.inFlight} in flight, headroom ${d.headroom.toFixed(2)}, ${d.fulfilled} done${cooling}`;
  });
  process.stderr.write(`\r${settled}/${PROMPTS} settled · ${parts.join(' · ')}   `);
};
const ticker = interval(250).subscribe(line);

await lastValueFrom(
  from(tasks).pipe(
    runAgents(agent, { concurrency: 32 }),
    tap((event) => {
      if (event.type !== 'settled') return;
      settled++;
      if (event.result.status === 'fulfilled') fulfilled++;
    }),
  ),
);
ticker.unsubscribe();
line();
process.stderr.write('\n');
const servers = { east, west, backup };
const served = Object.entries(servers)
  .map(([id, server]) => `${id} ${server.requests.filter((r) => r.status === 200).length}`)
  .join(', ');
const limited = east.rateLimited + west.rateLimited + backup.rateLimited;
await Promise.all(Object.values(servers).map((server) => server.close()));
console.log(`${PROMPTS} prompts: ${fulfilled} fulfilled; answered by ${served}; ${limited} answered 429.`);
