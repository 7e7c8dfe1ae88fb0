import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Deque } from '../../../src/core/deque.js';
import { PriorityQueue } from '../../../src/operators/internal/priority-queue.js';

interface Item {
  readonly order: number;
  readonly priority: number;
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), priority: fc.integer({ min: -2, max: 2 }) }),
  fc.record({ kind: fc.constant('shift' as const) }),
  fc.record({ kind: fc.constant('shiftOldest' as const) }),
);

describe('PriorityQueue', () => {
  it('behaves like a sorted list: highest priority first, arrival order among equals', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const queue = new PriorityQueue<Item>((item) => item.order);
        let model: Item[] = [];
        let order = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const item = { order: order++, priority: o.priority };
            queue.push(item, o.priority);
            model.push(item);
          } else if (o.kind === 'shift') {
            const best = model.reduce<Item | undefined>(
              (b, x) => (b === undefined || x.priority > b.priority ? x : b),
              undefined,
            );
            model = model.filter((x) => x !== best);
            expect(queue.shift()).toBe(best);
          } else {
            const oldest = model[0];
            model = model.slice(1);
            expect(queue.shiftOldest()).toBe(oldest);
          }
          expect(queue.size).toBe(model.length);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('Deque', () => {
  it('is FIFO across growth and wrap-around', () => {
    const deque = new Deque<number>();
    const expected: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round * 3; i++) {
        deque.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < round * 2; i++) expect(deque.shift()).toBe(expected.shift());
      expect(deque.size).toBe(expected.length);
      expect(deque.peek()).toBe(expected[0]);
    }
    while (expected.length > 0) expect(deque.shift()).toBe(expected.shift());
    expect(deque.shift()).toBeUndefined();
  });
});
