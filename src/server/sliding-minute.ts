import type { SchedulerLike } from 'rxjs';
import { Deque } from '../core/deque.js';

const MINUTE_MS = 60_000;

/** Tokens spent over the last minute, summed in O(1) amortised per entry: the gateway's and each client's. */
export class SlidingMinute {
  readonly #scheduler: SchedulerLike;
  readonly #entries = new Deque<{ readonly at: number; readonly tokens: number }>();
  #sum = 0;

  constructor(scheduler: SchedulerLike) {
    this.#scheduler = scheduler;
  }

  add(tokens: number): void {
    if (tokens <= 0) return;
    this.#entries.push({ at: this.#scheduler.now(), tokens });
    this.#sum += tokens;
  }

  /** Tokens spent within the last 60 s. */
  total(): number {
    const horizon = this.#scheduler.now() - MINUTE_MS;
    for (
      let oldest = this.#entries.peek();
      oldest !== undefined && oldest.at <= horizon;
      oldest = this.#entries.peek()
    ) {
      this.#sum -= oldest.tokens;
      this.#entries.shift();
    }
    return this.#sum;
  }

  /** Time until the oldest spending leaves the window, or `undefined` when nothing is in it. */
  msUntilOldestLeaves(): number | undefined {
    this.total();
    const oldest = this.#entries.peek();
    return oldest === undefined ? undefined : Math.max(1, oldest.at + MINUTE_MS - this.#scheduler.now());
  }
}
