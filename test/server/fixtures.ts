import { Observable, Subject } from 'rxjs';
import type { Subscriber } from 'rxjs';
import WebSocket from 'ws';
import type { ClientOptions } from 'ws';
import { afterEach } from 'vitest';
import { serve } from '../../src/server/serve.js';
import type { Gateway } from '../../src/server/serve.js';
import type { ServeConfig } from '../../src/server/serve-config.js';
import { ServerFrameSchema, frameText } from '../../src/wire/protocol.js';
import type { ServerFrame } from '../../src/wire/protocol.js';
import type { Agent, AgentEvent, Task, TaskEvent } from '../../src/core/types.js';

/** A run the test drives by hand. */
export interface ManualRun {
  readonly task: Task;
  readonly signal: AbortSignal;
  readonly subscriber: Subscriber<AgentEvent>;
  emit(text: string): void;
  finish(text?: string): void;
}

/** An agent whose runs wait for the test to emit, finish or abort them. */
export class ManualAgent implements Agent {
  readonly runs = new Map<string, ManualRun>();
  readonly started$ = new Subject<ManualRun>();
  calls = 0;

  run(task: Task, { signal }: { signal: AbortSignal }): Observable<AgentEvent> {
    return new Observable<AgentEvent>((subscriber) => {
      this.calls++;
      let text = '';
      const run: ManualRun = {
        task,
        signal,
        subscriber,
        emit: (chunk) => {
          text += chunk;
          subscriber.next({ type: 'delta', text: chunk });
        },
        finish: (final = text) => {
          subscriber.next({ type: 'usage', usage: { inputTokens: 1, outputTokens: final.length } });
          subscriber.next({ type: 'done', text: final, finishReason: 'stop' });
          subscriber.complete();
        },
      };
      this.runs.set(task.id, run);
      this.started$.next(run);
    });
  }

  /** Resolves with the run of `taskId` once it has started. */
  started(taskId: string): Promise<ManualRun> {
    const run = this.runs.get(taskId);
    if (run !== undefined) return Promise.resolve(run);
    return new Promise((resolve) => {
      const sub = this.started$.subscribe((r) => {
        if (r.task.id === taskId) {
          sub.unsubscribe();
          resolve(r);
        }
      });
    });
  }
}

/** An agent that streams the words of a fixed answer synchronously, then finishes. */
export function echoAgent(words: (task: Task) => readonly string[]): Agent {
  return {
    run: (task) =>
      new Observable<AgentEvent>((subscriber) => {
        const parts = words(task);
        for (const word of parts) subscriber.next({ type: 'delta', text: word });
        subscriber.next({ type: 'usage', usage: { inputTokens: 2, outputTokens: parts.length } });
        subscriber.next({ type: 'done', text: parts.join(''), finishReason: 'stop' });
        subscriber.complete();
      }),
  };
}

/** A real `ws` client that records every frame, checked against the protocol schema. */
export class TestClient {
  readonly socket: WebSocket;
  readonly frames: ServerFrame[] = [];
  readonly #waiters: { test: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, options: ClientOptions = {}) {
    this.socket = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => {
        resolve();
      });
      this.socket.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.socket.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
      });
    });
    this.socket.on('error', () => undefined);
    this.socket.on('message', (data) => {
      const frame = ServerFrameSchema.parse(JSON.parse(frameText(data)));
      this.frames.push(frame);
      for (const waiter of [...this.#waiters]) {
        if (waiter.test(frame)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
  }

  static async open(url: string, options?: ClientOptions): Promise<TestClient> {
    const client = new TestClient(url, options);
    await client.opened;
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (already received or to come) that matches. */
  next<T extends ServerFrame['type']>(
    type: T,
    test: (frame: Extract<ServerFrame, { type: T }>) => boolean = () => true,
    from = 0,
  ): Promise<Extract<ServerFrame, { type: T }>> {
    const match = (f: ServerFrame): f is Extract<ServerFrame, { type: T }> =>
      f.type === type && test(f as Extract<ServerFrame, { type: T }>);
    const seen = this.frames.slice(from).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      this.#waiters.push({ test: match, resolve: resolve as (f: ServerFrame) => void });
    });
  }

  /** Waits for the settled frame of a task. */
  settled(taskId: string): Promise<Extract<ServerFrame, { type: 'settled' }>> {
    return this.next('settled', (f) => f.taskId === taskId);
  }

  /** The frames about one task, in arrival order. */
  framesOf(taskId: string): ServerFrame[] {
    return this.frames.filter((f) => 'taskId' in f && f.taskId === taskId && f.type !== 'error');
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close();
    return this.closed;
  }
}

/** An HTTP upgrade made by hand, resolving with the status line's code. */
export async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const socket = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      resolve(101);
      socket.terminate();
    });
    socket.once('error', (error) => {
      reject(error);
    });
  });
}

/** A gateway driven by a `ManualAgent`, the task events it emitted so far, and one connected client. */
export interface ManualSetup {
  readonly agent: ManualAgent;
  readonly gateway: Gateway;
  readonly events: TaskEvent[];
  readonly c: TestClient;
}

/**
 * Opens gateways and clients for a test file and terminates them after each test; `manual` is the setup most
 * tests share.
 */
export function gatewayHarness(): {
  start: (config: ServeConfig) => Promise<Gateway>;
  client: (gateway: Gateway, options?: ClientOptions) => Promise<TestClient>;
  manual: (config?: Omit<ServeConfig, 'agent'>) => Promise<ManualSetup>;
} {
  const gateways: Gateway[] = [];
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.terminate();
    await Promise.all(gateways.splice(0).map((g) => g.close()));
  });
  const start = async (config: ServeConfig): Promise<Gateway> => {
    const gateway = await serve(config);
    gateways.push(gateway);
    return gateway;
  };
  const client = async (gateway: Gateway, options?: ClientOptions): Promise<TestClient> => {
    const c = await TestClient.open(gateway.wsUrl, options);
    clients.push(c);
    return c;
  };
  const manual = async (config: Omit<ServeConfig, 'agent'> = {}): Promise<ManualSetup> => {
    const agent = new ManualAgent();
    const gateway = await start({ ...config, agent });
    const events: TaskEvent[] = [];
    gateway.events$.subscribe((e) => events.push(e));
    return { agent, gateway, events, c: await client(gateway) };
  };
  return { start, client, manual };
}
