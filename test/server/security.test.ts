import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { textOf } from '../../src/core/agent-event.js';
import type { Gateway } from '../../src/server/serve.js';
import { ManualAgent, TestClient, echoAgent, gatewayHarness, upgradeStatus } from './fixtures.js';
import type { ManualRun } from './fixtures.js';

const { start, client } = gatewayHarness();

/** An agent that streams each prompt back word by word, so a prompt's text shows wherever its frames go. */
const echo = echoAgent((task) => textOf(task).split(/(?=\s)/));

const UPGRADE_HEADERS =
  'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** Writes raw bytes to the gateway's port and resolves with everything it answered before closing. */
async function raw(gateway: Gateway, bytes: string | Buffer): Promise<string> {
  const socket = connect(gateway.port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.end(bytes);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

/** A plain HTTP request with headers `fetch` would not let a test set (Host). */
async function get(
  gateway: Gateway,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const req = request({ host: '127.0.0.1', port: gateway.port, path: '/', method, headers });
  req.end();
  const [response] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let body = '';
  for await (const chunk of response) body += String(chunk);
  return { status: response.statusCode ?? 0, headers: response.headers, body };
}

/** Whether the gateway still serves: a fresh client connects and is answered. */
async function stillServes(gateway: Gateway): Promise<void> {
  const c = await client(gateway);
  c.send({ type: 'ping', id: 'alive' });
  expect(await c.next('pong')).toEqual({ type: 'pong', id: 'alive' });
}

const asUser = (user: string) => ({ headers: { 'x-user': user } });
const byHeader = {
  auth: (req: import('node:http').IncomingMessage) => String(req.headers['x-user'] ?? '') || false,
};

describe('security: request handling never takes the process down', () => {
  it('answers malformed request lines with 400, plain and as upgrades, and keeps serving', async () => {
    const gateway = await start({ agent: echo });
    for (const target of ['//[', '//[::1', '/%', 'http://[', '*', '//']) {
      const plain = await raw(gateway, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      expect(plain, target).toMatch(/^HTTP\/1\.1 (400|404) /);
      const upgrade = await raw(
        gateway,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS}\r\n`,
      );
      expect(upgrade, target).toMatch(/^HTTP\/1\.1 (400|404) /);
    }
    expect(await raw(gateway, 'GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 400 Bad Request/,
    );
    // What Node's parser refuses itself, and bytes that are not HTTP at all.
    for (const junk of [
      '\u0000\u0001\u0002\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nX: \u0000\r\n\r\n',
      'HELLO\r\n\r\n',
    ]) {
      expect(await raw(gateway, junk)).toMatch(/^(HTTP\/1\.1 400 |)/);
    }
    await stillServes(gateway);
  });
});

describe('security: Host allow-list against DNS rebinding', () => {
  it('refuses a rebound name (Host and Origin both the attacker’s) with 403 before auth', async () => {
    let authCalls = 0;
    const gateway = await start({
      agent: echo,
      auth: () => {
        authCalls++;
        return true;
      },
    });
    const evil = `evil.example:${gateway.port}`;
    expect(await upgradeStatus(gateway.wsUrl, { host: evil, origin: `http://${evil}` })).toBe(403);
    expect(await upgradeStatus(gateway.wsUrl, { host: evil })).toBe(403);
    expect((await get(gateway, { host: evil })).status).toBe(403);
    expect(authCalls).toBe(0);
    // IP addresses and localhost, with any port, are the gateway's own names.
    for (const host of [
      `127.0.0.1:${gateway.port}`,
      `localhost:${gateway.port}`,
      '[::1]:9999',
      'LOCALHOST',
    ]) {
      expect(await upgradeStatus(gateway.wsUrl, { host, origin: `http://${host}` }), host).toBe(101);
    }
    expect((await get(gateway, { host: `localhost:${gateway.port}` })).status).toBe(200);
    // A page on localhost is not the page of another local port's origin when origins are listed.
    expect(await upgradeStatus(gateway.wsUrl, { host: 'localhost', origin: 'http://localhost:1' })).toBe(403);
    expect(authCalls).toBe(4);
  });

  it('admits names given in allowedHosts (subdomains with a leading dot), or every name with "all"', async () => {
    const gateway = await start({ agent: echo, allowedHosts: ['gw.example.com', '.corp.example'] });
    const status = (host: string) => upgradeStatus(gateway.wsUrl, { host, origin: `https://${host}` });
    expect(await status('gw.example.com')).toBe(101);
    expect(await status('a.corp.example:443')).toBe(101);
    expect(await status('corp.example')).toBe(101);
    expect(await status('evilcorp.example')).toBe(403);
    expect(await status('gw.example.com.evil.example')).toBe(403);
    const open = await start({ agent: echo, allowedHosts: 'all' });
    expect(await upgradeStatus(open.wsUrl, { host: 'anything.example' })).toBe(101);
  });
});

describe('security: identities are isolated', () => {
  it('scopes ids per identity and lets no frame of one reach another', async () => {
    const agent = new ManualAgent();
    const gateway = await start({ agent, ...byHeader, metricsIntervalMs: 5 });
    const alice = await client(gateway, asUser('alice'));
    const bob = await client(gateway, asUser('bob'));
    // Bob takes the id Alice is about to use, and watches everything he can.
    bob.send({ type: 'subscribe', taskIds: '*' });
    bob.send({ type: 'subscribe', taskIds: ['q1', 'q2'] });
    bob.send({ type: 'submit', task: { id: 'q2', input: 'bob asks' } });
    await bob.next('accepted');
    alice.send({
      type: 'submit',
      tasks: [
        { id: 'q1', input: 'alice secret one' },
        { id: 'q2', input: 'alice secret two' },
      ],
    });
    expect(await alice.next('accepted')).toEqual({ type: 'accepted', taskIds: ['q1', 'q2'] });
    const [a1, a2] = await Promise.all([agent.started('q1'), waitRun(agent, 'alice secret two')]);
    // Watching or cancelling another identity's tasks needs the hook; the answer reveals nothing.
    bob.send({ type: 'subscribe', owner: 'alice', taskIds: ['q1'] });
    expect((await bob.next('error', (f) => f.code === 'E_FORBIDDEN')).message).toBe(
      'This identity may not watch tasks of "alice"',
    );
    bob.send({ type: 'cancel', owner: 'alice', taskId: 'q1' });
    await bob.next('error', (f) => f.code === 'E_FORBIDDEN' && f.taskId === 'q1');
    bob.send({ type: 'cancel', taskId: 'q1' });
    expect((await bob.next('error', (f) => f.code === 'E_PROTOCOL')).message).toBe(
      'No task "q1" of this client is waiting or running',
    );
    a1.emit('alice answer');
    a1.finish();
    a2.finish('second');
    expect((await alice.settled('q1')).result).toMatchObject({
      status: 'fulfilled',
      taskId: 'q1',
      value: 'alice answer',
    });
    await alice.settled('q2');
    // Alice's own metrics: two done. Bob's: one waiting task of his own.
    await alice.next('metrics', (f) => f.completed === 2);
    const bobs = await bob.next('metrics', (f) => f.inFlight === 1);
    expect(bobs).toEqual({
      type: 'metrics',
      scope: 'identity',
      queued: 0,
      inFlight: 1,
      completed: 0,
      failed: 0,
      tokensPerMinute: 0,
    });
    bob.send({ type: 'ping', id: 'end' });
    await bob.next('pong', (f) => f.id === 'end');
    // Only the refusals Bob provoked himself name Alice.
    const seenByBob = JSON.stringify(bob.frames.filter((f) => f.type !== 'error'));
    expect(seenByBob).not.toMatch(/alice/);
    expect(bob.framesOf('q1')).toEqual([]);
    expect(bob.framesOf('q2').map((f) => f.type)).toEqual(['started']);
  });

  it('lets the authorize hook admit an operator to watch and cancel everyone', async () => {
    const agent = new ManualAgent();
    const gateway = await start({
      agent,
      ...byHeader,
      authorize: (r) => r.action === 'submit' || r.identity === 'ops',
    });
    const alice = await client(gateway, asUser('alice'));
    const ops = await client(gateway, asUser('ops'));
    ops.send({ type: 'subscribe', taskIds: '*' });
    ops.send({ type: 'ping' });
    await ops.next('pong');
    alice.send({ type: 'submit', task: { id: 'long', input: 'x' } });
    await agent.started('long');
    expect(await ops.next('started')).toMatchObject({ taskId: 'long', owner: 'alice' });
    ops.send({ type: 'cancel', owner: 'alice', taskId: 'long' });
    expect((await alice.settled('long')).result).toMatchObject({
      error: { code: 'E_CANCELLED', info: { reason: 'client-cancel' } },
    });
    expect(await ops.settled('long')).toMatchObject({ owner: 'alice', result: { taskId: 'long' } });
  });

  it('answers a hook that throws or returns something other than true as no', async () => {
    const gateway = await start({
      agent: echo,
      authorize: ((r: { action: string }) => {
        if (r.action === 'submit') throw new Error('policy store down');
        return 'yes';
      }) as never,
    });
    const c = await client(gateway);
    c.send({ type: 'submit', task: 'hello' });
    expect(await c.next('error')).toMatchObject({ code: 'E_FORBIDDEN' });
    c.send({ type: 'subscribe', owner: 'someone', taskIds: '*' });
    expect(await c.next('error', (f) => f.message.includes('watch'))).toMatchObject({ code: 'E_FORBIDDEN' });
  });
});

describe('security: every resource is bounded', () => {
  it('caps the ids one socket watches', async () => {
    const gateway = await start({ agent: echo, limits: { watchedPerSocket: 3 } });
    const c = await client(gateway);
    c.send({ type: 'subscribe', taskIds: ['a', 'b'] });
    c.send({ type: 'subscribe', taskIds: ['c', 'd'] });
    expect((await c.next('error')).message).toBe(
      'Too many watches: this socket watches 2 and may watch 3; nothing was added',
    );
    c.send({ type: 'unsubscribe', taskIds: ['a'] });
    c.send({ type: 'subscribe', taskIds: ['c', 'd'] });
    c.send({ type: 'ping' });
    await c.next('pong');
    expect(c.frames.filter((f) => f.type === 'error')).toHaveLength(1);
  });

  it('caps tasks per identity and in total, refusing the whole submit', async () => {
    const agent = new ManualAgent();
    const gateway = await start({ agent, ...byHeader, limits: { tasksPerIdentity: 2, tasks: 3 } });
    const alice = await client(gateway, asUser('alice'));
    const bob = await client(gateway, asUser('bob'));
    alice.send({ type: 'submit', tasks: ['1', '2', '3'].map((id) => ({ id, input: id })) });
    expect((await alice.next('error')).message).toBe(
      'Too many tasks: this identity has 0 accepted and not settled, and 3 more would pass the limit of 2; nothing was accepted',
    );
    alice.send({ type: 'submit', tasks: ['1', '2'].map((id) => ({ id, input: id })) });
    await alice.next('accepted');
    bob.send({ type: 'submit', tasks: ['1', '2'].map((id) => ({ id, input: id })) });
    // The total is everyone's: Bob learns only that the gateway is full, not how busy Alice is.
    expect(await bob.next('error')).toEqual({
      type: 'error',
      code: 'E_QUEUE_FULL',
      message: 'Too many tasks: the gateway takes no more for now; nothing was accepted',
    });
    bob.send({ type: 'submit', task: { id: '1', input: 'b' } });
    await bob.next('accepted');
    (await agent.started('2')).finish();
    await alice.settled('2');
    bob.send({ type: 'submit', task: { id: '2', input: 'b' } });
    await bob.next('accepted', (f) => f.taskIds[0] === '2');
  });

  it('caps connections in total, per address and per identity', async () => {
    const gateway = await start({
      agent: echo,
      ...byHeader,
      limits: { connections: 3, connectionsPerAddress: 2, connectionsPerIdentity: 1 },
    });
    await client(gateway, asUser('a'));
    expect(await upgradeStatus(gateway.wsUrl, { 'x-user': 'a' })).toBe(429);
    await client(gateway, asUser('b'));
    expect(await upgradeStatus(gateway.wsUrl, { 'x-user': 'c' })).toBe(429);
    const proxied = await start({
      agent: echo,
      trustProxy: true,
      limits: { connections: 2, connectionsPerAddress: 1 },
    });
    await client(proxied, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' } });
    expect(await upgradeStatus(proxied.wsUrl, { 'x-forwarded-for': '198.51.100.1' })).toBe(429);
    await client(proxied, { headers: { 'x-forwarded-for': '198.51.100.2' } });
    expect(await upgradeStatus(proxied.wsUrl, { 'x-forwarded-for': '198.51.100.3' })).toBe(503);
  });

  it('closes the socket with the most bytes waiting when all sockets together pass bufferedBytes', async () => {
    const agent = new ManualAgent();
    const gateway = await start({
      agent,
      highWaterMark: 16 * 1024,
      hardLimit: 64 * 1024 * 1024,
      limits: { bufferedBytes: 2 * 1024 * 1024 },
    });
    const hog = await client(gateway);
    const idle = await client(gateway);
    const reader = await client(gateway);
    pause(hog);
    pause(idle);
    hog.send({ type: 'submit', task: { id: 'flood', input: 'x' } });
    idle.send({ type: 'submit', task: { id: 'small', input: 'y' } });
    const [flood, small] = await Promise.all([agent.started('flood'), agent.started('small')]);
    for (let i = 0; i < 50; i++) small.emit('a little text ');
    // 20 MB for a hog whose socket is not read: well past the 2 MiB all sockets may hold together.
    const aborted = once(flood.signal, 'abort');
    await floodUntilAborted(flood, 1000);
    await aborted;
    expect(small.signal.aborted).toBe(false);
    reader.send({ type: 'ping' });
    await reader.next('pong');
    resume(hog);
    const closed = await hog.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/^Client too slow: \d+ bytes waiting; all sockets over 2097152$/);
    resume(idle);
    small.finish();
    expect((await idle.settled('small')).result.status).toBe('fulfilled');
  });

  it('shows 1008 to a client past its hard limit once it reads again', async () => {
    const agent = new ManualAgent();
    const gateway = await start({ agent, highWaterMark: 16 * 1024, hardLimit: 512 * 1024 });
    const c = await client(gateway);
    pause(c);
    c.send({ type: 'submit', task: { id: 'flood', input: 'x' } });
    const run = await agent.started('flood');
    await floodUntilAborted(run, 500);
    resume(c);
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/over the hard limit of 524288$/);
  });
});

describe('security: found in review', () => {
  it('answers a frame of many bad tasks with at most ten issues, not an echo larger than the frame', async () => {
    const c = await client(await start({ agent: echo }));
    const tasks = Array.from({ length: 100 }, (_, i) => ({ id: `t${i}`, input: 'x', color: 'red' }));
    c.send({ type: 'submit', tasks });
    const error = await c.next('error');
    expect(error.code).toBe('E_VALIDATION');
    expect(error.issues).toHaveLength(10);
    expect(error.message).toMatch(/\(and 90 more issues\)$/);
    expect(JSON.stringify(error).length).toBeLessThan(JSON.stringify({ type: 'submit', tasks }).length);
  });

  it('compares a page origin with its Host whatever the case of the Host', async () => {
    const gateway = await start({ agent: echo });
    const origin = `http://localhost:${gateway.port}`;
    expect(await upgradeStatus(gateway.wsUrl, { host: `LocalHost:${gateway.port}`, origin })).toBe(101);
  });

  it('survives a peer that resets right after an upgrade to a wrong or malformed path', async () => {
    const gateway = await start({ agent: echo });
    for (const target of ['//[', '/nope', '/ws?x']) {
      const socket = connect(gateway.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS}\r\n`);
      socket.resetAndDestroy();
      await once(socket, 'close');
    }
    await stillServes(gateway);
  });

  it('frees a connection slot however the handshake ends: refused by ws, or dropped during auth', async () => {
    let releaseAuth!: () => void;
    const authGate = new Promise<void>((resolve) => (releaseAuth = resolve));
    const gateway = await start({
      agent: echo,
      auth: async (request) => {
        if (request.headers['x-slow'] !== undefined) await authGate;
        return true;
      },
      limits: { connectionsPerAddress: 2 },
    });
    // No Sec-WebSocket-Key: ws answers 400 itself.
    for (let i = 0; i < 5; i++) {
      const answer = await raw(
        gateway,
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    }
    // A client that hangs up while auth is pending.
    const dropped = connect(gateway.port, '127.0.0.1');
    dropped.on('error', () => undefined);
    await once(dropped, 'connect');
    dropped.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n${UPGRADE_HEADERS}\r\n`);
    dropped.destroy();
    await once(dropped, 'close');
    releaseAuth();
    await client(gateway);
    await client(gateway);
    expect(await upgradeStatus(gateway.wsUrl)).toBe(429);
  });

  it('settles waiting tasks once when their client leaves or the drain deadline passes', async () => {
    const agent = new ManualAgent();
    const gateway = await start({ agent, perClient: { concurrency: 1 } });
    const events: string[] = [];
    gateway.events$.subscribe((e) => {
      if (e.type === 'settled') events.push(e.taskId);
    });
    const leaving = await client(gateway);
    leaving.send({ type: 'submit', tasks: ['a', 'b', 'c'].map((id) => ({ id, input: id })) });
    await agent.started('a');
    leaving.socket.terminate();
    const staying = await client(gateway);
    staying.send({ type: 'submit', tasks: ['d', 'e', 'f'].map((id) => ({ id, input: id })) });
    await agent.started('d');
    await gateway.close({ deadlineMs: 10 });
    expect(events.map((id) => id.split('/')[1]).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('counts what held frames really cost: large results close a socket that does not read', async () => {
    const big = 'r'.repeat(100_000);
    const gateway = await start({
      agent: echoAgent(() => [big]),
      highWaterMark: 16 * 1024,
      hardLimit: 1024 * 1024,
    });
    const c = await client(gateway);
    pause(c);
    c.send({ type: 'submit', tasks: Array.from({ length: 40 }, (_, i) => `task ${i}`) });
    resume(c);
    expect((await c.closed).code).toBe(1008);
  });

  it('counts sockets below their high-water mark toward bufferedBytes too', async () => {
    const agent = new ManualAgent();
    const gateway = await start({
      agent,
      highWaterMark: 32 * 1024 * 1024,
      hardLimit: 64 * 1024 * 1024,
      limits: { bufferedBytes: 4 * 1024 * 1024 },
      metricsIntervalMs: 10,
    });
    const hog = await client(gateway);
    pause(hog);
    hog.send({ type: 'submit', task: { id: 'flood', input: 'x' } });
    const flood = await agent.started('flood');
    const aborted = once(flood.signal, 'abort');
    await floodUntilAborted(flood, 1000);
    await aborted;
    resume(hog);
    expect((await hog.closed).code).toBe(1008);
  });
});

describe('security: the page', () => {
  it('is served with a CSP that allows exactly its own style and script, and cannot be framed', async () => {
    const gateway = await start({ agent: echo });
    const page = await get(gateway, {});
    expect(page.status).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    const script = /<script>([\s\S]*)<\/script>/.exec(page.body)?.[1] ?? '';
    const style = /<style>([\s\S]*)<\/style>/.exec(page.body)?.[1] ?? '';
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe/);
    expect(page.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const refused = await get(gateway, {}, method);
      expect(refused.status, method).toBe(405);
      expect(refused.headers.allow).toBe('GET, HEAD');
    }
  });

  it('answers 503 to new pages and sockets while it drains, then stops listening', async () => {
    const agent = new ManualAgent();
    const gateway = await start({ agent });
    const c = await client(gateway);
    c.send({ type: 'submit', task: { id: 'last', input: 'x' } });
    const run = await agent.started('last');
    const { wsUrl } = gateway;
    const closing = gateway.close();
    expect(await upgradeStatus(wsUrl)).toBe(503);
    expect((await get(gateway, {})).status).toBe(503);
    run.finish();
    await closing;
    await expect(upgradeStatus(wsUrl)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('security: fuzzing', () => {
  it('survives 5,000 hostile frames and request lines, settling every accepted task exactly once', async () => {
    const gateway = await start({ agent: echo, maxPayload: 8 * 1024, limits: { watchedPerSocket: 50 } });
    const id = fc.oneof(fc.constantFrom('a', 'b', '*', '', 'x'.repeat(300)), fc.string({ maxLength: 8 }));
    const task = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.record(
        { id, input: fc.oneof(fc.string({ maxLength: 40 }), fc.anything()) },
        { requiredKeys: ['id'] },
      ),
      fc.anything(),
    );
    const frame = fc.oneof(
      fc.record({ type: fc.constant('submit'), task }, { requiredKeys: ['type'] }),
      fc.record({ type: fc.constant('submit'), tasks: fc.array(task, { maxLength: 4 }) }),
      fc.record(
        {
          type: fc.constantFrom('cancel', 'subscribe', 'unsubscribe'),
          taskId: id,
          taskIds: fc.oneof(id, fc.array(id)),
          owner: id,
        },
        { requiredKeys: ['type'] },
      ),
      fc.record({
        type: fc.constantFrom('ping', 'pong', 'submit', '__proto__', 'constructor'),
        id: fc.anything(),
      }),
      fc.anything(),
    );
    const texts = fc.oneof(
      // JSON.stringify answers undefined for some values its type does not admit.
      frame.map((f) => (JSON.stringify(f) as string | undefined) ?? 'null'),
      fc.string({ maxLength: 64 }),
      fc.constantFrom(
        '{"type":"submit","task":',
        '{"__proto__":{"type":"submit"}}',
        'null',
        '[]',
        '"submit"',
      ),
    );
    const samples = fc.sample(texts, { numRuns: 4_800, seed: 12 });
    const sockets = [await client(gateway), await client(gateway), await client(gateway)];
    samples.forEach((text, i) => {
      sockets[i % 3]!.send(text);
    });
    const lines = fc.sample(
      fc.tuple(
        fc.constantFrom('GET', 'POST', 'OPTIONS', 'G E T'),
        fc.string({ maxLength: 30 }),
        fc.boolean(),
      ),
      { numRuns: 200, seed: 7 },
    );
    for (const [method, target, upgrade] of lines) {
      await raw(
        gateway,
        `${method} /${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgrade ? UPGRADE_HEADERS : ''}\r\n`,
      );
    }
    for (const s of sockets) {
      s.send({ type: 'ping', id: 'done' });
      await s.next('pong', (f) => f.id === 'done');
    }
    for (const s of sockets) {
      // An id may be accepted again once its task settled: each acceptance settles exactly once.
      const accepted = s.frames.flatMap((f) => (f.type === 'accepted' ? f.taskIds : []));
      const settled = () => s.frames.filter((f) => f.type === 'settled' && !('owner' in f));
      while (settled().length < accepted.length) await s.next('settled', () => true, s.frames.length);
      const count = (ids: string[]) =>
        ids.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
      expect(count(settled().map((f) => (f as { taskId: string }).taskId))).toEqual(count(accepted));
    }
    expect(sockets.some((s) => s.frames.some((f) => f.type === 'accepted'))).toBe(true);
    await stillServes(gateway);
  }, 60_000);
});

/**
 * Streams chunks into a run until the gateway aborts it, letting the event loop turn between batches so
 * that the cancel the gateway schedules when it closes a slow socket can land: the client is then resumed
 * well within the second its close frame waits for it, however loaded the machine.
 */
async function floodUntilAborted(run: ManualRun, size: number): Promise<void> {
  const chunk = 'z'.repeat(size);
  for (let i = 0; i < 200_000 && !run.signal.aborted; i++) {
    run.emit(`${i} ${chunk}`);
    if (i % 200 === 199) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function pause(c: TestClient): void {
  (c.socket as unknown as { _socket: { pause(): void } })._socket.pause();
}

function resume(c: TestClient): void {
  (c.socket as unknown as { _socket: { resume(): void } })._socket.resume();
}

function waitRun(agent: ManualAgent, input: string) {
  return new Promise<import('./fixtures.js').ManualRun>((resolve) => {
    const found = [...agent.runs.values()].find((r) => r.task.input === input);
    if (found !== undefined) {
      resolve(found);
      return;
    }
    const sub = agent.started$.subscribe((r) => {
      if (r.task.input === input) {
        sub.unsubscribe();
        resolve(r);
      }
    });
  });
}
