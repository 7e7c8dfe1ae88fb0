// WebSocket gateway benchmark: `npm run bench -- ws [--clients 100] [--tasks 10] [--deltas 300]
// [--interval 20] [--bytes 200] [--paused 10]`, or its capacity mode `npm run bench -- ws --capacity
// [--counts 10,100] [--rounds 5] [--total 200000] [--paced 40000] [--seconds 2] [--tasks 10] [--batch 50]
// [--bytes 200]` (see `capacity` below). The gateway runs in this process; the clients run in a child
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
import { conditions, interleave, listOption, median, numberOption, withSpread } from './_measure.js';

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
 * Makes the deltas of one task: `send(seq)` for each of `deltas`, then `end()`; returns how to stop early. The
 * gateway's agent and the raw server use the same producer, so both send the same deltas at the same times.
 */
type Producer = (deltas: number, send: (seq: number) => void, end: () => void) => () => void;

/**
 * As fast as it can: `batch` deltas at a time, then a `setImmediate` so the event loop turns (sockets are
 * written and read) before the next batch. No timers pace it.
 */
const flooding =
  (p: Params): Producer =>
  (deltas, send, end) => {
    let sent = 0;
    let immediate: NodeJS.Immediate | undefined;
    const pump = (): void => {
      const last = Math.min(deltas, sent + p.batch);
      for (; sent < last; sent++) send(sent);
      if (sent < deltas) immediate = setImmediate(pump);
      else end();
    };
    immediate = setImmediate(pump);
    return () => {
      if (immediate !== undefined) clearImmediate(immediate);
    };
  };

/**
 * At `perSecond` deltas a second per task, from one 1 ms timer for every task (a timer per task measures how
 * timers keep up, not the gateway): each tick, every task sends the deltas due by then, so the offered load
 * is even and a delta waits at most a tick to be made.
 */
function paced(perSecond: number): Producer {
  interface Stream {
    readonly start: number;
    readonly deltas: number;
    sent: number;
    readonly send: (seq: number) => void;
    readonly end: () => void;
  }
  const streams = new Set<Stream>();
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const at = performance.now();
    for (const stream of streams) {
      const due = Math.min(stream.deltas, Math.floor(((at - stream.start) * perSecond) / 1_000) + 1);
      while (stream.sent < due) stream.send(stream.sent++);
      if (stream.sent === stream.deltas) {
        streams.delete(stream);
        stream.end();
      }
    }
    timer = streams.size > 0 ? setTimeout(tick, 1) : undefined;
  };
  return (deltas, send, end) => {
    const stream: Stream = { start: performance.now(), deltas, sent: 0, send, end };
    streams.add(stream);
    timer ??= setTimeout(tick, 1);
    return () => {
      streams.delete(stream);
    };
  };
}

/** An agent whose every run streams the producer's deltas, then its usage and `done`. */
function producingAgent(p: Params, produce: Producer): Agent {
  return {
    run: () =>
      new Observable<AgentEvent>((subscriber) =>
        produce(
          p.deltas,
          (seq) => {
            subscriber.next({ type: 'delta', text: deltaText(p, seq) });
          },
          () => {
            subscriber.next({ type: 'usage', usage: { inputTokens: 1, outputTokens: p.deltas } });
            subscriber.next({ type: 'done', text: '', finishReason: 'stop' });
            subscriber.complete();
          },
        ),
      ),
  };
}

interface Server {
  wsUrl: string;
  close(): Promise<void>;
}

/**
 * The physical limit: a plain `WebSocketServer` that answers a `submit` by streaming, for each task, the same
 * delta frames the gateway would send its submitter (same JSON, from the same producer), then a `settled`
 * frame. No pool, no routing, no backpressure: `ws.send` and nothing else.
 */
async function rawBroadcast(p: Params, produce: Producer): Promise<Server> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  const stops = new Set<() => void>();
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { type: string; tasks: { id: string }[] };
      if (frame.type !== 'submit') return;
      for (const { id: taskId } of frame.tasks) {
        const stop = produce(
          p.deltas,
          (seq) => {
            ws.send(JSON.stringify({ type: 'delta', taskId, seq, text: deltaText(p, seq) }));
          },
          () => {
            stops.delete(stop);
            ws.send(JSON.stringify({ type: 'settled', taskId, result: { taskId, status: 'ok' } }));
          },
        );
        stops.add(stop);
      }
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const stop of stops) stop();
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
): Promise<ChildReport & { rssBefore: number; rssPeak: number; cpuMicros: number }> {
  const gateway = await start();
  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  // The server's CPU, which a machine shared with other work does not inflate as it does wall time.
  const cpuBefore = process.cpuUsage();
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
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
  const cpu = process.cpuUsage(cpuBefore);
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  child.kill();
  await gateway.close();
  return { ...report, rssBefore, rssPeak, cpuMicros: cpu.user + cpu.system };
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

interface Load {
  readonly label: string;
  readonly params: Params;
  readonly produce: () => Producer;
}

/**
 * Capacity, at each client count (each client submitting `tasks` tasks), under two loads: every agent
 * producing as fast as it can (`total` deltas in all), and paced at `paced` deltas a second in all for about
 * `seconds` — not saturated, so latency shows what the path adds rather than the queues ahead of it. Every
 * client reads as fast as it can. The gateway against a raw `ws` server sending the identical frames to the
 * same clients, in `rounds` interleaved rounds (after one warm-up round) with GC forced before each run;
 * medians with min–max.
 */
async function capacity(base: Params, args: readonly string[]): Promise<void> {
  const counts = listOption(args, '--counts', [10, 100]);
  const rounds = numberOption(args, '--rounds', 5);
  const pacedRate = numberOption(args, '--paced', 40_000);
  const seconds = numberOption(args, '--seconds', 2);
  console.log(
    `ws capacity: ~${base.bytes} B deltas, ${base.tasks} tasks per client, clients reading in a child process; ${conditions()}; median (min–max) of ${rounds} rounds\n`,
  );
  console.log(
    '| clients × tasks | load | gateway frames/s | raw ws frames/s | gateway ÷ raw, frames/s | gateway CPU µs/delta | raw CPU µs/delta | raw ÷ gateway, CPU | gateway p50 ms | gateway p99 ms | raw p50 ms | raw p99 ms |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const coalesced: string[] = [];
  for (const clients of counts) {
    const tasks = clients * base.tasks;
    const loads: Load[] = [
      {
        label: `as fast as possible, ${base.total.toLocaleString('en')} deltas`,
        params: { ...base, clients, paused: 0, deltas: Math.ceil(base.total / tasks) },
        produce: () => flooding(base),
      },
      {
        label: `paced, ${pacedRate.toLocaleString('en')} deltas/s`,
        params: { ...base, clients, paused: 0, deltas: Math.ceil((pacedRate * seconds) / tasks) },
        produce: () => paced(pacedRate / tasks),
      },
    ];
    for (const load of loads) {
      const p = load.params;
      const samples = await interleave(['raw', 'gateway'], rounds, (name) =>
        name === 'raw'
          ? scenario(p, 0, () => rawBroadcast(p, load.produce()))
          : scenario(p, 0, () => gatewayFor(p, producingAgent(p, load.produce()))),
      );
      const raw = samples.get('raw')!;
      const gw = samples.get('gateway')!;
      const frames = (r: ChildReport): number => r.frames / r.seconds;
      const cpu = (r: { cpuMicros: number; deltas: number }): number => r.cpuMicros / r.deltas;
      const ratios = gw.map((g, i) => frames(g) / frames(raw[i]!));
      const cpuRatios = gw.map((g, i) => cpu(raw[i]!) / cpu(g));
      const perFrame = Math.max(...gw.map((r) => r.deltas / r.frames));
      if (perFrame > 1.001) coalesced.push(`${clients} clients, ${load.label}: up to ${perFrame.toFixed(2)}`);
      const rates = (values: number[]): string =>
        `${Math.round(median(values)).toLocaleString('en')} (${Math.round(Math.min(...values)).toLocaleString('en')}–${Math.round(Math.max(...values)).toLocaleString('en')})`;
      console.log(
        `| ${clients} × ${p.tasks} | ${load.label} | ${rates(gw.map(frames))} | ${rates(raw.map(frames))} | ${withSpread(ratios, 2)} | ${withSpread(gw.map(cpu), 1)} | ${withSpread(raw.map(cpu), 1)} | ${withSpread(cpuRatios, 2)} | ${withSpread(
          gw.map((r) => r.p50),
          1,
        )} | ${withSpread(
          gw.map((r) => r.p99),
          1,
        )} | ${withSpread(
          raw.map((r) => r.p50),
          1,
        )} | ${withSpread(
          raw.map((r) => r.p99),
          1,
        )} |`,
      );
    }
  }
  console.log(
    coalesced.length === 0
      ? '\nEvery gateway frame carried one delta (no coalescing: the clients kept up).'
      : `\nDeltas per gateway frame (coalesced for sockets past the high-water mark): ${coalesced.join('; ')}.`,
  );
}

export default async function bench(args: string[]): Promise<void> {
  const p = parse(args);
  if (args.includes('--capacity')) {
    await capacity(p, args);
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
