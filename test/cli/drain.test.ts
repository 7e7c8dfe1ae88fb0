import { NEVER, VirtualTimeScheduler, lastValueFrom, of, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { drainOnInterrupt } from '../../src/cli/drain.js';
import { ValidationError } from '../../src/core/errors/index.js';
import { InvalidTask } from '../../src/core/invalid-task.js';
import type { Agent, Settled, Task, TaskEvent } from '../../src/core/types.js';
import { runAgents } from '../../src/operators/run-agents.js';
import { pullSource } from '../../src/core/pull.js';

const TASKS: (Task | InvalidTask)[] = [
  { id: 't1', input: 'a' },
  { id: 't2', input: 'b' },
  new InvalidTask(
    'line-3',
    new ValidationError({ issues: [], source: 'line 3', message: 'Invalid JSON (line 3)' }),
  ),
  { id: 't4', input: 'c' },
  { id: 't5', input: 'd' },
];

/** t1 answers at once; every other task runs until it is cancelled. */
const agent: Agent = {
  run: (task) => (task.id === 't1' ? of({ type: 'done', text: 'ok', finishReason: 'stop' } as const) : NEVER),
};

function harness() {
  const handlers: (() => void)[] = [];
  const notes: string[] = [];
  const scheduler = new VirtualTimeScheduler();
  const interrupt = (): void => {
    for (const handler of [...handlers]) handler();
  };
  const events$ = drainOnInterrupt(
    () => pullSource(() => TASKS.values()),
    runAgents(agent, { concurrency: 2, retry: false }),
    {
      onInterrupt: (handler) => {
        handlers.push(handler);
        return () => handlers.splice(handlers.indexOf(handler), 1);
      },
      drainTimeoutMs: 5000,
      notify: (message) => notes.push(message),
      scheduler,
    },
  );
  return { events$, interrupt, notes, scheduler, listening: () => handlers.length };
}

function settledOf(events: TaskEvent[]): Map<string, Settled> {
  const results = new Map<string, Settled>();
  for (const event of events) {
    if (event.type !== 'settled') continue;
    expect(results.has(event.taskId), `${event.taskId} settled twice`).toBe(false);
    results.set(event.taskId, event.result);
  }
  return results;
}

function reasonOf(result: Settled | undefined): unknown {
  return result?.status === 'rejected'
    ? [result.error.code, result.error.info, result.attempts]
    : result?.status;
}

describe('drainOnInterrupt', () => {
  it('without an interrupt, passes the run through and reads the tasks only once', async () => {
    let opened = 0;
    const events = await lastValueFrom(
      drainOnInterrupt(
        () =>
          pullSource(() => {
            opened++;
            return TASKS.slice(0, 1).values();
          }),
        runAgents(agent),
        { onInterrupt: () => () => undefined, drainTimeoutMs: 1, notify: () => undefined },
      ).pipe(toArray()),
    );
    expect(events.map((event) => event.type)).toEqual(['started', 'settled']);
    expect(reasonOf(settledOf(events).get('t1'))).toBe('fulfilled');
    expect(opened).toBe(1);
  });

  it('on the first interrupt starts nothing new and settles every task left as cancelled, exactly once', async () => {
    const { events$, interrupt, notes, scheduler, listening } = harness();
    let started = 0;
    const events = await lastValueFrom(
      events$.pipe(
        tap((event) => {
          // Both slots are taken (t1 done, t2 running forever): interrupt, then let the deadline pass.
          if (event.type === 'started' && ++started === 2) {
            interrupt();
            scheduler.flush();
          }
        }),
        toArray(),
      ),
    );
    const results = settledOf(events);
    expect([...results.keys()].sort()).toEqual(['line-3', 't1', 't2', 't4', 't5']);
    expect(reasonOf(results.get('t1'))).toBe('fulfilled');
    expect(reasonOf(results.get('t2'))).toEqual([
      'E_CANCELLED',
      { reason: 'drain-deadline', taskId: 't2' },
      1,
    ]);
    expect(reasonOf(results.get('line-3'))).toEqual(['E_VALIDATION', { issues: [], source: 'line 3' }, 0]);
    expect(reasonOf(results.get('t4'))).toEqual(['E_CANCELLED', { reason: 'closed', taskId: 't4' }, 0]);
    expect(reasonOf(results.get('t5'))).toEqual(['E_CANCELLED', { reason: 'closed', taskId: 't5' }, 0]);
    expect(notes).toEqual([
      'draining: no new tasks start, 1 running may finish within 5s (Ctrl-C again to stop now)',
      'drain deadline passed: cancelling the 1 running task(s)',
    ]);
    expect(listening()).toBe(0);
  });

  it('on a second interrupt cancels the running tasks at once, without waiting for the deadline', async () => {
    const { events$, interrupt, notes } = harness();
    let started = 0;
    const events = await lastValueFrom(
      events$.pipe(
        tap((event) => {
          if (event.type === 'started' && ++started === 2) {
            interrupt();
            interrupt();
          }
        }),
        toArray(),
      ),
    );
    const results = settledOf(events);
    expect(results.size).toBe(5);
    expect(reasonOf(results.get('t2'))).toEqual(['E_CANCELLED', { reason: 'closed', taskId: 't2' }, 1]);
    const t2 = results.get('t2');
    expect(t2?.status === 'rejected' ? t2.error.message : t2).toBe(
      'Task "t2" was cancelled: interrupted twice',
    );
    expect(notes.at(-1)).toBe('interrupted again: cancelling the 1 running task(s) now');
  });
});
