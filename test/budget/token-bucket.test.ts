import { describe, expect, it } from 'vitest';
import {
  adjust,
  advance,
  available,
  coolDown,
  initialState,
  limitSpec,
  liveLog,
  resync,
  take,
  waitFor,
} from '../../src/budget/token-bucket.js';

describe('token bucket arithmetic', () => {
  const sliding = limitSpec('tokens', 60_000, { burstMs: 1_000, sliding: true });
  const bucket = limitSpec('tokens', 60_000, { burstMs: 1_000, sliding: false });

  it('leaves room for the burst in bucket mode and refills at the full rate with a log', () => {
    expect(sliding).toMatchObject({ capacity: 1000, ratePerMs: 1 });
    // capacity + 60 s · rate = limit: no 60 s window holds more than the limit.
    expect(bucket.capacity + 60_000 * bucket.ratePerMs).toBeCloseTo(60_000);
  });

  it('refills continuously up to the capacity', () => {
    const start = take(sliding, initialState(sliding, 0), 1000, 0, 'a');
    expect(advance(sliding, start, 250).level).toBe(250);
    expect(advance(sliding, start, 5_000).level).toBe(1000);
  });

  it('lets a request larger than the burst through from a full bucket, in debt', () => {
    const full = initialState(sliding, 0);
    expect(waitFor(sliding, full, 5_000, 0)).toBe(0);
    const debt = take(sliding, full, 5_000, 0, 'big');
    expect(debt.level).toBe(-4_000);
    expect(waitFor(sliding, debt, 1_000, 0)).toBe(5_000);
    expect(waitFor(sliding, full, 60_001, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('waits for the oldest grants to slide out of the window', () => {
    let state = initialState(sliding, 0);
    for (let t = 0; t < 60; t++)
      state = take(sliding, advance(sliding, state, t * 1000), 1000, t * 1000, `r${t}`);
    const at = 59_999;
    state = advance(sliding, state, at);
    expect(available(sliding, state)).toBe(0);
    expect(waitFor(sliding, state, 1_500, at)).toBe(61_000 - at);
  });

  it('refunds into the bucket and the log entry, charges into both', () => {
    // Each function takes over the state's log: only the latest state is used from here on.
    const state = take(sliding, initialState(sliding, 0), 800, 0, 'a');
    const refunded = adjust(sliding, state, 'a', -500, 0);
    expect(refunded.level).toBe(700);
    expect(liveLog(refunded)).toEqual([{ at: 0, amount: 300, id: 'a' }]);
    expect(refunded.used).toBe(300);
    const charged = adjust(sliding, refunded, 'a', 400, 10);
    expect(charged.level).toBe(300);
    expect(liveLog(charged).map((e) => e.amount)).toEqual([300, 400]);
    const refundedAgain = adjust(sliding, charged, 'a', -500, 20);
    expect(liveLog(refundedAgain).map((e) => e.amount)).toEqual([0, 200]);
    expect(refundedAgain.used).toBe(200);
  });

  it('keeps its running sum equal to the entries in the window, at any log size', () => {
    let state = initialState(sliding, 0);
    for (let t = 0; t < 5_000; t++) {
      state = take(sliding, advance(sliding, state, t * 20), 10, t * 20, `r${t}`);
      if (t % 3 === 0) state = adjust(sliding, state, `r${t}`, -4, t * 20);
    }
    state = advance(sliding, state, 100_000);
    const live = liveLog(state);
    expect(state.used).toBeCloseTo(
      live.reduce((sum, e) => sum + e.amount, 0),
      6,
    );
    expect(live.every((e) => e.at + 60_000 > 100_000)).toBe(true);
    expect(state.byId.size).toBe(live.length);
  });

  it('keeps the later of two cooldowns', () => {
    const cooled = coolDown(coolDown(initialState(sliding, 0), 9_000), 5_000);
    expect(waitFor(sliding, cooled, 1, 0)).toBe(9_000);
    expect(waitFor(sliding, cooled, 0, 0)).toBe(0);
  });

  it('takes in usage the provider saw from others, expiring at its reset', () => {
    const state = resync(
      sliding,
      initialState(sliding, 0),
      { remaining: 10_000, providerLimit: 60_000, resetMs: 20_000 },
      0,
    );
    expect(liveLog(state)).toEqual([{ at: -40_000, amount: 50_000 }]);
    expect(waitFor(sliding, state, 11_000, 0)).toBe(20_000);
    // A report that knows less than the budget changes nothing.
    const busy = take(sliding, initialState(sliding, 0), 1000, 0, 'a');
    expect(
      liveLog(resync(sliding, busy, { remaining: 59_500, providerLimit: 60_000, resetMs: 1 }, 0)),
    ).toHaveLength(1);
  });
});
