import { Server } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { asyncScheduler } from 'rxjs';
import type { Observable, SchedulerLike } from 'rxjs';
import type { Budget } from '../budget/create-budget.js';
import type { Agent, TaskEvent } from '../core/types.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectScheduler,
} from '../core/validate.js';
import { poolOptions } from '../operators/pool.js';
import type { PoolConfig } from '../operators/pool.js';
import type { RetryBackoffConfig } from '../operators/retry-backoff.js';
import { runAgentsOptions } from '../operators/run-agents.js';
import type { RunAgentsConfig } from '../operators/run-agents.js';
import { resolveAllowedHosts, resolveLimits, resolvePerClient, submitOnly } from './access.js';
import type { AuthResult, AuthorizeRequest, GatewayLimits, PerClientConfig } from './access.js';
import type { AllowedHosts } from './http-edge.js';

export type { AuthResult, AuthorizeRequest, GatewayLimits, PerClientConfig } from './access.js';

/** Configuration of {@link serve}. */
export interface ServeConfig {
  /** Runs each submitted task. */
  readonly agent: Agent;
  /** Port to listen on; `0` picks a free one. Not with `server`. @defaultValue 0 */
  readonly port?: number;
  /** Interface to listen on. Not with `server`. @defaultValue '127.0.0.1' */
  readonly host?: string;
  /** An existing HTTP server to attach the socket to; its other routes stay its own. @defaultValue undefined */
  readonly server?: Server;
  /** Path of the WebSocket endpoint. @defaultValue '/ws' */
  readonly path?: string;
  /** The shared pool every client's tasks run in. @defaultValue { concurrency: 4 } */
  readonly pool?: Omit<PoolConfig, 'scheduler'>;
  /**
   * The shared budget every run waits for (`throttleBudget` with `estimateTokens(task)`); its state goes out
   * in `metrics` frames. Rejected input never reaches it. @defaultValue no budget
   */
  readonly budget?: Budget;
  /** Shorthand for `timeout: { total: timeoutMs }`; give one or the other. @defaultValue no timeout */
  readonly timeoutMs?: number;
  /**
   * Limits for each attempt of a run, as in `timeoutWith`: a run past them is aborted and, if retries are left,
   * tried again. @defaultValue no timeout
   */
  readonly timeout?: { readonly first?: number; readonly each?: number; readonly total?: number };
  /**
   * Retries of a failed run, as in `runAgents` (`retryBackoff`), or `false` for none. A run that already sent
   * text to its client is not retried, and cancels and disconnects never are. @defaultValue { maxRetries: 2 }
   */
  readonly retry?: RetryBackoffConfig | false;
  /**
   * How long `close()` lets accepted tasks finish before it cancels the rest (`CancelledError` with reason
   * `'drain-deadline'`); `close({ deadlineMs })` overrides it. `Infinity` waits for every task.
   * @defaultValue 30000
   */
  readonly closeDeadlineMs?: number;
  /**
   * Task events produced elsewhere (other workers, through `fromRedisResults`) to push to the clients that
   * watch their tasks. @defaultValue none
   */
  readonly results?: Observable<TaskEvent<unknown>>;
  /**
   * Decides at the upgrade whether a client may connect (401 when not) and who it is. Without it every socket
   * is an identity of its own. @defaultValue admit all, one identity per socket
   */
  readonly auth?: (request: IncomingMessage) => AuthResult | Promise<AuthResult>;
  /**
   * Decides what an identity may do beyond its own tasks; see {@link AuthorizeRequest}. Called for each frame
   * that needs it (and once per owner for `subscribe '*'`), so it must answer at once. A hook that throws
   * answers `false`. @defaultValue submitting only: `(request) => request.action === 'submit'`
   */
  readonly authorize?: (request: AuthorizeRequest) => boolean;
  /**
   * Host names the `Host` header may carry besides IP addresses, `localhost` and the `host` option when it
   * is a name (a leading dot admits
   * subdomains: `'.example.com'`), or `'all'`. Other hosts get 403 before auth, for pages and sockets alike:
   * this is what stops DNS rebinding, where a hostile page's name resolves to the gateway's address. Add the
   * names a reverse proxy or a LAN uses to reach the gateway. @defaultValue [] (IP addresses and localhost)
   */
  readonly allowedHosts?: readonly string[] | 'all';
  /**
   * Take a client's address from the last `X-Forwarded-For` entry (what the nearest proxy saw) instead of
   * the TCP peer, for `connectionsPerAddress`. Only behind a proxy that sets it. @defaultValue false
   */
  readonly trustProxy?: boolean;
  /** Memory and connection limits; see {@link GatewayLimits}. @defaultValue see each field */
  readonly limits?: GatewayLimits;
  /**
   * Origins allowed to connect (403 otherwise), compared exactly, or `'*'` for any. Left out, only clients
   * that send no Origin (programs) and pages of the gateway's own origin may connect, so a web page elsewhere
   * cannot spend the budget through a user's browser. @defaultValue same origin only
   */
  readonly origins?: readonly string[] | '*';
  /** Per-client limits on top of the shared pool. @defaultValue no limits */
  readonly perClient?: PerClientConfig;
  /** Largest frame a client may send, in bytes; larger ones close the socket with 1009. @defaultValue 65536 */
  readonly maxPayload?: number;
  /** Buffered bytes on a socket above which deltas are coalesced. @defaultValue 1048576 */
  readonly highWaterMark?: number;
  /** Buffered plus held bytes above which a socket is closed with 1008. @defaultValue 16777216 */
  readonly hardLimit?: number;
  /** Interval of WebSocket pings; a peer that missed the last one is cut off. @defaultValue 30000 */
  readonly heartbeatMs?: number;
  /** Shortest interval between two `metrics` frames. @defaultValue 250 */
  readonly metricsIntervalMs?: number;
  /** Serve the dashboard page at `/` (only when the gateway owns its HTTP server). @defaultValue true */
  readonly dashboard?: boolean;
  /** Clock of heartbeats, metrics, drains and token windows. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

export interface ResolvedServeConfig {
  readonly agent: Agent;
  readonly port: number;
  readonly host: string;
  readonly server: Server | undefined;
  readonly path: string;
  readonly pool: Omit<PoolConfig, 'scheduler'>;
  readonly budget: Budget | undefined;
  /** Timeout, budget and retry around each run, as `runAgents` takes them. */
  readonly run: Pick<RunAgentsConfig, 'timeoutMs' | 'timeout' | 'retry' | 'budget'>;
  readonly closeDeadlineMs: number;
  readonly results: Observable<TaskEvent<unknown>> | undefined;
  readonly auth: ((request: IncomingMessage) => AuthResult | Promise<AuthResult>) | undefined;
  readonly authorize: (request: AuthorizeRequest) => boolean;
  readonly allowedHosts: AllowedHosts;
  readonly trustProxy: boolean;
  readonly limits: Required<GatewayLimits>;
  readonly origins: readonly string[] | '*' | undefined;
  readonly perClient: Required<PerClientConfig>;
  readonly maxPayload: number;
  readonly highWaterMark: number;
  readonly hardLimit: number;
  readonly heartbeatMs: number;
  readonly metricsIntervalMs: number;
  readonly dashboard: boolean;
  readonly scheduler: SchedulerLike;
}

const SERVE_OPTIONS = [
  'agent',
  'port',
  'host',
  'server',
  'path',
  'pool',
  'budget',
  'results',
  'timeoutMs',
  'timeout',
  'retry',
  'closeDeadlineMs',
  'auth',
  'authorize',
  'allowedHosts',
  'trustProxy',
  'limits',
  'origins',
  'perClient',
  'maxPayload',
  'highWaterMark',
  'hardLimit',
  'heartbeatMs',
  'metricsIntervalMs',
  'dashboard',
  'scheduler',
] as const satisfies readonly (keyof ServeConfig)[];

/** Checks a `serve` config and merges the defaults, all in one place. */
export function resolveServeConfig(config: ServeConfig): ResolvedServeConfig {
  expectConfig('config', config);
  expectKnownKeys('serve', config, SERVE_OPTIONS);
  const pool = config.pool ?? {};
  // Checked here, before anything listens: a bad pool config must not leave a server open.
  poolOptions(() => [], pool);
  const agent = config.agent as unknown;
  if (typeof agent !== 'object' || agent === null || typeof (agent as Agent).run !== 'function') {
    throw new TypeError(
      `Expected \`agent\` to be an object with a \`run(task, { signal })\` method, got ${describe(agent)}`,
    );
  }
  if (config.server !== undefined && (config.port !== undefined || config.host !== undefined)) {
    throw new TypeError('Give either the "server" option or "port"/"host", not both');
  }
  if (config.server !== undefined && !(config.server instanceof Server)) {
    throw new TypeError(`Expected \`server\` to be an http.Server, got ${describe(config.server)}`);
  }
  const path = config.path ?? '/ws';
  if (typeof path !== 'string' || !path.startsWith('/') || path === '/') {
    throw new TypeError(
      `Expected \`path\` to be a path starting with "/" other than "/", got ${describe(path)}`,
    );
  }
  const host = config.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') {
    throw new TypeError(`Expected \`host\` to be a host name or address, got ${describe(host)}`);
  }
  if (config.pool !== undefined) expectConfig('pool', config.pool);
  if (config.auth !== undefined) expectFunction('auth', config.auth);
  if (config.authorize !== undefined) expectFunction('authorize', config.authorize);
  if (config.trustProxy !== undefined && typeof config.trustProxy !== 'boolean') {
    throw new TypeError(`Expected \`trustProxy\` to be a boolean, got ${describe(config.trustProxy)}`);
  }
  const origins = config.origins;
  if (
    origins !== undefined &&
    origins !== '*' &&
    !(Array.isArray(origins) && origins.every((o) => typeof o === 'string'))
  ) {
    throw new TypeError(`Expected \`origins\` to be an array of origins or '*', got ${describe(origins)}`);
  }
  const highWaterMark = expectInteger('highWaterMark', config.highWaterMark ?? 1024 * 1024, 1);
  const hardLimit = expectInteger('hardLimit', config.hardLimit ?? 16 * 1024 * 1024, 1);
  if (hardLimit <= highWaterMark) {
    throw new TypeError(
      `Expected \`hardLimit\` (${hardLimit}) to be greater than \`highWaterMark\` (${highWaterMark})`,
    );
  }
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  const run = {
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    ...(config.timeout === undefined ? {} : { timeout: config.timeout }),
    ...(config.retry === undefined ? {} : { retry: config.retry }),
    ...(config.budget === undefined ? {} : { budget: config.budget }),
  };
  // Checked here, before anything listens: the gateway builds its pool from the same options.
  runAgentsOptions(config.agent, { ...pool, ...run, scheduler }, 'serve');
  return {
    agent: config.agent,
    port: expectInteger('port', config.port ?? 0, 0),
    host,
    server: config.server,
    path,
    pool,
    budget: config.budget,
    run,
    closeDeadlineMs: expectInteger('closeDeadlineMs', config.closeDeadlineMs ?? 30_000, 0, true),
    results: config.results,
    auth: config.auth,
    authorize: config.authorize ?? submitOnly,
    allowedHosts: resolveAllowedHosts(config.allowedHosts, host),
    trustProxy: config.trustProxy ?? false,
    limits: resolveLimits(config.limits),
    origins,
    perClient: resolvePerClient(config.perClient),
    maxPayload: expectInteger('maxPayload', config.maxPayload ?? 64 * 1024, 1),
    highWaterMark,
    hardLimit,
    heartbeatMs: expectInteger('heartbeatMs', config.heartbeatMs ?? 30_000, 1),
    metricsIntervalMs: expectInteger('metricsIntervalMs', config.metricsIntervalMs ?? 250, 1),
    dashboard: config.dashboard ?? true,
    scheduler,
  };
}
