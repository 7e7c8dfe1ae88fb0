// Agents and workers written as async generators: read by the pool with a loop of its own, closed like a
// `for await` loop when stopped early, and retried with a fresh iterator.
import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { fromAsyncIterable } from '../../src/core/from-async-iterable.js';
import { ProviderError } from '../../src/core/errors/index.js';
import type { Agent, AgentEvent, Task, TaskEvent } from '../../src/core/types.js';
import { pool } from '../../src/operators/pool.js';
import { runAgents } from '../../src/operators/run-agents.js';

/** A generator agent's stream that records whether its `finally` ran and can pause until released. */
function recordingStream(log: string[], name: string, pieces: readonly string[], failFirst = false) {
  return async function* stream(): AsyncGenerator<AgentEvent> {
    log.push(`${name} open`);
    try {
      if (failFirst) throw new ProviderError({ status: 503, message: 'down' });
      for (const text of pieces) {
        await Promise.resolve();
        yield { type: 'delta', text };
      }
      yield { type: 'done', text: pieces.join(''), finishReason: 'stop' };
    } finally {
      log.push(`${name} closed`);
    }
  };
}

const view = (event: TaskEvent<unknown>): string =>
  event.type === 'delta'
    ? `${event.taskId}~${event.text}`
    : event.type === 'settled'
      ? `${event.taskId}=${event.result.status === 'fulfilled' ? String(event.result.value) : event.result.error.code}#${event.result.attempts}`
      : `${event.taskId}:${event.type}`;

describe('fromAsyncIterable', () => {
  it('emits what the iterable yields, and returns the iterator when unsubscribed early', async () => {
    const log: string[] = [];
    const events = await lastValueFrom(
      fromAsyncIterable(recordingStream(log, 'a', ['x', 'y'])()).pipe(toArray()),
    );
    expect(events.map((e) => e.type)).toEqual(['delta', 'delta', 'done']);
    expect(log).toEqual(['a open', 'a closed']);
    const first = await firstValueFrom(fromAsyncIterable(recordingStream(log, 'b', ['x', 'y', 'z'])()));
    expect(first).toEqual({ type: 'delta', text: 'x' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['a open', 'a closed', 'b open', 'b closed']);
  });

  it('passes on what the iterator throws and refuses what is not an async iterable', async () => {
    const failing = fromAsyncIterable(recordingStream([], 'c', [], true)());
    await expect(lastValueFrom(failing)).rejects.toBeInstanceOf(ProviderError);
    expect(() => fromAsyncIterable([1, 2] as unknown as AsyncIterable<number>)).toThrow(TypeError);
  });
});

describe('generator agents in the pool', () => {
  const tasks: Task[] = [
    { id: 'a', input: 'x' },
    { id: 'b', input: 'x' },
  ];

  it('runAgents streams a generator agent and retries a failed attempt with a fresh iterator', async () => {
    const log: string[] = [];
    let attempts = 0;
    const agent: Agent = {
      run: (task) =>
        fromAsyncIterable(
          recordingStream(log, `${task.id}${++attempts}`, ['p', 'q'], task.id === 'b' && attempts <= 2)(),
        ),
    };
    const events = await lastValueFrom(
      from(tasks).pipe(runAgents(agent, { concurrency: 1, retry: { baseDelayMs: 0, jitter: 0 } }), toArray()),
    );
    expect(events.map(view)).toEqual([
      'a:started',
      'a~p',
      'a~q',
      'a=pq#1',
      'b:started',
      'b:retry',
      'b~p',
      'b~q',
      'b=pq#2',
    ]);
    expect(log).toEqual(['a1 open', 'a1 closed', 'b2 open', 'b2 closed', 'b3 open', 'b3 closed']);
  });

  it('a pool worker may return an async generator; unsubscribing closes it and aborts its signal', async () => {
    const log: string[] = [];
    const signals: AbortSignal[] = [];
    const seen: string[] = [];
    const subscription = from(tasks)
      .pipe(
        pool(
          (task, { signal }) => {
            signals.push(signal);
            return recordingStream(log, task.id, ['p', 'q', 'r'])();
          },
          { concurrency: 2 },
        ),
      )
      .subscribe((event) => {
        seen.push(view(event));
        if (event.type === 'delta' && event.taskId === 'b') subscription.unsubscribe();
      });
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['a:started', 'b:started', 'a~p', 'b~p']);
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    // Each closes when its generator next reaches a `yield`, in whatever order that happens.
    expect([...log].sort()).toEqual(['a closed', 'a open', 'b closed', 'b open']);
  });
});
