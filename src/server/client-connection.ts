import type { SchedulerLike, Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import { Deque } from '../operators/internal/deque.js';
import { SlidingMinute } from './sliding-minute.js';
import type { ServerFrame } from './protocol.js';

/** How often a socket over its high-water mark is checked for room, in milliseconds. */
const DRAIN_POLL_MS = 5;
/** How long a socket closed for being too slow may take to say goodbye before it is cut off. */
const TERMINATE_AFTER_MS = 1_000;

export interface ClientConnectionOptions {
  readonly highWaterMark: number;
  readonly hardLimit: number;
  readonly scheduler: SchedulerLike;
  /** Called once when the socket went past `hardLimit` and is being closed. */
  readonly onOverflow?: () => void;
}

type DeltaFrame = Extract<ServerFrame, { type: 'delta' }>;
type MetricsFrame = Extract<ServerFrame, { type: 'metrics' }>;

/** Frames held back while the socket is over its high-water mark; deltas and metrics stay mutable to merge. */
type Held =
  | { frame: DeltaFrame; chunks: string[] }
  | { frame: MetricsFrame; chunks?: undefined }
  | { frame: Exclude<ServerFrame, DeltaFrame | MetricsFrame>; chunks?: undefined };

/**
 * One client socket as the server sees it: what it subscribed to, and a send path that keeps memory bounded
 * when the client reads slowly. Below `highWaterMark` buffered bytes, frames go straight out. Above it,
 * frames wait in order in an outbox where the deltas of one task merge into one frame (text is batched,
 * never dropped) and only the newest metrics frame is kept; the outbox drains as the socket does. Past
 * `hardLimit` (socket buffer plus outbox), the socket is closed with 1008.
 */
export class ClientConnection {
  readonly socket: WebSocket;
  /** Who the client is: the identity the auth hook returned, else an id of the socket. */
  readonly identity: string;
  readonly #options: ClientConnectionOptions;
  readonly #outbox = new Deque<Held>();
  /** The last held delta of each task, while nothing else of that task is queued after it. */
  readonly #openDeltas = new Map<string, Held & { chunks: string[] }>();
  #heldMetrics: Held | undefined;
  #heldBytes = 0;
  #drain: Subscription | undefined;
  #overflowed = false;
  #subscribedAll = false;
  readonly #subscribed = new Set<string>();

  constructor(socket: WebSocket, identity: string, options: ClientConnectionOptions) {
    this.socket = socket;
    this.identity = identity;
    this.#options = options;
  }

  /** Bytes held in the outbox, waiting for the socket to drain. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Whether the client asked for every task's events with `subscribe '*'`. */
  get subscribedAll(): boolean {
    return this.#subscribedAll;
  }

  isSubscribed(taskId: string): boolean {
    return this.#subscribedAll || this.#subscribed.has(taskId);
  }

  subscribe(taskIds: readonly string[] | '*'): void {
    if (taskIds === '*') this.#subscribedAll = true;
    else for (const id of taskIds) this.#subscribed.add(id);
  }

  unsubscribe(taskIds: readonly string[] | '*'): void {
    if (taskIds === '*') {
      this.#subscribedAll = false;
      this.#subscribed.clear();
    } else for (const id of taskIds) this.#subscribed.delete(id);
  }

  /** Sends a frame now, or holds it (merging deltas) while the socket is over its high-water mark. */
  send(frame: ServerFrame): void {
    if (this.#overflowed || this.socket.readyState !== this.socket.OPEN) return;
    if (this.#outbox.size === 0 && this.socket.bufferedAmount < this.#options.highWaterMark) {
      this.socket.send(JSON.stringify(frame));
      return;
    }
    this.#hold(frame);
    if (this.socket.bufferedAmount + this.#heldBytes > this.#options.hardLimit) {
      this.#overflow();
      return;
    }
    this.#scheduleDrain();
  }

  /** Stops the drain timer and lets go of held frames; called when the socket has closed. */
  dispose(): void {
    this.#drain?.unsubscribe();
    this.#drain = undefined;
    this.#outbox.clear();
    this.#openDeltas.clear();
    this.#heldMetrics = undefined;
    this.#heldBytes = 0;
  }

  #hold(frame: ServerFrame): void {
    if (frame.type === 'delta') {
      const open = this.#openDeltas.get(frame.taskId);
      this.#heldBytes += frame.text.length;
      if (open !== undefined) {
        open.chunks.push(frame.text);
        return;
      }
      const held = { frame: { ...frame }, chunks: [frame.text] };
      this.#openDeltas.set(frame.taskId, held);
      this.#outbox.push(held);
      this.#heldBytes += 64;
      return;
    }
    if (frame.type === 'metrics') {
      // Only the newest metrics matter; an older one still waiting takes the new figures.
      if (this.#heldMetrics !== undefined) {
        this.#heldMetrics.frame = frame;
        return;
      }
      this.#heldMetrics = { frame };
      this.#outbox.push(this.#heldMetrics);
      this.#heldBytes += 256;
      return;
    }
    // A later delta of this task must not jump ahead of this frame, so it starts a new held delta.
    if ('taskId' in frame) this.#openDeltas.delete(frame.taskId);
    this.#outbox.push({ frame });
    this.#heldBytes += frame.type === 'settled' ? 512 : 128;
  }

  #scheduleDrain(): void {
    if (this.#drain !== undefined) return;
    this.#drain = this.#options.scheduler.schedule(() => {
      this.#drain = undefined;
      this.#flush();
    }, DRAIN_POLL_MS);
  }

  #flush(): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    while (this.#outbox.size > 0 && this.socket.bufferedAmount < this.#options.highWaterMark) {
      const held = this.#outbox.shift() as Held;
      let frame: ServerFrame = held.frame;
      if (held.chunks !== undefined) {
        if (this.#openDeltas.get(held.frame.taskId) === held) this.#openDeltas.delete(held.frame.taskId);
        const text = held.chunks.join('');
        frame = { ...held.frame, text };
        this.#heldBytes -= text.length + 64;
      } else if (held === this.#heldMetrics) {
        this.#heldMetrics = undefined;
        this.#heldBytes -= 256;
      } else {
        this.#heldBytes -= held.frame.type === 'settled' ? 512 : 128;
      }
      this.socket.send(JSON.stringify(frame));
    }
    if (this.#outbox.size > 0) this.#scheduleDrain();
  }

  #overflow(): void {
    this.#overflowed = true;
    const held = this.socket.bufferedAmount + this.#heldBytes;
    this.dispose();
    this.#options.onOverflow?.();
    this.socket.close(
      1008,
      `Client too slow: ${held} bytes waiting, over the hard limit of ${this.#options.hardLimit}`,
    );
    // A client that does not read will never answer the close handshake.
    this.#options.scheduler.schedule(() => {
      this.socket.terminate();
    }, TERMINATE_AFTER_MS);
  }
}

/** A minute, the window of `tokensPerMinute`. */

/**
 * A client's share of the gateway, keyed by its identity so several sockets of one client share it: its
 * running tasks, those waiting for one of its slots, and the tokens it used over the last minute.
 */
export class ClientQuota<T> {
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly tokensPerMinute: number;
  readonly waiting = new Deque<T>();
  /** Tasks in `waiting` not cancelled since; cancelled ones are skipped when they come up. */
  queued = 0;
  running = 0;
  /** Sockets using this quota; the gateway forgets it when none is left and nothing runs or waits. */
  sockets = 0;
  readonly #spent: SlidingMinute;
  #reserved = 0;

  constructor(
    limits: { concurrency: number; queueLimit: number; tokensPerMinute: number },
    scheduler: SchedulerLike,
  ) {
    this.concurrency = limits.concurrency;
    this.queueLimit = limits.queueLimit;
    this.tokensPerMinute = limits.tokensPerMinute;
    this.#spent = new SlidingMinute(scheduler);
  }

  get idle(): boolean {
    return this.sockets === 0 && this.running === 0 && this.queued === 0;
  }

  /**
   * Whether another task may start: a free slot, and the last minute's tokens plus the estimates of running
   * tasks under the limit. The new task's own estimate is not counted, so a task larger than the whole
   * limit still runs once the client is idle.
   */
  canStart(): boolean {
    return this.running < this.concurrency && this.#spent.total() + this.#reserved < this.tokensPerMinute;
  }

  start(estimate: number): void {
    this.running++;
    this.#reserved += estimate;
  }

  finish(estimate: number, tokens: number): void {
    this.running--;
    this.#reserved -= estimate;
    this.#spent.add(tokens);
  }

  /** Time until the oldest spending leaves the window, when that is what holds tasks back. */
  msUntilWindowMoves(): number | undefined {
    if (this.running >= this.concurrency) return undefined;
    return this.#spent.msUntilOldestLeaves();
  }
}
