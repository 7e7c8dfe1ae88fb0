import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import {
  CancelledError,
  DuplicateIdError,
  ForbiddenError,
  LimitError,
  ProtocolError,
  QueueFullError,
} from '../core/errors/index.js';
import type { Task } from '../core/types.js';
import { ClientConnection } from '../wire/client-connection.js';
import { GatewayClient } from './gateway-client.js';
import { errorFrame, readClientFrame } from '../wire/protocol.js';
import type { CancelFrame, SubmitFrame, SubscribeFrame, UnsubscribeFrame } from '../wire/protocol.js';
import type { EventRouter } from './router.js';
import type { GatewayRuns } from './runs.js';
import type { AuthorizeRequest, ResolvedServeConfig } from './serve-config.js';

/** Growth of one socket's waiting bytes between two sums across sockets. */
const SWEEP_STEP = 64 * 1024;

/** What the sessions need of the gateway around them. */
export interface SessionHost {
  /** Whether new tasks are taken (not while the gateway drains). */
  readonly accepting: boolean;
  /** Asks the `authorize` hook; a throw or anything but `true` is no. */
  may(request: AuthorizeRequest): boolean;
}

/**
 * The sockets of the gateway and what their frames ask: submit (checked against the hook, the identity's ids
 * and the task limits), cancel, subscribe and unsubscribe, ping. Also the per-socket housekeeping: heartbeats,
 * and the bytes waiting across sockets.
 */
export class Sessions {
  readonly clients = new Set<GatewayClient>();
  readonly #config: ResolvedServeConfig;
  readonly #runs: GatewayRuns;
  readonly #router: EventRouter;
  readonly #host: SessionHost;

  constructor(config: ResolvedServeConfig, runs: GatewayRuns, router: EventRouter, host: SessionHost) {
    this.#config = config;
    this.#runs = runs;
    this.#router = router;
    this.#host = host;
  }

  /** A socket the HTTP edge let through, as `identity`. */
  connect(ws: WebSocket, identity: string): void {
    const tenant = this.#runs.tenantOf(identity);
    const disconnect = tenant.connect();
    const connection = new ClientConnection(ws, {
      highWaterMark: this.#config.highWaterMark,
      hardLimit: this.#config.hardLimit,
      scheduler: this.#config.scheduler,
      // Later, not inside the send that overflowed: that send may be settling one of these very tasks.
      onOverflow: () => {
        this.#config.scheduler.schedule(() => {
          this.#cancelTasksOf(client, 'disconnect');
        });
      },
      onHold: () => {
        this.#onHold(client);
      },
    });
    const client = new GatewayClient(connection, tenant, this.#host.may({ action: 'metrics', identity }));
    this.clients.add(client);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      try {
        this.#onMessage(client, data, isBinary);
      } catch {
        client.send(errorFrame(new ProtocolError({ problem: 'unhandled' })));
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.clients.delete(client);
      this.#router.watches.forget(client);
      connection.dispose();
      this.#cancelTasksOf(client, 'disconnect');
      disconnect();
      this.#runs.forgetIfIdle(tenant);
    });
  }

  /** Cuts off peers that missed the last ping, and pings the others. */
  heartbeat(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        client.connection.socket.terminate();
        continue;
      }
      client.alive = false;
      client.connection.socket.ping();
    }
  }

  /** Closes the sockets with the most bytes waiting until the total across sockets is within its limit. */
  sweepBuffers(): void {
    const limit = this.#config.limits.bufferedBytes;
    let total = 0;
    for (const c of this.clients) total += c.connection.pendingBytes;
    if (total <= limit) return;
    const bySize = [...this.clients].sort((a, b) => b.connection.pendingBytes - a.connection.pendingBytes);
    for (const c of bySize) {
      if (total <= limit) break;
      const bytes = c.connection.pendingBytes;
      total -= bytes;
      c.connection.closeSlow(`Client too slow: ${bytes} bytes waiting; all sockets over ${limit}`);
    }
  }

  /**
   * A socket held a frame back. Each time its waiting bytes have grown by another `SWEEP_STEP`, the bytes
   * waiting across all sockets are summed (O(sockets), so not on every frame), at once rather than later, as a
   * burst of deltas arrives in one synchronous run. Sockets below their high-water mark hold nothing back;
   * the metrics tick sums them too.
   */
  #onHold(client: GatewayClient): void {
    const pending = client.connection.pendingBytes;
    if (pending >= client.sweptAt && pending - client.sweptAt < SWEEP_STEP) return;
    client.sweptAt = pending;
    this.sweepBuffers();
  }

  #cancelTasksOf(client: GatewayClient, reason: 'disconnect'): void {
    const mine = [...client.tenant.tasks.values()].filter((task) => task.submitter === client);
    this.#runs.cancelMany(mine, (task) => cancelledError(task.id, reason));
  }

  #onMessage(client: GatewayClient, data: RawData, isBinary: boolean): void {
    const parsed = readClientFrame(data, isBinary);
    if (!parsed.success) {
      client.send(parsed.error);
      return;
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case 'submit':
        this.#submit(client, frame);
        return;
      case 'cancel':
        this.#cancel(client, frame);
        return;
      case 'subscribe':
        this.#subscribe(client, frame);
        return;
      case 'unsubscribe':
        this.#unsubscribe(client, frame);
        return;
      case 'ping':
        client.send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
        return;
    }
  }

  #submit(client: GatewayClient, frame: SubmitFrame): void {
    if (!this.#host.accepting) {
      client.send(errorFrame(new ProtocolError({ problem: 'closing' })));
      return;
    }
    const { tenant, identity } = client;
    const submitted = frame.tasks ?? (frame.task === undefined ? [] : [frame.task]);
    const tasks = submitted.map((t): Task => (typeof t === 'string' ? { id: randomUUID(), input: t } : t));
    const ids = tasks.map((t) => t.id);
    if (!this.#host.may({ action: 'submit', identity, owner: identity, taskIds: ids })) {
      client.send(errorFrame(new ForbiddenError({ action: 'submit' })));
      return;
    }
    const seen = new Set<string>();
    const duplicates = ids.filter((id) => tenant.tasks.has(id) || seen.has(id) || !seen.add(id));
    if (duplicates.length > 0) {
      const list = duplicates.map((id) => JSON.stringify(id)).join(', ');
      const message = `Task ids already in use: ${list}; nothing was accepted`;
      client.send(errorFrame(new DuplicateIdError({ kind: 'task', id: duplicates[0] ?? '', message })));
      return;
    }
    const { tasksPerIdentity, tasks: total } = this.#config.limits;
    if (tenant.tasks.size + tasks.length > tasksPerIdentity) {
      const message = `Too many tasks: this identity has ${tenant.tasks.size} accepted and not settled, and ${tasks.length} more would pass the limit of ${tasksPerIdentity}; nothing was accepted`;
      client.send(
        errorFrame(new QueueFullError({ queueLimit: tasksPerIdentity, overflow: 'reject', message })),
      );
      return;
    }
    if (this.#runs.size + tasks.length > total) {
      // Other identities' load is theirs: the answer says only that the gateway is full.
      const message = 'Too many tasks: the gateway takes no more for now; nothing was accepted';
      client.send(errorFrame(new QueueFullError({ queueLimit: total, overflow: 'reject', message })));
      return;
    }
    client.send({ type: 'accepted', taskIds: ids });
    this.#runs.accept(tenant, client, tasks);
  }

  #cancel(client: GatewayClient, frame: CancelFrame): void {
    const { identity } = client;
    const owner = frame.owner ?? identity;
    if (
      owner !== identity &&
      !this.#host.may({ action: 'cancel', identity, owner, taskIds: [frame.taskId] })
    ) {
      client.send(errorFrame(new ForbiddenError({ action: 'cancel', owner }), frame.taskId));
      return;
    }
    const task = this.#runs.tenant(owner)?.tasks.get(frame.taskId);
    if (task === undefined) {
      const whose = owner === identity ? 'this client' : JSON.stringify(owner);
      const message = `No task ${JSON.stringify(frame.taskId)} of ${whose} is waiting or running`;
      client.send(
        errorFrame(
          new ProtocolError({ problem: 'unknown-task', taskId: frame.taskId, message }),
          frame.taskId,
        ),
      );
      return;
    }
    this.#runs.cancel(task, cancelledError(task.id, 'client-cancel'));
  }

  #subscribe(client: GatewayClient, frame: SubscribeFrame): void {
    const { identity } = client;
    const owner = frame.owner ?? identity;
    const { taskIds } = frame;
    const watches = this.#router.watches;
    if (owner !== identity && !this.#host.may({ action: 'subscribe', identity, owner, taskIds })) {
      client.send(errorFrame(new ForbiddenError({ action: 'subscribe', owner })));
      return;
    }
    // By id without an owner: the identity's own tasks, and tasks published from elsewhere if the hook allows.
    const published =
      frame.owner === undefined &&
      taskIds !== '*' &&
      this.#host.may({ action: 'subscribe', identity, owner: undefined, taskIds });
    const adds = taskIds === '*' ? 1 : taskIds.length * (published ? 2 : 1);
    const limit = this.#config.limits.watchedPerSocket;
    if (watches.size(client) + adds > limit) {
      const used = watches.size(client);
      client.send(errorFrame(new LimitError({ limit: 'watchedPerSocket', used, max: limit })));
      return;
    }
    if (taskIds === '*') {
      if (frame.owner === undefined) watches.watchEverything(client);
      else watches.watchOwner(client, owner);
      return;
    }
    watches.watchIds(client, owner, taskIds);
    if (published) watches.watchIds(client, undefined, taskIds);
  }

  #unsubscribe(client: GatewayClient, frame: UnsubscribeFrame): void {
    const watches = this.#router.watches;
    if (frame.owner === undefined && frame.taskIds === '*') {
      watches.unwatchAll(client);
      return;
    }
    watches.unwatch(client, frame.owner ?? client.identity, frame.taskIds);
    if (frame.owner === undefined) watches.unwatch(client, undefined, frame.taskIds);
  }
}

function cancelledError(taskId: string, reason: 'client-cancel' | 'disconnect'): CancelledError {
  const why = reason === 'disconnect' ? 'its client disconnected' : 'by its client';
  return new CancelledError({ reason, taskId, message: `Task ${taskId} cancelled: ${why}` });
}
