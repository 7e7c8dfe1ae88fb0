import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { VirtualTimeScheduler, asyncScheduler } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ClientConnection } from '../../src/wire/client-connection.js';
import type { ClientConnectionOptions } from '../../src/wire/client-connection.js';
import { ServerFrameSchema, frameText } from '../../src/wire/protocol.js';
import type { ServerFrame } from '../../src/wire/protocol.js';
import { serve } from '../../src/server/serve.js';
import { ManualAgent, TestClient } from '../server/fixtures.js';

const servers: WebSocketServer[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    for (const ws of server.clients) ws.terminate();
    server.close();
  }
});

/** A real socket pair on loopback: the server side wrapped in a ClientConnection, the client paused. */
async function pair(options: Omit<ClientConnectionOptions, 'scheduler'> & Partial<ClientConnectionOptions>) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  servers.push(wss);
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
    perMessageDeflate: false,
  });
  const [serverSocket] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  const frames: ServerFrame[] = [];
  client.on('message', (data) => frames.push(ServerFrameSchema.parse(JSON.parse(frameText(data)))));
  const raw = (client as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  const connection = new ClientConnection(serverSocket, { scheduler: asyncScheduler, ...options });
  return {
    client,
    serverSocket,
    connection,
    frames,
    resume: () => {
      raw.resume();
    },
  };
}

const chunk = (i: number): string => `${String(i).padStart(6, '0')}:${'x'.repeat(93)}`;

describe('ClientConnection', () => {
  it('coalesces deltas while the client does not read, losing no text and keeping settled last', async () => {
    const highWaterMark = 64 * 1024;
    const { serverSocket, connection, frames, resume, client } = await pair({
      highWaterMark,
      hardLimit: 64 * 1024 * 1024,
    });
    const sent = { a: '', b: '' };
    let maxBuffered = 0;
    const count = 60_000;
    for (let i = 0; i < count; i++) {
      const taskId = i % 3 === 0 ? 'b' : 'a';
      const text = chunk(i);
      sent[taskId] += text;
      connection.send({ type: 'delta', taskId, seq: i, text });
      maxBuffered = Math.max(maxBuffered, serverSocket.bufferedAmount);
    }
    connection.send({ type: 'settled', taskId: 'a', result: settled('a') });
    connection.send({ type: 'delta', taskId: 'b', seq: count, text: 'tail' });
    sent.b += 'tail';
    connection.send({ type: 'settled', taskId: 'b', result: settled('b') });
    // The socket's own buffer never grows past the mark by more than one frame; the rest waits, merged.
    expect(maxBuffered).toBeLessThan(highWaterMark + 200);
    expect(connection.heldBytes).toBeGreaterThan(1_000_000);
    resume();
    await new Promise<void>((resolve) => {
      client.on('message', () => {
        if (frames.filter((f) => f.type === 'settled').length === 2) resolve();
      });
    });
    for (const taskId of ['a', 'b'] as const) {
      const mine = frames.filter((f) => 'taskId' in f && f.taskId === taskId);
      const deltas = mine.filter((f) => f.type === 'delta');
      expect(deltas.map((d) => d.text).join('')).toBe(sent[taskId]);
      const seqs = deltas.map((d) => d.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(mine.at(-1)?.type).toBe('settled');
    }
    expect(frames.filter((f) => f.type === 'delta').length).toBeLessThan(count / 2);
    expect(connection.heldBytes).toBe(0);
  });

  it('sends what it held as soon as the socket has written its buffer, with no timer', async () => {
    // A clock that never moves: only the socket's own progress can release the held frames.
    const { connection, frames, resume, client } = await pair({
      highWaterMark: 16 * 1024,
      hardLimit: 64 * 1024 * 1024,
      scheduler: new VirtualTimeScheduler(),
    });
    let sent = '';
    // More than loopback's kernel buffers take while the client does not read.
    for (let i = 0; i < 60_000; i++) {
      sent += chunk(i);
      connection.send({ type: 'delta', taskId: 't', seq: i, text: chunk(i) });
    }
    connection.send({ type: 'settled', taskId: 't', result: settled('t') });
    expect(connection.heldBytes).toBeGreaterThan(0);
    resume();
    await new Promise<void>((resolve) => {
      client.on('message', () => {
        if (frames.some((f) => f.type === 'settled')) resolve();
      });
    });
    const text = frames.flatMap((f) => (f.type === 'delta' ? [f.text] : [])).join('');
    expect(text).toBe(sent);
    expect(connection.heldBytes).toBe(0);
  });

  it('keeps only the newest metrics frame while held', async () => {
    const { connection, frames, resume, client } = await pair({
      highWaterMark: 1024,
      hardLimit: 64 * 1024 * 1024,
    });
    for (let i = 0; i < 30_000; i++) connection.send({ type: 'delta', taskId: 't', seq: i, text: chunk(i) });
    for (let i = 0; i < 100; i++) connection.send(metrics(i));
    connection.send({ type: 'pong', id: 'end' });
    resume();
    await new Promise<void>((resolve) => {
      client.on('message', () => {
        if (frames.some((f) => f.type === 'pong')) resolve();
      });
    });
    const seen = frames.filter((f) => f.type === 'metrics');
    expect(seen.at(-1)).toEqual(metrics(99));
    expect(seen.length).toBeLessThan(5);
  });

  it('closes with 1008 past the hard limit, holding memory bounded', async () => {
    const hardLimit = 1024 * 1024;
    let overflowed = 0;
    const { serverSocket, connection, resume, client } = await pair({
      highWaterMark: 16 * 1024,
      hardLimit,
      onOverflow: () => overflowed++,
    });
    const closed = once(client, 'close');
    for (let i = 0; i < 100_000 && overflowed === 0; i++) {
      connection.send({ type: 'delta', taskId: 't', seq: i, text: chunk(i) });
      expect(serverSocket.bufferedAmount + connection.heldBytes).toBeLessThanOrEqual(hardLimit + 200);
    }
    expect(overflowed).toBe(1);
    expect(connection.heldBytes).toBe(0);
    connection.send({ type: 'pong' });
    resume();
    const [code, reason] = (await closed) as [number, Buffer];
    expect(code).toBe(1008);
    expect(String(reason)).toMatch(/^Client too slow: \d+ bytes waiting, over the hard limit of 1048576$/);
  });
});

describe('serve with a slow client', () => {
  it('closes it with 1008 past the hard limit and aborts its runs', async () => {
    const agent = new ManualAgent();
    const gateway = await serve({ agent, highWaterMark: 16 * 1024, hardLimit: 512 * 1024 });
    try {
      const c = await TestClient.open(gateway.wsUrl);
      c.send({ type: 'submit', task: { id: 'flood', input: 'x' } });
      const run = await agent.started('flood');
      (c.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const aborted = once(run.signal, 'abort');
      for (let i = 0; i < 200_000 && !run.signal.aborted; i++) run.emit(chunk(i));
      await aborted;
      expect(run.signal.aborted).toBe(true);
    } finally {
      await gateway.close();
    }
  });
});

function settled(taskId: string) {
  return {
    status: 'fulfilled' as const,
    taskId,
    value: '',
    usage: { inputTokens: 0, outputTokens: 0 },
    attempts: 1,
    durationMs: 1,
  };
}

function metrics(i: number): Extract<ServerFrame, { type: 'metrics' }> {
  return {
    type: 'metrics',
    scope: 'gateway',
    queued: i,
    inFlight: 0,
    completed: 0,
    failed: 0,
    tokensPerMinute: 0,
    clients: 1,
  };
}
