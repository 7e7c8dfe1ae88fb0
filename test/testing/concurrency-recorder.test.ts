import { EMPTY, concat, map, mergeMap, of, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, Task, TaskEvent } from '../../src/core/types.js';
import { concurrencyRecorder, recordConcurrency } from '../../src/testing/concurrency-recorder.js';
import { marbleAgent } from '../../src/testing/marble-agent.js';
import { createTestScheduler } from '../../src/testing/test-scheduler.js';

const started = (taskId: string): TaskEvent => ({ type: 'started', taskId, waitMs: 0 });
const settled = (taskId: string): TaskEvent => ({
  type: 'settled',
  taskId,
  result: {
    status: 'fulfilled',
    taskId,
    value: '',
    usage: { inputTokens: 0, outputTokens: 0 },
    attempts: 1,
    durationMs: 0,
  },
});
const events = {
  s: started('1'),
  t: started('2'),
  S: settled('1'),
  T: settled('2'),
  x: settled('never-started'),
  d: { type: 'delta', taskId: '1', seq: 0, text: 'hi' },
} satisfies Record<string, TaskEvent>;

describe('recordConcurrency', () => {
  it('reports every change of the running count with its time, and the peak, on completion', () => {
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold(' -s---t-d--S----T-|', events);
      const sourceSubs = '  ^----------------!';
      expectObservable(recordConcurrency(source)).toBe('-----------------(r|)', {
        r: {
          max: 2,
          samples: [
            { time: 1, running: 1 },
            { time: 5, running: 2 },
            { time: 10, running: 1 },
            { time: 15, running: 0 },
          ],
        },
      });
      expectSubscriptions(source.subscriptions).toBe(sourceSubs);
    });
  });

  it('ignores settled tasks that never started and repeated starts', () => {
    createTestScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-x-s-s-S-x-|', events);
      expectObservable(recordConcurrency(source)).toBe('-----------(r|)', {
        r: {
          max: 1,
          samples: [
            { time: 3, running: 1 },
            { time: 7, running: 0 },
          ],
        },
      });
    });
  });

  it('passes errors on', () => {
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold(' -s-#', events);
      expectObservable(recordConcurrency(source)).toBe('---#');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});

describe('concurrencyRecorder', () => {
  it('rejects bad options at creation', () => {
    expect(() => concurrencyRecorder(3 as never)).toThrow(
      'Expected `options` to be a config object, got 3 (number)',
    );
    expect(() => recordConcurrency(EMPTY, { scheduler: {} as never })).toThrow(
      'Expected `scheduler` to be an RxJS scheduler (such as asyncScheduler), got an object',
    );
  });

  it('passes the events through unchanged and counts them live', () => {
    const recorder = concurrencyRecorder();
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold(' -s-t-S-|', events);
      expectObservable(source.pipe(recorder.record)).toBe('-s-t-S-|', events);
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
    expect(recorder.max).toBe(2);
    expect(recorder.running).toBe(1);
    expect(recorder.samples).toEqual([
      { time: 1, running: 1 },
      { time: 3, running: 2 },
      { time: 5, running: 1 },
    ]);
  });

  it('measures a pool of marble agents: mergeMap with concurrency 2 never runs 3 at once', () => {
    const recorder = concurrencyRecorder();
    const tasks: Task[] = ['a', 'b', 'c', 'd'].map((id) => ({ id, input: id }));
    const toTaskEvent = (taskId: string, event: AgentEvent): TaskEvent =>
      event.type === 'done'
        ? {
            type: 'settled',
            taskId,
            result: {
              status: 'fulfilled',
              taskId,
              value: event.text,
              usage: { inputTokens: 0, outputTokens: 0 },
              attempts: 1,
              durationMs: 0,
            },
          }
        : { type: 'delta', taskId, seq: 0, text: event.type === 'delta' ? event.text : '' };
    const seen: string[] = [];
    const scheduler = createTestScheduler();
    scheduler.run((helpers) => {
      const agent = marbleAgent(helpers, { a: '---x|', b: '-x|', c: '----x|', d: '-x|' });
      const signal = new AbortController().signal;
      const pool$: Observable<TaskEvent> = of(...tasks).pipe(
        mergeMap(
          (t) =>
            concat(
              of(started(t.id)),
              agent.run(t, { signal }).pipe(map((event) => toTaskEvent(t.id, event))),
            ),
          2,
        ),
      );
      pool$.pipe(recorder.record).subscribe((e) => seen.push(`${scheduler.now()}:${e.type}:${e.taskId}`));
    });
    // c starts when b settles at 2, d when a settles at 4: the count touches 2 and never passes it.
    expect(seen).toEqual([
      '0:started:a',
      '0:started:b',
      '1:delta:b',
      '2:settled:b',
      '2:started:c',
      '3:delta:a',
      '4:settled:a',
      '4:started:d',
      '5:delta:d',
      '6:delta:c',
      '6:settled:d',
      '7:settled:c',
    ]);
    expect(recorder.max).toBe(2);
    expect(recorder.samples.map((s) => s.running)).toEqual([1, 2, 1, 2, 1, 2, 1, 0]);
  });
});
