import { Observable, asyncScheduler, interval } from 'rxjs';
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import type { TaskEvent, Usage } from '../core/types.js';
import { expectConfig, expectFunction, expectInteger, expectKnownKeys } from '../core/validate.js';

/** What `progress` writes to: `process.stderr` or any stream with `write`. */
export interface ProgressStream {
  write(text: string): unknown;
  /**
   * A terminal is redrawn in place; anything else gets nothing (or, with `force`, a line per redraw).
   * @defaultValue false
   */
  readonly isTTY?: boolean;
  /** Width the line is cut to. @defaultValue 80 */
  readonly columns?: number;
}

/** Options of {@link progress}. */
export interface ProgressOptions {
  /** Tasks expected in all, for the bar and the ETA. @defaultValue unknown: no bar, no ETA */
  readonly total?: number;
  /** The pool's state, for the queue depth: e.g. a Subject fed by the pool's `monitor`. @defaultValue none */
  readonly state$?: Observable<{ readonly queued: number; readonly inFlight: number }>;
  /** Where to draw. @defaultValue process.stderr */
  readonly stream?: ProgressStream;
  /** Draw even when the stream is not a terminal (one line per redraw then). @defaultValue false */
  readonly force?: boolean;
  /**
   * Dollars a settled run cost, for runs whose usage carries no `cost`: e.g.
   * `(usage) => costOf(priceOf('gpt-4o-mini')!, usage)`. Spend shows once anything is priced.
   * @defaultValue usage.cost only
   */
  readonly price?: (usage: Usage) => number;
  /** Time between redraws. @defaultValue 100 */
  readonly intervalMs?: number;
  /** Clock of the redraws, the rate and the ETA. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** The figures a progress line shows. */
export interface ProgressSnapshot {
  /** Tasks settled, fulfilled or not. */
  readonly done: number;
  /** Tasks settled as rejected. */
  readonly failed: number;
  /** Tasks expected in all; `undefined` draws no bar and no ETA. */
  readonly total: number | undefined;
  /** Tasks in the pool's queue; `undefined` when unknown. */
  readonly queued: number | undefined;
  /** Tasks running; `undefined` when unknown. */
  readonly inFlight: number | undefined;
  /** Time since the stream was subscribed, for the rates and the ETA. */
  readonly elapsedMs: number;
  /** Input plus output tokens of the settled runs. */
  readonly tokens: number;
  /** Dollars spent by the settled runs; `undefined` when nothing is priced. */
  readonly spent?: number;
}

/**
 * Draws a one-line progress bar on stderr for a stream of task events and passes the events on unchanged:
 * settled out of total, failures, tasks per second, tokens per minute, queue depth (from `state$`), and
 * the ETA. Redraws at most every `intervalMs` and once more at the end; draws nothing when the stream is not
 * a terminal, unless `force`.
 *
 * ```
 * events:  --S--d--s--S--s--|   S started, d delta, s settled (total: 2)
 * result:  --S--d--s--S--s--|   stderr: [##########----------] 1/2 … then [####################] 2/2
 * ```
 *
 * @example
 * fromJsonl('prompts.jsonl').pipe(runAgents(agent), progress({ total: 1000 }), toJsonl('out.jsonl')).subscribe();
 */
export function progress<V>(options: ProgressOptions = {}): MonoTypeOperatorFunction<TaskEvent<V>> {
  expectConfig('options', options);
  expectKnownKeys('progress', options, [
    'total',
    'state$',
    'stream',
    'force',
    'price',
    'intervalMs',
    'scheduler',
  ]);
  if (options.price !== undefined) expectFunction('price', options.price);
  const total = options.total === undefined ? undefined : expectInteger('total', options.total, 0);
  const intervalMs = expectInteger('intervalMs', options.intervalMs ?? 100, 1);
  const stream: ProgressStream = options.stream ?? process.stderr;
  const scheduler = options.scheduler ?? asyncScheduler;
  const enabled = options.force === true || stream.isTTY === true;
  return (source) => {
    if (!enabled) return source;
    return new Observable<TaskEvent<V>>((subscriber) => {
      const startedAt = scheduler.now();
      let done = 0;
      let failed = 0;
      let tokens = 0;
      let spent: number | undefined;
      let pool: { queued: number; inFlight: number } | undefined;
      let dirty = true;
      const draw = (final: boolean): void => {
        if (!dirty && !final) return;
        dirty = false;
        const snapshot: ProgressSnapshot = {
          done,
          failed,
          total,
          queued: pool?.queued,
          inFlight: pool?.inFlight,
          elapsedMs: scheduler.now() - startedAt,
          tokens,
          ...(spent === undefined ? {} : { spent }),
        };
        // Some terminals report a width of 0; draw for the usual 80 columns then.
        const columns = stream.columns !== undefined && stream.columns > 0 ? stream.columns : 80;
        const line = formatProgress(snapshot, columns);
        stream.write(stream.isTTY === true ? `\r\x1b[2K${line}${final ? '\n' : ''}` : `${line}\n`);
      };
      const subscriptions: Subscription[] = [
        interval(intervalMs, scheduler).subscribe(() => {
          draw(false);
        }),
      ];
      if (options.state$ !== undefined) {
        subscriptions.push(
          options.state$.subscribe((state) => {
            pool = { queued: state.queued, inFlight: state.inFlight };
            dirty = true;
          }),
        );
      }
      subscriptions.push(
        source.subscribe({
          next: (event) => {
            if (event.type === 'settled') {
              done++;
              if (event.result.status === 'rejected') failed++;
              const usage = event.result.usage;
              if (usage !== undefined) {
                tokens += usage.inputTokens + usage.outputTokens;
                const cost = usage.cost ?? options.price?.(usage);
                if (cost !== undefined) spent = (spent ?? 0) + cost;
              }
              dirty = true;
            }
            subscriber.next(event);
          },
          error: (error: unknown) => {
            draw(true);
            subscriber.error(error);
          },
          complete: () => {
            draw(true);
            subscriber.complete();
          },
        }),
      );
      return () => {
        for (const subscription of subscriptions) subscription.unsubscribe();
      };
    });
  };
}

/**
 * The progress line for a snapshot, fitted to `columns`.
 *
 * @example
 * formatProgress({ done: 5, failed: 1, total: 10, queued: 3, inFlight: 2, elapsedMs: 5000, tokens: 600 }, 80);
 * // '[##########----------] 5/10 1 failed 1.0/s 7.2k tok/min q 3 run 2 ETA 5s'
 */
export function formatProgress(snapshot: ProgressSnapshot, columns: number): string {
  const seconds = snapshot.elapsedMs / 1000;
  const rate = seconds > 0 ? snapshot.done / seconds : 0;
  const parts: string[] = [];
  if (snapshot.total !== undefined) {
    const ratio = snapshot.total === 0 ? 1 : Math.min(1, snapshot.done / snapshot.total);
    const width = 20;
    const filled = Math.round(ratio * width);
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${snapshot.done}/${snapshot.total}`);
  } else {
    parts.push(`${snapshot.done} done`);
  }
  if (snapshot.failed > 0) parts.push(`${snapshot.failed} failed`);
  parts.push(`${rate.toFixed(1)}/s`);
  parts.push(`${compact(seconds > 0 ? (snapshot.tokens / seconds) * 60 : 0)} tok/min`);
  if (snapshot.spent !== undefined) parts.push(`$${snapshot.spent.toFixed(4)}`);
  if (snapshot.queued !== undefined) parts.push(`q ${snapshot.queued}`);
  if (snapshot.inFlight !== undefined) parts.push(`run ${snapshot.inFlight}`);
  if (snapshot.total !== undefined && rate > 0 && snapshot.done < snapshot.total) {
    parts.push(`ETA ${duration((snapshot.total - snapshot.done) / rate)}`);
  }
  const line = parts.join(' ');
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

function compact(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return Math.round(n).toString();
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
