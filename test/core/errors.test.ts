import { describe, expect, it } from 'vitest';
import { ERROR_CLASSES } from '../../src/core/errors/error-from-json.js';
import {
  BudgetExhaustedError,
  CancelledError,
  CycleError,
  DependencyFailedError,
  DuplicateIdError,
  ForbiddenError,
  LimitError,
  MaxStepsError,
  MissingDependencyError,
  NoResultError,
  ProtocolError,
  ProviderError,
  QueueFullError,
  RateLimitError,
  RefusalError,
  RxAgentError,
  StoreUnavailableError,
  TimeoutError,
  UnknownToolError,
  ValidationError,
  WorkerError,
  errorFromJSON,
  toRxAgentError,
  type AnyRxAgentError,
  type ErrorCode,
} from '../../src/core/errors/index.js';
import { parseTask } from '../../src/core/schemas.js';

const cause = new Error('socket hang up');

// One error per code with every optional field set, so a field the JSON schema forgot would be noticed.
const samples: { readonly [C in ErrorCode]: AnyRxAgentError & { readonly code: C } } = {
  E_TIMEOUT: new TimeoutError({ limit: 'each', ms: 50, seen: 2, pool: { running: 1, waiting: 3 }, cause }),
  E_QUEUE_FULL: new QueueFullError({ taskId: 't', queueLimit: 1, overflow: 'drop-oldest' }),
  E_RATE_LIMITED: new RateLimitError({ limit: 'requests', retryAfterMs: 1_500, status: 429 }),
  E_BUDGET_EXHAUSTED: new BudgetExhaustedError({
    reason: 'exceeds-capacity',
    limit: 'tokens',
    requested: 2_000,
    capacity: 1_000,
  }),
  E_PROVIDER: new ProviderError({
    status: 503,
    type: 'server_error',
    code: 'overloaded',
    requestId: 'req_1',
    chunks: 2,
    partialText: 'Hel',
  }),
  E_REFUSED: new RefusalError({
    reason: 'content-filter',
    refusal: '',
    model: 'gpt-4o',
    partialText: 'Once',
  }),
  E_CANCELLED: new CancelledError({ reason: 'client-cancel', taskId: 't' }),
  E_VALIDATION: new ValidationError({
    issues: [{ code: 'custom', path: ['id'], input: 1, message: 'Expected a string' }],
    source: 'line 3',
    bytes: 10,
    maxLineBytes: 8,
  }),
  E_DEPENDENCY_FAILED: new DependencyFailedError({ nodeId: 'c', dependency: 'b', failed: 'a' }),
  E_CYCLE: new CycleError({ nodeId: 'a', cycle: ['a', 'b'] }),
  E_MISSING_DEPENDENCY: new MissingDependencyError({ nodeId: 'a', missing: ['x', 'y'] }),
  E_DUPLICATE_ID: new DuplicateIdError({
    kind: 'task',
    id: 't',
    entries: ['2-0'],
    resultId: '1-1',
    firstEntries: ['1-0'],
  }),
  E_UNKNOWN_TOOL: new UnknownToolError({ nodeId: 'a', tool: 'fly', known: ['walk'] }),
  E_MAX_STEPS: new MaxStepsError({ taskId: 't', maxSteps: 3, pendingTools: ['search'] }),
  E_NO_RESULT: new NoResultError({ taskId: 't' }),
  E_WORKER: new WorkerError({ thrown: 'TypeError', message: 'x is not a function', cause }),
  E_PROTOCOL: new ProtocolError({ problem: 'unknown-task', taskId: 't' }),
  E_FORBIDDEN: new ForbiddenError({ action: 'cancel', owner: 'bob' }),
  E_LIMIT: new LimitError({ limit: 'watchedPerSocket', used: 10, max: 10 }),
  E_STORE_UNAVAILABLE: new StoreUnavailableError({ downForMs: 400, waitMs: 300, cause }),
};

describe('errors', () => {
  it.each(Object.entries(samples))('%s: one class, its code, and a JSON round trip', (code, error) => {
    expect(error).toBeInstanceOf(RxAgentError);
    expect(error).toBeInstanceOf(ERROR_CLASSES[code as ErrorCode]);
    expect(error.code).toBe(code);
    expect(error.name).toBe(ERROR_CLASSES[code as ErrorCode].name);
    expect(error.message).not.toBe('');
    const json: unknown = JSON.parse(JSON.stringify(error));
    const back = errorFromJSON(json as ReturnType<typeof error.toJSON>);
    expect(back).toBeInstanceOf(ERROR_CLASSES[code as ErrorCode]);
    expect(back.toJSON()).toEqual(json);
    expect(back.cause).toBeUndefined();
  });

  it('take one object: info fields, `message` and `cause`, with cause kept out of info', () => {
    const error = new TimeoutError({ limit: 'first', ms: 5, seen: 0, message: 'late', cause });
    expect(error.message).toBe('late');
    expect(error.cause).toBe(cause);
    expect(error.info).toEqual({ limit: 'first', ms: 5, seen: 0 });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'TimeoutError',
      code: 'E_TIMEOUT',
      message: 'late',
      retryable: true,
      info: { limit: 'first', ms: 5, seen: 0 },
    });
    for (const sample of Object.values(samples)) expect(Object.keys(sample.info)).not.toContain('cause');
    expect(Object.hasOwn(new TimeoutError({ limit: 'total', ms: 5, seen: 0 }), 'cause')).toBe(false);
  });

  it('build their default message from their fields', () => {
    expect(samples.E_TIMEOUT.message).toBe(
      'No event for 50ms after 2 events (pool had 1 running, 3 waiting)',
    );
    expect(samples.E_BUDGET_EXHAUSTED.message).toBe(
      "A request of 2000 tokens exceeds the budget's limit of 1000 per minute and can never be granted",
    );
    expect(new BudgetExhaustedError({ reason: 'max-total-cost', maxTotalCost: 1, spent: 1.25 }).message).toBe(
      'Budget spent: 1.2500 of the `maxTotalCost` of 1 dollars; nothing new starts',
    );
    expect(samples.E_CYCLE.message).toBe('Node "a" is in a dependency cycle: a → b');
    expect(samples.E_DEPENDENCY_FAILED.message).toBe(
      'Node "c" was skipped: its dependency "b" did not complete (node "a" failed)',
    );
    expect(
      new DependencyFailedError({ nodeId: 'b', dependency: 'a', failed: 'a', cause: new Error('boom') })
        .message,
    ).toBe('Node "b" was skipped: its dependency "a" did not complete (boom)');
    expect(new DuplicateIdError({ kind: 'node', id: 'a' }).message).toBe(
      'Duplicate plan node id "a"; the first node keeps it',
    );
    expect(new DuplicateIdError({ kind: 'tool-call', id: 'call_1' }).message).toBe(
      'Duplicate tool call id "call_1"',
    );
    expect(samples.E_FORBIDDEN.message).toBe('This identity may not cancel tasks of "bob"');
    expect(samples.E_LIMIT.message).toBe(
      'Too many watches: this socket watches 10 and may watch 10; nothing was added',
    );
    expect(samples.E_STORE_UNAVAILABLE.message).toBe(
      'Redis has been unreachable for 400ms, longer than `unavailable.waitMs` (300ms): socket hang up',
    );
    expect(samples.E_PROVIDER.message).toBe('Provider answered 503 (server_error)');
  });

  it('derive retryability from their fields', () => {
    const retryable = Object.entries(samples)
      .filter(([, error]) => error.retryable)
      .map(([code]) => code);
    expect(retryable).toEqual(['E_TIMEOUT', 'E_RATE_LIMITED', 'E_PROVIDER', 'E_STORE_UNAVAILABLE']);
    const budget = (reason: 'max-total-cost' | 'store-unavailable'): boolean =>
      new BudgetExhaustedError(
        reason === 'store-unavailable' ? { reason } : { reason, maxTotalCost: 1, spent: 1 },
      ).retryable;
    expect([budget('max-total-cost'), budget('store-unavailable')]).toEqual([false, true]);
    const provider = (info: ConstructorParameters<typeof ProviderError>[0]): boolean =>
      new ProviderError(info).retryable;
    expect([408, 409, 429, 500, 503, 400, 401, 404].map((status) => [status, provider({ status })])).toEqual([
      [408, true],
      [409, true],
      [429, true],
      [500, true],
      [503, true],
      [400, false],
      [401, false],
      [404, false],
    ]);
    expect(provider({ type: 'connection' })).toBe(true);
    expect(provider({ status: 429, type: 'insufficient_quota' })).toBe(false);
    expect(provider({ status: 429, type: 'request_too_large' })).toBe(false);
    expect(provider({ status: 500, retryable: false })).toBe(false);
  });

  it('rebuild a provider error with the retryability its provider asked for', () => {
    const told = new ProviderError({ status: 400, retryable: true });
    const back = errorFromJSON(told.toJSON());
    expect(back).toBeInstanceOf(ProviderError);
    expect(back.retryable).toBe(true);
  });

  it('rebuild an unknown code, or info that does not fit its class, as a WorkerError keeping the message', () => {
    const future = { name: 'FutureError', code: 'E_FUTURE', message: 'from a newer version', info: {} };
    const unknown = errorFromJSON(future);
    expect(unknown).toBeInstanceOf(WorkerError);
    expect(unknown).toMatchObject({ code: 'E_WORKER', message: 'from a newer version', cause: future });
    expect(unknown.info).toEqual({ thrown: 'FutureError' });
    const bad = { code: 'E_TIMEOUT', message: 'late', info: { limit: 'never' } };
    expect(errorFromJSON(bad)).toMatchObject({
      code: 'E_WORKER',
      message: 'late',
      info: { thrown: 'E_TIMEOUT' },
    });
  });

  it('wraps anything thrown, keeping the cause', () => {
    const wrapped = toRxAgentError(new TypeError('boom'));
    expect(wrapped).toBeInstanceOf(WorkerError);
    expect(wrapped).toMatchObject({ code: 'E_WORKER', message: 'boom', info: { thrown: 'TypeError' } });
    expect(wrapped.cause).toBeInstanceOf(TypeError);
    expect(toRxAgentError('text')).toMatchObject({
      message: 'Non-error thrown: text',
      info: { thrown: 'string' },
    });
    expect(toRxAgentError(null).info).toEqual({ thrown: 'null' });
    expect(toRxAgentError(wrapped)).toBe(wrapped);
  });
});

describe('parseTask', () => {
  it('accepts a valid task and refuses unknown keys with zod issues', () => {
    expect(parseTask({ id: 'a', input: 'hi' })).toEqual({ success: true, data: { id: 'a', input: 'hi' } });
    const bad = parseTask({ id: 'a', input: 'hi', extra: 1 }, 'line 3');
    expect(bad.success).toBe(false);
    if (bad.success) return;
    expect(bad.error.code).toBe('E_VALIDATION');
    expect(bad.error.info.source).toBe('line 3');
    expect(bad.error.info.issues[0]?.code).toBe('unrecognized_keys');
    expect(bad.error.message).toContain('line 3');
  });
});
