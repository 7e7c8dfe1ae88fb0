import { describe, expect, it } from 'vitest';
import { DrainLoop } from '../../src/core/drain-loop.js';

describe('DrainLoop', () => {
  it('folds calls made during a pass into another pass instead of recursing', () => {
    const order: string[] = [];
    let queue = ['a', 'b'];
    const loop = new DrainLoop(() => {
      const taken = queue;
      queue = [];
      for (const item of taken) {
        order.push(`start ${item}`);
        // A callback that adds work and asks again, on the same stack.
        if (item === 'a') {
          queue.push('c');
          expect(loop.run()).toBe(false);
          expect(loop.running).toBe(true);
        }
        order.push(`end ${item}`);
      }
    });
    expect(loop.run()).toBe(true);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(loop.running).toBe(false);
  });

  it('handles 100,000 synchronous re-entries without growing the stack', () => {
    let left = 100_000;
    const loop = new DrainLoop(() => {
      if (left-- > 0) loop.run();
    });
    loop.run();
    expect(left).toBe(-1);
  });

  it('is usable again after a step throws', () => {
    let fail = true;
    const loop = new DrainLoop(() => {
      if (fail) throw new Error('step failed');
    });
    expect(() => loop.run()).toThrow('step failed');
    fail = false;
    expect(loop.run()).toBe(true);
  });
});
