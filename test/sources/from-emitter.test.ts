import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { InvalidTask } from '../../src/core/invalid-task.js';
import type { Task } from '../../src/core/types.js';
import { fromEmitter } from '../../src/sources/from-emitter.js';

describe('fromEmitter', () => {
  it('turns strings and task objects into tasks, bad payloads into InvalidTask, and ends on endEvent', () => {
    const emitter = new EventEmitter();
    const seen: (Task | InvalidTask)[] = [];
    let completed = false;
    fromEmitter(emitter, 'prompt', { endEvent: 'end', id: (p) => `id-${p}` }).subscribe({
      next: (t) => seen.push(t),
      complete: () => (completed = true),
    });
    emitter.emit('prompt', 'hello');
    emitter.emit('prompt', { id: 'b', input: 'x', priority: 2 });
    emitter.emit('prompt', { id: 'c' });
    emitter.emit('end');
    emitter.emit('prompt', 'late');
    expect(seen.slice(0, 2)).toEqual([
      { id: 'id-hello', input: 'hello' },
      { id: 'b', input: 'x', priority: 2 },
    ]);
    const invalid = seen[2];
    expect(invalid).toBeInstanceOf(InvalidTask);
    expect(invalid).toMatchObject({
      taskId: 'event-3',
      error: { code: 'E_VALIDATION', info: { source: 'event 3' } },
    });
    expect(seen).toHaveLength(3);
    expect(completed).toBe(true);
    expect(emitter.listenerCount('prompt')).toBe(0);
  });

  it('removes its listeners when unsubscribed, and checks its arguments', () => {
    const emitter = new EventEmitter();
    const sub = fromEmitter(emitter, 'prompt', { endEvent: 'end' }).subscribe();
    expect(emitter.listenerCount('prompt')).toBe(1);
    sub.unsubscribe();
    expect(emitter.listenerCount('prompt') + emitter.listenerCount('end')).toBe(0);
    expect(() => fromEmitter({} as unknown as EventEmitter, 'x')).toThrow(
      'Expected `emitter` to be an EventEmitter, got an object',
    );
  });
});
