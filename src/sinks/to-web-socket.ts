import { asyncScheduler, tap } from 'rxjs';
import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { TaskEvent } from '../core/types.js';
import { describe, expectConfig, expectInteger, expectKnownKeys, expectScheduler } from '../core/validate.js';
import { ClientConnection } from '../wire/client-connection.js';
import { eventToFrame } from '../wire/protocol.js';

/**
 * What {@link toWebSocket} hands events to instead of sockets: a `Gateway` from `serve`, which sends each one
 * to the clients watching its task.
 */
export interface EventPublisher {
  publish(event: TaskEvent<unknown>): void;
}

/** Options of {@link toWebSocket} over a plain `WebSocketServer` (a gateway uses its own). */
export interface ToWebSocketOptions {
  /** Buffered bytes on a socket above which deltas are coalesced. @defaultValue 1048576 */
  readonly highWaterMark?: number;
  /** Buffered plus held bytes above which a socket is closed with 1008. @defaultValue 16777216 */
  readonly hardLimit?: number;
  /** Clock of the one-second deadline for a slow socket closed with 1008. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/**
 * Sends a stream of task events to WebSocket clients as protocol frames and passes the events on unchanged.
 * To a gateway, each event goes to the clients that see its task (subscribers of it or of `*`). To a plain
 * `WebSocketServer`, every open client gets every event, with the same per-socket backpressure as the
 * gateway: deltas are coalesced above `highWaterMark`, `settled` is never dropped, and a socket past
 * `hardLimit` is closed with 1008. `retry` events are not sent.
 *
 * ```
 * events:   --S--d--d--s--|   S started, d delta, s settled
 * result:   --S--d--d--s--|   each event also sent as a frame (`started`, `delta`, `settled`)
 * ```
 *
 * @example
 * fromJsonl('prompts.jsonl').pipe(runAgents(agent), toWebSocket(wss)).subscribe();
 */
export function toWebSocket<V>(
  target: WebSocketServer | EventPublisher,
  options: ToWebSocketOptions = {},
): MonoTypeOperatorFunction<TaskEvent<V>> {
  expectConfig('options', options);
  expectKnownKeys('toWebSocket', options, ['highWaterMark', 'hardLimit', 'scheduler']);
  if (!(target instanceof WebSocketServer)) {
    if (typeof (target as Partial<EventPublisher> | null)?.publish !== 'function') {
      throw new TypeError(`Expected a WebSocketServer or a Gateway from \`serve\`, got ${describe(target)}`);
    }
    return tap((event) => {
      target.publish(event);
    });
  }
  const highWaterMark = expectInteger('highWaterMark', options.highWaterMark ?? 1024 * 1024, 1);
  const hardLimit = expectInteger('hardLimit', options.hardLimit ?? 16 * 1024 * 1024, highWaterMark + 1);
  const scheduler =
    options.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', options.scheduler);
  const connections = new WeakMap<WebSocket, ClientConnection>();
  const connectionOf = (socket: WebSocket): ClientConnection => {
    let connection = connections.get(socket);
    if (connection === undefined) {
      const created = new ClientConnection(socket, { highWaterMark, hardLimit, scheduler });
      socket.once('close', () => {
        created.dispose();
      });
      connections.set(socket, created);
      connection = created;
    }
    return connection;
  };
  return tap((event) => {
    const frame = eventToFrame(event);
    if (frame === undefined) return;
    for (const socket of target.clients) {
      if (socket.readyState === socket.OPEN) connectionOf(socket).send(frame);
    }
  });
}
