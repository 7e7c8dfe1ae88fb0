import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { dashboardPage } from './dashboard.js';
import type { DashboardPage } from './dashboard.js';
import type { ResolvedServeConfig } from './serve-config.js';

/** Hosts a request may name besides the defaults (IP addresses, `localhost`), or `'all'` to skip the check. */
export type AllowedHosts = readonly string[] | 'all';

/**
 * The path of a request target, or `undefined` when it cannot be read. Node's HTTP parser accepts request
 * lines that `new URL` throws on (`GET //[ HTTP/1.1`); a throw in a `request` or `upgrade` listener would end
 * the process, so nothing here throws. Only origin-form targets are read (a path, compared as sent).
 */
export function requestPath(target: string | undefined): string | undefined {
  if (target === undefined || !target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

/** The host name of a `Host` header (`name:port`, `[v6]:port`, `v4`), lowercased; `undefined` when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const host = header.toLowerCase();
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close === -1) return undefined;
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return host.slice(1, close);
  }
  const match = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(host);
  return match?.[1];
}

/**
 * Whether a `Host` header names this gateway. DNS rebinding makes a hostile page's own name resolve to the
 * gateway's address, so its requests arrive with that name in `Host`; a rebinding page can never send an IP
 * address there (the browser sends the name from the page's URL). So IP addresses and `localhost` pass,
 * as do the names in `allowed` (a leading dot, `.example.com`, also admits every subdomain). Ports are not
 * compared: a rebinding page reaches the same port, and port forwarding changes it legitimately.
 */
export function hostAllowed(header: string | undefined, allowed: AllowedHosts): boolean {
  if (allowed === 'all') return true;
  const name = hostName(header);
  if (name === undefined) return false;
  if (isIP(name) !== 0 || name === 'localhost') return true;
  return allowed.some((entry) => {
    const wanted = entry.toLowerCase();
    return wanted.startsWith('.') ? name === wanted.slice(1) || name.endsWith(wanted) : name === wanted;
  });
}

/**
 * Whether a page of `Origin` may open a socket. Programs send no Origin and pass. Left without a list, only
 * pages served by the gateway itself (the origin's host equals the request's `Host`, which `hostAllowed`
 * has vetted) pass; a list is compared exactly; `'*'` admits every origin.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  origins: readonly string[] | '*' | undefined,
): boolean {
  if (origins === '*') return true;
  if (origins !== undefined) return origin !== undefined && origins.includes(origin);
  if (origin === undefined) return true;
  if (host === undefined) return false;
  // Scheme and host name are case-insensitive on both sides.
  const own = host.toLowerCase();
  const page = origin.toLowerCase();
  return page === `http://${own}` || page === `https://${own}`;
}

/**
 * The address a connection comes from: the TCP peer, or with `trustProxy` the address the nearest proxy
 * appended to `X-Forwarded-For` (the last entry; earlier ones are the client's word and can be forged).
 */
export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
  const peer = request.socket.remoteAddress ?? 'unknown';
  if (!trustProxy) return peer;
  const forwarded = request.headers['x-forwarded-for'];
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').at(-1)?.trim();
  return last === undefined || last === '' ? peer : last;
}

/**
 * Ends a handshake with an HTTP status, as `ws` does: the response is written with `end`, and the socket is
 * destroyed once it has been flushed (or at once when it cannot be written).
 */
export function refuse(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}

/** Answers a plain HTTP request with a short text body. */
export function respond(
  response: ServerResponse,
  status: number,
  reason: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    'content-type': 'text/plain',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  response.end(reason);
}

/** What the HTTP edge needs of the gateway behind it. */
export interface EdgeHost {
  /** Whether new sockets and pages are served (not while the gateway drains: 503). */
  readonly accepting: boolean;
  /** Sockets of an identity open now, for `limits.connectionsPerIdentity`. */
  socketsOf(identity: string): number;
  /** A socket that passed every check. */
  connect(ws: WebSocket, identity: string): void;
}

/**
 * The gateway's HTTP side: the dashboard page and its headers, and the WebSocket upgrade with its checks in
 * order — lifecycle, `Host`, `Origin`, connection limits, auth — each refusal an HTTP status. Nothing in it
 * throws out of a listener: a malformed request costs that request only.
 */
export class HttpEdge {
  readonly #config: ResolvedServeConfig;
  readonly #host: EdgeHost;
  readonly #ownServer: boolean;
  readonly #page: DashboardPage;
  readonly #wss: WebSocketServer;
  /** Sockets per address, counted from the upgrade (while auth runs) to the close. */
  readonly #perAddress = new Map<string, number>();
  /** Sockets open or being authenticated. */
  #connections = 0;

  constructor(config: ResolvedServeConfig, host: EdgeHost, ownServer: boolean) {
    this.#config = config;
    this.#host = host;
    this.#ownServer = ownServer;
    this.#page = dashboardPage(config.path);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  readonly onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    try {
      this.#answer(request, response);
    } catch {
      // A failure here must cost this request only, never the process.
      if (!response.headersSent) respond(response, 500, 'Internal Server Error');
      else response.destroy();
    }
  };

  readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
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

  #answer(request: IncomingMessage, response: ServerResponse): void {
    if (!this.#host.accepting) {
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

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { limits } = this.#config;
    const refusal = !this.#host.accepting
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
            : !this.#host.accepting
              ? ([503, 'Service Unavailable'] as const)
              : this.#host.socketsOf(identity) >= limits.connectionsPerIdentity
                ? ([429, 'Too Many Requests: too many connections for this identity'] as const)
                : undefined;
        if (refused !== undefined || identity === undefined) {
          refuse(socket, refused?.[0] ?? 401, refused?.[1] ?? 'Unauthorized');
          return;
        }
        this.#wss.handleUpgrade(request, socket, head, (ws) => {
          this.#host.connect(ws, identity);
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
}

function wellFormed(text: string): boolean {
  try {
    encodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
