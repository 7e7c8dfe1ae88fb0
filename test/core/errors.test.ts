import { describe, expect, it } from 'vitest';
import {
  BudgetExhaustedError,
  CancelledError,
  QueueFullError,
  RateLimitError,
  RxAgentError,
  TimeoutError,
  ValidationError,
  toRxAgentError,
} from '../../src/core/errors.js';
import { parseTask } from '../../src/core/schemas.js';

describe('errors', () => {
  it('carry a stable code, structured info and retryability', () => {
    const rate = new RateLimitError('slow down', { limit: 'tokens', retryAfterMs: 90_000 });
    expect(rate).toBeInstanceOf(RxAgentError);
    expect(rate.code).toBe('E_RATE_LIMITED');
    expect(rate.retryAfterMs).toBe(90_000);
    expect(rate.limit).toBe('tokens');
    expect(rate.retryable).toBe(true);
    const full = new QueueFullError('full', { taskId: 't', queueLimit: 1, overflow: 'reject' });
    expect(full.retryable).toBe(false);
    expect(JSON.parse(JSON.stringify(new TimeoutError('late', { limit: 'first', ms: 5, seen: 0 })))).toEqual({
      name: 'TimeoutError',
      code: 'E_TIMEOUT',
      message: 'late',
      retryable: true,
      info: { limit: 'first', ms: 5, seen: 0 },
    });
  });

  it('keep the error they were caused by, when given one', () => {
    const cause = new Error('socket hang up');
    const errors = [
      new TimeoutError('late', { limit: 'total', ms: 5, seen: 0 }, { cause }),
      new QueueFullError('full', { taskId: 't', queueLimit: 1, overflow: 'reject' }, { cause }),
      new BudgetExhaustedError('spent', { reason: 'store-unavailable' }, { cause }),
      new CancelledError('gone', { reason: 'closed' }, { cause }),
      new ValidationError('bad', { issues: [] }, { cause }),
    ];
    for (const error of errors) expect(error.cause).toBe(cause);
    expect(Object.hasOwn(new TimeoutError('late', { limit: 'total', ms: 5, seen: 0 }), 'cause')).toBe(false);
  });

  it('wraps anything thrown, keeping the cause', () => {
    const cause = new Error('boom');
    const wrapped = toRxAgentError(cause);
    expect(wrapped.code).toBe('E_WORKER');
    expect(wrapped.cause).toBe(cause);
    expect(toRxAgentError('text').message).toBe('Non-error thrown: text');
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
