// WebSocket gateway benchmark: `npm run bench -- ws [--clients 100] [--tasks 10] [--deltas 300]
// [--interval 20] [--bytes 200] [--paused 10]`, or its capacity mode `npm run bench -- ws --capacity
// [--total 200000] [--tasks 10] [--batch 50] [--bytes 200]` (see `capacity` below). The gateway runs in this process; the clients run in a child
// process, so the RSS measured here is the server's own. Each client submits `tasks` tasks whose runs stream
// `deltas` deltas `interval` ms apart; each delta carries its creation time, so a client can measure the
// latency to its arrival. Two runs: every client reading, then `paused` clients that never read.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Observable } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import type { Agent, AgentEvent } from '../src/core/types.js';
import { serve } from '../src/server/serve.js';

interface Params {
  clients: number;
  tasks: number;
  deltas: number;
  interval: number;
  bytes: number;
  paused: number;
  total: number;
  batch: number;
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
    total: value('total', 200_000),
    batch: value('batch', 50),
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

/** A delta's text: `<creation time>|<padding><n>;`. A fresh string each time: ws keeps references. */
const deltaText = (p: Params, n: number): string => `${now().toFixed(3)}|${'x'.repeat(p.bytes)}${n};`;

/**
 * Streams `deltas` deltas as fast as it can produce them: `batch` at a time, then a `setImmediate` so the
 * event loop turns (sockets are written and read) before the next batch. No timers pace it.
 */
function floodingAgent(p: Params): Agent {
  return {
    run: () =>
      new Observable<AgentEvent>((subscriber) => {
        let sent = 0;
        let immediate: NodeJS.Immediate | undefined;
        const pump = (): void => {
          const end = Math.min(p.deltas, sent + p.batch);
          for (; sent < end; sent++) subscriber.next({ type: 'delta', text: deltaText(p, sent) });
          if (sent < p.deltas) {
            immediate = setImmediate(pump);
            return;
          }
          subscriber.next({ type: 'usage', usage: { inputTokens: 1, outputTokens: p.deltas } });
          subscriber.next({ type: 'done', text: '', finishReason: 'stop' });
          subscriber.complete();
        };
        immediate = setImmediate(pump);
        return () => {
          if (immediate !== undefined) clearImmediate(immediate);
        };
      }),
  };
}

interface Server {
  wsUrl: string;
  close(): Promise<void>;
}

/**
 * The physical limit: a plain `WebSocketServer` that answers a `submit` by streaming, for each task, the same
 * delta frames the gateway would send its submitter (same JSON, same batches and `setImmediate` turns), then
 * a `settled` frame. No pool, no routing, no backpressure: `ws.send` and nothing else.
 */
async function rawBroadcast(p: Params): Promise<Server> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  const immediates = new Set<NodeJS.Immediate>();
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { type: string; tasks: { id: string }[] };
      if (frame.type !== 'submit') return;
      for (const { id: taskId } of frame.tasks) {
        let seq = 0;
        const pump = (): void => {
          immediates.delete(immediate);
          const end = Math.min(p.deltas, seq + p.batch);
          for (; seq < end; seq++)
            ws.send(JSON.stringify({ type: 'delta', taskId, seq, text: deltaText(p, seq) }));
          if (seq < p.deltas) {
            immediate = setImmediate(pump);
            immediates.add(immediate);
            return;
          }
          ws.send(JSON.stringify({ type: 'settled', taskId, result: { taskId, status: 'ok' } }));
        };
        let immediate = setImmediate(pump);
        immediates.add(immediate);
      }
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const immediate of immediates) clearImmediate(immediate);
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => {
        wss.close(resolve);
      });
    },
  };
}

const gatewayFor = (p: Params, agent: Agent): Promise<Server> =>
  serve({
    agent,
    pool: { concurrency: p.clients * p.tasks },
    heartbeatMs: 600_000,
    metricsIntervalMs: 250,
    // Every client connects from 127.0.0.1 as the same (anonymous) identity: lift the per-address and
    // per-identity caps (64 and 32 sockets, 1,000 tasks) that would refuse the 100-client runs.
    limits: { connectionsPerAddress: Infinity, connectionsPerIdentity: Infinity, tasksPerIdentity: Infinity },
  });

async function scenario(
  p: Params,
  paused: number,
  start: () => Promise<Server> = () => gatewayFor(p, streamingAgent(p)),
): Promise<ChildReport & { rssBefore: number; rssPeak: number }> {
  const gateway = await start();
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 50);
  const child = fork(fileURLToPath(import.meta.url), [], {
    // Compiled (`npm run bench`) the child is plain JavaScript; run from source it needs tsx.
    execArgv: import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [],
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

const rate = (n: number, seconds: number): string => Math.round(n / seconds).toLocaleString('en');

/**
 * Capacity: at 1, 10 and 100 clients (each submitting `tasks` tasks, `total` deltas in all), every client
 * reading as fast as it can and every agent producing as fast as it can; the gateway against a raw `ws`
 * server sending the identical frames to the same clients.
 */
async function capacity(base: Params): Promise<void> {
  console.log(
    `ws capacity: ${base.total.toLocaleString('en')} deltas of ~${base.bytes} B per run, ${base.tasks} tasks per client, produced ${base.batch} per setImmediate turn, clients reading in a child process\n`,
  );
  const rows: string[] = [];
  for (const clients of [1, 10, 100]) {
    const p = { ...base, clients, paused: 0, deltas: Math.ceil(base.total / (clients * base.tasks)) };
    const raw = await scenario(p, 0, () => rawBroadcast(p));
    const gw = await scenario(p, 0, () => gatewayFor(p, floodingAgent(p)));
    const ratio = gw.frames / gw.seconds / (raw.frames / raw.seconds);
    const deltaRatio = gw.deltas / gw.seconds / (raw.deltas / raw.seconds);
    rows.push(
      `| ${clients} × ${p.tasks} × ${p.deltas.toLocaleString('en')} | ${rate(gw.frames, gw.seconds)} | ${rate(gw.deltas, gw.seconds)} | ${gw.p50.toFixed(1)} | ${gw.p99.toFixed(1)} | ${rate(raw.frames, raw.seconds)} | ${raw.p50.toFixed(1)} | ${raw.p99.toFixed(1)} | ${ratio.toFixed(2)}× | ${deltaRatio.toFixed(2)}× |`,
    );
  }
  console.log(
    '| clients × tasks × deltas | gateway frames/s | gateway deltas/s | gateway p50 ms | gateway p99 ms | raw ws frames/s (= deltas/s) | raw p50 ms | raw p99 ms | gateway ÷ raw, frames | gateway ÷ raw, deltas |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}

export default async function bench(args: string[]): Promise<void> {
  const p = parse(args);
  if (args.includes('--capacity')) {
    await capacity(p);
    return;
  }
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
