// WebSocket gateway benchmark: `npm run bench -- ws [--clients 100] [--tasks 10] [--deltas 300]
// [--interval 20] [--bytes 200] [--paused 10]`. The gateway runs in this process; the clients run in a child
// process, so the RSS measured here is the server's own. Each client submits `tasks` tasks whose runs stream
// `deltas` deltas `interval` ms apart; each delta carries its creation time, so a client can measure the
// latency to its arrival. Two runs: every client reading, then `paused` clients that never read.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Observable } from 'rxjs';
import WebSocket from 'ws';
import type { Agent, AgentEvent } from '../src/core/types.js';
import { serve } from '../src/server/serve.js';

interface Params {
  clients: number;
  tasks: number;
  deltas: number;
  interval: number;
  bytes: number;
  paused: number;
}

interface ChildReport {
  frames: number;
  deltas: number;
  seconds: number;
  p50: number;
  p99: number;
  settled: number;
}

const now = (): number => performance.timeOrigin + performance.now();

function parse(args: string[]): Params {
  const value = (name: string, fallback: number): number => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  return {
    clients: value('clients', 100),
    tasks: value('tasks', 10),
    deltas: value('deltas', 300),
    interval: value('interval', 20),
    bytes: value('bytes', 200),
    paused: value('paused', 10),
  };
}

/** Streams `deltas` deltas, each `<creation time>|<padding>;`. A fresh string each time: ws keeps references. */
function streamingAgent(p: Params): Agent {
  return {
    run: () =>
      new Observable<AgentEvent>((subscriber) => {
        let sent = 0;
        const timer = setInterval(() => {
          const text = `${now().toFixed(3)}|${'x'.repeat(p.bytes)}${sent};`;
          subscriber.next({ type: 'delta', text });
          sent++;
          if (sent === p.deltas) {
            clearInterval(timer);
            subscriber.next({ type: 'usage', usage: { inputTokens: 1, outputTokens: p.deltas } });
            subscriber.next({ type: 'done', text: '', finishReason: 'stop' });
            subscriber.complete();
          }
        }, p.interval);
        return () => {
          clearInterval(timer);
        };
      }),
  };
}

async function scenario(
  p: Params,
  paused: number,
): Promise<ChildReport & { rssBefore: number; rssPeak: number }> {
  const gateway = await serve({
    agent: streamingAgent(p),
    pool: { concurrency: p.clients * p.tasks },
    heartbeatMs: 600_000,
    metricsIntervalMs: 250,
  });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 50);
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, RXAGENT_WS_CHILD: JSON.stringify({ ...p, paused, url: gateway.wsUrl }) },
  });
  const report = await new Promise<ChildReport>((resolve, reject) => {
    child.once('message', (message) => {
      resolve(message as ChildReport);
    });
    child.once('exit', (code) => {
      reject(new Error(`client process exited with ${code}`));
    });
  });
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  child.kill();
  await gateway.close();
  return { ...report, rssBefore, rssPeak };
}

/** The client side, in the child process. */
async function clients(config: Params & { url: string }): Promise<void> {
  const latencies: number[] = [];
  let frames = 0;
  let settled = 0;
  let firstAt = 0;
  const readers = config.clients - config.paused;
  const expected = readers * config.tasks;
  const sockets: WebSocket[] = [];
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  for (let c = 0; c < config.clients; c++) {
    const ws = new WebSocket(config.url, { perMessageDeflate: false });
    sockets.push(ws);
    const reading = c >= config.paused;
    await new Promise((resolve) => ws.once('open', resolve));
    if (reading) {
      ws.on('message', (data: Buffer) => {
        const text = data.toString('utf8');
        if (text.startsWith('{"type":"delta"')) {
          const at = now();
          frames++;
          if (firstAt === 0) firstAt = at;
          const body = (JSON.parse(text) as { text: string }).text;
          for (const part of body.split(';')) {
            if (part !== '') latencies.push(at - Number(part.slice(0, part.indexOf('|'))));
          }
        } else if (text.startsWith('{"type":"settled"')) {
          settled++;
          if (settled === expected) finish();
        }
      });
    }
    ws.send(
      JSON.stringify({
        type: 'submit',
        tasks: Array.from({ length: config.tasks }, (_, t) => ({ id: `c${c}-t${t}`, input: 'go' })),
      }),
    );
    if (!reading) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }
  await done;
  const seconds = (now() - firstAt) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  process.send?.({ frames, deltas: latencies.length, seconds, p50: pick(0.5), p99: pick(0.99), settled });
  // Paused sockets stay open (and this process alive) until the parent ends it.
  setInterval(() => undefined, 1000);
}

const MB = 1024 * 1024;

export default async function bench(args: string[]): Promise<void> {
  const p = parse(args);
  console.log(
    `ws gateway: ${p.clients} clients × ${p.tasks} tasks × ${p.deltas} deltas of ~${p.bytes} B every ${p.interval} ms, clients in a child process\n`,
  );
  const rows: string[] = [];
  for (const paused of [0, p.paused]) {
    const r = await scenario(p, paused);
    rows.push(
      `| ${p.clients - paused} reading, ${paused} not | ${Math.round(r.frames / r.seconds).toLocaleString('en')} | ${Math.round(r.deltas / r.seconds).toLocaleString('en')} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${((r.rssPeak - r.rssBefore) / MB).toFixed(1)} | ${(r.rssPeak / MB).toFixed(0)} |`,
    );
  }
  console.log(
    '| clients | delta frames/s delivered | deltas/s delivered | p50 latency ms | p99 latency ms | server RSS growth MB | server peak RSS MB |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}

const child = process.env.RXAGENT_WS_CHILD;
if (child !== undefined) await clients(JSON.parse(child) as Params & { url: string });
