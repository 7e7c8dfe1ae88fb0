import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  asyncScheduler,
  catchError,
  concat,
  defer,
  from,
  fromEvent,
  ignoreElements,
  map,
  of,
  share,
  switchMap,
  take,
  tap,
  throwError,
  timeout,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import { StoreUnavailableError } from '../core/errors/index.js';
import {
  describe,
  expectConfig,
  expectInteger,
  expectKnownKeys,
  expectNumber,
  expectScheduler,
} from '../core/validate.js';
import { connect, expectConnection, type RedisConnectionConfig } from './connection.js';
import { memoryStore } from '../budget/memory-store.js';
import { DEFAULT_BUDGET_PREFIX, budgetKeys } from './keys.js';
import { ACQUIRE, ADJUST, COOL_DOWN, RESYNC, VIEW, runScript, type LuaScript } from './scripts.js';
import type {
  AcquireCall,
  AcquireResult,
  AdjustCall,
  Amounts,
  BudgetSpec,
  BudgetStore,
  StoreView,
} from '../budget/store.js';
import { LIMIT_NAMES, type LimitName } from '../budget/token-bucket.js';

/** What a `redisStore` does while Redis cannot be reached. */
export interface RedisStoreUnavailableConfig {
  /**
   * Fail-closed (the default, without `fallback`): nothing is granted while Redis is down; once it has been
   * unreachable for this long, runs waiting for a grant (and new ones, until it is back) settle as rejected
   * with `BudgetExhaustedError` (reason `'store-unavailable'`, cause a `StoreUnavailableError`). That
   * rejection is retryable, so runs with retries (`runAgents`' `retry`, `retryBackoff`) outlast a longer
   * outage, such as a failover, for as long as their retries last.
   * @defaultValue 30000
   */
  readonly waitMs?: number;
  /**
   * Opt-in: grant from a bucket in this process's memory holding 1/`processes` of every limit, so that
   * `processes` workers together stay within it. It starts as if its whole window had just been used (the
   * grants other processes made before the outage are unknown), so it grants only in outages longer than
   * one window; what it grants is charged to Redis when it is back. @defaultValue none (fail-closed)
   */
  readonly fallback?: { readonly processes: number };
}

/** Configuration of {@link redisStore}: `client` or `url`, and where and how the buckets live. */
export interface RedisStoreConfig extends RedisConnectionConfig {
  /** Prepended to every key, so several applications can share one Redis. @defaultValue 'rxagent:budget:' */
  readonly prefix?: string;
  /** Behaviour while Redis is unreachable. @defaultValue fail-closed, waiting up to 30 s */
  readonly unavailable?: RedisStoreUnavailableConfig;
  /**
   * Appends every grant and adjustment, timed by the Redis server, to the stream `auditKey(key)`
   * (fields `at`, `kind`, `id`, and one per limit). For tests and forensics; it grows without bound.
   * @defaultValue false
   */
  readonly audit?: boolean;
  /** Clock of the per-call timeout. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** A `BudgetStore` kept in Redis. */
export interface RedisStore extends BudgetStore {
  /** The connection the store uses. */
  readonly client: Redis;
  /** The stream that `audit: true` appends to for budget `key`. */
  auditKey(key: string): string;
  /** Closes the connection if the store opened it (from `url`); a given `client` stays open. */
  close(): Promise<void>;
}

/** Longest a single script call may take before Redis counts as unreachable. */
const ATTEMPT_MS = 1_000;
/** How long a store with a fallback pauses Redis grants after an outage, for the others to reconnect. */
const FALLBACK_SETTLE_MS = 1_000;
/** How often a fail-closed store asks Redis again while it is down. */
const RETRY_MS = 250;
const CONFIG_KEYS = ['client', 'url', 'prefix', 'unavailable', 'audit', 'scheduler'] as const;

type Reply = readonly string[];
type Replay = (now: number) => Observable<unknown>;

/**
 * Creates a `BudgetStore` kept in Redis, so budgets in many processes (with the same `prefix` and `key`)
 * share one set of limits: reservations, reconciliation, cooldowns and header re-synchronisation all go
 * through Lua scripts that run atomically on the Redis server's clock (`TIME`; the `now` that budgets pass
 * is used only for this process's own timers). Scripts are sent by SHA and reloaded after a restart
 * (`NOSCRIPT`).
 *
 * While Redis is unreachable the store is fail-closed by default (see `unavailable`). Redis keeps the
 * buckets in memory: if a restart loses them, the first process back recreates them paused until every
 * grant made before the loss has left its window, so limits hold across restarts too (with persistence
 * nothing is lost and nothing pauses). Spending (`maxTotalCost`) lost in a restart starts again from 0.
 *
 * Give the store its own connection (`url`): it is opened with the offline queue off, so an outage is
 * noticed at once. A given `client` is used as it is; calls still time out after one second.
 *
 * @example
 * const store = redisStore({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:' });
 * const budget = createBudget({ tokensPerMinute: 90_000, store, key: 'openai' });
 */
export function redisStore(config: RedisStoreConfig): RedisStore {
  expectConfig('config', config);
  expectKnownKeys('redisStore', config, CONFIG_KEYS);
  expectConnection('redisStore', config);
  const prefix = config.prefix ?? DEFAULT_BUDGET_PREFIX;
  if (typeof prefix !== 'string') {
    throw new TypeError(`Expected \`prefix\` to be a string, got ${describe(prefix)}`);
  }
  const unavailable = config.unavailable ?? {};
  expectConfig('unavailable', unavailable);
  const waitMs = expectNumber('unavailable.waitMs', unavailable.waitMs ?? 30_000, 0);
  let processes: number | undefined;
  if (unavailable.fallback !== undefined) {
    expectConfig('unavailable.fallback', unavailable.fallback);
    processes = expectInteger('unavailable.fallback.processes', unavailable.fallback.processes, 1);
  }
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  const auditFlag = config.audit === true ? '1' : '0';

  const { client, owned } = connect(config, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 50, 500),
  });
  let everReady = client.status === 'ready';
  const onReady = (): void => {
    everReady = true;
  };
  // An owned client's connection errors are answered by the fail-closed or fallback path, not by a crash.
  const onError = (): void => undefined;
  client.on('ready', onReady);
  if (owned) client.on('error', onError);
  // Calls made before the first connection share one listener: a burst of them would pass the emitter's limit.
  const firstReady$ = fromEvent(client, 'ready').pipe(take(1), share());

  // Each key's state hash has its own epoch (when it was created), so each key is checked against its own.
  const epochs = new Map<string, string>();
  let downSince: number | undefined;
  let lastSpent = 0;
  let replays: Replay[] = [];
  const local = processes === undefined ? undefined : memoryStore();
  const localIds = new Set<string>();
  const seeded = new Set<string>();
  const owed = new Map<string, { spec: BudgetSpec; amounts: Record<LimitName, number> }>();
  let fallbackRuns = 0;
  // A budget's nine key names, made once: every call names them.
  const keyNames = new Map<string, ReturnType<typeof budgetKeys>>();
  const keysOf = (key: string): ReturnType<typeof budgetKeys> => {
    let names = keyNames.get(key);
    if (names === undefined) {
      names = budgetKeys(prefix, key);
      keyNames.set(key, names);
    }
    return names;
  };
  // Budgets number their reservations per process; this keeps the ids of many processes apart in Redis.
  const instance = randomUUID();

  const recovered = (now: number, key: string, specText: string): void => {
    downSince = undefined;
    if (local !== undefined) {
      // Other processes may still be granting from their fallback buckets until they reconnect and charge
      // Redis for it; nothing is granted until they have had the time to.
      for (const part of specText.split(';').filter((p) => p !== '')) {
        const limit = part.split(',')[0] ?? '';
        call(COOL_DOWN, key, [specText, limit, String(FALLBACK_SETTLE_MS)], now).subscribe({
          error: () => undefined,
        });
      }
    }
    seeded.clear();
    const pending = replays;
    replays = [];
    concat(...pending.map((replay) => replay(now).pipe(ignoreElements()))).subscribe({
      error: () => undefined,
    });
    chargeOwed(now);
  };

  function call(script: LuaScript, key: string, args: readonly string[], now: number): Observable<Reply> {
    const [spec = '', ...rest] = args;
    return defer(() => {
      const ready$ =
        client.status === 'ready'
          ? of(null)
          : everReady
            ? throwError(() => new Error(`Redis connection is ${client.status}`))
            : firstReady$;
      const downFor = downSince === undefined ? 0 : Math.max(0, now - downSince);
      const keys = keysOf(key);
      return ready$.pipe(
        switchMap(() =>
          from(
            runScript(client, script, keys, [
              spec,
              epochs.get(key) ?? '',
              String(downFor),
              ...rest,
              auditFlag,
            ]),
          ),
        ),
        timeout({ first: ATTEMPT_MS, scheduler }),
      );
    }).pipe(
      map((reply) => reply as Reply),
      tap((reply) => {
        if (reply[0] !== undefined) epochs.set(key, reply[0]);
        if (downSince !== undefined) recovered(now, key, spec);
      }),
      catchError((error: unknown) => {
        if (isUnavailable(error)) downSince ??= now;
        return throwError(() => error);
      }),
    );
  }

  const scaledSpec = (spec: BudgetSpec): BudgetSpec => {
    const n = processes ?? 1;
    const limits = spec.limits.map((l) => ({
      ...l,
      limit: l.limit / n,
      capacity: l.capacity / n,
      ratePerMs: l.ratePerMs / n,
    }));
    return spec.maxTotalCost === undefined ? { limits } : { limits, maxTotalCost: spec.maxTotalCost / n };
  };

  const owe = (key: string, spec: BudgetSpec, amounts: Amounts): void => {
    const entry = owed.get(key) ?? {
      spec,
      amounts: { tokens: 0, inputTokens: 0, outputTokens: 0, requests: 0, cost: 0 },
    };
    for (const name of LIMIT_NAMES) entry.amounts[name] += Math.max(0, amounts[name] ?? 0);
    owed.set(key, entry);
  };

  function chargeOwed(now: number): void {
    for (const [key, { spec, amounts }] of owed) {
      owed.delete(key);
      const id = `fallback:${++fallbackRuns}`;
      adjustInRedis({ key, spec, id, delta: amounts, now, final: true }).subscribe();
    }
  }

  const whenDown = (
    error: unknown,
    replay: Replay | undefined,
    orElse: () => Observable<void>,
  ): Observable<void> => {
    if (isUnavailable(error) && replay !== undefined) replays.push(replay);
    return orElse();
  };

  function adjustInRedis({ key, spec, id, delta, now, final }: AdjustCall): Observable<void> {
    const args = [`${instance}/${id}`, amountsArg(spec, delta), String(delta.cost ?? 0), final ? '1' : '0'];
    return call(ADJUST, key, [specArgs(spec).limits, ...args], now).pipe(
      map(() => undefined),
      catchError((error: unknown) =>
        whenDown(
          error,
          (at) => call(ADJUST, key, [specArgs(spec).limits, ...args], at),
          () => of(undefined),
        ),
      ),
    );
  }

  const localAcquire = ({ key, spec, id, amounts, now }: AcquireCall): Observable<AcquireResult> => {
    const store = local as BudgetStore;
    const scaled = scaledSpec(spec);
    if (!seeded.has(key)) {
      seeded.add(key);
      const full: Record<string, number> = {};
      for (const limit of scaled.limits) full[limit.name] = limit.limit;
      const at = downSince ?? now;
      store.adjust({ key, spec: scaled, id: 'outage', delta: full, now: at, final: true }).subscribe();
      // The seed fills the windows, not the spending.
      const refund = { cost: -(full.cost ?? 0) };
      store
        .adjust({ key, spec: { limits: [] }, id: 'outage', delta: refund, now: at, final: true })
        .subscribe();
    }
    return store.acquire({ key, spec: scaled, id, amounts, now }).pipe(
      tap((result) => {
        if (!result.granted) return;
        localIds.add(id);
        owe(key, spec, amounts);
      }),
    );
  };

  return {
    client,
    auditKey: (key) => keysOf(key)[2],
    acquire(params) {
      const { key, spec, id, amounts, now } = params;
      const { limits, maxTotalCost } = specArgs(spec);
      const args = [
        limits,
        maxTotalCost,
        `${instance}/${id}`,
        amountsArg(spec, amounts),
        String(amounts.cost ?? 0),
      ];
      return call(ACQUIRE, key, args, now).pipe(
        map(parseAcquire),
        catchError((error: unknown): Observable<AcquireResult> => {
          if (!isUnavailable(error)) return throwError(() => error);
          if (local !== undefined) return localAcquire(params);
          const downFor = now - (downSince ?? now);
          if (downFor >= waitMs) {
            return throwError(
              () =>
                new StoreUnavailableError({
                  downForMs: downFor,
                  waitMs,
                  cause: error,
                }),
            );
          }
          return of({ granted: false, waitMs: Math.min(RETRY_MS, waitMs - downFor) });
        }),
      );
    },
    adjust(params) {
      const { key, spec, id, delta, now, final } = params;
      if (!localIds.has(id)) return adjustInRedis(params);
      if (final) localIds.delete(id);
      (local as BudgetStore).adjust({ ...params, spec: scaledSpec(spec) }).subscribe();
      owe(key, spec, delta);
      if (downSince === undefined) chargeOwed(now);
      return of(undefined);
    },
    coolDown(params) {
      const { key, spec, limit, until, now } = params;
      local?.coolDown({ ...params, spec: scaledSpec(spec) }).subscribe();
      const replay: Replay = (at) =>
        call(COOL_DOWN, key, [specArgs(spec).limits, limit, String(until - at)], at);
      return replay(now).pipe(
        map(() => undefined),
        catchError((error: unknown) => whenDown(error, replay, () => of(undefined))),
      );
    },
    resync(params) {
      const { key, spec, limit, report, now } = params;
      local?.resync({ ...params, spec: scaledSpec(spec) }).subscribe();
      const args = [
        specArgs(spec).limits,
        limit,
        String(report.remaining),
        String(report.providerLimit),
        String(report.resetMs),
      ];
      const replay: Replay = (at) => call(RESYNC, key, args, at);
      return replay(now).pipe(
        map(() => undefined),
        catchError((error: unknown) => whenDown(error, replay, () => of(undefined))),
      );
    },
    view(params): Observable<StoreView> {
      const { key, spec, now } = params;
      return call(VIEW, key, [specArgs(spec).limits], now).pipe(
        map((reply): StoreView => {
          const available: Partial<Record<LimitName, number>> = {};
          spec.limits.forEach((limit, i) => {
            available[limit.name] = parseNumber(reply[3 + i]);
          });
          lastSpent = parseNumber(reply[1]);
          const cooldown = reply[2] ?? '';
          return {
            available,
            spent: lastSpent,
            cooldownUntil: cooldown === '' ? Number.NEGATIVE_INFINITY : now + parseNumber(cooldown),
          };
        }),
        catchError(() => {
          if (local !== undefined) return local.view({ ...params, spec: scaledSpec(spec) });
          const available: Partial<Record<LimitName, number>> = {};
          for (const limit of spec.limits) available[limit.name] = 0;
          return of({ available, spent: lastSpent, cooldownUntil: Number.NEGATIVE_INFINITY });
        }),
      );
    },
    async close() {
      client.off('ready', onReady);
      if (!owned) return;
      // The error listener stays: a command a budget sends after QUIT (a refund on the way) meets a closed
      // socket, and that error must not be an unhandled 'error' event.
      try {
        if (client.status === 'ready') await client.quit();
        else client.disconnect();
      } catch {
        // The connection went while QUIT was on its way: it is closed either way.
        client.disconnect();
      }
    },
  };
}

/** A budget's spec as its scripts read it, made once per spec: every call of a budget sends the same one. */
const specTexts = new WeakMap<BudgetSpec, { readonly limits: string; readonly maxTotalCost: string }>();

function specArgs(spec: BudgetSpec): { readonly limits: string; readonly maxTotalCost: string } {
  let texts = specTexts.get(spec);
  if (texts === undefined) {
    texts = {
      limits: spec.limits
        .map((l) => `${l.name},${l.limit},${l.windowMs},${l.capacity},${l.ratePerMs},${l.sliding ? 1 : 0}`)
        .join(';'),
      maxTotalCost: spec.maxTotalCost === undefined ? '' : String(spec.maxTotalCost),
    };
    specTexts.set(spec, texts);
  }
  return texts;
}

function amountsArg(spec: BudgetSpec, amounts: Amounts): string {
  return spec.limits.map((l) => String(amounts[l.name] ?? 0)).join(',');
}

function parseNumber(text: string | undefined): number {
  if (text === 'inf') return Number.POSITIVE_INFINITY;
  if (text === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

function parseAcquire(reply: Reply): AcquireResult {
  const [, status, a, b] = reply;
  if (status === 'ok') return { granted: true };
  if (status === 'wait') return { granted: false, waitMs: parseNumber(a) };
  const never = a === 'max-total-cost' ? 'max-total-cost' : 'exceeds-capacity';
  return b === undefined || b === ''
    ? { granted: false, never }
    : { granted: false, never, limit: b as LimitName };
}

/** Connection loss, a timeout, or a server that cannot answer yet; not a script's own error. */
function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  if (error.name === 'ReplyError')
    return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/.test(error.message);
  return true;
}
