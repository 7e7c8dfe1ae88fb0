import { unsupportedParams } from './params.js';
import type { ParamName } from './params.js';
import {
  Observable,
  type SchedulerAction,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
} from 'rxjs';
import { textOf } from '../core/agent-event.js';
import { CancelledError, ProviderError, RateLimitError } from '../core/errors/index.js';
import type { Agent, AgentEvent, FinishReason, Task } from '../core/types.js';
import {
  resolveConfig,
  type ResolvedConfig,
  type SimulatedFault,
  type SimulatedModelConfig,
} from './simulated-config.js';
import { intBetween, randomFor } from './simulated-random.js';
import { answerHeader, answerTokens, countTokens, toolRounds } from './simulated-text.js';
import { slidingWindow, type AdmittedRequest } from './simulated-window.js';

export type {
  SimulatedFailures,
  SimulatedFault,
  SimulatedLatency,
  SimulatedModelConfig,
  SimulatedRateLimit,
  SimulatedStragglers,
  SimulatedToolScript,
} from './simulated-config.js';
export type { AdmittedRequest } from './simulated-window.js';

/** What the simulated provider counted, for tests and benchmarks to compare with what a budget believed. */
export interface SimulatedStats {
  /** Runs that reached the provider (not aborted before subscription). */
  readonly requests: number;
  /** Runs answered 429: `RateLimitError`, or a `ProviderError` for a request larger than the token limit. */
  readonly rateLimited: number;
  /** Every admitted request in admission order, with what the rate limit charged it. */
  readonly admitted: readonly AdmittedRequest[];
}

/** The agent `simulatedModel` returns: an `Agent` that also shows what it counted. */
export interface SimulatedAgent extends Agent {
  /** A snapshot of the counts so far. */
  readonly stats: SimulatedStats;
  /** The cap of tasks that set no `maxOutputTokens`, which its rate limit also charges. */
  readonly maxOutputTokens: number;
}

/** One instant of a run's timeline, in milliseconds after admission. */
interface Step {
  readonly at: number;
  readonly events: readonly AgentEvent[];
  readonly end?: { readonly error: unknown } | 'complete';
}

function pickFault(c: ResolvedConfig, task: Task, attempt: number): SimulatedFault {
  // Drawn even when `on` decides, so adding a cue does not shift any other draw.
  const draw = randomFor(c.seed, task.id, attempt, 'fault')();
  const cued = c.failures.on?.(task, attempt);
  if (cued !== undefined) return cued;
  const { errorRate, hangRate, cutRate } = c.failures;
  if (draw < errorRate) return 'error';
  if (draw < errorRate + hangRate) return 'hang';
  return draw < errorRate + hangRate + cutRate ? 'cut' : 'none';
}

/** The first-token latency of a run, slowed down if the run is one of the stragglers. */
function straggle(c: ResolvedConfig, task: Task, attempt: number, latency: number): number {
  if (c.stragglers === undefined) return latency;
  const random = randomFor(c.seed, task.id, attempt, 'straggler');
  if (random() >= c.stragglers.rate) return latency;
  const [least, most] = c.stragglers.slowdown;
  return Math.round(latency * (least + random() * (most - least)));
}

/** Works out a whole run up front, so the only moving part left is the scheduler. */
function planRun(c: ResolvedConfig, task: Task, attempt: number, inputTokens: number, cap: number): Step[] {
  const fault = pickFault(c, task, attempt);
  const { minMs, maxMs } = c.latency;
  const latency = straggle(
    c,
    task,
    attempt,
    intBetween(randomFor(c.seed, task.id, attempt, 'latency'), minMs, maxMs),
  );
  const where = `task "${task.id}" (attempt ${attempt})`;
  if (fault === 'hang') return [];
  if (fault === 'error') {
    const status = c.failures.status;
    const error = new ProviderError({
      status,
      type: 'server_error',
      message: `Simulated provider error ${status} on ${where}`,
    });
    return [{ at: latency, events: [], end: { error } }];
  }
  const cut = (partialText: string, deltas: number): { error: unknown } => ({
    error: new ProviderError({
      type: 'stream_cut',
      partialText,
      message: `Simulated stream cut after ${deltas} deltas on ${where}`,
    }),
  });

  const calls = c.tools?.(task, toolRounds(task));
  if (calls !== undefined && calls.length > 0) {
    if (fault === 'cut') return [{ at: latency, events: [], end: cut('', 0) }];
    const usage = { inputTokens, outputTokens: countTokens(JSON.stringify(calls)) };
    return [
      {
        at: latency,
        events: [
          { type: 'tool-calls', calls },
          { type: 'usage', usage },
          { type: 'done', text: '', finishReason: 'tool-calls' },
        ],
        end: 'complete',
      },
    ];
  }

  const header = answerHeader(task);
  const length =
    c.outputTokens ?? header.length + intBetween(randomFor(c.seed, task.id, attempt, 'length'), 8, 32);
  const count = Math.min(length, cap);
  const finishReason: FinishReason = length > cap ? 'length' : 'stop';
  const tokens = answerTokens(header, count, randomFor(c.seed, task.id, attempt, 'words'));
  const spacing = 1000 / c.tokensPerSecond;
  const delivered = fault === 'cut' ? Math.min(c.failures.cutAfter, count) : count;
  const steps: Step[] = tokens
    .slice(0, delivered)
    .map((text, i) => ({ at: latency + i * spacing, events: [{ type: 'delta', text }] }));
  if (fault === 'cut') {
    steps.push({
      at: latency + delivered * spacing,
      events: [],
      end: cut(tokens.slice(0, delivered).join(''), delivered),
    });
    return steps;
  }
  const closing: AgentEvent[] = [
    { type: 'usage', usage: { inputTokens, outputTokens: count } },
    { type: 'done', text: tokens.join(''), finishReason },
  ];
  const last = steps.pop();
  steps.push({ at: last?.at ?? latency, events: [...(last?.events ?? []), ...closing], end: 'complete' });
  return steps;
}

/** Plays a timeline with one pending scheduler action at a time, however long the answer. */
function play(
  steps: readonly Step[],
  scheduler: SchedulerLike,
  subscriber: Subscriber<AgentEvent>,
  onUsage?: (outputTokens: number) => void,
): Subscription | undefined {
  const first = steps[0];
  if (first === undefined) return undefined;
  return scheduler.schedule(
    function (this: SchedulerAction<number>, index: number) {
      const step = steps[index] as Step;
      for (const event of step.events) {
        if (event.type === 'usage') onUsage?.(event.usage.outputTokens);
        subscriber.next(event);
      }
      if (step.end === 'complete') subscriber.complete();
      else if (step.end !== undefined) subscriber.error(step.end.error);
      const next = steps[index + 1];
      if (next !== undefined && !subscriber.closed) this.schedule(index + 1, next.at - step.at);
    },
    first.at,
    0,
  );
}

const SIMULATED_PARAMS: readonly ParamName[] = ['model', 'temperature', 'topP', 'seed', 'stop'];

/**
 * The embedded model: deterministic for a seed, streaming in scheduler time, with optional faults, a
 * provider-side rate limit and scripted tool calls. Examples, the CLI and tests use it when no provider is
 * configured.
 *
 * A run is cold. On subscription it is admitted by the rate limit (if any), then emits
 *
 * ```
 * run(task):  r----a---b---(zud|)     r = rate-limits, a b z = deltas, u = usage, d = done
 *             |<-->|<-->                latency, then 1000 / tokensPerSecond between deltas
 * ```
 *
 * `r` only when `rateLimit` is set; `usage.inputTokens` is `ceil(prompt characters / 4)`,
 * `usage.outputTokens` the deltas emitted; `finishReason` is `'length'` when `maxOutputTokens` cut the
 * answer short. A run over the rate limit fails at once with `RateLimitError` (`limit`, exact
 * `retryAfterMs`). Unsubscribing cancels every pending action; an aborted `signal` fails the run with
 * `CancelledError` (`reason: 'unsubscribed'`), at subscription if it is already aborted. Retries of a task
 * id on the same model instance are new attempts, drawn afresh.
 *
 * @example
 * const model = simulatedModel({ seed: 7, latency: { minMs: 100, maxMs: 300 }, tokensPerSecond: 40 });
 * model
 *   .run({ id: 'greeting', input: 'Say hello' }, { signal: new AbortController().signal })
 *   .subscribe((event) => { if (event.type === 'done') console.log(event.text); });
 */
export function simulatedModel(config?: SimulatedModelConfig): SimulatedAgent {
  const c = resolveConfig(config);
  const window = c.rateLimit === undefined ? undefined : slidingWindow(c.rateLimit);
  const attempts = new Map<string, number>();
  const admitted: AdmittedRequest[] = [];
  let requests = 0;
  let rateLimited = 0;

  const run = (task: Task, subscriber: Subscriber<AgentEvent>): Subscription | undefined => {
    const attempt = (attempts.get(task.id) ?? 0) + 1;
    attempts.set(task.id, attempt);
    const inputTokens = countTokens(textOf(task));
    const cap = task.maxOutputTokens ?? c.maxOutputTokens;
    const steps = planRun(c, task, attempt, inputTokens, cap);
    requests++;
    const now = c.scheduler.now();
    const charge = { taskId: task.id, tokens: inputTokens + cap, inputTokens, outputTokens: cap };
    const admission = window?.admit(now, charge);
    if (admission !== undefined && !admission.admitted) {
      rateLimited++;
      subscriber.error(
        admission.limit === 'too-large'
          ? new ProviderError({
              status: 429,
              type: 'request_too_large',
              message: `Request too large on task "${task.id}": it needs ${charge.tokens} tokens, the limit is ${admission.tokensPerMinute} tokens per minute`,
            })
          : new RateLimitError({
              limit: admission.limit,
              retryAfterMs: admission.retryAfterMs,
              status: 429,
              message: `Simulated rate limit on ${admission.limit} per minute reached on task "${task.id}"; retry after ${admission.retryAfterMs} ms`,
            }),
      );
      return undefined;
    }
    const entry = admission?.entry ?? { at: now, ...charge };
    admitted.push(entry);
    if (admission !== undefined) subscriber.next({ type: 'rate-limits', limits: admission.limits });
    if (subscriber.closed) return undefined;
    // The provider learns the real output with the usage report, and adjusts the output charge to it.
    const onUsage =
      window === undefined
        ? undefined
        : (outputTokens: number): void => {
            window.settle(c.scheduler.now(), entry, outputTokens);
          };
    return play(steps, c.scheduler, subscriber, onUsage);
  };

  return {
    maxOutputTokens: c.maxOutputTokens,
    get stats(): SimulatedStats {
      return { requests, rateLimited, admitted: admitted.slice() };
    },
    run(task, { signal }) {
      return new Observable<AgentEvent>((subscriber) => {
        // A simulation has no sampling to steer: it takes the sampling parameters and the model name, and
        // refuses what would change the answer's shape (tools, a response format).
        const refused = unsupportedParams(task, SIMULATED_PARAMS, 'simulatedModel');
        if (refused !== undefined) {
          subscriber.error(refused);
          return undefined;
        }
        const cancel = (): void => {
          subscriber.error(
            new CancelledError({
              reason: 'unsubscribed',
              taskId: task.id,
              message: `Run of task "${task.id}" was aborted`,
            }),
          );
        };
        if (signal.aborted) {
          cancel();
          return undefined;
        }
        signal.addEventListener('abort', cancel, { once: true });
        let playing: Subscription | undefined;
        try {
          playing = run(task, subscriber);
        } catch (error) {
          subscriber.error(error);
        }
        return () => {
          signal.removeEventListener('abort', cancel);
          playing?.unsubscribe();
        };
      });
    },
  };
}
