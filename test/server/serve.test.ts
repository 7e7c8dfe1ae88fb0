import { createServer } from 'node:http';
import { Subject, VirtualTimeScheduler, firstValueFrom, throwError } from 'rxjs';
import type { BudgetState } from '../../src/budget/create-budget.js';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { dashboardHtml } from '../../src/server/dashboard.js';
import { serve } from '../../src/server/serve.js';
import type { Agent, TaskEvent } from '../../src/core/types.js';
import { ProviderError } from '../../src/core/errors/index.js';
import { router } from '../../src/router/index.js';
import { textOf } from '../../src/core/agent-event.js';
import { createBudget } from '../../src/budget/create-budget.js';
import { ManualAgent, echoAgent, gatewayHarness, upgradeStatus } from './fixtures.js';

const { start, client, manual } = gatewayHarness();

const words = echoAgent((task) => textOf(task).split(/(?=\s)/));

describe('serve: protocol', () => {
  it('answers a submit with accepted, started, deltas with seq, and settled, in order', async () => {
    const gateway = await start({ agent: words });
    const c = await client(gateway);
    c.send({ type: 'submit', tasks: [{ id: 'a', input: 'one two three' }, 'four five'] });
    const accepted = await c.next('accepted');
    expect(accepted.taskIds[0]).toBe('a');
    expect(accepted.taskIds).toHaveLength(2);
    const generated = accepted.taskIds[1]!;
    await c.settled('a');
    const settledB = await c.settled(generated);
    expect(c.framesOf('a')).toEqual([
      { type: 'started', taskId: 'a', waitMs: expect.any(Number) as number },
      { type: 'delta', taskId: 'a', seq: 0, text: 'one' },
      { type: 'delta', taskId: 'a', seq: 1, text: ' two' },
      { type: 'delta', taskId: 'a', seq: 2, text: ' three' },
      {
        type: 'settled',
        taskId: 'a',
        result: {
          status: 'fulfilled',
          taskId: 'a',
          value: 'one two three',
          usage: { inputTokens: 2, outputTokens: 3 },
          attempts: 1,
          durationMs: expect.any(Number) as number,
          finishReason: 'stop',
        },
      },
    ]);
    expect(settledB.result.status).toBe('fulfilled');
    c.send({ type: 'submit', task: 'solo' });
    const solo = await c.next('accepted', (f) => f.taskIds.length === 1);
    expect((await c.settled(solo.taskIds[0]!)).result).toMatchObject({ value: 'solo' });
  });

  it("sends a router's route events as route frames, before the deployment's deltas", async () => {
    const denied: Agent = {
      run: () => throwError(() => new ProviderError({ status: 401, message: 'Incorrect API key' })),
    };
    const agent = router({
      deployments: [
        { id: 'east', agent: denied },
        { id: 'west', agent: words },
      ],
      strategy: 'ordered',
      warn: () => undefined,
    });
    const gateway = await start({ agent });
    const c = await client(gateway);
    c.send({ type: 'submit', task: { id: 'r', input: 'one two' } });
    expect((await c.settled('r')).result).toMatchObject({ status: 'fulfilled', attempts: 2 });
    expect(
      c.framesOf('r').map((f) => (f.type === 'route' ? `${f.deployment}#${f.attempt}` : f.type)),
    ).toEqual(['started', 'east#1', 'west#2', 'delta', 'delta', 'settled']);
  });

  it('answers ping with pong carrying the id', async () => {
    const c = await client(await start({ agent: words }));
    c.send({ type: 'ping', id: 7 });
    expect(await c.next('pong')).toEqual({ type: 'pong', id: 7 });
  });

  it('answers bad frames with error frames and keeps the connection, charging nothing', async () => {
    const { agent, c } = await manual();
    const cases: [unknown, string, RegExp][] = [
      ['{not json', 'E_PROTOCOL', /not valid JSON/],
      [{ type: 'launch' }, 'E_PROTOCOL', /Unknown frame type "launch"; expected one of submit, cancel/],
      [[1, 2], 'E_PROTOCOL', /Unknown frame type undefined/],
      [{ type: 'submit', task: 'x', extra: 1 }, 'E_VALIDATION', /Invalid submit frame/],
      [{ type: 'submit', tasks: [{ id: 'a', input: 'x', color: 'red' }] }, 'E_VALIDATION', /Invalid submit/],
      [{ type: 'submit', task: 'x'.repeat(40_000) }, 'E_VALIDATION', /at most 32768 characters/],
      [{ type: 'submit', task: 'x', tasks: ['y'] }, 'E_VALIDATION', /either `task` or `tasks`/],
      [{ type: 'submit', tasks: [] }, 'E_VALIDATION', /Invalid submit/],
      [{ type: 'cancel' }, 'E_VALIDATION', /Invalid cancel frame/],
      [{ type: 'cancel', taskId: 'nobody' }, 'E_PROTOCOL', /No task "nobody" of this client/],
    ];
    for (const [frame, code, message] of cases) {
      const from = c.frames.length;
      c.send(frame);
      const error = await c.next('error', () => true, from);
      expect(error.code, JSON.stringify(frame).slice(0, 80)).toBe(code);
      expect(error.message).toMatch(message);
      if (code === 'E_VALIDATION') expect(error.issues?.length).toBeGreaterThan(0);
    }
    const from = c.frames.length;
    c.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.next('error', () => true, from)).message).toMatch(/Binary frames/);
    const extra = (await c.next('error', (f) => /extra/.test(f.message))).issues?.[0];
    expect(extra).toMatchObject({ code: 'unrecognized_keys', keys: ['extra'] });
    c.send({ type: 'ping' });
    await c.next('pong');
    expect(agent.calls).toBe(0);
  });

  it('refuses a task id already in use, accepting nothing of that frame', async () => {
    const { agent, c } = await manual();
    c.send({ type: 'submit', tasks: [{ id: 'a', input: 'x' }] });
    await agent.started('a');
    c.send({
      type: 'submit',
      tasks: [
        { id: 'b', input: 'x' },
        { id: 'a', input: 'y' },
      ],
    });
    const error = await c.next('error');
    expect(error).toMatchObject({
      code: 'E_DUPLICATE_ID',
      message: 'Task ids already in use: "a"; nothing was accepted',
    });
    expect(agent.runs.has('b')).toBe(false);
  });

  it('turns permessage-deflate off even when the client offers it', async () => {
    const c = await client(await start({ agent: words }), { perMessageDeflate: true });
    expect(c.socket.extensions).toBe('');
  });

  it('closes with 1009 a frame over maxPayload', async () => {
    const c = await client(await start({ agent: words, maxPayload: 1024 }));
    c.send({ type: 'submit', task: 'x'.repeat(2000) });
    expect((await c.closed).code).toBe(1009);
  });

  it('shows a client only its own tasks unless it subscribes with the hook allowing it', async () => {
    const agent = new ManualAgent();
    const gateway = await start({
      agent,
      auth: (request) => String(request.headers['x-user']),
      authorize: (request) => request.action === 'submit' || request.identity === 'operator',
    });
    const owner = await client(gateway, { headers: { 'x-user': 'alice' } });
    const bystander = await client(gateway, { headers: { 'x-user': 'bob' } });
    const watcher = await client(gateway, { headers: { 'x-user': 'operator' } });
    watcher.send({ type: 'subscribe', taskIds: '*' });
    bystander.send({ type: 'subscribe', taskIds: ['other'] });
    watcher.send({ type: 'ping' });
    bystander.send({ type: 'ping' });
    await Promise.all([watcher.next('pong'), bystander.next('pong')]);
    owner.send({ type: 'submit', task: { id: 't', input: 'x' } });
    const run = await agent.started('t');
    run.emit('hi');
    run.finish();
    await Promise.all([owner.settled('t'), watcher.settled('t')]);
    expect(watcher.framesOf('t').map((f) => [f.type, 'owner' in f && f.owner])).toEqual([
      ['started', 'alice'],
      ['delta', 'alice'],
      ['settled', 'alice'],
    ]);
    expect(owner.framesOf('t').every((f) => !('owner' in f))).toBe(true);
    bystander.send({ type: 'ping', id: 'after' });
    await bystander.next('pong', (f) => f.id === 'after');
    expect(bystander.framesOf('t')).toEqual([]);
  });

  it('pushes results produced elsewhere to the clients that watch them', async () => {
    const results = new Subject<TaskEvent<unknown>>();
    // Published results belong to no identity: only identities the hook admits may watch them.
    const gateway = await start({
      agent: new ManualAgent(),
      results,
      authorize: (request) => request.action === 'subscribe' && request.owner === undefined,
    });
    const watcher = await client(gateway);
    const bystander = await client(gateway);
    watcher.send({ type: 'subscribe', taskIds: ['remote'] });
    watcher.send({ type: 'ping' });
    await watcher.next('pong');
    results.next({
      type: 'settled',
      taskId: 'remote',
      result: {
        status: 'fulfilled',
        taskId: 'remote',
        value: 'done elsewhere',
        usage: { inputTokens: 1, outputTokens: 2 },
        attempts: 1,
        durationMs: 5,
      },
    });
    const settled = await watcher.settled('remote');
    expect(settled.result).toMatchObject({ status: 'fulfilled', value: 'done elsewhere' });
    bystander.send({ type: 'ping', id: 'after' });
    await bystander.next('pong', (f) => f.id === 'after');
    expect(bystander.framesOf('remote')).toEqual([]);
    expect(results.observed).toBe(true);
    await gateway.close();
    expect(results.observed).toBe(false);
  });

  it('cancels a task on request, aborting its run', async () => {
    const { agent, c } = await manual();
    c.send({ type: 'submit', task: { id: 'slow', input: 'x' } });
    const run = await agent.started('slow');
    run.emit('partial');
    c.send({ type: 'cancel', taskId: 'slow' });
    const settled = await c.settled('slow');
    expect(settled.result).toMatchObject({
      status: 'rejected',
      error: { code: 'E_CANCELLED', info: { reason: 'client-cancel', taskId: 'slow' } },
    });
    expect(run.signal.aborted).toBe(true);
  });

  it('aborts the runs of a client that disconnects', async () => {
    const { agent, gateway, events, c } = await manual({ pool: { concurrency: 1 } });
    c.send({
      type: 'submit',
      tasks: [
        { id: 'r', input: 'x' },
        { id: 'q', input: 'y' },
      ],
    });
    const run = await agent.started('r');
    const aborted = once(run.signal, 'abort');
    c.socket.terminate();
    await aborted;
    await new Promise<void>((resolve) => {
      gateway.events$.subscribe((e) => {
        if (e.type === 'settled' && e.taskId.endsWith('/q')) resolve();
      });
      if (events.some((e) => e.type === 'settled' && e.taskId.endsWith('/q'))) resolve();
    });
    const settled = events.filter((e) => e.type === 'settled');
    expect(
      settled.map((e) => [e.taskId, e.result.status, e.result.status === 'rejected' && e.result.error.code]),
    ).toEqual([
      [expect.stringMatching(/^client-[\w-]+\/r$/), 'rejected', 'E_CANCELLED'],
      [expect.stringMatching(/^client-[\w-]+\/q$/), 'rejected', 'E_CANCELLED'],
    ]);
    expect(agent.runs.has('q')).toBe(false);
  });

  it('drains on close, then closes sockets with 1001 and refuses new ones', async () => {
    const { agent, gateway, c } = await manual();
    c.send({ type: 'submit', task: { id: 'last', input: 'x' } });
    const run = await agent.started('last');
    const closing = gateway.close();
    c.send({ type: 'submit', task: { id: 'late', input: 'x' } });
    expect((await c.next('error')).message).toMatch(/closing/);
    run.emit('done soon');
    run.finish();
    expect((await c.settled('last')).result.status).toBe('fulfilled');
    expect((await c.closed).code).toBe(1001);
    await closing;
  });

  it('cancels what is left when the close deadline passes, aborting runs that would never end', async () => {
    const { agent, gateway, c } = await manual({ closeDeadlineMs: 60_000 });
    c.send({
      type: 'submit',
      tasks: [
        { id: 'quick', input: 'x' },
        { id: 'stuck', input: 'y' },
      ],
    });
    const quick = await agent.started('quick');
    const stuck = await agent.started('stuck');
    const closing = gateway.close();
    quick.finish('ok');
    expect((await c.settled('quick')).result.status).toBe('fulfilled');
    // The config's minute would leave the stuck run holding the gateway; a later call shortens it.
    const forced = gateway.close({ deadlineMs: 20 });
    expect((await c.settled('stuck')).result).toMatchObject({
      status: 'rejected',
      error: { code: 'E_CANCELLED', info: { reason: 'drain-deadline', taskId: 'stuck' } },
    });
    expect(stuck.signal.aborted).toBe(true);
    expect((await c.closed).code).toBe(1001);
    await Promise.all([closing, forced]);
    expect(() => gateway.close({ deadlineMs: -1 })).toThrow(
      'Expected `deadlineMs` to be an integer from 0 and up, or Infinity, got -1 (number)',
    );
  });

  it('bounds each attempt with timeoutMs and retries it like runAgents', async () => {
    const { agent, c } = await manual({ timeoutMs: 50, retry: { maxRetries: 1, baseDelayMs: 0 } });
    const retried = firstValueFrom(agent.started$);
    c.send({ type: 'submit', task: { id: 'hangs-once', input: 'x' } });
    const first = await retried;
    const second = await firstValueFrom(agent.started$);
    expect(second).not.toBe(first);
    // The timed-out attempt's request was aborted; the retry runs with a fresh signal.
    expect(first.signal.aborted).toBe(true);
    expect(second.signal.aborted).toBe(false);
    second.emit('late ');
    second.finish();
    expect((await c.settled('hangs-once')).result).toMatchObject({
      status: 'fulfilled',
      value: 'late ',
      attempts: 2,
    });
    const strict = await start({ agent, timeout: { first: 30 }, retry: false });
    const d = await client(strict);
    d.send({ type: 'submit', task: { id: 'hangs', input: 'y' } });
    expect((await d.settled('hangs')).result).toMatchObject({
      status: 'rejected',
      attempts: 1,
      error: { code: 'E_TIMEOUT', info: { limit: 'first', ms: 30 } },
    });
  });

  it("sends metrics frames with queue depth and in-flight count, the gateway's only to whom the hook admits", async () => {
    const { c, gateway } = await manual({
      pool: { concurrency: 1 },
      metricsIntervalMs: 10,
      auth: (request) => String(request.headers['x-user']),
      authorize: (request) => request.action === 'submit' || request.identity === 'operator',
    });
    const operator = await client(gateway, { headers: { 'x-user': 'operator' } });
    c.send({ type: 'submit', tasks: ['a', 'b', 'c'] });
    const mine = await c.next('metrics', (f) => f.inFlight === 1 && f.queued === 2);
    expect(mine).toEqual({
      type: 'metrics',
      scope: 'identity',
      queued: 2,
      inFlight: 1,
      completed: 0,
      failed: 0,
      tokensPerMinute: 0,
    });
    const all = await operator.next('metrics', (f) => f.inFlight === 1 && f.queued === 2);
    expect(all).toMatchObject({ scope: 'gateway', completed: 0, failed: 0, clients: 2 });
  });

  it('terminates a peer that stops answering pings', async () => {
    const gateway = await start({ agent: words, heartbeatMs: 50 });
    const c = await client(gateway, { autoPong: false });
    const answering = await client(gateway);
    expect((await c.closed).code).toBe(1006);
    answering.send({ type: 'ping' });
    await answering.next('pong');
    expect(gateway.clients).toBe(1);
  });
});

describe('serve: upgrade checks', () => {
  it('answers 401 when the auth hook refuses, and admits with an identity', async () => {
    const gateway = await start({
      agent: words,
      auth: (request) => (request.headers.authorization === 'Bearer good' ? 'alice' : false),
    });
    expect(await upgradeStatus(gateway.wsUrl)).toBe(401);
    expect(await upgradeStatus(gateway.wsUrl, { authorization: 'Bearer bad' })).toBe(401);
    expect(await upgradeStatus(gateway.wsUrl, { authorization: 'Bearer good' })).toBe(101);
    const throwing = await start({
      agent: words,
      auth: () => Promise.reject(new Error('db down')),
    });
    expect(await upgradeStatus(throwing.wsUrl)).toBe(401);
  });

  it('answers 403 to an Origin not allowed', async () => {
    const gateway = await start({ agent: words, origins: ['https://app.example.com'] });
    expect(await upgradeStatus(gateway.wsUrl, { origin: 'https://evil.example.com' })).toBe(403);
    expect(await upgradeStatus(gateway.wsUrl)).toBe(403);
    expect(await upgradeStatus(gateway.wsUrl, { origin: 'https://app.example.com' })).toBe(101);
    const open = await start({ agent: words });
    expect(await upgradeStatus(open.wsUrl, { origin: 'https://evil.example.com' })).toBe(403);
    expect(await upgradeStatus(open.wsUrl, { origin: open.url })).toBe(101);
    expect(await upgradeStatus(open.wsUrl)).toBe(101);
  });

  it('serves the dashboard at / and 404 elsewhere', async () => {
    const gateway = await start({ agent: words });
    const page = await fetch(`${gateway.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('const WS_PATH = "/ws"');
    expect((await fetch(`${gateway.url}/nope`)).status).toBe(404);
    expect(await upgradeStatus(gateway.wsUrl.replace('/ws', '/other'))).toBe(404);
  });

  it('attaches to an existing server, leaving its routes alone', async () => {
    const server = createServer((_req, res) => res.end('mine'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const gateway = await start({ agent: words, server, path: '/socket' });
    expect(await (await fetch(`${gateway.url}/`)).text()).toBe('mine');
    const c = await client(gateway);
    c.send({ type: 'submit', task: 'hello there' });
    const accepted = await c.next('accepted');
    expect((await c.settled(accepted.taskIds[0]!)).result).toMatchObject({ value: 'hello there' });
    await gateway.close();
    server.close();
  });
});

describe('serve: per-client quotas', () => {
  it("keeps one client's burst from taking the others' slots", async () => {
    const agent = new ManualAgent();
    const gateway = await start({
      agent,
      pool: { concurrency: 2 },
      perClient: { concurrency: 1, queueLimit: 2 },
    });
    const greedy = await client(gateway);
    const polite = await client(gateway);
    greedy.send({ type: 'submit', tasks: ['g1', 'g2', 'g3', 'g4', 'g5'].map((id) => ({ id, input: id })) });
    await agent.started('g1');
    for (const id of ['g4', 'g5']) {
      expect((await greedy.settled(id)).result).toMatchObject({
        status: 'rejected',
        error: { code: 'E_QUEUE_FULL', info: { taskId: id, queueLimit: 2, overflow: 'reject' } },
      });
    }
    polite.send({ type: 'submit', task: { id: 'p1', input: 'p' } });
    const p1 = await agent.started('p1');
    expect([...agent.runs.keys()]).toEqual(['g1', 'p1']);
    p1.finish();
    await polite.settled('p1');
    agent.runs.get('g1')!.finish();
    (await agent.started('g2')).finish();
    (await agent.started('g3')).finish();
    await greedy.settled('g3');
    expect(agent.calls).toBe(4);
  });

  it('shares a quota between the sockets of one identity', async () => {
    const agent = new ManualAgent();
    const gateway = await start({ agent, auth: () => 'same', perClient: { concurrency: 1, queueLimit: 0 } });
    const first = await client(gateway);
    const second = await client(gateway);
    first.send({ type: 'submit', task: { id: 'x', input: 'x' } });
    await agent.started('x');
    second.send({ type: 'submit', task: { id: 'y', input: 'y' } });
    expect((await second.settled('y')).result).toMatchObject({ error: { code: 'E_QUEUE_FULL' } });
  });
});

describe('serve: per-client tokens per minute', () => {
  it('holds a client back while its last minute of tokens is at the limit', async () => {
    const scheduler = new VirtualTimeScheduler(undefined, 61_000);
    const agent = new ManualAgent();
    const gateway = await start({
      agent,
      scheduler,
      heartbeatMs: 1_000_000,
      perClient: { tokensPerMinute: 10 },
    });
    const heavy = await client(gateway);
    const light = await client(gateway);
    heavy.send({
      type: 'submit',
      tasks: [
        { id: 'h1', input: 'x' },
        { id: 'h2', input: 'y' },
      ],
    });
    const h1 = await agent.started('h1');
    h1.emit('twenty characters...');
    h1.finish();
    await heavy.settled('h1');
    light.send({ type: 'submit', task: { id: 'l1', input: 'z' } });
    await agent.started('l1');
    heavy.send({ type: 'ping' });
    await heavy.next('pong');
    expect(agent.runs.has('h2')).toBe(false);
    scheduler.flush();
    await agent.started('h2');
  });
});

describe('serve: budget', () => {
  it('runs tasks through the shared budget, reports it in metrics, and charges nothing for bad input', async () => {
    const budget = createBudget({ requestsPerMinute: 1000 });
    const initial = await firstValueFrom(budget.state$);
    const gateway = await start({
      agent: words,
      budget,
      metricsIntervalMs: 10,
      authorize: (request) => request.action === 'submit' || request.action === 'metrics',
    });
    const c = await client(gateway);
    c.send({ type: 'submit', tasks: [{ id: 'bad', input: 'x', extra: true }] });
    c.send('{"type":"submit"');
    await c.next('error', (f) => f.code === 'E_PROTOCOL');
    const idle = await c.next('metrics', (f) => f.budget !== undefined);
    expect(idle.budget).toMatchObject({ requestsAvailable: initial.requestsAvailable, waiting: 0, spent: 0 });
    c.send({ type: 'submit', task: { id: 'ok', input: 'a b' } });
    expect((await c.settled('ok')).result.status).toBe('fulfilled');
    const after = await c.next('metrics', (f) => f.completed === 1);
    expect((after.budget as { requestsAvailable: number }).requestsAvailable).toBeLessThan(
      initial.requestsAvailable,
    );
  });

  it('releases the budget held by a client that disconnects, running or waiting', async () => {
    const budgetClock = new VirtualTimeScheduler();
    // One request a second, and a clock that never moves: only a release can free the slot again.
    const budget = createBudget({ requestsPerMinute: 60, scheduler: budgetClock });
    let state: BudgetState | undefined;
    budget.state$.subscribe((s) => (state = s));
    const initial = state!;
    const { agent, gateway, events, c } = await manual({ budget, pool: { concurrency: 2 } });
    c.send({
      type: 'submit',
      tasks: [
        { id: 'granted', input: 'x' },
        { id: 'in-line', input: 'y' },
      ],
    });
    const run = await agent.started('granted');
    await c.next('started', (f) => f.taskId === 'in-line');
    expect(state).toMatchObject({ requestsAvailable: initial.requestsAvailable - 1, waiting: 1 });
    const bothSettled = new Promise<void>((resolve) => {
      gateway.events$.subscribe(() => {
        if (events.filter((e) => e.type === 'settled').length === 2) resolve();
      });
    });
    c.socket.terminate();
    await bothSettled;
    expect(run.signal.aborted).toBe(true);
    expect(agent.runs.has('in-line')).toBe(false);
    expect(state).toMatchObject({ requestsAvailable: initial.requestsAvailable, waiting: 0 });
  });
});

describe('serve: config', () => {
  it('rejects bad configs with precise messages', async () => {
    await expect(serve({ agent: {} as never })).rejects.toThrow(
      'Expected `agent` to be an object with a `run(task, { signal })` method, got an object',
    );
    await expect(serve({ agent: words, port: 1, server: createServer() })).rejects.toThrow(
      'Give either the "server" option or "port"/"host", not both',
    );
    await expect(serve({ agent: words, path: 'ws' })).rejects.toThrow(
      'Expected `path` to be a path starting with "/"',
    );
    await expect(serve({ agent: words, highWaterMark: 10, hardLimit: 5 })).rejects.toThrow(
      'Expected `hardLimit` (5) to be greater than `highWaterMark` (10)',
    );
    await expect(serve({ agent: words, perClient: { concurrency: 0 } })).rejects.toThrow(
      'Expected `perClient.concurrency` to be an integer from 1 and up, or Infinity, got 0 (number)',
    );
    await expect(serve({ agent: words, origins: 'x' as never })).rejects.toThrow(
      'Expected `origins` to be an array',
    );
    await expect(serve({ agent: words, timeoutMs: 5, timeout: { each: 1 } })).rejects.toThrow(
      'Give `timeoutMs` or `timeout`, not both',
    );
    await expect(serve({ agent: words, timeout: {} })).rejects.toThrow('No timeout provided');
    await expect(serve({ agent: words, retry: { maxRetries: -1 } })).rejects.toThrow(
      'Expected `maxRetries` to be an integer from 0',
    );
    await expect(serve({ agent: words, closeDeadlineMs: -5 })).rejects.toThrow(
      'Expected `closeDeadlineMs` to be an integer from 0 and up, or Infinity, got -5 (number)',
    );
    await expect(serve({ agent: words, timeOutMs: 5 } as never)).rejects.toThrow(
      'Unknown option `timeOutMs`',
    );
    await expect(serve({ agent: words, allowedHosts: 'example.com' as never })).rejects.toThrow(
      'Expected `allowedHosts` to be an array of host names or \'all\', got "example.com" (string)',
    );
    await expect(serve({ agent: words, allowedHosts: [''] })).rejects.toThrow('Expected `allowedHosts`');
    await expect(serve({ agent: words, authorize: true as never })).rejects.toThrow(
      'Expected `authorize` to be a function',
    );
    await expect(serve({ agent: words, trustProxy: 'yes' as never })).rejects.toThrow(
      'Expected `trustProxy` to be a boolean, got "yes" (string)',
    );
    await expect(serve({ agent: words, limits: { connectons: 5 } as never })).rejects.toThrow(
      'Unknown option `connectons` for limits',
    );
    await expect(serve({ agent: words, limits: { tasks: 0 } })).rejects.toThrow(
      'Expected `limits.tasks` to be an integer from 1 and up, or Infinity, got 0 (number)',
    );
  });

  it('checks the pool config before listening, so a bad one leaves no server open', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const refused = serve({ agent: words, server, pool: { concurrency: 0 } });
    await expect(refused).rejects.toThrow('Expected `concurrency` to be an integer from 1 and up');
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(server.listenerCount('request')).toBe(0);
    server.close();
  });

  it('embeds a socket path with $ characters literally in the dashboard', () => {
    expect(dashboardHtml("/ws$'x")).toContain(`const WS_PATH = "/ws$'x";`);
  });
});
