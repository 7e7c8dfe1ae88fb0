import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
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
import { withSignal } from '../core/with-signal.js';
import { attemptEnded } from '../operators/internal/run-limits.js';
import { ClientConnection } from '../wire/client-connection.js';
import { dashboardPage } from './dashboard.js';
import type { DashboardPage } from './dashboard.js';
import { clientAddress, hostAllowed, originAllowed, refuse, requestPath, respond } from './http-edge.js';
import { eventToFrame, readClientFrame } from '../wire/protocol.js';
import type {
  CancelFrame,
  ErrorFrame,
  MetricsFrame,
  ServerFrame,
  SubmitFrame,
  SubscribeFrame,
  UnsubscribeFrame,
} from '../wire/protocol.js';
import type { AuthorizeRequest, ResolvedServeConfig } from './serve-config.js';
import type { Gateway } from './serve.js';
import { SlidingMinute } from './sliding-minute.js';
import { Tenant } from './tenant.js';
import type { GatewayTask } from './tenant.js';
import { WatchIndex } from './watch-index.js';
import type { Owner } from './watch-index.js';

const TERMINATE_AFTER_MS = 1_000;
/** Growth of one socket's waiting bytes between two sums across sockets. */
const SWEEP_STEP = 64 * 1024;

/** A socket of an identity. */
class GatewayClient {
  readonly connection: ClientConnection;
  readonly identity: string;
  readonly tenant: Tenant;
  /** Whether `authorize` lets it see the gateway's figures rather than only its own. */
  readonly seesGateway: boolean;
  /** Its bytes waiting when the gateway last summed them across sockets. */
  sweptAt = 0;
  /** Answered the last ping. */
  alive = true;
  /** The last metrics frame sent, to send only changes. */
  lastMetrics = '';

  constructor(connection: ClientConnection, tenant: Tenant, seesGateway: boolean) {
    this.connection = connection;
    this.identity = tenant.identity;
    this.tenant = tenant;
    this.seesGateway = seesGateway;
  }

  send(frame: ServerFrame): void {
    this.connection.send(frame);
  }
}

type TaskFrame = Extract<ServerFrame, { type: 'started' | 'delta' | 'tool' | 'settled' }>;

/**
 * The gateway behind {@link serve}: the HTTP edge (host, origin, auth, connection limits, the page), the
 * identities (`Tenant`) with their scoped task ids and quotas, the index of watchers, and the shared pool.
 */
export class GatewayServer implements Gateway {
  readonly #config: ResolvedServeConfig;
  readonly #server: Server;
  readonly #ownServer: boolean;
  readonly #wss: WebSocketServer;
  readonly #page: DashboardPage;
  readonly #input = new Subject<Task>();
  readonly #events = new Subject<TaskEvent>();
  /** Accepted and not settled, by key. */
  readonly #tasks = new Map<string, GatewayTask>();
  readonly #tenants = new Map<string, Tenant>();
  readonly #clients = new Set<GatewayClient>();
  readonly #watch: WatchIndex<GatewayClient>;
  /** Sockets per address, counted from the upgrade (while auth runs) to the close. */
  readonly #perAddress = new Map<string, number>();
  /** Sockets open or being authenticated. */
  #connections = 0;
  readonly #timers: Subscription[] = [];
  /** One timer per identity held back only by its token window. */
  readonly #windowTimers = new Map<Tenant, Subscription>();
  /** Drain deadlines of `close()` calls, cancelled once every task has settled. */
  readonly #deadlines = new Set<Subscription>();
  readonly #spent: SlidingMinute;
  #poolState: PoolState = IDLE_POOL_STATE;
  #budgetState: BudgetState | undefined;
  /** `running` takes work; `draining` answers 503 and lets accepted tasks settle; `closed` is done. */
  #state: 'running' | 'draining' | 'closed' = 'running';
  #closing: Promise<void> | undefined;
  #inputClosed = false;
  readonly #drained: Promise<void>;
  #resolveDrained: () => void = () => undefined;

  constructor(config: ResolvedServeConfig, server: Server, ownServer: boolean) {
    this.#config = config;
    this.#server = server;
    this.#ownServer = ownServer;
    this.#page = dashboardPage(config.path);
    this.#spent = new SlidingMinute(config.scheduler);
    this.#watch = new WatchIndex((client, owner) =>
      this.#may({ action: 'subscribe', identity: client.identity, owner, taskIds: '*' }),
    );
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
        this.#sweepBuffers();
      }),
      interval(this.#config.heartbeatMs, scheduler).subscribe(() => {
        this.#heartbeat();
      }),
    );
  }

  publish(event: TaskEvent<unknown>): void {
    this.#route(event, undefined);
  }

  close(options: { readonly deadlineMs?: number } = {}): Promise<void> {
    expectConfig('options', options);
    const deadlineMs = expectInteger(
      'deadlineMs',
      options.deadlineMs ?? this.#config.closeDeadlineMs,
      0,
      true,
    );
    if (deadlineMs !== Number.POSITIVE_INFINITY && this.#state !== 'closed') {
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
    // The listener stays while tasks drain, so that new connections are answered 503 rather than refused.
    this.#state = 'draining';
    this.#completeInputWhenIdle();
    await this.#drained;
    for (const timer of this.#deadlines) timer.unsubscribe();
    this.#deadlines.clear();
    this.#sendMetrics();
    await Promise.all(
      [...this.#clients].map((client) =>
        this.#closeSocket(client.connection.socket, 1001, 'Gateway closing'),
      ),
    );
    this.#state = 'closed';
    for (const timer of [...this.#timers, ...this.#windowTimers.values()]) timer.unsubscribe();
    this.#events.complete();
    this.#server.off('upgrade', this.#onUpgrade);
    if (this.#ownServer) {
      await new Promise<void>((resolve) => {
        this.#server.close(() => {
          resolve();
        });
        this.#server.closeAllConnections();
      });
      this.#server.off('request', this.#onRequest);
    }
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

  // ── HTTP edge ──────────────────────────────────────────────────────────────────────────────────────────

  readonly #onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    try {
      this.#answer(request, response);
    } catch {
      // A failure here must cost this request only, never the process.
      if (!response.headersSent) respond(response, 500, 'Internal Server Error');
      else response.destroy();
    }
  };

  #answer(request: IncomingMessage, response: ServerResponse): void {
    if (this.#state !== 'running') {
      respond(response, 503, 'Service Unavailable', { connection: 'close' });
      return;
    }
    if (!hostAllowed(request.headers.host, this.#config.allowedHosts)) {
      respond(response, 403, 'Forbidden: host not allowed');
      return;
    }
    const path = requestPath(request.url);
    if (path === undefined) {
      respond(response, 400, 'Bad Request');
      return;
    }
    if (this.#config.dashboard && path === '/') {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        respond(response, 405, 'Method Not Allowed', { allow: 'GET, HEAD' });
        return;
      }
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-security-policy': this.#page.contentSecurityPolicy,
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      });
      response.end(request.method === 'HEAD' ? undefined : this.#page.html);
      return;
    }
    if (path === this.#config.path) {
      respond(response, 426, 'Upgrade Required', { upgrade: 'websocket' });
      return;
    }
    respond(response, 404, 'Not Found');
  }

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = requestPath(request.url);
    // On a shared server another handler may own another path, and its socket.
    if (path !== this.#config.path && !this.#ownServer) return;
    // Node drops its own error listener at an upgrade: without one, a peer's reset would end the process.
    socket.on('error', () => undefined);
    try {
      if (path === this.#config.path) this.#upgrade(request, socket, head);
      else refuse(socket, path === undefined ? 400 : 404, path === undefined ? 'Bad Request' : 'Not Found');
    } catch {
      refuse(socket, 500, 'Internal Server Error');
    }
  };

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { limits } = this.#config;
    const refusal =
      this.#state !== 'running'
        ? ([503, 'Service Unavailable'] as const)
        : !hostAllowed(request.headers.host, this.#config.allowedHosts)
          ? ([403, 'Forbidden: host not allowed'] as const)
          : !originAllowed(request.headers.origin, request.headers.host, this.#config.origins)
            ? ([403, 'Forbidden: origin not allowed'] as const)
            : this.#connections >= limits.connections
              ? ([503, 'Service Unavailable: too many connections'] as const)
              : undefined;
    if (refusal !== undefined) {
      refuse(socket, refusal[0], refusal[1]);
      return;
    }
    const address = clientAddress(request, this.#config.trustProxy);
    if ((this.#perAddress.get(address) ?? 0) >= limits.connectionsPerAddress) {
      refuse(socket, 429, 'Too Many Requests: too many connections from this address');
      return;
    }
    // Counted from here until the TCP socket closes, whichever way: refused, aborted by ws, dropped during
    // auth, or closed after a session.
    this.#hold(address);
    socket.once('close', () => {
      this.#release(address);
    });
    this.#authenticate(request)
      .then((identity) => {
        if (socket.destroyed) return;
        const refused =
          identity === undefined
            ? ([401, 'Unauthorized'] as const)
            : this.#state !== 'running'
              ? ([503, 'Service Unavailable'] as const)
              : (this.#tenants.get(identity)?.sockets ?? 0) >= limits.connectionsPerIdentity
                ? ([429, 'Too Many Requests: too many connections for this identity'] as const)
                : undefined;
        if (refused !== undefined || identity === undefined) {
          refuse(socket, refused?.[0] ?? 401, refused?.[1] ?? 'Unauthorized');
          return;
        }
        this.#wss.handleUpgrade(request, socket, head, (ws) => {
          this.#onConnection(ws, identity);
        });
      })
      .catch(() => {
        refuse(socket, 500, 'Internal Server Error');
      });
  }

  async #authenticate(request: IncomingMessage): Promise<string | undefined> {
    const anonymous = `client-${randomUUID()}`;
    if (this.#config.auth === undefined) return anonymous;
    try {
      const result = await this.#config.auth(request);
      // An identity must survive `encodeURIComponent` (no lone surrogates): it names the identity's task ids.
      if (typeof result === 'string' && result !== '') return wellFormed(result) ? result : undefined;
      return result === true ? anonymous : undefined;
    } catch {
      // An auth hook that fails admits nobody.
      return undefined;
    }
  }

  #hold(address: string): void {
    this.#connections++;
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
  }

  #release(address: string): void {
    this.#connections--;
    const left = (this.#perAddress.get(address) ?? 1) - 1;
    if (left === 0) this.#perAddress.delete(address);
    else this.#perAddress.set(address, left);
  }

  /** Asks the `authorize` hook; only `true` allows, and one that throws answers no. */
  #may(request: AuthorizeRequest): boolean {
    try {
      const answer: unknown = this.#config.authorize(request);
      return answer === true;
    } catch {
      return false;
    }
  }

  // ── Sockets and frames ─────────────────────────────────────────────────────────────────────────────────

  #onConnection(ws: WebSocket, identity: string): void {
    const tenant = this.#tenantOf(identity);
    tenant.sockets++;
    const connection = new ClientConnection(ws, {
      highWaterMark: this.#config.highWaterMark,
      hardLimit: this.#config.hardLimit,
      scheduler: this.#config.scheduler,
      // Later, not inside the send that overflowed: that send may be settling one of these very tasks.
      onOverflow: () => {
        this.#config.scheduler.schedule(() => {
          this.#cancelTasksOf(client);
        });
      },
      onHold: () => {
        this.#onHold(client);
      },
    });
    const client = new GatewayClient(connection, tenant, this.#may({ action: 'metrics', identity }));
    this.#clients.add(client);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      try {
        this.#onMessage(client, data, isBinary);
      } catch {
        client.send({
          type: 'error',
          code: 'E_PROTOCOL',
          message: 'The gateway failed to handle this frame',
        });
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.#clients.delete(client);
      this.#watch.forget(client);
      connection.dispose();
      this.#cancelTasksOf(client);
      tenant.sockets--;
      this.#forgetIfIdle(tenant);
    });
  }

  #tenantOf(identity: string): Tenant {
    let tenant = this.#tenants.get(identity);
    if (tenant === undefined) {
      tenant = new Tenant(identity, this.#config.perClient, this.#config.scheduler);
      this.#tenants.set(identity, tenant);
    }
    return tenant;
  }

  #forgetIfIdle(tenant: Tenant): void {
    if (tenant.idle) this.#tenants.delete(tenant.identity);
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
        this.#cancelByClient(client, frame);
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
    if (this.#state !== 'running') {
      client.send(refusal('E_PROTOCOL', 'The gateway is closing and takes no new tasks'));
      return;
    }
    const { tenant, identity } = client;
    const submitted = frame.tasks ?? (frame.task === undefined ? [] : [frame.task]);
    const tasks = submitted.map((t): Task => (typeof t === 'string' ? { id: randomUUID(), input: t } : t));
    const ids = tasks.map((t) => t.id);
    if (!this.#may({ action: 'submit', identity, owner: identity, taskIds: ids })) {
      client.send(refusal('E_FORBIDDEN', 'This identity may not submit tasks; nothing was accepted'));
      return;
    }
    const seen = new Set<string>();
    const duplicates = ids.filter((id) => tenant.tasks.has(id) || seen.has(id) || !seen.add(id));
    if (duplicates.length > 0) {
      const list = duplicates.map((id) => JSON.stringify(id)).join(', ');
      client.send(refusal('E_DUPLICATE_ID', `Task ids already in use: ${list}; nothing was accepted`));
      return;
    }
    const { tasksPerIdentity, tasks: total } = this.#config.limits;
    if (tenant.tasks.size + tasks.length > tasksPerIdentity) {
      client.send(
        refusal(
          'E_QUEUE_FULL',
          `Too many tasks: this identity has ${tenant.tasks.size} accepted and not settled, and ${tasks.length} more would pass the limit of ${tasksPerIdentity}; nothing was accepted`,
        ),
      );
      return;
    }
    if (this.#tasks.size + tasks.length > total) {
      // Other identities' load is theirs: the answer says only that the gateway is full.
      client.send(
        refusal('E_QUEUE_FULL', 'Too many tasks: the gateway takes no more for now; nothing was accepted'),
      );
      return;
    }
    const accepted = tasks.map((task): GatewayTask => {
      const key = `${encodeURIComponent(identity)}/${task.id}`;
      const scoped: Task = { ...task, id: key };
      const entry: GatewayTask = {
        key,
        id: task.id,
        submitted: task,
        task: scoped,
        tenant,
        submitter: client,
        estimate: estimateTokens(scoped),
        state: 'waiting',
        stop: undefined,
        cancelled: undefined,
      };
      this.#tasks.set(key, entry);
      tenant.tasks.set(task.id, entry);
      return entry;
    });
    client.send({ type: 'accepted', taskIds: ids });
    for (const entry of accepted) {
      if (entry.state !== 'waiting') continue;
      const admission = tenant.admit(entry);
      if (admission === 'start') this.#input.next(entry.task);
      else if (admission === 'wait') this.#scheduleWindowPump(tenant);
      else {
        const { concurrency, queueLimit } = tenant.limits;
        this.#settleHere(
          entry,
          new QueueFullError(
            `Client queue is full: ${tenant.waiting} tasks already wait for this client's ${concurrency} slots (queueLimit ${queueLimit})`,
            { taskId: entry.id, queueLimit, overflow: 'reject' },
          ),
        );
      }
    }
  }

  #cancelByClient(client: GatewayClient, frame: CancelFrame): void {
    const owner = frame.owner ?? client.identity;
    if (
      owner !== client.identity &&
      !this.#may({ action: 'cancel', identity: client.identity, owner, taskIds: [frame.taskId] })
    ) {
      client.send({
        ...refusal('E_FORBIDDEN', `This identity may not cancel tasks of ${JSON.stringify(owner)}`),
        taskId: frame.taskId,
      });
      return;
    }
    const task = this.#tenants.get(owner)?.tasks.get(frame.taskId);
    if (task === undefined) {
      const whose = owner === client.identity ? 'this client' : JSON.stringify(owner);
      client.send({
        ...refusal('E_PROTOCOL', `No task ${JSON.stringify(frame.taskId)} of ${whose} is waiting or running`),
        taskId: frame.taskId,
      });
      return;
    }
    task.cancelled ??= cancelledError(task.id, 'client-cancel');
    this.#stopCancelled(task);
  }

  #subscribe(client: GatewayClient, frame: SubscribeFrame): void {
    const { identity } = client;
    const owner = frame.owner ?? identity;
    const { taskIds } = frame;
    if (owner !== identity && !this.#may({ action: 'subscribe', identity, owner, taskIds })) {
      client.send(refusal('E_FORBIDDEN', `This identity may not watch tasks of ${JSON.stringify(owner)}`));
      return;
    }
    // By id without an owner: the identity's own tasks, and tasks published from elsewhere if the hook allows.
    const published =
      frame.owner === undefined &&
      taskIds !== '*' &&
      this.#may({ action: 'subscribe', identity, owner: undefined, taskIds });
    const adds = taskIds === '*' ? 1 : taskIds.length * (published ? 2 : 1);
    const limit = this.#config.limits.watchedPerSocket;
    if (this.#watch.size(client) + adds > limit) {
      client.send(
        refusal(
          'E_LIMIT',
          `Too many watches: this socket watches ${this.#watch.size(client)} and may watch ${limit}; nothing was added`,
        ),
      );
      return;
    }
    if (taskIds === '*') {
      if (frame.owner === undefined) this.#watch.watchEverything(client);
      else this.#watch.watchOwner(client, owner);
      return;
    }
    this.#watch.watchIds(client, owner, taskIds);
    if (published) this.#watch.watchIds(client, undefined, taskIds);
  }

  #unsubscribe(client: GatewayClient, frame: UnsubscribeFrame): void {
    if (frame.owner === undefined && frame.taskIds === '*') {
      this.#watch.unwatchAll(client);
      return;
    }
    this.#watch.unwatch(client, frame.owner ?? client.identity, frame.taskIds);
    if (frame.owner === undefined) this.#watch.unwatch(client, undefined, frame.taskIds);
  }

  // ── Runs ───────────────────────────────────────────────────────────────────────────────────────────────

  #pump(tenant: Tenant): void {
    for (let next = tenant.next(); next !== undefined; next = tenant.next()) this.#input.next(next.task);
    this.#scheduleWindowPump(tenant);
    this.#completeInputWhenIdle();
  }

  /** When only the token window holds an identity's tasks back, look again when it moves. */
  #scheduleWindowPump(tenant: Tenant): void {
    // The oldest spending leaves at one time whatever else is added, so one timer per identity serves.
    if (this.#windowTimers.has(tenant)) return;
    const delay = tenant.msUntilWindowMoves();
    if (delay === undefined) return;
    const timer = this.#config.scheduler.schedule(() => {
      this.#windowTimers.delete(tenant);
      this.#pump(tenant);
    }, delay);
    this.#windowTimers.set(tenant, timer);
  }

  #work(task: Task, context: WorkerContext): Observable<AgentEvent> {
    return new Observable<AgentEvent>((subscriber) => {
      const entry = this.#tasks.get(task.id);
      if (entry?.cancelled !== undefined) {
        subscriber.error(entry.cancelled);
        return undefined;
      }
      if (entry !== undefined) {
        entry.stop = (error) => {
          subscriber.error(error);
        };
      }
      // Checked again at each attempt: cancelling one task can free budget that grants another cancelled
      // in the same sweep, and that one must not reach the provider. Each attempt has a signal of its own,
      // aborted when the attempt is stopped (a timeout, a retry, a cancel, the pool's teardown).
      const attempt$ = defer(() =>
        entry?.cancelled === undefined
          ? withSignal(
              (signal) => this.#config.agent.run(entry?.submitted ?? task, { signal }),
              context.signal,
              () => entry?.cancelled ?? attemptEnded(entry?.id ?? task.id),
            )
          : throwError(() => entry.cancelled),
      );
      const subscription = this.#config.limitRun(attempt$, task).subscribe(subscriber);
      return () => {
        if (entry !== undefined) entry.stop = undefined;
        subscription.unsubscribe();
      };
    });
  }

  /** The drain deadline passed: every task still waiting or running ends now. */
  #cancelAll(deadlineMs: number): void {
    const left = [...this.#tasks.values()];
    for (const task of left) {
      task.cancelled ??= new CancelledError(
        `Task ${task.id} cancelled: the gateway closed and its drain deadline of ${deadlineMs} ms passed`,
        { reason: 'drain-deadline', taskId: task.id },
      );
    }
    for (const task of left) this.#stopCancelled(task);
  }

  #cancelTasksOf(client: GatewayClient): void {
    const mine = [...client.tenant.tasks.values()].filter((task) => task.submitter === client);
    // All are marked first, so that a slot freed by one cancel does not start another of them.
    for (const task of mine) task.cancelled ??= cancelledError(task.id, 'disconnect');
    for (const task of mine) this.#stopCancelled(task);
  }

  /** Ends a cancelled task wherever it is; one the pool has not started yet fails as soon as it starts. */
  #stopCancelled(task: GatewayTask): void {
    const error = task.cancelled;
    if (error === undefined || task.state === 'done') return;
    if (task.state === 'waiting') {
      task.tenant.withdraw(task);
      this.#settleHere(task, error);
      return;
    }
    task.stop?.(error);
  }

  /** Settles a task that never reached the pool (its identity's queue was full, or it was cancelled there). */
  #settleHere(task: GatewayTask, error: CancelledError | QueueFullError): void {
    this.#emit({
      type: 'settled',
      taskId: task.key,
      result: {
        status: 'rejected',
        taskId: task.key,
        error: toRxAgentError(error),
        attempts: 0,
        durationMs: 0,
      },
    });
  }

  #emit(event: TaskEvent): void {
    const task = this.#tasks.get(event.taskId);
    if (task !== undefined && event.type === 'started') task.state = 'running';
    this.#route(event, task);
    this.#events.next(event);
    if (event.type === 'settled') this.#finish(event, task);
  }

  #finish(event: Extract<TaskEvent, { type: 'settled' }>, task: GatewayTask | undefined): void {
    const usage = event.result.usage;
    const tokens = usage === undefined ? 0 : usage.inputTokens + usage.outputTokens;
    this.#spent.add(tokens);
    if (task === undefined) return;
    this.#tasks.delete(task.key);
    task.tenant.settle(task, tokens, event.result.status === 'fulfilled');
    task.state = 'done';
    this.#pump(task.tenant);
    this.#forgetIfIdle(task.tenant);
  }

  // ── Events to clients ──────────────────────────────────────────────────────────────────────────────────

  /** Sends an event to the socket that submitted its task and to the clients watching it. */
  #route(event: TaskEvent<unknown>, task: GatewayTask | undefined): void {
    const frame = eventToFrame(event) as TaskFrame | undefined;
    if (frame === undefined) return;
    const owner: Owner = task?.tenant.identity;
    const id = task?.id ?? event.taskId;
    const own = task === undefined ? frame : relabel(frame, id, undefined);
    let foreign: TaskFrame | undefined;
    const frameFor = (client: GatewayClient): TaskFrame =>
      owner === undefined || client.identity === owner ? own : (foreign ??= relabel(frame, id, owner));
    const submitter = task?.submitter;
    submitter?.send(own);
    this.#watch.forEachWatcher(owner, id, (client) => {
      if (client !== submitter) client.send(frameFor(client));
    });
    if (event.type === 'settled') this.#watch.taskEnded(owner, id);
  }

  #completeInputWhenIdle(): void {
    if (this.#state === 'running' || this.#inputClosed) return;
    for (const tenant of this.#tenants.values()) if (tenant.waiting > 0) return;
    this.#inputClosed = true;
    this.#input.complete();
  }

  #sendMetrics(): void {
    if (this.#clients.size === 0) return;
    let gateway: MetricsFrame | undefined;
    const byIdentity = new Map<string, MetricsFrame>();
    for (const client of this.#clients) {
      let frame: MetricsFrame;
      if (client.seesGateway) frame = gateway ??= this.#gatewayMetrics();
      else {
        frame = byIdentity.get(client.identity) ?? identityMetrics(client.tenant);
        byIdentity.set(client.identity, frame);
      }
      const text = JSON.stringify(frame);
      if (text === client.lastMetrics) continue;
      client.lastMetrics = text;
      client.send(frame);
    }
  }

  #gatewayMetrics(): MetricsFrame {
    let waiting = 0;
    for (const tenant of this.#tenants.values()) waiting += tenant.waiting;
    const state = this.#poolState;
    return {
      type: 'metrics',
      scope: 'gateway',
      queued: state.queued + waiting,
      inFlight: state.inFlight,
      completed: state.completed,
      failed: state.failed,
      tokensPerMinute: this.#spent.total(),
      clients: this.#clients.size,
      ...(this.#budgetState === undefined ? {} : { budget: this.#budgetState }),
    };
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
    this.#sweepBuffers();
  }

  /** Closes the sockets with the most bytes waiting until the total across sockets is within its limit. */
  #sweepBuffers(): void {
    const limit = this.#config.limits.bufferedBytes;
    let total = 0;
    for (const c of this.#clients) total += c.connection.pendingBytes;
    if (total <= limit) return;
    const bySize = [...this.#clients].sort((a, b) => b.connection.pendingBytes - a.connection.pendingBytes);
    for (const c of bySize) {
      if (total <= limit) break;
      const bytes = c.connection.pendingBytes;
      total -= bytes;
      c.connection.closeSlow(`Client too slow: ${bytes} bytes waiting; all sockets over ${limit}`);
    }
  }

  #heartbeat(): void {
    for (const client of this.#clients) {
      if (!client.alive) {
        client.connection.socket.terminate();
        continue;
      }
      client.alive = false;
      client.connection.socket.ping();
    }
  }
}

function identityMetrics(tenant: Tenant): MetricsFrame {
  let queued = 0;
  let inFlight = 0;
  for (const task of tenant.tasks.values()) {
    if (task.state === 'running') inFlight++;
    else if (task.state !== 'done') queued++;
  }
  return {
    type: 'metrics',
    scope: 'identity',
    queued,
    inFlight,
    completed: tenant.completed,
    failed: tenant.failed,
    tokensPerMinute: tenant.tokensPerMinute(),
  };
}

/** A task's frame as a client sees it: under the id it gave, naming the owner when it is not the client's. */
function relabel(frame: TaskFrame, taskId: string, owner: string | undefined): TaskFrame {
  const withOwner = owner === undefined ? {} : { owner };
  if (frame.type === 'settled')
    return { ...frame, taskId, ...withOwner, result: { ...frame.result, taskId } };
  return { ...frame, taskId, ...withOwner };
}

function wellFormed(text: string): boolean {
  try {
    encodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

function refusal(code: string, message: string): ErrorFrame {
  return { type: 'error', code, message };
}

function cancelledError(taskId: string, reason: 'client-cancel' | 'disconnect'): CancelledError {
  const why = reason === 'disconnect' ? 'its client disconnected' : 'by its client';
  return new CancelledError(`Task ${taskId} cancelled: ${why}`, { reason, taskId });
}
