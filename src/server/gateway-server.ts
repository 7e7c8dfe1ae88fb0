import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subject, interval } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import type { BudgetState } from '../budget/create-budget.js';
import { CancelledError } from '../core/errors/index.js';
import type { TaskEvent } from '../core/types.js';
import { expectConfig, expectInteger } from '../core/validate.js';
import { usageTokens } from '../core/usage.js';
import { IDLE_POOL_STATE } from '../operators/pool.js';
import type { PoolState } from '../operators/pool.js';
import { HttpEdge } from './http-edge.js';
import { sendMetrics } from './metrics.js';
import { EventRouter } from './router.js';
import { GatewayRuns } from './runs.js';
import type { AuthorizeRequest, ResolvedServeConfig } from './serve-config.js';
import type { Gateway } from './serve.js';
import { Sessions } from './sessions.js';
import { SlidingMinute } from './sliding-minute.js';

/**
 * The gateway behind {@link serve}, put together from its parts: the HTTP edge (`HttpEdge`), the sockets and
 * their frames (`Sessions`), the runs on the pool engine (`GatewayRuns`), and the events to watching clients
 * (`EventRouter`). It owns the one lifecycle: `running`, then `draining` (503 to newcomers, accepted tasks
 * settle), then `closed`.
 */
export class GatewayServer implements Gateway {
  readonly #config: ResolvedServeConfig;
  readonly #server: Server;
  readonly #ownServer: boolean;
  readonly #edge: HttpEdge;
  readonly #runs: GatewayRuns;
  readonly #router: EventRouter;
  readonly #sessions: Sessions;
  readonly #events = new Subject<TaskEvent>();
  readonly #spent: SlidingMinute;
  readonly #timers: Subscription[] = [];
  /** Drain deadlines of `close()` calls, cancelled once every task has settled. */
  readonly #deadlines = new Set<Subscription>();
  #poolState: PoolState = IDLE_POOL_STATE;
  #budgetState: BudgetState | undefined;
  #state: 'running' | 'draining' | 'closed' = 'running';
  #closing: Promise<void> | undefined;
  readonly #drained: Promise<void>;
  #resolveDrained: () => void = () => undefined;

  constructor(config: ResolvedServeConfig, server: Server, ownServer: boolean) {
    this.#config = config;
    this.#server = server;
    this.#ownServer = ownServer;
    this.#spent = new SlidingMinute(config.scheduler);
    const accepting = (): boolean => this.#state === 'running';
    const may = (request: AuthorizeRequest): boolean => this.#may(request);
    this.#router = new EventRouter((client, owner) =>
      may({ action: 'subscribe', identity: client.identity, owner, taskIds: '*' }),
    );
    this.#runs = new GatewayRuns(config, (event, task) => {
      if (event.type === 'settled') this.#spent.add(usageTokens(event.result.usage));
      this.#router.route(event, task);
      this.#events.next(event);
    });
    this.#sessions = new Sessions(config, this.#runs, this.#router, {
      get accepting() {
        return accepting();
      },
      may,
    });
    this.#edge = new HttpEdge(
      config,
      {
        get accepting() {
          return accepting();
        },
        socketsOf: (identity) => this.#runs.tenant(identity)?.sockets ?? 0,
        connect: (ws, identity) => {
          this.#sessions.connect(ws, identity);
        },
      },
      ownServer,
    );
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
    return this.#sessions.clients.size;
  }

  start(): void {
    this.#server.on('upgrade', this.#edge.onUpgrade);
    if (this.#ownServer) this.#server.on('request', this.#edge.onRequest);
    const { scheduler, budget, results } = this.#config;
    const events$ = this.#runs.events((state) => {
      this.#poolState = state;
    });
    this.#timers.push(
      events$.subscribe({
        next: (event) => {
          this.#runs.take(event);
        },
        error: (error: unknown) => {
          this.#events.error(error);
          this.#resolveDrained();
        },
        complete: () => {
          this.#resolveDrained();
        },
      }),
      ...(budget === undefined ? [] : [budget.state$.subscribe((state) => (this.#budgetState = state))]),
      ...(results === undefined
        ? []
        : [
            results.subscribe((event) => {
              this.publish(event);
            }),
          ]),
      interval(this.#config.metricsIntervalMs, scheduler).subscribe(() => {
        this.#sendMetrics();
        this.#sessions.sweepBuffers();
      }),
      interval(this.#config.heartbeatMs, scheduler).subscribe(() => {
        this.#sessions.heartbeat();
      }),
    );
  }

  publish(event: TaskEvent<unknown>): void {
    this.#router.route(event, undefined);
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
        this.#runs.cancelMany(
          this.#runs.all(),
          (task) =>
            new CancelledError({
              reason: 'drain-deadline',
              taskId: task.id,
              message: `Task ${task.id} cancelled: the gateway closed and its drain deadline of ${deadlineMs} ms passed`,
            }),
        );
      }, deadlineMs);
      this.#deadlines.add(timer);
    }
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // The listener stays while tasks drain, so that new connections are answered 503 rather than refused.
    this.#state = 'draining';
    this.#runs.drain();
    await this.#drained;
    for (const timer of this.#deadlines) timer.unsubscribe();
    this.#deadlines.clear();
    this.#sendMetrics();
    await Promise.all(
      [...this.#sessions.clients].map((client) => client.connection.close(1001, 'Gateway closing')),
    );
    this.#state = 'closed';
    for (const timer of this.#timers) timer.unsubscribe();
    this.#runs.dispose();
    this.#events.complete();
    this.#server.off('upgrade', this.#edge.onUpgrade);
    if (this.#ownServer) {
      await new Promise<void>((resolve) => {
        this.#server.close(() => {
          resolve();
        });
        this.#server.closeAllConnections();
      });
      this.#server.off('request', this.#edge.onRequest);
    }
  }

  #hostPort(): string {
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
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

  #sendMetrics(): void {
    sendMetrics(this.#sessions.clients, () => ({
      pool: this.#poolState,
      waiting: this.#runs.waiting,
      tokensPerMinute: this.#spent.total(),
      clients: this.#sessions.clients.size,
      budget: this.#budgetState,
    }));
  }
}
