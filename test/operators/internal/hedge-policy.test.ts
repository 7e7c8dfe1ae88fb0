import { describe, expect, it } from 'vitest';
import { FirstTokenTimes, samplesFor } from '../../../src/operators/internal/hedge-policy.js';

describe('FirstTokenTimes', () => {
  it('tells no percentile until enough times are measured that it is not merely the slowest', () => {
    expect([samplesFor(0.5), samplesFor(0.95), samplesFor(0.99), samplesFor(0.999)]).toEqual([
      20, 20, 100, 1_000,
    ]);
    const times = new FirstTokenTimes(0.99);
    for (let i = 1; i <= 99; i++) times.add(i);
    expect(times.percentile).toBeUndefined();
    times.add(100);
    // Nearest rank: the 99th of 100.
    expect(times.percentile).toBe(99);
  });

  it('keeps the last 1,000 times, and works the percentile out afresh once a twentieth of them is new', () => {
    const times = new FirstTokenTimes(0.5);
    for (let i = 0; i < 1_000; i++) times.add(10);
    expect(times.percentile).toBe(10);
    for (let i = 0; i < 49; i++) times.add(1_000);
    expect(times.percentile).toBe(10);
    for (let i = 0; i < 500; i++) times.add(1_000);
    // 549 of the last 1,000 are slow now: the median moved.
    expect(times.percentile).toBe(1_000);
  });
});
