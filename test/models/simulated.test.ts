import { lastValueFrom, map, retry, toArray } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { CancelledError, ProviderError, RateLimitError } from '../../src/core/errors/index.js';
import type { AgentEvent, ChatMessage, Task, ToolCall } from '../../src/core/types.js';
import {
  simulatedModel,
  type SimulatedFault,
  type SimulatedModelConfig,
} from '../../src/models/simulated.js';
import { toolRounds } from '../../src/models/simulated-text.js';
import { pool } from '../../src/operators/pool.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const live = (): AbortSignal => new AbortController().signal;
const task = (id: string, input: Task['input'], extra: Partial<Task> = {}): Task => ({ id, input, ...extra });
const delta = (text: string): AgentEvent => ({ type: 'delta', text });

/** Runs each task once at frame 0 on one model, in virtual time, and returns what each run did. */
function runAll(config: SimulatedModelConfig, tasks: readonly Task[]) {
  const scheduler = createTestScheduler();
  const model = simulatedModel({ ...config, scheduler });
  const results = tasks.map((): { events: AgentEvent[]; times: number[]; error: unknown } => ({
    events: [],
    times: [],
    error: undefined,
  }));
  scheduler.run(() => {
    tasks.forEach((t, i) => {
      const result = results[i]!;
      model.run(t, { signal: live() }).subscribe({
        next: (event) => {
          result.events.push(event);
          result.times.push(scheduler.now());
        },
        error: (error: unknown) => {
          result.error = error;
        },
      });
    });
  });
  return results.map((r) => ({
    ...r,
    text: r.events.flatMap((e) => (e.type === 'done' ? [e.text] : [])).join(''),
  }));
}

describe('simulatedModel timing', () => {
  it('waits the first-token latency, spaces deltas at tokensPerSecond, then emits usage and done', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ scheduler, latency: 100, tokensPerSecond: 50, outputTokens: 4 });
      const prompt = 'What is the capital of France'; // 29 characters: ceil(29 / 4) = 8 input tokens
      expectObservable(model.run(task('t1', prompt), { signal: live() })).toBe(
        '100ms a 19ms b 19ms c 19ms (due|)',
        {
          a: delta('Simulated'),
          b: delta(' answer'),
          c: delta(' to:'),
          d: delta(' What'),
          u: { type: 'usage', usage: { inputTokens: 8, outputTokens: 4 } },
          e: { type: 'done', text: 'Simulated answer to: What', finishReason: 'stop' },
        },
      );
    });
  });

  it("stops at the task's maxOutputTokens with finishReason 'length'", () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ scheduler, latency: 10, tokensPerSecond: 100, outputTokens: 40 });
      expectObservable(model.run(task('t1', 'Tell me', { maxOutputTokens: 2 }), { signal: live() })).toBe(
        '10ms a 9ms (bue|)',
        {
          a: delta('Simulated'),
          b: delta(' answer'),
          u: { type: 'usage', usage: { inputTokens: 2, outputTokens: 2 } },
          e: { type: 'done', text: 'Simulated answer', finishReason: 'length' },
        },
      );
    });
  });

  it('draws the first-token latency from the configured range, per task', () => {
    const tasks = Array.from({ length: 60 }, (_, i) => task(`t${i}`, 'hi'));
    const firsts = runAll({ latency: { minMs: 200, maxMs: 600 }, outputTokens: 1 }, tasks).map(
      (r) => r.times[0]!,
    );
    expect(Math.min(...firsts)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...firsts)).toBeLessThanOrEqual(600);
    expect(new Set(firsts).size).toBeGreaterThan(30);
    expect(firsts.every(Number.isInteger)).toBe(true);
  });

  it('slows the first token of a seeded share of runs by 10×–30×, the same ones for a seed', () => {
    const tasks = Array.from({ length: 1_000 }, (_, i) => task(`t${i}`, 'hi'));
    const config = { latency: 100, outputTokens: 1, stragglers: { rate: 0.02 } } as const;
    const firsts = runAll(config, tasks).map((r) => r.times[0]!);
    const slow = firsts.filter((t) => t !== 100);
    // 2 % of 1,000 is 20; a binomial draw stays well within 8–35.
    expect(slow.length).toBeGreaterThan(8);
    expect(slow.length).toBeLessThan(35);
    expect(Math.min(...slow)).toBeGreaterThanOrEqual(1_000);
    expect(Math.max(...slow)).toBeLessThanOrEqual(3_000);
    expect(new Set(slow).size).toBeGreaterThan(slow.length / 2);
    expect(runAll(config, tasks).map((r) => r.times[0]!)).toEqual(firsts);
    const narrow = runAll({ ...config, stragglers: { rate: 1, slowdown: [2, 2] } }, tasks.slice(0, 5));
    expect(narrow.map((r) => r.times[0])).toEqual([200, 200, 200, 200, 200]);
  });

  it('draws a straggler afresh for each attempt of a task', () => {
    const again = Array.from({ length: 200 }, () => task('same', 'hi'));
    const firsts = runAll({ latency: 100, outputTokens: 1, stragglers: { rate: 0.5 } }, again).map(
      (r) => r.times[0]!,
    );
    const slow = firsts.filter((t) => t > 100).length;
    expect(slow).toBeGreaterThan(60);
    expect(slow).toBeLessThan(140);
  });

  it('runs on asyncScheduler by default', async () => {
    const model = simulatedModel({ latency: 0, tokensPerSecond: 1000, outputTokens: 3 });
    const events = await lastValueFrom(model.run(task('t', 'Ping now'), { signal: live() }).pipe(toArray()));
    expect(events.map((e) => e.type)).toEqual(['delta', 'delta', 'delta', 'usage', 'done']);
  });
});

describe('simulatedModel determinism', () => {
  const tasks = [task('a', 'Summarise the report'), task('b', 'Translate this sentence')];

  it('gives the same text and timing for the same seed, and other text for another seed', () => {
    const first = runAll({ seed: 42 }, tasks);
    const again = runAll({ seed: 42 }, tasks);
    const other = runAll({ seed: 43 }, tasks);
    expect(again).toEqual(first);
    expect(first[0]!.text).toMatch(/^Simulated answer to: Summarise the report( \w+)+$/);
    expect(other[0]!.text).not.toBe(first[0]!.text);
    expect(other[0]!.text.startsWith('Simulated answer to: Summarise the report')).toBe(true);
  });

  it('does not depend on the order of tasks, but a retry of the same task is drawn afresh', () => {
    const forward = runAll({ seed: 5 }, tasks);
    const backward = runAll({ seed: 5 }, [...tasks].reverse());
    expect(backward[1]).toEqual(forward[0]);
    const [attempt1, attempt2] = runAll({ seed: 5 }, [tasks[0]!, tasks[0]!]);
    expect(attempt1).toEqual(forward[0]);
    expect(attempt2!.text).not.toBe(attempt1!.text);
  });
});

describe('simulatedModel rate limit', () => {
  // 40 characters = 10 input tokens, plus 290 reserved output tokens: every request is charged 300.
  const request = (id: string): Task => task(id, 'x'.repeat(40), { maxOutputTokens: 290 });
  const answer = {
    d: delta('Simulated'),
    u: { type: 'usage', usage: { inputTokens: 10, outputTokens: 1 } },
    e: { type: 'done', text: 'Simulated', finishReason: 'stop' },
  } as const;
  const tokens = (remaining: number): AgentEvent => ({
    type: 'rate-limits',
    limits: { limitTokens: 1000, remainingTokens: remaining, resetTokensMs: 60_000 },
  });
  const limited = (limit: 'tokens' | 'requests', retryAfterMs: number): unknown =>
    expect.objectContaining({ code: 'E_RATE_LIMITED', info: { limit, retryAfterMs, status: 429 } });

  it('answers 429 with the exact retryAfterMs once the sliding 60 s token window is full', () => {
    const scheduler = createTestScheduler();
    const model = simulatedModel({
      scheduler,
      latency: 10,
      outputTokens: 1,
      rateLimit: { tokensPerMinute: 1000 },
    });
    scheduler.run(({ expectObservable }) => {
      const run = (id: string) => model.run(request(id), { signal: live() });
      expectObservable(run('A'), '^').toBe('a 9ms (due|)', { ...answer, a: tokens(700) });
      expectObservable(run('B'), '10s ^').toBe('10s b 9ms (due|)', { ...answer, b: tokens(400) });
      expectObservable(run('C'), '20s ^').toBe('20s c 9ms (due|)', { ...answer, c: tokens(100) });
      // At 30 s the window holds 900; D needs 300, so 200 must slide out: A's 300 leaves at 0 + 60 s.
      expectObservable(run('D'), '30s ^').toBe('30s #', undefined, limited('tokens', 30_000));
      // Retried after exactly 30 s, D fits: B and C hold 600, plus D's 300.
      expectObservable(run('D'), '60s ^').toBe('60s r 9ms (due|)', { ...answer, r: tokens(100) });
      // Now E must wait for B, charged at 10 s, to leave at 70 s.
      expectObservable(run('E'), '60s ^').toBe('60s #', undefined, limited('tokens', 10_000));
    });
    expect(model.stats).toEqual({
      requests: 6,
      rateLimited: 2,
      admitted: [0, 10_000, 20_000, 60_000].map(
        (at, i): unknown => expect.objectContaining({ at, taskId: 'ABCD'[i], tokens: 300 }) as unknown,
      ),
    });
  });

  it("answers 429 with limit 'requests' when the request count is what is over", () => {
    const scheduler = createTestScheduler();
    const model = simulatedModel({
      scheduler,
      latency: 10,
      outputTokens: 1,
      rateLimit: { requestsPerMinute: 2 },
    });
    scheduler.run(({ expectObservable }) => {
      const run = (id: string) => model.run(request(id), { signal: live() });
      const requests = (remaining: number): AgentEvent => ({
        type: 'rate-limits',
        limits: { limitRequests: 2, remainingRequests: remaining, resetRequestsMs: 60_000 },
      });
      expectObservable(run('A'), '^').toBe('a 9ms (due|)', { ...answer, a: requests(1) });
      expectObservable(run('B'), '1s ^').toBe('1s b 9ms (due|)', { ...answer, b: requests(0) });
      expectObservable(run('C'), '2s ^').toBe('2s #', undefined, limited('requests', 58_000));
      expectObservable(run('C'), '60s ^').toBe('60s c 9ms (due|)', { ...answer, c: requests(0) });
    });
  });

  it('when both limits are over, reports the one that frees up later', () => {
    const scheduler = createTestScheduler();
    const model = simulatedModel({
      scheduler,
      latency: 10,
      outputTokens: 1,
      rateLimit: { tokensPerMinute: 1000, requestsPerMinute: 2 },
    });
    const charged = (id: string, reserve: number): Task =>
      task(id, 'x'.repeat(40), { maxOutputTokens: reserve - 10 });
    let error: unknown;
    scheduler.run(({ cold }) => {
      cold('a 9999ms b 9999ms c').subscribe((id) => {
        const reserve = { a: 100, b: 600, c: 500 }[id]!;
        model.run(charged(id, reserve), { signal: live() }).subscribe({ error: (e: unknown) => (error = e) });
      });
    });
    // Requests would free at 40 s (A leaves), but tokens need B's 600 gone too, at 70 s: 50 s after 20 s.
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).info).toEqual({ limit: 'tokens', retryAfterMs: 50_000, status: 429 });
  });

  it('refuses for good a request larger than the token limit', () => {
    const [result] = runAll({ rateLimit: { tokensPerMinute: 100 } }, [request('big')]);
    expect(result!.events).toEqual([]);
    expect(result!.error).toBeInstanceOf(ProviderError);
    expect(result!.error).toMatchObject({
      retryable: false,
      info: { status: 429, type: 'request_too_large' },
    });
  });
});

describe('simulatedModel faults', () => {
  const base = { latency: 100, tokensPerSecond: 50, outputTokens: 5 } as const;

  it('fails with a retryable ProviderError after the latency', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ ...base, scheduler, failures: { on: () => 'error' } });
      const error: unknown = expect.objectContaining({
        code: 'E_PROVIDER',
        retryable: true,
        info: { status: 500, type: 'server_error' },
      });
      expectObservable(model.run(task('t', 'hi'), { signal: live() })).toBe('100ms #', undefined, error);
    });
    const [bad] = runAll({ failures: { on: () => 'error', status: 400 } }, [task('t', 'hi')]);
    expect(bad!.error).toMatchObject({ retryable: false, info: { status: 400 } });
  });

  it('hangs: emits nothing after admission, never ends, and schedules nothing', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable, flush }) => {
      const model = simulatedModel({
        ...base,
        scheduler,
        failures: { on: () => 'hang' },
        rateLimit: { requestsPerMinute: 5 },
      });
      expectObservable(model.run(task('t', 'hi'), { signal: live() })).toBe('r', {
        r: {
          type: 'rate-limits',
          limits: { limitRequests: 5, remainingRequests: 4, resetRequestsMs: 60_000 },
        },
      });
      flush();
      expect(scheduler.actions).toHaveLength(0);
    });
  });

  it('cuts the stream after cutAfter deltas with the partial text, when the next delta was due', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ ...base, scheduler, failures: { on: () => 'cut', cutAfter: 2 } });
      const error: unknown = expect.objectContaining({
        code: 'E_PROVIDER',
        retryable: true,
        info: { type: 'stream_cut', partialText: 'Simulated answer' },
      });
      expectObservable(model.run(task('t', 'hi'), { signal: live() })).toBe(
        '100ms a 19ms b 19ms #',
        { a: delta('Simulated'), b: delta(' answer') },
        error,
      );
    });
  });

  it('fails on cue by attempt, so a retry of the same task can succeed', () => {
    const on = (_task: Task, attempt: number): SimulatedFault => (attempt === 1 ? 'error' : 'none');
    const [first, second] = runAll({ failures: { on } }, [task('t', 'hi'), task('t', 'hi')]);
    expect(first!.error).toBeInstanceOf(ProviderError);
    expect(second!.error).toBeUndefined();
    expect(second!.text).toMatch(/^Simulated answer to: hi/);
  });

  it('counts an attempt per subscription, so resubscribing one run (as a retry does) is the next attempt', () => {
    const seen: number[] = [];
    const on = (_task: Task, attempt: number): SimulatedFault => {
      seen.push(attempt);
      return attempt < 3 ? 'error' : 'none';
    };
    const scheduler = createTestScheduler();
    let text = '';
    scheduler.run(() => {
      const model = simulatedModel({ scheduler, latency: 5, outputTokens: 3, failures: { on } });
      model
        .run(task('t', 'hi'), { signal: live() })
        .pipe(retry(2))
        .subscribe((e) => {
          if (e.type === 'done') text = e.text;
        });
    });
    expect(seen).toEqual([1, 2, 3]);
    expect(text).toMatch(/^Simulated answer/);
  });

  it('injects faults at a seeded rate, the same ones for the same seed', () => {
    const tasks = Array.from({ length: 400 }, (_, i) => task(`t${i}`, 'hi'));
    const config = { latency: 1, outputTokens: 1, failures: { errorRate: 0.25, cutRate: 0.25 } } as const;
    const kinds = (seed: number) =>
      runAll({ ...config, seed }, tasks).map((r) =>
        r.error === undefined ? 'ok' : (r.error as ProviderError).info.type,
      );
    const first = kinds(3);
    expect(kinds(3)).toEqual(first);
    const errors = first.filter((k) => k === 'server_error').length;
    const cuts = first.filter((k) => k === 'stream_cut').length;
    expect(errors).toBeGreaterThan(60);
    expect(errors).toBeLessThan(140);
    expect(cuts).toBeGreaterThan(60);
    expect(cuts).toBeLessThan(140);
  });
});

describe('simulatedModel tool calls', () => {
  const calls: ToolCall[] = [
    { id: 'c1', name: 'add', arguments: '{"a":1,"b":2}' },
    { id: 'c2', name: 'mul', arguments: '{"a":3,"b":4}' },
  ];
  const tools = (_task: Task, step: number) => (step === 0 ? calls : undefined);

  it('answers with the scripted calls, then usage and a done with finishReason tool-calls', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ scheduler, latency: 50, tools });
      expectObservable(model.run(task('t', 'Add 1 and 2'), { signal: live() })).toBe('50ms (tue|)', {
        t: { type: 'tool-calls', calls },
        u: {
          type: 'usage',
          usage: { inputTokens: 3, outputTokens: Math.ceil(JSON.stringify(calls).length / 4) },
        },
        e: { type: 'done', text: '', finishReason: 'tool-calls' },
      });
    });
  });

  it('answers with text that mentions the tool results once they are in the conversation', () => {
    const conversation: ChatMessage[] = [
      { role: 'user', content: 'Add 1 and 2, multiply 3 by 4' },
      { role: 'assistant', content: '', toolCalls: calls },
      { role: 'tool', toolCallId: 'c1', content: '3' },
      { role: 'tool', toolCallId: 'c2', content: '12' },
    ];
    const [result] = runAll({ tools }, [task('t', conversation)]);
    expect(result!.text).toMatch(/^Simulated answer from tools: 3 12 /);
    expect(result!.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('counts tool-call rounds, with or without the assistant message echoed', () => {
    const user: ChatMessage = { role: 'user', content: 'go' };
    const asked: ChatMessage = { role: 'assistant', content: '', toolCalls: calls };
    const result: ChatMessage = { role: 'tool', toolCallId: 'c1', content: 'ok' };
    expect(toolRounds(task('t', 'go'))).toBe(0);
    expect(toolRounds(task('t', [user, asked, result, result, asked, result]))).toBe(2);
    expect(toolRounds(task('t', [user, result, result, user, result]))).toBe(2);
  });
});

describe('simulatedModel cancellation', () => {
  const config = { latency: 100, tokensPerSecond: 50, outputTokens: 10 } as const;

  /** Schedules a check one frame after `frame`: no model action may be left in the scheduler. */
  const expectNothingPendingAfter = (scheduler: TestScheduler, frame: number, seen: number[]): void => {
    scheduler.schedule(() => seen.push(scheduler.actions.length), frame + 1);
  };

  it('stops on unsubscribe and leaves no scheduled action behind', () => {
    const scheduler = createTestScheduler();
    const pending: number[] = [];
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ ...config, scheduler });
      expectObservable(model.run(task('t', 'hi'), { signal: live() }), '^ 129ms !').toBe('100ms a 19ms b', {
        a: delta('Simulated'),
        b: delta(' answer'),
      });
      expectNothingPendingAfter(scheduler, 130, pending);
    });
    expect(pending).toEqual([0]);
  });

  it('fails with CancelledError when its signal aborts, and cancels what was scheduled', () => {
    const scheduler = createTestScheduler();
    const controller = new AbortController();
    const pending: number[] = [];
    scheduler.run(({ expectObservable }) => {
      const model = simulatedModel({ ...config, scheduler });
      scheduler.schedule(() => {
        controller.abort();
      }, 130);
      expectObservable(model.run(task('t', 'hi'), { signal: controller.signal })).toBe(
        '100ms a 19ms b 9ms #',
        { a: delta('Simulated'), b: delta(' answer') },
        new CancelledError({ reason: 'unsubscribed', taskId: 't', message: 'Run of task "t" was aborted' }),
      );
      expectNothingPendingAfter(scheduler, 130, pending);
    });
    expect(pending).toEqual([0]);
  });

  it('is stopped, and sees its signal abort, when the pool running it is unsubscribed', () => {
    const scheduler = createTestScheduler();
    const signals: AbortSignal[] = [];
    const pending: number[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const model = simulatedModel({ ...config, scheduler });
      const tasks = cold('a', { a: task('t', 'hi') });
      const result = tasks.pipe(
        pool(
          (t, context) => {
            signals.push(context.signal);
            return model.run(t, context);
          },
          { scheduler },
        ),
        map((e) => e.type),
      );
      expectObservable(result, '^ 129ms !').toBe('s 99ms d 19ms d', { s: 'started', d: 'delta' });
      expectNothingPendingAfter(scheduler, 130, pending);
    });
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(pending).toEqual([0]);
  });

  it('does not reach the provider when the signal is already aborted', () => {
    const scheduler = createTestScheduler();
    const model = simulatedModel({ ...config, scheduler });
    scheduler.run(({ expectObservable }) => {
      expectObservable(model.run(task('t', 'hi'), { signal: AbortSignal.abort() })).toBe(
        '#',
        undefined,
        expect.objectContaining({ code: 'E_CANCELLED', info: { reason: 'unsubscribed', taskId: 't' } }),
      );
    });
    expect(model.stats.requests).toBe(0);
  });
});

describe('simulatedModel config', () => {
  it.each([
    [{ tokensPerSecond: 0 }, 'Expected `tokensPerSecond` to be a finite number above 0, got 0 (number)'],
    [{ seed: 'x' }, 'Expected `seed` to be an integer from 0 and up, got "x" (string)'],
    [
      { latency: { minMs: 5, maxMs: 1 } },
      'Expected `latency.maxMs` to be an integer from 5 and up, got 1 (number)',
    ],
    [
      { latency: '1s' },
      'Expected `latency` to be a number of milliseconds or `{ minMs, maxMs }`, got "1s" (string)',
    ],
    [{ outputTokens: -1 }, 'Expected `outputTokens` to be an integer from 0 and up, got -1 (number)'],
    [
      { failures: { errorRate: 0.6, hangRate: 0.6 } },
      'Expected `failures` rates to add up to at most 1, got 1.2 (number)',
    ],
    [{ failures: { cutRate: 2 } }, 'Expected `failures.cutRate` to be a number from 0 to 1, got 2 (number)'],
    [
      { stragglers: { rate: 1.5 } },
      'Expected `stragglers.rate` to be a number from 0 to 1, got 1.5 (number)',
    ],
    [
      { stragglers: { rate: 0.1, slowdown: [30, 10] } },
      'Expected `stragglers.slowdown[1]` to be a finite number from 30 and up, got 10 (number)',
    ],
    [
      { stragglers: { rate: 0.1, slowdown: 10 } },
      'Expected `stragglers.slowdown` to be a pair `[least, most]` of factors, got 10 (number)',
    ],
    [
      { failures: { status: 200 } },
      'Expected `failures.status` to be an integer from 400 and up, got 200 (number)',
    ],
    [
      { rateLimit: {} },
      'Expected `rateLimit` to set `tokensPerMinute`, `requestsPerMinute`, `inputTokensPerMinute` or `outputTokensPerMinute`, got none',
    ],
    [
      { rateLimit: { tokensPerMinute: 0 } },
      'Expected `rateLimit.tokensPerMinute` to be an integer from 1 and up, got 0 (number)',
    ],
    [{ tools: 3 }, 'Expected `tools` to be a function, got 3 (number)'],
    [
      { scheduler: {} },
      'Expected `scheduler` to be an RxJS scheduler (such as asyncScheduler), got an object',
    ],
    [
      { toolScript: () => undefined },
      'Unknown option `toolScript` for simulatedModel; expected one of `seed`',
    ],
    [
      { failures: { rate: 0.1 } },
      'Unknown option `rate` for simulatedModel `failures`; expected one of `errorRate`',
    ],
    [() => undefined, 'Did you mean `simulatedModel({ tools: fn })`?'],
  ])('rejects %o at creation', (config, message) => {
    expect(() => simulatedModel(config as SimulatedModelConfig)).toThrow(TypeError);
    expect(() => simulatedModel(config as SimulatedModelConfig)).toThrow(message);
  });
});

describe('simulatedModel params', () => {
  it('takes sampling parameters and the model name, and refuses tools with a ValidationError', async () => {
    const agent = simulatedModel({ seed: 1, latency: { minMs: 0, maxMs: 0 } });
    const signal = new AbortController().signal;
    const ok = await lastValueFrom(
      agent.run({ id: 'a', input: 'hi', params: { model: 'x', temperature: 0.2, seed: 3 } }, { signal }),
    );
    expect(ok.type).toBe('done');
    const refused = lastValueFrom(
      agent.run(
        { id: 'b', input: 'hi', params: { tools: [{ name: 'search', parameters: { type: 'object' } }] } },
        { signal },
      ),
    );
    await expect(refused).rejects.toMatchObject({
      code: 'E_VALIDATION',
      message: expect.stringContaining('`tools`') as unknown,
    });
  });
});
