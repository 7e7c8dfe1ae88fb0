import type { Budget } from '../../budget/create-budget.js';
import { describe, expectConfig, expectKnownKeys } from '../../core/validate.js';
import type { HedgeConfig } from '../run-agents.js';

/** `hedge` checked, with its defaults, and the budget whose cooldown holds hedges back. */
export interface HedgePolicy {
  /** The hedge delay: fixed milliseconds, or a percentile (0 to 1) of recent times to first token. */
  readonly after: { readonly ms: number } | { readonly percentile: number };
  readonly maxExtra: number;
  readonly budget: Budget | undefined;
}

/** The most hedges a quiet spell saves up for a burst of slow requests. */
export const HEDGE_BURST = 10;

/** Times to first token kept for the percentile: the most recent ones. */
const WINDOW = 1_000;

/** The fewest measured times a percentile is read from, so that it is not merely the slowest one seen. */
export function samplesFor(percentile: number): number {
  // Less a hair, as 1 / (1 - 0.99) is 100.00000000000009 in floating point.
  return Math.max(20, Math.ceil(1 / (1 - percentile) - 1e-9));
}

const PERCENTILE = /^p(\d+(?:\.\d+)?)$/;

/** Checks `hedge` now, so that `runAgents` fails when created, not on its first task. */
export function hedgePolicy(config: HedgeConfig, budget: Budget | undefined): HedgePolicy {
  expectConfig('hedge', config);
  expectKnownKeys('runAgents `hedge`', config, ['after', 'maxExtra']);
  const after: unknown = config.after ?? 'p95';
  const maxExtra: unknown = config.maxExtra ?? 0.05;
  if (typeof maxExtra !== 'number' || !(maxExtra > 0 && maxExtra <= 1)) {
    throw new TypeError(
      `Expected \`hedge.maxExtra\` to be a share of requests above 0 and at most 1, got ${describe(maxExtra)}`,
    );
  }
  if (typeof after === 'number' && Number.isFinite(after) && after >= 0) {
    return { after: { ms: after }, maxExtra, budget };
  }
  const match = typeof after === 'string' ? PERCENTILE.exec(after) : null;
  const percent = match === null ? Number.NaN : Number(match[1]);
  if (!(percent >= 1 && percent <= 99.9)) {
    throw new TypeError(
      `Expected \`hedge.after\` to be milliseconds (a number from 0) or a percentile of the time to first token from 'p1' to 'p99.9', such as 'p95', got ${describe(after)}`,
    );
  }
  return { after: { percentile: percent / 100 }, maxExtra, budget };
}

/**
 * The time to first token of the pool's recent attempts, measured from when each request went out, and a
 * percentile of it. The percentile is sorted out afresh once a twentieth of the window is new, not on every
 * read: a hedge delay moves with the tail, which takes many requests to move.
 */
export class FirstTokenTimes {
  readonly #samples: number[] = [];
  /** Where the next sample goes once the window is full. */
  #next = 0;
  /** Samples added since the percentile was last worked out. */
  #fresh = 0;
  #percentile: number | undefined;
  readonly #quantile: number;
  readonly #least: number;

  constructor(quantile: number) {
    this.#quantile = quantile;
    this.#least = samplesFor(quantile);
  }

  add(ms: number): void {
    if (this.#samples.length < WINDOW) this.#samples.push(ms);
    else {
      this.#samples[this.#next] = ms;
      this.#next = (this.#next + 1) % WINDOW;
    }
    this.#fresh++;
  }

  /** The percentile (nearest rank), or `undefined` while too few times are known to tell it. */
  get percentile(): number | undefined {
    const count = this.#samples.length;
    if (count < this.#least) return undefined;
    if (this.#percentile === undefined || this.#fresh >= Math.max(1, count / 20)) {
      const sorted = this.#samples.slice().sort((a, b) => a - b);
      this.#percentile = sorted[Math.ceil(this.#quantile * count) - 1];
      this.#fresh = 0;
    }
    return this.#percentile;
  }
}
