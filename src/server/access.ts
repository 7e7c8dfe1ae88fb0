/** Who may connect and do what, and how much of the gateway any client may hold: the access options of `serve`. */
import { isIP } from 'node:net';
import { describe, expectConfig, expectInteger, expectKnownKeys } from '../core/validate.js';
import type { AllowedHosts } from './http-edge.js';

/** What an auth hook answers: `false` refuses the upgrade (401), `true` admits, a string admits as that identity. */
export type AuthResult = boolean | string;

/**
 * What the `authorize` hook is asked: whether `identity` may do something beyond its own tasks. A client
 * always sees, watches and cancels its own identity's tasks without asking.
 * - `submit`: run these tasks (`owner` is the identity itself).
 * - `subscribe`: watch tasks of `owner` (another identity, or `undefined` for tasks published from elsewhere
 *   through `results`), by id or `'*'` for all of them.
 * - `cancel`: cancel a task of `owner`.
 * - `metrics`: see the gateway's figures (every client's counts, connections, the shared budget) rather
 *   than only its own.
 */
export type AuthorizeRequest =
  | {
      readonly action: 'submit' | 'subscribe' | 'cancel';
      readonly identity: string;
      readonly owner: string | undefined;
      readonly taskIds: readonly string[] | '*';
    }
  | { readonly action: 'metrics'; readonly identity: string };

/**
 * Limits that keep one client, or many, from taking the gateway's memory. Each has a default that a single
 * hostile client cannot exhaust; `Infinity` lifts one.
 */
export interface GatewayLimits {
  /** Sockets open at once; past it an upgrade is answered 503. @defaultValue 1000 */
  readonly connections?: number;
  /** Sockets from one address (see `trustProxy`); past it 429. @defaultValue 64 */
  readonly connectionsPerAddress?: number;
  /** Sockets of one identity the auth hook returned; past it 429. @defaultValue 32 */
  readonly connectionsPerIdentity?: number;
  /** Task ids (and owners) one socket may watch at once; a `subscribe` past it is refused with `E_LIMIT`. @defaultValue 1000 */
  readonly watchedPerSocket?: number;
  /** Tasks of one identity accepted and not yet settled; a `submit` past it is refused with `E_QUEUE_FULL`. @defaultValue 1000 */
  readonly tasksPerIdentity?: number;
  /** Tasks accepted and not yet settled in the whole gateway; a `submit` past it is refused with `E_QUEUE_FULL`. @defaultValue 10000 */
  readonly tasks?: number;
  /**
   * Bytes waiting to be sent across every socket (socket buffers plus held frames); past it the socket with the
   * most waiting is closed with 1008, then the next, until the total is under the limit again.
   * @defaultValue 67108864 (64 MiB)
   */
  readonly bufferedBytes?: number;
}

/** Limits each client (each identity the auth hook returns, else each socket) has within the shared pool. */
export interface PerClientConfig {
  /** The client's tasks running at once. @defaultValue Infinity */
  readonly concurrency?: number;
  /** The client's tasks waiting for one of its slots; past it a task settles as `QueueFullError`. @defaultValue Infinity */
  readonly queueLimit?: number;
  /**
   * Input plus output tokens the client may use per minute. A client at its limit starts no new task until
   * its last minute's tokens (settled usage, plus estimates for its running tasks) fall below it.
   * @defaultValue Infinity
   */
  readonly tokensPerMinute?: number;
}

/** Submitting only: the default `authorize`. */
export const submitOnly = (request: AuthorizeRequest): boolean => request.action === 'submit';

/** Checks `allowedHosts`; a host name the gateway listens on is one of its own names. */
export function resolveAllowedHosts(value: unknown, host: string): AllowedHosts {
  if (value === 'all') return 'all';
  const names: unknown = value ?? [];
  if (!Array.isArray(names) || !names.every((h): h is string => typeof h === 'string' && h !== '')) {
    throw new TypeError(
      `Expected \`allowedHosts\` to be an array of host names or 'all', got ${describe(value)}`,
    );
  }
  // A host name the gateway was told to listen on is one of its own names.
  return isIP(host) === 0 ? [...names, host] : names;
}

const LIMIT_OPTIONS = [
  'connections',
  'connectionsPerAddress',
  'connectionsPerIdentity',
  'watchedPerSocket',
  'tasksPerIdentity',
  'tasks',
  'bufferedBytes',
] as const satisfies readonly (keyof GatewayLimits)[];

export function resolveLimits(limits: GatewayLimits = {}): Required<GatewayLimits> {
  expectConfig('limits', limits);
  expectKnownKeys('limits', limits, LIMIT_OPTIONS);
  const limit = (name: keyof GatewayLimits, fallback: number): number =>
    expectInteger(`limits.${name}`, limits[name] ?? fallback, 1, true);
  return {
    connections: limit('connections', 1000),
    connectionsPerAddress: limit('connectionsPerAddress', 64),
    connectionsPerIdentity: limit('connectionsPerIdentity', 32),
    watchedPerSocket: limit('watchedPerSocket', 1000),
    tasksPerIdentity: limit('tasksPerIdentity', 1000),
    tasks: limit('tasks', 10_000),
    bufferedBytes: limit('bufferedBytes', 64 * 1024 * 1024),
  };
}

export function resolvePerClient(perClient: PerClientConfig = {}): Required<PerClientConfig> {
  expectConfig('perClient', perClient);
  const inf = Number.POSITIVE_INFINITY;
  return {
    concurrency: expectInteger('perClient.concurrency', perClient.concurrency ?? inf, 1, true),
    queueLimit: expectInteger('perClient.queueLimit', perClient.queueLimit ?? inf, 0, true),
    tokensPerMinute: expectInteger('perClient.tokensPerMinute', perClient.tokensPerMinute ?? inf, 1, true),
  };
}
