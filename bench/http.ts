// `npm run bench -- http [--rounds 7] [--streams 2000] [--chunks 100] [--concurrency 50,200]`: end to end over
// HTTP. Every contender streams `--streams` chat completions of `--chunks` text deltas each from the same local
// OpenAI-compatible SSE server (test/support/openai-server.ts, no rate limit, no delay between chunks), which
// runs in a child process so that its CPU is not billed to the client. Client CPU per request
// (process.cpuUsage, user + system, GC included), wall time and per-request latency, medians over interleaved
// rounds with GC forced between; the server's CPU over the same wall time shows whether it kept up.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import pLimit from 'p-limit';
import type { Observable } from 'rxjs';
import type { Task, TaskEvent } from '../src/core/types.js';
import { openaiModel } from '../src/models/openai/openai.js';
import { runAgents } from '../src/operators/run-agents.js';
import { fromTasks } from '../src/sources/from-tasks.js';
import { startOpenAIServer } from '../test/support/openai-server.js';
import {
  conditions,
  interleave,
  listOption,
  median,
  numberOption,
  percentile,
  withSpread,
} from './_measure.js';

const MODEL = 'bench-model';
const API_KEY = 'bench';

interface Outcome {
  readonly texts: readonly string[];
  readonly deltas: number;
  /** Milliseconds from the start of each request to the end of its stream, in completion order. */
  readonly latencies: readonly number[];
}

type Contender = (tasks: readonly Task[], concurrency: number, url: string) => Promise<Outcome>;

/** One streamed completion through the SDK, drained as its README shows: text deltas counted and joined. */
async function sdkStream(client: OpenAI, task: Task, onDelta: () => void): Promise<string> {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: task.input as string }],
    stream: true,
    // openaiModel asks for usage too, so both read the same chunks.
    stream_options: { include_usage: true },
  });
  let text = '';
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta.content;
    if (content) {
      text += content;
      onDelta();
    }
  }
  return text;
}

/**
 * The least a client can do for the same answer: `fetch`, split the body into SSE events, `JSON.parse` each.
 * No typed errors, no retries, no abort: what the SDK's layers cost shows as the distance to this row.
 */
async function fetchStream(url: string, task: Task, onDelta: () => void): Promise<string> {
  const response = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: task.input }],
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
  const decoder = new TextDecoder();
  let buffered = '';
  let text = '';
  for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const data = buffered.slice(6, end);
      buffered = buffered.slice(end + 2);
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data) as { choices: { delta?: { content?: string } }[] };
      const content = chunk.choices[0]?.delta?.content;
      if (content) {
        text += content;
        onDelta();
      }
    }
  }
  return text;
}

/** Collects what the pool emits: deltas counted, each fulfilled value kept, latency from started to settled. */
function collect(events$: Observable<TaskEvent>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const texts: string[] = [];
    const latencies: number[] = [];
    const startedAt = new Map<string, number>();
    let deltas = 0;
    events$.subscribe({
      next: (event) => {
        if (event.type === 'delta') deltas++;
        else if (event.type === 'started') startedAt.set(event.taskId, performance.now());
        else if (event.type === 'settled') {
          latencies.push(performance.now() - startedAt.get(event.taskId)!);
          startedAt.delete(event.taskId);
          if (event.result.status === 'fulfilled') texts.push(event.result.value);
          else reject(event.result.error);
        }
      },
      error: reject,
      complete: () => {
        resolve({ texts, deltas, latencies });
      },
    });
  });
}

/** Runs `request` for one task, recording how long it took. */
async function timed(latencies: number[], request: () => Promise<string>): Promise<string> {
  const start = performance.now();
  const text = await request();
  latencies.push(performance.now() - start);
  return text;
}

const FLOOR = 'plain async loop + fetch, hand-parsed SSE (floor)';
const SDK = 'openai SDK + p-limit';
const RXAGENT = 'rxagent runAgents + openaiModel';

const CONTENDERS: Record<string, Contender> = {
  // C loops pulling from one shared iterator, as in the pool and llm benchmarks.
  [FLOOR]: async (tasks, concurrency, url) => {
    const texts: string[] = [];
    const latencies: number[] = [];
    let deltas = 0;
    const iterator = tasks[Symbol.iterator]();
    const loop = async (): Promise<void> => {
      for (const task of iterator) {
        texts.push(await timed(latencies, () => fetchStream(url, task, () => deltas++)));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return { texts, deltas, latencies };
  },
  [SDK]: async (tasks, concurrency, url) => {
    // What openaiModel makes: the SDK's retries off, rxagent retries.
    const client = new OpenAI({ apiKey: API_KEY, baseURL: url, maxRetries: 0 });
    const limit = pLimit(concurrency);
    const latencies: number[] = [];
    let deltas = 0;
    const texts = await Promise.all(
      tasks.map((task) => limit(() => timed(latencies, () => sdkStream(client, task, () => deltas++)))),
    );
    return { texts, deltas, latencies };
  },
  [RXAGENT]: (tasks, concurrency, url) => {
    const agent = openaiModel({ model: MODEL, apiKey: API_KEY, baseURL: url });
    return collect(fromTasks(tasks).pipe(runAgents(agent, { concurrency })));
  },
};

/** The server child: asked for its CPU time between runs, so the parent can tell whether it kept up. */
interface ServerProcess {
  readonly url: string;
  /** User + system µs the server process has used so far. */
  cpuUs(): Promise<number>;
  close(): void;
}

async function startServerProcess(text: string): Promise<ServerProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    // Compiled (`npm run bench`) the child is plain JavaScript; run from source it needs tsx.
    execArgv: import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [],
    env: { ...process.env, RXAGENT_HTTP_SERVER: text },
  });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => {
        reject(new Error(`server process exited with ${code}`));
      };
      child.once('exit', onExit);
      child.once('message', (message) => {
        child.off('exit', onExit);
        resolve(message);
      });
    });
  const { url } = (await next()) as { url: string };
  return {
    url,
    async cpuUs() {
      const reply = next();
      child.send('cpu');
      return ((await reply) as { cpuUs: number }).cpuUs;
    },
    close() {
      child.kill();
    },
  };
}

/** The server side, in the child process: streams `text`, one word per chunk, to every request. */
async function serve(text: string): Promise<void> {
  const server = await startOpenAIServer({ behavior: { text } });
  process.on('message', () => {
    // The server records every request for tests; a benchmark has no use for them and would pile up 100k.
    (server.requests as unknown[]).length = 0;
    const used = process.cpuUsage();
    process.send?.({ cpuUs: used.user + used.system });
  });
  process.send?.({ url: server.url });
}

interface Sample {
  readonly cpuUs: number;
  readonly wallMs: number;
  readonly p50: number;
  readonly p99: number;
  /** The server's CPU time over the run's wall time: near 100% it, not the client, would set the pace. */
  readonly serverBusy: number;
}

export default async function bench(args: string[]): Promise<void> {
  const rounds = numberOption(args, '--rounds', 7);
  const n = numberOption(args, '--streams', 2_000);
  const chunks = numberOption(args, '--chunks', 100);
  const concurrencies = listOption(args, '--concurrency', [50, 200]);
  const words = Array.from({ length: chunks }, (_, i) => `w${i}`);
  const expectedText = words.join(' ');
  const tasks: Task[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, input: `prompt ${i}` }));
  const server = await startServerProcess(expectedText);
  const names = Object.keys(CONTENDERS);

  try {
    console.log(
      `\n${n.toLocaleString('en')} streams × ${chunks} text chunks over HTTP from a local SSE server in a child ` +
        `process; client CPU per request; median (min–max) of ${rounds} rounds`,
    );
    console.log(`(${conditions()})`);
    for (const concurrency of concurrencies) {
      const samples = await interleave(names, rounds, async (name): Promise<Sample> => {
        const serverBefore = await server.cpuUs();
        const cpu = process.cpuUsage();
        const start = performance.now();
        const { texts, deltas, latencies } = await CONTENDERS[name]!(tasks, concurrency, server.url);
        const wallMs = performance.now() - start;
        const used = process.cpuUsage(cpu);
        const serverUs = (await server.cpuUs()) - serverBefore;
        if (texts.length !== n || deltas !== n * chunks || texts.some((text) => text !== expectedText)) {
          throw new Error(
            `${name} collected ${texts.length} texts of ${n} and ${deltas} deltas of ${n * chunks}`,
          );
        }
        const sorted = [...latencies].sort((a, b) => a - b);
        return {
          cpuUs: (used.user + used.system) / n,
          wallMs,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          serverBusy: serverUs / 1000 / wallMs,
        };
      });
      const of = (name: string, pick: (s: Sample) => number): number[] => samples.get(name)!.map(pick);
      const sdkCpu = median(of(SDK, (s) => s.cpuUs));
      const floorCpu = median(of(FLOOR, (s) => s.cpuUs));
      console.log(`\nconcurrency ${concurrency}\n`);
      console.log(
        '| contender | client CPU µs/request | × SDK CPU | × floor CPU | wall ms | p50 ms | p99 ms | server busy |',
      );
      console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
      for (const name of names) {
        const cpu = of(name, (s) => s.cpuUs);
        const ratios = `${(median(cpu) / sdkCpu).toFixed(3)} | ${(median(cpu) / floorCpu).toFixed(2)}`;
        const busy = `${(median(of(name, (s) => s.serverBusy)) * 100).toFixed(0)}%`;
        console.log(
          `| ${name} | ${withSpread(cpu, 0)} | ${ratios} | ${withSpread(
            of(name, (s) => s.wallMs),
            0,
          )} | ` +
            `${withSpread(
              of(name, (s) => s.p50),
              1,
            )} | ${withSpread(
              of(name, (s) => s.p99),
              1,
            )} | ${busy} |`,
        );
      }
    }
  } finally {
    server.close();
  }
}

const serverText = process.env.RXAGENT_HTTP_SERVER;
if (serverText !== undefined) await serve(serverText);
