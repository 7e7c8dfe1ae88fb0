import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

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
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
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
export function refuse(
  socket: Duplex,
  status: number,
  reason: string,
  headers: Record<string, string> = {},
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}` +
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
