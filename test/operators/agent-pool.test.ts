import { NEVER, map } from 'rxjs';
import type { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { CancelledError, QueueFullError } from '../../src/core/errors/index.js';
import type { Agent, TaskEvent } from '../../src/core/types.js';
import { AgentPool } from '../../src/operators/agent-pool.js';
import type { AgentPoolState, Fulfilled } from '../../src/operators/agent-pool.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import type { MarbleAgent } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

/** An agent that never answers, recording the signals it was given. */
function hangingAgent(signals: AbortSignal[]): Agent {
  return {
    run: (_task, { signal }) => {
      signals.push(signal);
      return NEVER;
    },
  };
}

describe('AgentPool', () => {
  it('rejects a submit at once when the queue is full, and close() cancels the rest', async () => {
    const signals: AbortSignal[] = [];
    const full: string[] = [];
    const agentPool = new AgentPool({
      agent: hangingAgent(signals),
      concurrency: 1,
      queueLimit: 1,
      retry: false,
      onQueueFull: (t) => full.push(t.id),
    });
    const running = agentPool.submit('one');
    const queued = agentPool.submit('two');
    const refused = agentPool.submit('three');
    await expect(refused).rejects.toBeInstanceOf(QueueFullError);
    expect(full).toEqual(['task-3']);
    agentPool.close();
    await expect(running).rejects.toMatchObject({
      code: 'E_CANCELLED',
      info: { reason: 'closed', taskId: 'task-1' },
    });
    await expect(queued).rejects.toBeInstanceOf(CancelledError);
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
    await expect(agentPool.submit('late')).rejects.toMatchObject({
      info: { reason: 'closed' },
      message: 'Task "task-4" was cancelled: the pool is closed and takes no new tasks',
    });
  });

  it('drains: takes no new tasks, lets queued and running ones finish, resolves when all settled', async () => {
    const scheduler = createTestScheduler();
    let agent!: MarbleAgent;
    const outcomes: string[] = [];
    const states: AgentPoolState[] = [];
    let drained!: Promise<void>;
    let late!: Promise<unknown>;
    let agentPool!: AgentPool;
    scheduler.run((helpers) => {
      agent = marbleAgent(helpers, {}, { fallback: '---x|', scheduler });
      agentPool = new AgentPool({ agent, concurrency: 2, retry: false, scheduler });
      agentPool.state$.subscribe((s) => states.push(s));
      for (const prompt of ['a', 'b', 'c']) {
        void agentPool.submit(prompt).then((r) => outcomes.push(`${r.taskId}=${r.value}@${r.durationMs}`));
      }
      drained = agentPool.drain();
      late = agentPool.submit('late');
      helpers.flush();
    });
    await drained;
    await expect(late).rejects.toMatchObject({
      code: 'E_CANCELLED',
      info: { reason: 'closed' },
      message: 'Task "task-4" was cancelled: the pool is draining and takes no new tasks',
    });
    expect(outcomes.sort()).toEqual(['task-1=x@4', 'task-2=x@4', 'task-3=x@4']);
    // The third task starts the instant a slot frees.
    expect(agent.runs.map((r) => r.subscribedAt)).toEqual([0, 0, 4]);
    expect(states.at(-1)).toMatchObject({
      queued: 0,
      inFlight: 0,
      completed: 3,
      failed: 0,
      meanWaitMs: 4 / 3,
    });
  });

  it('cancels what is left at the drain deadline as CancelledError', async () => {
    const scheduler = createTestScheduler();
    let agent!: MarbleAgent;
    let submitted: Promise<unknown>[] = [];
    let drained!: Promise<void>;
    scheduler.run((helpers) => {
      agent = marbleAgent(helpers, {}, { fallback: '----------x|', scheduler });
      const agentPool = new AgentPool({ agent, concurrency: 1, retry: false, scheduler });
      submitted = [agentPool.submit('a'), agentPool.submit('b')];
      drained = agentPool.drain({ deadlineMs: 5 });
      helpers.flush();
    });
    await drained;
    for (const p of submitted) {
      await expect(p).rejects.toMatchObject({ code: 'E_CANCELLED', info: { reason: 'drain-deadline' } });
    }
    expect(agent.runs).toHaveLength(1);
    expect(agent.runs[0]).toMatchObject({ unsubscribedAt: 5, aborted: true });
  });

  it('streams one task from started to settled, and cancels it when unsubscribed early', () => {
    const scheduler = createTestScheduler();
    let agent!: MarbleAgent;
    const states: AgentPoolState[] = [];
    scheduler.run((helpers) => {
      const { expectObservable } = helpers;
      agent = marbleAgent(helpers, { 'task-2': '------x|' }, { fallback: '--a--b|', scheduler });
      const agentPool = new AgentPool({ agent, scheduler });
      agentPool.state$.subscribe((s) => states.push(s));
      const type = (e: TaskEvent): string => e.type;
      expectObservable(agentPool.stream('hi').pipe(mapType(type))).toBe('s-d--d(S|)', {
        s: 'started',
        d: 'delta',
        S: 'settled',
      });
      expectObservable(agentPool.stream('bye').pipe(mapType(type)), '^--!').toBe('s--', { s: 'started' });
    });
    expect(agent.runs[1]).toMatchObject({ taskId: 'task-2', unsubscribedAt: 3, aborted: true });
    expect(agent.runs[1]!.signal.reason).toMatchObject({ info: { reason: 'client-cancel' } });
    expect(states.at(-1)).toMatchObject({ completed: 1, failed: 1, inFlight: 0 });
  });

  it('takes a queued task out of the queue when its stream is unsubscribed, never starting it', async () => {
    const scheduler = createTestScheduler();
    let agent!: MarbleAgent;
    const states: AgentPoolState[] = [];
    let later!: Promise<Fulfilled>;
    let drained!: Promise<void>;
    scheduler.run((helpers) => {
      const { expectObservable } = helpers;
      agent = marbleAgent(helpers, {}, { fallback: '-----x|', scheduler });
      const agentPool = new AgentPool({ agent, concurrency: 1, queueLimit: 1, retry: false, scheduler });
      agentPool.state$.subscribe((s) => states.push(s));
      const type = (e: TaskEvent): string => e.type;
      expectObservable(agentPool.stream('first').pipe(mapType(type))).toBe('s----d(S|)', {
        s: 'started',
        d: 'delta',
        S: 'settled',
      });
      // Queued behind the first, and unsubscribed before a slot frees: it must never start.
      expectObservable(agentPool.stream('second').pipe(mapType(type)), '^-!').toBe('---');
      // Had the second stayed queued, this one would be refused: the queue holds one task.
      scheduler.schedule(() => {
        later = agentPool.submit('third');
        drained = agentPool.drain();
      }, 3);
    });
    await expect(later).resolves.toMatchObject({ taskId: 'task-3', value: 'x', durationMs: 6 });
    await drained;
    expect(agent.runs.map((r) => [r.taskId, r.subscribedAt])).toEqual([
      ['task-1', 0],
      ['task-3', 6],
    ]);
    expect(states).toContainEqual(expect.objectContaining({ queued: 0, inFlight: 1, failed: 1 }));
    expect(states.at(-1)).toMatchObject({ queued: 0, inFlight: 0, completed: 2, failed: 1 });
  });

  it('clears the retry timer of a task whose stream is unsubscribed while it waits to retry', () => {
    const scheduler = createTestScheduler();
    let agent!: MarbleAgent;
    scheduler.run((helpers) => {
      const { expectObservable } = helpers;
      agent = marbleAgent(helpers, { 'task-1': ['-#', '-x|'] }, { scheduler });
      const agentPool = new AgentPool({
        agent,
        retry: { maxRetries: 1, baseDelayMs: 10, jitter: 0 },
        scheduler,
      });
      const type = (e: TaskEvent): string => e.type;
      expectObservable(agentPool.stream('hi').pipe(mapType(type)), '^----!').toBe('sr---', {
        s: 'started',
        r: 'retry',
      });
    });
    expect(agent.runs).toHaveLength(1);
    expect(scheduler.actions.filter((a) => !a.closed)).toEqual([]);
  });

  it('refuses a duplicate pending id and an invalid task', async () => {
    const agentPool = new AgentPool({ agent: hangingAgent([]) });
    const first = agentPool.submit({ id: 'same', input: 'x' });
    await expect(agentPool.submit({ id: 'same', input: 'y' })).rejects.toMatchObject({
      code: 'E_DUPLICATE_ID',
    });
    await expect(agentPool.submit({ id: '', input: 'x' })).rejects.toMatchObject({ code: 'E_VALIDATION' });
    agentPool.close();
    await expect(first).rejects.toBeInstanceOf(CancelledError);
  });

  it('rejects what is neither a prompt nor a task object with a ValidationError, from plain JS', async () => {
    const agentPool = new AgentPool({ agent: hangingAgent([]) });
    for (const [input, got] of [
      [null, 'null'],
      [undefined, 'undefined'],
      [42, '42 (number)'],
      [['x'], 'an array'],
    ] as const) {
      await expect(agentPool.submit(input as never)).rejects.toMatchObject({
        name: 'ValidationError',
        code: 'E_VALIDATION',
        message: `Expected a prompt (string) or a task object, got ${got}`,
      });
    }
    const events: TaskEvent[] = [];
    agentPool.stream(null as never).subscribe((e) => events.push(e));
    expect(events).toMatchObject([
      { type: 'settled', taskId: '?', result: { error: { code: 'E_VALIDATION' } } },
    ]);
    expect(agentPool.state).toMatchObject({ queued: 0, inFlight: 0 });
    agentPool.close();
  });

  it('checks its config when created', () => {
    expect(() => new AgentPool(undefined as never)).toThrow('Expected `config` to be a config object');
    expect(() => new AgentPool({ agent: {} as never })).toThrow('Expected `agent` to be an Agent');
    expect(() => new AgentPool({ agent: hangingAgent([]), queueLimit: -1 })).toThrow(TypeError);
    expect(() => new AgentPool({ agent: hangingAgent([]), retries: 2 } as never)).toThrow(
      'Unknown option `retries` for AgentPool',
    );
  });
});

function mapType(type: (e: TaskEvent) => string) {
  return (source: Observable<TaskEvent>): Observable<string> => source.pipe(map(type));
}
