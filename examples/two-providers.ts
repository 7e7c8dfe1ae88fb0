// The same 100 prompts through an OpenAI model and an Anthropic model side by side, each under its own
// budget, printing per-provider usage (cached tokens included) and cost from the genai-prices catalog.
// With OPENAI_API_KEY and ANTHROPIC_API_KEY set it talks to the real APIs; without them each provider is a
// local server: an OpenAI-compatible one, and one that replays a Messages API stream recorded from Anthropic
// (a prompt answered partly from the cache), so the run is offline and still speaks each wire format.
// Run: npx tsx examples/two-providers.ts
import { readFileSync } from 'node:fs';
import { from, lastValueFrom } from 'rxjs';
import { addUsage, allSettled, costOf, createBudget, priceOf, runAgents } from 'rxagent';
import type { Agent, BudgetConfig, Task, Usage } from 'rxagent';
import { anthropicModel } from 'rxagent/anthropic';
import { openaiModel } from 'rxagent/openai';
import { startOpenAIServer } from '../test/support/openai-server.js';
import { startReplayServer } from '../test/support/replay-server.js';

const PROMPTS = 100;
const OPENAI_MODEL = 'gpt-4o-mini';
const ANTHROPIC_MODEL = 'claude-haiku-4-5';
const live = process.env['OPENAI_API_KEY'] !== undefined && process.env['ANTHROPIC_API_KEY'] !== undefined;

const openaiServer = live ? undefined : await startOpenAIServer();
const anthropicServer = live ? undefined : await startReplayServer();
if (anthropicServer !== undefined) {
  // Recorded from the Messages API (test/models/anthropic/fixtures/SOURCES.md: the Vercel AI SDK's
  // anthropic-code-execution prompt-cache chunks), framed as the SSE events Anthropic sends.
  const chunks = readFileSync(
    new URL(
      '../test/models/anthropic/fixtures/chunks/anthropic-code-execution-20260120-prompt-cache.1.chunks.txt',
      import.meta.url,
    ),
    'utf8',
  )
    .split('\n')
    .filter((line) => line.trim() !== '');
  const body = chunks
    .map((line) => `event: ${(JSON.parse(line) as { type: string }).type}\ndata: ${line}\n\n`)
    .join('');
  anthropicServer.queue(...Array.from({ length: PROMPTS }, () => ({ body })));
}

// Each provider's own kind of limit: OpenAI counts tokens per minute, Anthropic input (without cache reads)
// and output apart; the figures are the published tier-4 limits of these two models.
const providers: { name: string; model: string; agent: Agent; limits: BudgetConfig }[] = [
  {
    name: 'openai',
    model: OPENAI_MODEL,
    agent: openaiModel({
      model: OPENAI_MODEL,
      ...(openaiServer === undefined ? {} : { baseURL: openaiServer.url, apiKey: 'local' }),
    }),
    limits: { tokensPerMinute: 10_000_000, requestsPerMinute: 10_000 },
  },
  {
    name: 'anthropic',
    model: ANTHROPIC_MODEL,
    agent: anthropicModel({
      model: ANTHROPIC_MODEL,
      maxTokens: 256,
      ...(anthropicServer === undefined ? {} : { baseURL: anthropicServer.origin, apiKey: 'local' }),
    }),
    limits: { inputTokensPerMinute: 4_000_000, outputTokensPerMinute: 800_000, requestsPerMinute: 4_000 },
  },
];

const tasks: Task[] = Array.from({ length: PROMPTS }, (_, i) => ({
  id: `q${i + 1}`,
  input: `In one sentence, what is the number ${i + 1} known for?`,
  maxOutputTokens: 256,
}));

const reports = await Promise.all(
  providers.map(async ({ name, model, agent, limits }) => {
    const budget = createBudget({ ...limits, model: `${name}:${model}` });
    const all = await lastValueFrom(
      from(tasks).pipe(runAgents(agent, { concurrency: 8, budget }), allSettled()),
    );
    let usage: Usage = { inputTokens: 0, outputTokens: 0 };
    for (const result of all.results) if (result.usage !== undefined) usage = addUsage(usage, result.usage);
    const price = priceOf(`${name}:${model}`);
    return {
      name,
      model,
      summary: all.summary,
      usage,
      cost: price === undefined ? undefined : costOf(price, usage),
    };
  }),
);

for (const { name, model, summary, usage, cost } of reports) {
  console.log(
    `${name} ${model}: ${summary}; ${usage.inputTokens} input tokens (${usage.cachedInputTokens ?? 0} cached, ` +
      `${usage.cacheWriteTokens ?? 0} written to cache), ${usage.outputTokens} output; ` +
      (cost === undefined ? 'no price known' : `$${cost.toFixed(4)}`),
  );
}
await openaiServer?.close();
await anthropicServer?.close();
