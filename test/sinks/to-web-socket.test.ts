import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { TaskEvent } from '../../src/core/types.js';
import { serve } from '../../src/server/serve.js';
import type { Gateway } from '../../src/server/serve.js';
import { toWebSocket } from '../../src/sinks/to-web-socket.js';
import { ManualAgent, TestClient } from '../server/fixtures.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

const settled: TaskEvent = {
  type: 'settled',
  taskId: 'x',
  result: {
    status: 'fulfilled',
    taskId: 'x',
    value: 'ab',
    usage: { inputTokens: 1, outputTokens: 2 },
    attempts: 1,
    durationMs: 3,
  },
};

describe('toWebSocket', () => {
  it('broadcasts events to every client of a WebSocketServer, passing them on', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    cleanup.push(() => {
      wss.close();
    });
    await once(wss, 'listening');
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const clients = [await TestClient.open(url), await TestClient.open(url)];
    for (const c of clients) {
      cleanup.push(() => {
        c.socket.terminate();
      });
    }
    const events = new Subject<TaskEvent>();
    const passed: TaskEvent[] = [];
    events.pipe(toWebSocket(wss)).subscribe((e) => passed.push(e));
    events.next({ type: 'started', taskId: 'x', waitMs: 1 });
    events.next({ type: 'delta', taskId: 'x', seq: 0, text: 'ab' });
    events.next(settled);
    for (const c of clients) {
      await c.settled('x');
      expect(c.framesOf('x').map((f) => f.type)).toEqual(['started', 'delta', 'settled']);
    }
    expect(passed).toHaveLength(3);
  });

  it("routes events to a gateway's subscribers", async () => {
    // Events from elsewhere belong to no identity; the hook admits watching them.
    const gateway: Gateway = await serve({ agent: new ManualAgent(), authorize: () => true });
    cleanup.push(() => gateway.close());
    const watcher = await TestClient.open(gateway.wsUrl);
    const other = await TestClient.open(gateway.wsUrl);
    cleanup.push(() => {
      watcher.socket.terminate();
      other.socket.terminate();
    });
    watcher.send({ type: 'subscribe', taskIds: ['x'] });
    watcher.send({ type: 'ping' });
    await watcher.next('pong');
    const events = new Subject<TaskEvent>();
    events.pipe(toWebSocket(gateway)).subscribe();
    events.next(settled);
    expect((await watcher.settled('x')).result).toMatchObject({ value: 'ab' });
    other.send({ type: 'ping' });
    await other.next('pong');
    expect(other.framesOf('x')).toEqual([]);
  });

  it('checks its arguments', () => {
    expect(() => toWebSocket({} as Gateway)).toThrow(
      'Expected a WebSocketServer or a Gateway from `serve`, got an object',
    );
  });
});
