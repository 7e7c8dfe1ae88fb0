import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { InvalidTask } from '../../src/core/invalid-task.js';
import type { Task } from '../../src/core/types.js';
import { fromWebSocket } from '../../src/sources/from-web-socket.js';
import { TestClient } from '../server/fixtures.js';

describe('fromWebSocket', () => {
  it("emits the tasks of every client's submit frames, answering accepted or error", async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const seen: (Task | InvalidTask)[] = [];
    let completed = false;
    fromWebSocket(wss).subscribe({ next: (t) => seen.push(t), complete: () => (completed = true) });
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const c = await TestClient.open(url);
    c.send({ type: 'submit', tasks: [{ id: 'a', input: 'x' }, 'bare'] });
    const accepted = await c.next('accepted');
    expect(accepted.taskIds[0]).toBe('a');
    c.send({ type: 'ping' });
    c.send({ type: 'submit', task: { id: 'b' } });
    const error = await c.next('error');
    expect(error.code).toBe('E_VALIDATION');
    c.send('nonsense');
    expect((await c.next('error', (f) => f.code === 'E_PROTOCOL')).message).toMatch(/not valid JSON/);
    expect(seen.slice(0, 2)).toEqual([
      { id: 'a', input: 'x' },
      { id: accepted.taskIds[1], input: 'bare' },
    ]);
    expect(seen[2]).toBeInstanceOf(InvalidTask);
    expect(seen[2]).toMatchObject({ taskId: 'frame-3', error: { code: 'E_VALIDATION' } });
    expect(seen).toHaveLength(3);
    c.socket.terminate();
    wss.close();
    await once(wss, 'close');
    expect(completed).toBe(true);
  });

  it('lets go of every socket that closes, leaving only live ones to its teardown', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const subscription = fromWebSocket(wss).subscribe();
    const sockets: WebSocket[] = [];
    wss.on('connection', (socket) => sockets.push(socket));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const clients: TestClient[] = [];
    // One at a time, so the server's sockets line up with the clients.
    for (let i = 0; i < 6; i++) clients.push(await TestClient.open(url));
    expect(sockets).toHaveLength(6);
    const [open, ...closed] = sockets as [WebSocket, ...WebSocket[]];
    // The source listens to each socket before this test does, so its close listener has run by now.
    await Promise.all(
      clients.slice(1).map(async (c, i) => {
        await c.close();
        if (closed[i]!.readyState !== WebSocket.CLOSED) await once(closed[i]!, 'close');
      }),
    );
    for (const socket of closed) {
      expect(socket.listenerCount('message')).toBe(0);
    }
    expect(open.listenerCount('message')).toBe(1);
    const offs = closed.map((socket) => vi.spyOn(socket, 'off'));
    subscription.unsubscribe();
    for (const off of offs) expect(off).not.toHaveBeenCalled();
    expect(open.listenerCount('message')).toBe(0);
    expect(wss.listenerCount('close')).toBe(0);
    clients[0]!.socket.terminate();
    wss.close();
    await once(wss, 'close');
  });

  it('checks its argument', () => {
    expect(() => fromWebSocket({} as unknown as WebSocketServer)).toThrow(
      'Expected a WebSocketServer or a WebSocket from `ws`, got an object',
    );
  });
});
