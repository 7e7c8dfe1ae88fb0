import { asyncScheduler, concat, defer, EMPTY, map, of, tap, throwError, type SchedulerLike } from 'rxjs';
import type { RunHelpers } from 'rxjs/testing';
import { ProviderError } from '../core/errors/index.js';
import type { Agent, AgentEvent } from '../core/types.js';
import { describe, expectConfig, expectScheduler } from '../core/validate.js';

/** How one run of a task plays out. */
export interface MarbleScript {
  /** A cold marble: each value is an event, `|` completes, `#` errors. */
  readonly marble: string;
  /**
   * Events for the marble's letters; a letter not listed is a `delta` with that letter as text.
   * @defaultValue every letter a `delta`
   */
  readonly values?: Readonly<Record<string, AgentEvent>>;
  /** What `#` errors with. @defaultValue a retryable `ProviderError` with status 500 */
  readonly error?: unknown;
}

/** A script, or one per attempt (the last one repeats), as a marble string or a {@link MarbleScript}. */
export type MarbleScripts = Readonly<
  Record<string, string | MarbleScript | readonly (string | MarbleScript)[]>
>;

/** What happened to one run, in scheduler time. */
export interface MarbleRun {
  readonly taskId: string;
  /** The n-th run of this task id, from 1. */
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly subscribedAt: number;
  /** When the consumer unsubscribed before the run ended on its own. */
  readonly unsubscribedAt: number | undefined;
  /** When the run completed or errored on its own. */
  readonly endedAt: number | undefined;
  /** Whether the run's signal is aborted now (the pool aborts it when it cancels the run). */
  readonly aborted: boolean;
}

/** Options of {@link marbleAgent}. */
export interface MarbleAgentOptions {
  /** The script for task ids not in `scripts`. @defaultValue none: such runs error */
  readonly fallback?: string | MarbleScript;
  /** The clock for `runs`. In `TestScheduler.run` the default reads virtual time. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** An agent scripted with marbles, which records its runs. */
export interface MarbleAgent extends Agent {
  /** Every subscribed run, in subscription order. */
  readonly runs: readonly MarbleRun[];
}

function toScript(value: string | MarbleScript): MarbleScript {
  return typeof value === 'string' ? { marble: value } : value;
}

function checkScript(name: string, value: unknown): void {
  const marble = typeof value === 'string' ? value : (value as Partial<MarbleScript> | null)?.marble;
  if (typeof marble !== 'string') {
    throw new TypeError(
      `Expected \`${name}\` to be a marble string or \`{ marble, values?, error? }\`, got ${describe(value)}`,
    );
  }
}

/**
 * An `Agent` whose run for each task is a cold marble, for testing orchestration in `TestScheduler` virtual
 * time. Letters are `delta` events unless `values` says otherwise, and on completion a `done` with the
 * concatenated delta text is added unless the script emitted one: `'--a-b-|'` gives deltas `a`, `b` and a
 * `done` with text `'ab'` at the last frame. The agent ignores the signal but records it in `runs`, with
 * subscription and unsubscription times, so tests can assert cancellation.
 *
 * ```
 * script t1: --a-b-|
 * run(t1):   --a-b-(d|)    d = { type: 'done', text: 'ab', finishReason: 'stop' }
 * ```
 *
 * @example
 * createTestScheduler().run((helpers) => {
 *   const agent = marbleAgent(helpers, { t1: '--a-b-|', t2: ['-#', '--a|'] });
 *   const run$ = agent.run({ id: 't1', input: 'hi' }, { signal: new AbortController().signal });
 *   helpers.expectObservable(run$).toBe('--a-b-(d|)', {
 *     a: { type: 'delta', text: 'a' },
 *     b: { type: 'delta', text: 'b' },
 *     d: { type: 'done', text: 'ab', finishReason: 'stop' },
 *   });
 * });
 */
export function marbleAgent(
  helpers: Pick<RunHelpers, 'cold'>,
  scripts: MarbleScripts,
  options: MarbleAgentOptions = {},
): MarbleAgent {
  if (typeof (helpers as Partial<RunHelpers> | null)?.cold !== 'function') {
    throw new TypeError(`Expected \`helpers\` to be the TestScheduler run helpers, got ${describe(helpers)}`);
  }
  expectConfig('scripts', scripts);
  for (const [id, value] of Object.entries(scripts)) {
    if (Array.isArray(value)) {
      if (value.length === 0)
        throw new TypeError(`Expected \`scripts.${id}\` to hold at least one script, got none`);
      value.forEach((v, i) => {
        checkScript(`scripts.${id}[${i}]`, v);
      });
    } else checkScript(`scripts.${id}`, value);
  }
  expectConfig('options', options);
  if (options.fallback !== undefined) checkScript('options.fallback', options.fallback);
  const scheduler = expectScheduler('scheduler', options.scheduler ?? asyncScheduler);
  const runs: MarbleRun[] = [];
  const attempts = new Map<string, number>();

  const scriptFor = (taskId: string, attempt: number): MarbleScript | undefined => {
    const value = Object.hasOwn(scripts, taskId) ? scripts[taskId] : options.fallback;
    if (value === undefined) return undefined;
    if (typeof value === 'string' || !Array.isArray(value)) return toScript(value as string | MarbleScript);
    const list = value as readonly (string | MarbleScript)[];
    return toScript(list[Math.min(attempt, list.length) - 1] as string | MarbleScript);
  };

  return {
    runs,
    run(task, { signal }) {
      return defer(() => {
        const attempt = (attempts.get(task.id) ?? 0) + 1;
        attempts.set(task.id, attempt);
        const script = scriptFor(task.id, attempt);
        if (script === undefined) {
          return throwError(
            () => new Error(`marbleAgent has no script for task "${task.id}"; add one or set \`fallback\``),
          );
        }
        const record = {
          taskId: task.id,
          attempt,
          signal,
          subscribedAt: scheduler.now(),
          unsubscribedAt: undefined as number | undefined,
          endedAt: undefined as number | undefined,
          get aborted(): boolean {
            return signal.aborted;
          },
        };
        runs.push(record);
        const error =
          'error' in script
            ? script.error
            : new ProviderError({ status: 500, message: `Scripted error on task "${task.id}"` });
        let text = '';
        let done = false;
        let toolCalls = false;
        const events = helpers.cold(script.marble, undefined, error).pipe(
          map((letter): AgentEvent => script.values?.[letter] ?? { type: 'delta', text: letter }),
          tap((event) => {
            if (event.type === 'delta') text += event.text;
            done ||= event.type === 'done';
            toolCalls ||= event.type === 'tool-calls';
          }),
        );
        const closing = defer(() =>
          done
            ? EMPTY
            : of<AgentEvent>({ type: 'done', text, finishReason: toolCalls ? 'tool-calls' : 'stop' }),
        );
        const ended = (): void => {
          record.endedAt = scheduler.now();
        };
        return concat(events, closing).pipe(
          tap({
            complete: ended,
            error: ended,
            unsubscribe: () => {
              record.unsubscribedAt = scheduler.now();
            },
          }),
        );
      });
    },
  };
}
