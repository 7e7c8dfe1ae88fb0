/**
 * A loopback HTTP server that answers each request with the next recorded response, byte for byte, for any
 * provider's wire format (Anthropic's Messages API, OpenAI's, …): tests point a real SDK at it and replay
 * what a provider once sent. Only `node:http`.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One recorded response. */
export interface Replay {
  /** @defaultValue 200 */
  readonly status?: number;
  /** Sent as given; `content-type` defaults to `text/event-stream` for a 200, else `application/json`. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
  /** Destroy the connection after sending this many bytes of the body, as a dropped connection does. */
  readonly cutAfterBytes?: number;
}

/** What the server saw of one request. */
export interface ReplayedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  readonly body: unknown;
}

export interface ReplayServer {
  /** `http://127.0.0.1:<port>`, without a path. */
  readonly origin: string;
  readonly requests: readonly ReplayedRequest[];
  /** Queues responses for the next requests, one each, in arrival order. */
  queue(...replies: Replay[]): void;
  close(): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1 and a free port; a request with no queued response gets a 500 that names
 * it, so a test that sends more requests than it expected fails loudly.
 *
 * @example
 * const server = await startReplayServer();
 * server.queue({ body: readFileSync('fixtures/text.sse') });
 * const client = new Anthropic({ baseURL: server.origin, apiKey: 'test', maxRetries: 0 });
 */
export async function startReplayServer(): Promise<ReplayServer> {
  const requests: ReplayedRequest[] = [];
  const replies: Replay[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text.
      }
      requests.push({
        method: req.method ?? '',
        path: (req.url ?? '/').split('?')[0] ?? '/',
        headers: req.headers,
        body,
      });
      const reply = replies.shift();
      if (reply === undefined) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: `no recorded response queued for ${req.method ?? ''} ${req.url ?? ''}` }),
        );
        return;
      }
      const status = reply.status ?? 200;
      const headers = {
        'content-type': status === 200 ? 'text/event-stream' : 'application/json',
        ...reply.headers,
      };
      // A recorded content-length would not match a cut body, and chunked framing is what streams use.
      delete (headers as Record<string, string>)['content-length'];
      delete (headers as Record<string, string>)['transfer-encoding'];
      delete (headers as Record<string, string>)['content-encoding'];
      res.writeHead(status, headers);
      const bytes =
        typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : Buffer.from(reply.body);
      if (reply.cutAfterBytes === undefined) {
        res.end(bytes);
        return;
      }
      res.write(bytes.subarray(0, reply.cutAfterBytes), () => {
        res.socket?.destroy();
      });
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    queue: (...more) => {
      replies.push(...more);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
