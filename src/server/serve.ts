import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Observable, Subject, defer, interval, throwError } from 'rxjs';
import type { Subscription } from 'rxjs';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import { estimateTokens } from '../budget/estimate.js';
import type { BudgetState } from '../budget/create-budget.js';
import { CancelledError, QueueFullError, toRxAgentError } from '../core/errors.js';
import { expectConfig, expectInteger } from '../core/validate.js';
import type { AgentEvent, Task, TaskEvent } from '../core/types.js';
import { IDLE_POOL_STATE, pool } from '../operators/pool.js';
import type { PoolState, Worker, WorkerContext } from '../operators/pool.js';
import { ClientConnection, ClientQuota } from './client-connection.js';
import { dashboardHtml } from './dashboard.js';
import { eventToFrame, readClientFrame } from './protocol.js';
import type { MetricsFrame, SubmitFrame } from './protocol.js';
import { resolveServeConfig } from './serve-config.js';
import { SlidingMinute } from './sliding-minute.js';
import type { ResolvedServeConfig, ServeConfig } from './serve-config.js';

/** A running gateway. */
export interface Gateway {
  /** Base URL of the HTTP server, where the dashboard is: `http://127.0.0.1:8080`. */
  readonly url: string;
  /** URL of the WebSocket endpoint: `ws://127.0.0.1:8080/ws`. */
  readonly wsUrl: string;
  /** The port it listens on, the one picked when `port` was 0. */
  readonly port: number;
  /** Every task event of the gateway, as it happens (hot). Pipe it to `toJsonl` or `progress`. */
  readonly events$: Observable<TaskEvent>;
  /** Sockets connected now. */
  readonly clients: number;
  /** Sends an event from another stream to the clients that see its task (subscribers of it or of `*`). */
  publish(event: TaskEvent<unknown>): void;
  /**
   * Stops accepting, lets every accepted task settle, then closes the sockets with 1001. Tasks still running
   * or waiting `deadlineMs` after the call are cancelled (`CancelledError` with reason `'drain-deadline'`, their
   * runs aborted), so an agent that never ends cannot hold the gateway open. A later call may shorten the
   * deadline; every call resolves when the gateway has closed.
   *
   * @defaultValue deadlineMs: the `closeDeadlineMs` config, 30000
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

const TERMINATE_AFTER_MS = 1_000;

interface Active {
  readonly task: Task;
  readonly owner: ClientConnection | undefined;
  readonly quota: ClientQuota<Active> | undefined;
  /** Token estimate held against the client's quota while running. */
  readonly estimate: number;
  state: 'waiting' | 'running' | 'done';
  /** Set while the worker runs: ends the run with this error. */
  stop: ((error: CancelledError) => void) | undefined;
  /** Set when cancelled before the pool started the worker. */
  cancelled: CancelledError | undefined;
}

/**
 * Starts the WebSocket gateway: clients submit tasks and watch them stream, over one socket each, into a
 * shared pool; the dashboard page is served at `/`. Resolves once it listens.
 *
 * Every client frame is checked against `ClientFrameSchema`; what the gateway sends has the shape of
 * `ServerFrameSchema`. Bad frames get an `error` frame and the connection stays; frames over `maxPayload`
 * close it with 1009; the auth hook and the Origin allow-list answer 401 / 403 at the upgrade. Slow sockets
 * get their deltas coalesced, and past `hardLimit` are closed with 1008. A client that disconnects has its
 * tasks cancelled: running ones have their `signal` aborted and their budget reservations released. Each run
 * goes through `timeout`, `budget` and `retry` in the order `runAgents` uses.
 *
 * @example
 * const gateway = await serve({ agent: simulatedModel({ seed: 1 }), port: 8080, perClient: { concurrency: 2 } });
 * console.log(`dashboard at ${gateway.url}/`);
 * process.on('SIGINT', () => void gateway.close());
 */
export async function serve(config: ServeConfig): Promise<Gateway> {
  const resolved = resolveServeConfig(config);
  const server = resolved.server ?? createServer();
  const gateway = new GatewayServer(resolved, server, resolved.server === undefined);
  if (resolved.server === undefined) {
    server.listen(resolved.port, resolved.host);
    await once(server, 'listening');
  } else if (!server.listening) {
    await once(server, 'listening');
  }
  gateway.start();
  return gateway;
}

class GatewayServer implements Gateway {
  readonly #config: ResolvedServeConfig;
  readonly #server: Server;
  readonly #ownServer: boolean;
  readonly #wss: WebSocketServer;
  readonly #input = new Subject<Task>();
  readonly #events = new Subject<TaskEvent>();
  readonly #active = new Map<string, Active>();
  readonly #clients = new Set<ClientConnection>();
  readonly #alive = new WeakSet<ClientConnection>();
  /** Clients that subscribed to something beyond their own tasks. */
  readonly #watchers = new Set<ClientConnection>();
  readonly #quotas = new Map<string, ClientQuota<Active>>();
  readonly #timers: Subscription[] = [];
  readonly #windowTimers = new Set<Subscription>();
  /** Drain deadlines of `close()` calls, cancelled once every task has settled. */
  readonly #deadlines = new Set<Subscription>();
  #isDrained = false;
  readonly #spent: SlidingMinute;
  readonly #html: string;
  #poolState: PoolState = IDLE_POOL_STATE;
  #lastMetrics = '';
  #budgetState: BudgetState | undefined;
  #closing: Promise<void> | undefined;
  #inputClosed = false;
  #stopping = false;
  readonly #drained: Promise<void>;
  #resolveDrained: () => void = () => undefined;

  constructor(config: ResolvedServeConfig, server: Server, ownServer: boolean) {
    this.#config = config;
    this.#server = server;
    this.#ownServer = ownServer;
    this.#html = dashboardHtml(config.path);
    this.#spent = new SlidingMinute(config.scheduler);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#drained = new Promise((resolve) => {
      this.#resolveDrained = resolve;
    });
  }

  get url(): string {
    return `http://${this.#hostPort()}`;
  }

  get wsUrl(): string {
    return `ws://${this.#hostPort()}${this.#config.path}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get events$(): Observable<TaskEvent> {
    return this.#events.asObservable();
  }

  get clients(): number {
    return this.#clients.size;
  }

  start(): void {
    this.#server.on('upgrade', this.#onUpgrade);
    if (this.#ownServer) this.#server.on('request', this.#onRequest);
    const { scheduler } = this.#config;
    const userMonitor = this.#config.pool.monitor;
    const worker: Worker<string> = (task, context) => this.#work(task, context);
    const run$ = this.#input.pipe(
      pool(worker, {
        ...this.#config.pool,
        scheduler,
        monitor: (state) => {
          this.#poolState = state;
          userMonitor?.(state);
        },
      }),
    );
    this.#timers.push(
      run$.subscribe({
        next: (event) => {
          this.#emit(event);
        },
        error: (error: unknown) => {
          this.#events.error(error);
          this.#resolveDrained();
        },
        complete: () => {
          this.#resolveDrained();
        },
      }),
      ...(this.#config.budget === undefined
        ? []
        : [
            this.#config.budget.state$.subscribe((state) => {
              this.#budgetState = state;
            }),
          ]),
      ...(this.#config.results === undefined
        ? []
        : [
            this.#config.results.subscribe((event) => {
              this.publish(event);
            }),
          ]),
      interval(this.#config.metricsIntervalMs, scheduler).subscribe(() => {
        this.#sendMetrics();
      }),
      interval(this.#config.heartbeatMs, scheduler).subscribe(() => {
        this.#heartbeat();
      }),
    );
  }

  publish(event: TaskEvent<unknown>): void {
    this.#route(event);
  }

  close(options: { readonly deadlineMs?: number } = {}): Promise<void> {
    expectConfig('options', options);
    const deadlineMs = expectInteger(
      'deadlineMs',
      options.deadlineMs ?? this.#config.closeDeadlineMs,
      0,
      true,
    );
    if (deadlineMs !== Number.POSITIVE_INFINITY && !this.#isDrained) {
      const timer = this.#config.scheduler.schedule(() => {
        this.#deadlines.delete(timer);
        this.#cancelAll(deadlineMs);
      }, deadlineMs);
      this.#deadlines.add(timer);
    }
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    this.#server.off('upgrade', this.#onUpgrade);
    const serverClosed = this.#ownServer
      ? new Promise<void>((resolve) =>
          this.#server.close(() => {
            resolve();
          }),
        )
      : Promise.resolve();
    this.#completeInputWhenIdle();
    await this.#drained;
    this.#isDrained = true;
    for (const timer of this.#deadlines) timer.unsubscribe();
    this.#deadlines.clear();
    this.#sendMetrics();
    await Promise.all(
      [...this.#clients].map((client) => this.#closeSocket(client.socket, 1001, 'Gateway closing')),
    );
    for (const timer of [...this.#timers, ...this.#windowTimers]) timer.unsubscribe();
    this.#events.complete();
    await serverClosed;
  }

  #closeSocket(socket: WebSocket, code: number, reason: string): Promise<void> {
    if (socket.readyState === socket.CLOSED) return Promise.resolve();
    const closed = once(socket, 'close').then(() => undefined);
    socket.close(code, reason);
    const timer = this.#config.scheduler.schedule(() => {
      socket.terminate();
    }, TERMINATE_AFTER_MS);
    return closed.finally(() => {
      timer.unsubscribe();
    });
  }

  #hostPort(): string {
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  }

  readonly #onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (this.#config.dashboard && path === '/' && (request.method === 'GET' || request.method === 'HEAD')) {
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      response.end(request.method === 'HEAD' ? undefined : this.#html);
      return;
    }
    if (path === this.#config.path) {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      response.end('Upgrade Required');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('Not Found');
  };

  readonly #onUpgrade = (request: IncomingMessage, socket: Socket, head: Buffer): void => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== this.#config.path) {
      // On a shared server another handler may own this path.
      if (this.#ownServer) refuse(socket, 404, 'Not Found');
      return;
    }
    socket.on('error', () => undefined);
    if (!this.#originAllowed(request)) {
      refuse(socket, 403, 'Forbidden');
      return;
    }
    void this.#authenticate(request).then((identity) => {
      if (identity === undefined) {
        refuse(socket, 401, 'Unauthorized');
        return;
      }
      if (this.#stopping) {
        refuse(socket, 503, 'Service Unavailable');
        return;
      }
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        this.#onConnection(ws, identity);
      });
    });
  };

  #originAllowed(request: IncomingMessage): boolean {
    const origin = request.headers.origin;
    const { origins } = this.#config;
    if (origins === '*') return true;
    if (origins !== undefined) return origin !== undefined && origins.includes(origin);
    // Same origin by default: programs send no Origin; pages must come from this host.
    return origin === undefined || origin === `http://${request.headers.host ?? ''}`;
  }

  async #authenticate(request: IncomingMessage): Promise<string | undefined> {
    const anonymous = `client-${randomUUID()}`;
    if (this.#config.auth === undefined) return anonymous;
    try {
      const result = await this.#config.auth(request);
      if (typeof result === 'string' && result !== '') return result;
      return result === true ? anonymous : undefined;
    } catch {
      // An auth hook that fails admits nobody.
      return undefined;
    }
  }

  #onConnection(ws: WebSocket, identity: string): void {
    const client = new ClientConnection(ws, identity, {
      highWaterMark: this.#config.highWaterMark,
      hardLimit: this.#config.hardLimit,
      scheduler: this.#config.scheduler,
      onOverflow: () => {
        this.#cancelTasksOf(client);
      },
    });
    this.#clients.add(client);
    this.#alive.add(client);
    const quota = this.#quotaOf(identity);
    if (quota !== undefined) quota.sockets++;
    ws.on('pong', () => {
      this.#alive.add(client);
    });
    ws.on('message', (data, isBinary) => {
      this.#onMessage(client, data, isBinary);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.#clients.delete(client);
      this.#watchers.delete(client);
      client.dispose();
      this.#cancelTasksOf(client);
      if (quota !== undefined) {
        quota.sockets--;
        if (quota.idle) this.#quotas.delete(identity);
      }
    });
    this.#lastMetrics = '';
  }

  #quotaOf(identity: string): ClientQuota<Active> | undefined {
    const limits = this.#config.perClient;
    if (limits === undefined) return undefined;
    let quota = this.#quotas.get(identity);
    if (quota === undefined) {
      quota = new ClientQuota<Active>(limits, this.#config.scheduler);
      this.#quotas.set(identity, quota);
    }
    return quota;
  }

  #onMessage(client: ClientConnection, data: RawData, isBinary: boolean): void {
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
        this.#cancelByClient(client, frame.taskId);
        return;
      case 'subscribe':
        client.subscribe(frame.taskIds);
        this.#watchers.add(client);
        return;
      case 'unsubscribe':
        client.unsubscribe(frame.taskIds);
        return;
      case 'ping':
        client.send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
        return;
    }
  }

  #submit(client: ClientConnection, frame: SubmitFrame): void {
    if (this.#stopping) {
      client.send({
        type: 'error',
        code: 'E_PROTOCOL',
        message: 'The gateway is closing and takes no new tasks',
      });
      return;
    }
    const submitted = frame.tasks ?? (frame.task === undefined ? [] : [frame.task]);
    const tasks = submitted.map((t): Task => (typeof t === 'string' ? { id: randomUUID(), input: t } : t));
    const seen = new Set<string>();
    const duplicates = tasks.filter((t) => this.#active.has(t.id) || seen.has(t.id) || !seen.add(t.id));
    if (duplicates.length > 0) {
      client.send({
        type: 'error',
        code: 'E_DUPLICATE_ID',
        message: `Task ids already in use: ${duplicates.map((t) => JSON.stringify(t.id)).join(', ')}; nothing was accepted`,
      });
      return;
    }
    const quota = this.#quotaOf(client.identity);
    const actives = tasks.map((task): Active => {
      const active: Active = {
        task,
        owner: client,
        quota,
        estimate: estimateTokens(task),
        state: 'waiting',
        stop: undefined,
        cancelled: undefined,
      };
      this.#active.set(task.id, active);
      return active;
    });
    client.send({ type: 'accepted', taskIds: tasks.map((t) => t.id) });
    for (const active of actives) this.#admit(active);
  }

  #admit(active: Active): void {
    const quota = active.quota;
    if (quota === undefined) {
      this.#run(active);
    } else if (quota.queued === 0 && quota.canStart()) {
      quota.start(active.estimate);
      this.#run(active);
    } else if (quota.queued >= quota.queueLimit) {
      const { concurrency, queueLimit } = quota;
      this.#settleHere(
        active,
        new QueueFullError(
          `Client queue is full: ${quota.queued} tasks already wait for this client's ${concurrency} slots (queueLimit ${queueLimit})`,
          { taskId: active.task.id, queueLimit, overflow: 'reject' },
        ),
      );
    } else {
      quota.waiting.push(active);
      quota.queued++;
      this.#scheduleWindowPump(quota);
    }
  }

  #run(active: Active): void {
    active.state = 'running';
    this.#input.next(active.task);
  }

  #pump(quota: ClientQuota<Active>): void {
    while (quota.queued > 0 && quota.canStart()) {
      const next = quota.waiting.shift() as Active;
      if (next.state !== 'waiting' || next.cancelled !== undefined) continue;
      quota.queued--;
      quota.start(next.estimate);
      this.#run(next);
    }
    this.#scheduleWindowPump(quota);
    this.#completeInputWhenIdle();
  }

  /** When only the token window holds a client's tasks back, look again when it moves. */
  #scheduleWindowPump(quota: ClientQuota<Active>): void {
    if (quota.queued === 0 || quota.canStart()) return;
    const delay = quota.msUntilWindowMoves();
    if (delay === undefined) return;
    const timer = this.#config.scheduler.schedule(() => {
      this.#windowTimers.delete(timer);
      this.#pump(quota);
    }, delay);
    this.#windowTimers.add(timer);
  }

  #work(task: Task, context: WorkerContext): Observable<AgentEvent> {
    return new Observable<AgentEvent>((subscriber) => {
      const active = this.#active.get(task.id);
      if (active?.cancelled !== undefined) {
        subscriber.error(active.cancelled);
        return undefined;
      }
      // Our own controller, so that a cancel aborts the run even when the pool keeps its signal for itself.
      const controller = new AbortController();
      const abort = (): void => {
        controller.abort(context.signal.reason);
      };
      context.signal.addEventListener('abort', abort, { once: true });
      if (active !== undefined) {
        active.stop = (error) => {
          subscriber.error(error);
        };
      }
      // Checked again at each attempt: cancelling one task can free budget that grants another cancelled
      // in the same sweep, and that one must not reach the provider.
      const attempt$ = defer(() =>
        active?.cancelled === undefined
          ? this.#config.agent.run(task, { signal: controller.signal })
          : throwError(() => active.cancelled),
      );
      const run$ = this.#config.limitRun(attempt$, task);
      const subscription = run$.subscribe(subscriber);
      return () => {
        context.signal.removeEventListener('abort', abort);
        if (active !== undefined) active.stop = undefined;
        subscription.unsubscribe();
        controller.abort(
          new CancelledError(`Run of ${task.id} ended`, { reason: 'unsubscribed', taskId: task.id }),
        );
      };
    });
  }

  #cancelByClient(client: ClientConnection, taskId: string): void {
    const active = this.#active.get(taskId);
    if (active?.owner?.identity !== client.identity) {
      client.send({
        type: 'error',
        code: 'E_PROTOCOL',
        message: `No task ${JSON.stringify(taskId)} of this client is waiting or running`,
        taskId,
      });
      return;
    }
    this.#cancel(active, 'client-cancel');
  }

  /** The drain deadline passed: every task still waiting or running ends now. */
  #cancelAll(deadlineMs: number): void {
    const left = [...this.#active.values()];
    for (const active of left) {
      active.cancelled ??= new CancelledError(
        `Task ${active.task.id} cancelled: the gateway closed and its drain deadline of ${deadlineMs} ms passed`,
        { reason: 'drain-deadline', taskId: active.task.id },
      );
    }
    for (const active of left) this.#stopCancelled(active);
  }

  #cancelTasksOf(client: ClientConnection): void {
    const mine = [...this.#active.values()].filter((active) => active.owner === client);
    // All are marked first, so that a slot freed by one cancel does not start another of them.
    for (const active of mine) active.cancelled ??= cancelledError(active.task.id, 'disconnect');
    for (const active of mine) this.#stopCancelled(active);
  }

  #cancel(active: Active, reason: 'client-cancel' | 'disconnect'): void {
    active.cancelled ??= cancelledError(active.task.id, reason);
    this.#stopCancelled(active);
  }

  /** Ends a cancelled task wherever it is; one the pool has not started yet fails as soon as it starts. */
  #stopCancelled(active: Active): void {
    const error = active.cancelled;
    if (error === undefined || active.state === 'done') return;
    if (active.state === 'waiting' && active.quota !== undefined) {
      active.quota.queued--;
      this.#settleHere(active, error);
      return;
    }
    active.stop?.(error);
  }

  /** Settles a task that never reached the pool (quota queue full, cancelled while waiting for its client). */
  #settleHere(active: Active, error: CancelledError | QueueFullError): void {
    const { id } = active.task;
    this.#emit({
      type: 'settled',
      taskId: id,
      result: { status: 'rejected', taskId: id, error: toRxAgentError(error), attempts: 0, durationMs: 0 },
    });
  }

  #emit(event: TaskEvent): void {
    this.#route(event);
    this.#events.next(event);
    if (event.type === 'settled') this.#finish(event);
  }

  #finish(event: Extract<TaskEvent, { type: 'settled' }>): void {
    const active = this.#active.get(event.taskId);
    const usage = event.result.usage;
    const tokens = usage === undefined ? 0 : usage.inputTokens + usage.outputTokens;
    this.#spent.add(tokens);
    if (active === undefined) return;
    this.#active.delete(event.taskId);
    const wasRunning = active.state === 'running';
    active.state = 'done';
    const quota = active.quota;
    if (quota !== undefined) {
      if (wasRunning) quota.finish(active.estimate, tokens);
      this.#pump(quota);
      if (quota.idle && active.owner !== undefined) this.#quotas.delete(active.owner.identity);
    }
    this.#completeInputWhenIdle();
  }

  #route(event: TaskEvent<unknown>): void {
    const frame = eventToFrame(event);
    if (frame === undefined) return;
    const owner = this.#active.get(event.taskId)?.owner;
    if (owner !== undefined && this.#clients.has(owner)) owner.send(frame);
    for (const watcher of this.#watchers) {
      if (watcher !== owner && watcher.isSubscribed(event.taskId)) watcher.send(frame);
    }
  }

  #completeInputWhenIdle(): void {
    if (!this.#stopping || this.#inputClosed) return;
    for (const quota of this.#quotas.values()) if (quota.queued > 0) return;
    this.#inputClosed = true;
    this.#input.complete();
  }

  #tokensPerMinute(): number {
    return this.#spent.total();
  }

  #sendMetrics(): void {
    if (this.#clients.size === 0) return;
    let waiting = 0;
    for (const quota of this.#quotas.values()) waiting += quota.queued;
    const state = this.#poolState;
    const frame: MetricsFrame = {
      type: 'metrics',
      queued: state.queued + waiting,
      inFlight: state.inFlight,
      completed: state.completed,
      failed: state.failed,
      tokensPerMinute: this.#tokensPerMinute(),
      clients: this.#clients.size,
      ...(this.#budgetState === undefined ? {} : { budget: this.#budgetState }),
    };
    const text = JSON.stringify(frame);
    if (text === this.#lastMetrics) return;
    this.#lastMetrics = text;
    for (const client of this.#clients) client.send(frame);
  }

  #heartbeat(): void {
    for (const client of this.#clients) {
      if (!this.#alive.has(client)) {
        client.socket.terminate();
        continue;
      }
      this.#alive.delete(client);
      client.socket.ping();
    }
  }
}

function cancelledError(taskId: string, reason: 'client-cancel' | 'disconnect'): CancelledError {
  const why = reason === 'disconnect' ? 'its client disconnected' : 'by its client';
  return new CancelledError(`Task ${taskId} cancelled: ${why}`, { reason, taskId });
}

function refuse(socket: Socket, status: number, message: string): void {
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
    );
  }
  socket.destroy();
}
