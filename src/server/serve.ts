import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Observable } from 'rxjs';
import type { TaskEvent } from '../core/types.js';
import { GatewayServer } from './gateway-server.js';
import { resolveServeConfig } from './serve-config.js';
import type { ServeConfig } from './serve-config.js';

/** A running gateway. */
export interface Gateway {
  /** Base URL of the HTTP server, where the dashboard is: `http://127.0.0.1:8080`. */
  readonly url: string;
  /** URL of the WebSocket endpoint: `ws://127.0.0.1:8080/ws`. */
  readonly wsUrl: string;
  /** The port it listens on, the one picked when `port` was 0. */
  readonly port: number;
  /**
   * Every task event of the gateway, as it happens (hot). Pipe it to `toJsonl` or `progress`. Task ids are
   * scoped per identity, so the ids here name the identity as well: `encodeURIComponent(identity) + '/' + id`.
   * Clients, and the agent, see the ids the clients gave.
   */
  readonly events$: Observable<TaskEvent>;
  /** Sockets connected now. */
  readonly clients: number;
  /**
   * Sends an event from another stream to the clients watching its task id (a `subscribe` by that id, or
   * `'*'`), for the identities `authorize` admits to tasks published from elsewhere (`owner` undefined).
   */
  publish(event: TaskEvent<unknown>): void;
  /**
   * Stops accepting (new connections and requests are answered 503 while it drains), lets every accepted
   * task settle, then closes the sockets with 1001 and stops listening. Tasks still running
   * or waiting `deadlineMs` after the call are cancelled (`CancelledError` with reason `'drain-deadline'`, their
   * runs aborted), so an agent that never ends cannot hold the gateway open. A later call may shorten the
   * deadline; every call resolves when the gateway has closed.
   *
   * @defaultValue deadlineMs: the `closeDeadlineMs` config, 30000
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
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
