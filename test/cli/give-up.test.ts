import { describe, expect, it } from 'vitest';
import { giveUpOnHopelessFailures } from '../../src/cli/give-up.js';
import { CancelledError, ProviderError, TimeoutError } from '../../src/core/errors/index.js';
import type { RxAgentError } from '../../src/core/errors/index.js';
import type { TaskEvent } from '../../src/core/types.js';

const unauthorized = (): ProviderError =>
  new ProviderError({ status: 401, message: 'Provider answered 401: Incorrect API key provided.' });

function failed(taskId: string, error: RxAgentError, attempts = 1): TaskEvent {
  return { type: 'settled', taskId, result: { status: 'rejected', taskId, error, attempts, durationMs: 1 } };
}

const fulfilled = (taskId: string): TaskEvent => ({
  type: 'settled',
  taskId,
  result: {
    status: 'fulfilled',
    taskId,
    value: 'ok',
    usage: { inputTokens: 1, outputTokens: 1 },
    attempts: 1,
    durationMs: 1,
  },
});

/** What the checker answers for each event in turn. */
function answers(events: TaskEvent[]): (string | undefined)[] {
  const check = giveUpOnHopelessFailures(3);
  return events.map((event) => check(event)?.message);
}

describe('giveUpOnHopelessFailures', () => {
  it('answers the cause once the first three tasks that ran met the same hopeless failure', () => {
    const message = unauthorized().message;
    expect(
      answers([
        { type: 'started', taskId: 'a', waitMs: 0 },
        failed('q', new CancelledError({ reason: 'closed' }), 0),
        failed('a', unauthorized()),
        failed('b', unauthorized()),
        failed('c', unauthorized()),
        failed('d', unauthorized()),
      ]),
    ).toEqual([undefined, undefined, undefined, undefined, message, undefined]);
  });

  it.each<[string, TaskEvent]>([
    ['a success', fulfilled('b')],
    [
      'another message',
      failed('b', new ProviderError({ status: 403, message: 'Provider answered 403: no' })),
    ],
    ['a failure waiting may cure', failed('b', new ProviderError({ status: 500, message: 'x' }))],
    ['a timeout', failed('b', new TimeoutError({ limit: 'total', ms: 1, seen: 0 }))],
  ])('is disarmed for good by %s among the first', (_, second) => {
    const rest = Array.from({ length: 5 }, (_, i) => failed(`r${i}`, unauthorized()));
    expect(answers([failed('a', unauthorized()), second, ...rest]).every((a) => a === undefined)).toBe(true);
  });

  it('counts an exhausted quota, a missing model and an unreachable server as hopeless', () => {
    for (const error of [
      new ProviderError({ status: 429, type: 'insufficient_quota', message: 'quota' }),
      new ProviderError({ status: 404, message: 'Provider answered 404: The model `x` does not exist.' }),
      new ProviderError({ type: 'connection', message: 'Could not reach the provider: ECONNREFUSED' }),
    ]) {
      expect(answers([failed('a', error), failed('b', error), failed('c', error)])[2]).toBe(error.message);
    }
  });
});
