import { once } from 'node:events';
import type { SchedulerLike } from 'rxjs';
import type { WebSocket } from 'ws';
import { Deque } from '../core/deque.js';
import type { ServerFrame } from './protocol.js';

/** How long a closing socket may take to say goodbye before it is cut off. */
const TERMINATE_AFTER_MS = 1_000;

export interface ClientConnectionOptions {
  readonly highWaterMark: number;
  readonly hardLimit: number;
  /** Clock of the deadline for a closing socket's goodbye. */
  readonly scheduler: SchedulerLike;
  /** Called once when the socket is being closed for being too slow (past `hardLimit`, or by `closeSlow`). */
  readonly onOverflow?: () => void;
  /** Called each time a frame is held back, so an owner can watch the bytes waiting across its sockets. */
  readonly onHold?: () => void;
}

type DeltaFrame = Extract<ServerFrame, { type: 'delta' }>;
type MetricsFrame = Extract<ServerFrame, { type: 'metrics' }>;

/** Frames held back while the socket is over its high-water mark; deltas and metrics stay mutable to merge. */
type Held =
  | { readonly kind: 'delta'; frame: DeltaFrame; chunks: string[] }
  | { readonly kind: 'metrics'; frame: MetricsFrame }
  | { readonly kind: 'other'; readonly text: string };

/** Bytes counted for a held delta frame's fields besides its text, and for a held metrics frame. */
const DELTA_OVERHEAD = 64;
const METRICS_BYTES = 256;

/**
 * One client socket as the gateway and `toWebSocket` see it: a send path that keeps memory bounded
 * when the client reads slowly. Below `highWaterMark` buffered bytes, frames go straight out. Above it,
 * frames wait in order in an outbox where the deltas of one task merge into one frame (text is batched,
 * never dropped) and only the newest metrics frame is kept; the outbox drains as the socket does, as soon as
 * the socket has written what it buffered, with no timer. Past `hardLimit` (socket buffer plus outbox), the
 * socket is closed with 1008.
 */
export class ClientConnection {
  readonly socket: WebSocket;
  readonly #options: ClientConnectionOptions;
  readonly #outbox = new Deque<Held>();
  /** The last held delta of each task, while nothing else of that task is queued after it. */
  readonly #openDeltas = new Map<string, Extract<Held, { kind: 'delta' }>>();
  #heldMetrics: Extract<Held, { kind: 'metrics' }> | undefined;
  #heldBytes = 0;
  /** An unsolicited pong is queued behind the socket's buffered bytes; its write callback flushes the outbox. */
  #awaitingDrain = false;
  #overflowed = false;

  constructor(socket: WebSocket, options: ClientConnectionOptions) {
    this.socket = socket;
    this.#options = options;
  }

  /** Bytes held in the outbox, waiting for the socket to drain. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Bytes waiting to reach the client: the socket's buffer plus held frames. */
  get pendingBytes(): number {
    return this.socket.bufferedAmount + this.#heldBytes;
  }

  /**
   * Sends a frame now, or holds it (merging deltas) while the socket is over its high-water mark. `text`, when
   * given, is the frame already encoded, so a frame sent to many sockets is encoded once.
   */
  send(frame: ServerFrame, text?: string): void {
    if (this.#overflowed || this.socket.readyState !== this.socket.OPEN) return;
    if (this.#outbox.size === 0 && this.socket.bufferedAmount < this.#options.highWaterMark) {
      this.socket.send(text ?? JSON.stringify(frame));
      return;
    }
    this.#hold(frame, text);
    const pending = this.pendingBytes;
    if (pending > this.#options.hardLimit) {
      this.closeSlow(
        `Client too slow: ${pending} bytes waiting, over the hard limit of ${this.#options.hardLimit}`,
      );
      return;
    }
    this.#awaitDrain();
    this.#options.onHold?.();
  }

  /** Lets go of held frames; called when the socket has closed. */
  dispose(): void {
    this.#outbox.clear();
    this.#openDeltas.clear();
    this.#heldMetrics = undefined;
    this.#heldBytes = 0;
  }

  #hold(frame: ServerFrame, encoded: string | undefined): void {
    if (frame.type === 'delta') {
      const open = this.#openDeltas.get(frame.taskId);
      this.#heldBytes += Buffer.byteLength(frame.text);
      if (open !== undefined) {
        open.chunks.push(frame.text);
        return;
      }
      const held = { kind: 'delta' as const, frame: { ...frame }, chunks: [frame.text] };
      this.#openDeltas.set(frame.taskId, held);
      this.#outbox.push(held);
      this.#heldBytes += DELTA_OVERHEAD;
      return;
    }
    if (frame.type === 'metrics') {
      // Only the newest metrics matter; an older one still waiting takes the new figures.
      if (this.#heldMetrics !== undefined) {
        this.#heldMetrics.frame = frame;
        return;
      }
      this.#heldMetrics = { kind: 'metrics', frame };
      this.#outbox.push(this.#heldMetrics);
      this.#heldBytes += METRICS_BYTES;
      return;
    }
    // A later delta of this task must not jump ahead of this frame, so it starts a new held delta.
    if ('taskId' in frame) this.#openDeltas.delete(frame.taskId);
    // Serialised now, so that what is counted is what it will cost (a settled frame carries a whole result).
    const text = encoded ?? JSON.stringify(frame);
    this.#outbox.push({ kind: 'other', text });
    this.#heldBytes += Buffer.byteLength(text);
  }

  /**
   * `ws` has no 'drain' event, but a frame's write callback runs once it, and so everything queued before it,
   * has been written. An unsolicited pong (RFC 6455 §5.5.3: no answer is expected) is the smallest frame to
   * wait on: one per time the outbox fills, where a callback on every frame sent would cost every socket,
   * slow or not (about 0.2 µs a frame), and a timer polling the buffer would refill it up to a tick late.
   */
  #awaitDrain(): void {
    if (this.#awaitingDrain) return;
    this.#awaitingDrain = true;
    this.socket.pong(undefined, undefined, this.#drained);
  }

  readonly #drained = (): void => {
    this.#awaitingDrain = false;
    this.#flush();
  };

  #flush(): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    while (this.#outbox.size > 0 && this.socket.bufferedAmount < this.#options.highWaterMark) {
      const held = this.#outbox.shift() as Held;
      let text: string;
      if (held.kind === 'delta') {
        if (this.#openDeltas.get(held.frame.taskId) === held) this.#openDeltas.delete(held.frame.taskId);
        const joined = held.chunks.join('');
        text = JSON.stringify({ ...held.frame, text: joined });
        this.#heldBytes -= Buffer.byteLength(joined) + DELTA_OVERHEAD;
      } else if (held.kind === 'metrics') {
        this.#heldMetrics = undefined;
        text = JSON.stringify(held.frame);
        this.#heldBytes -= METRICS_BYTES;
      } else {
        text = held.text;
        this.#heldBytes -= Buffer.byteLength(text);
      }
      this.socket.send(text);
    }
    if (this.#outbox.size > 0) this.#awaitDrain();
  }

  /**
   * Closes the socket with 1008 and drops what is held. The close frame goes out behind what the socket has
   * already buffered (about `highWaterMark`), so a client that reads again within a second sees 1008; one
   * that does not is cut off then.
   */
  closeSlow(reason: string): void {
    if (this.#overflowed) return;
    this.#overflowed = true;
    this.dispose();
    this.#options.onOverflow?.();
    void this.close(1008, reason);
  }

  /**
   * Sends the close frame and resolves once the socket has closed; a peer that does not answer the handshake
   * within `TERMINATE_AFTER_MS` (a client that does not read never will) is cut off.
   */
  close(code: number, reason: string): Promise<void> {
    const { socket } = this;
    if (socket.readyState === socket.CLOSED) return Promise.resolve();
    const closed = once(socket, 'close').then(() => undefined);
    socket.close(code, reason);
    const timer = this.#options.scheduler.schedule(() => {
      socket.terminate();
    }, TERMINATE_AFTER_MS);
    return closed.finally(() => {
      timer.unsubscribe();
    });
  }
}
