/** How many recent runs the input calibration remembers. */
const REMEMBERED = 64;
/**
 * Ratios are kept within these bounds: fixed framing makes a two-token prompt count several times its estimate,
 * and a provider that reports no input (cached, or not reported) says nothing about the estimator; without
 * bounds one such run would make every reservation the whole limit, or nothing, for the next 64.
 */
const MIN_RATIO = 0.5;
const MAX_RATIO = 2;

/**
 * What the provider counted for a run's input against what the estimate said, over the last runs. No
 * estimate is exact — another model's tokenizer, message framing, tool schemas, images — and a budget that
 * runs at the provider's limit is answered 429 by any request it under-counts, however little. So input
 * estimates are scaled by the largest ratio seen recently (counted ÷ estimated, below 1 as well as above
 * when the estimator counts high), which bounds the error of the runs in flight, and each run is then
 * reconciled with its exact count once `usage` reports it.
 */
export class InputCalibration {
  readonly #ratios: number[] = [];
  #next = 0;
  #max: number | undefined;

  /** Records one run: its input as estimated and as the provider counted it. */
  observe(estimated: number, counted: number): void {
    if (!(estimated > 0) || !(counted > 0) || !Number.isFinite(counted)) return;
    const ratio = Math.min(MAX_RATIO, Math.max(MIN_RATIO, counted / estimated));
    if (this.#ratios.length < REMEMBERED) this.#ratios.push(ratio);
    else this.#ratios[this.#next] = ratio;
    this.#next = (this.#next + 1) % REMEMBERED;
    this.#max = Math.max(...this.#ratios);
  }

  /** The input to reserve for an estimate: scaled by the largest recent ratio, the estimate itself before any run. */
  reserve(estimated: number): number {
    // Less a hair, so that float noise (100 × 1.1 = 110.00000000000001) does not add a token.
    return this.#max === undefined ? estimated : Math.ceil(estimated * this.#max - 1e-9);
  }

  /** The largest recent ratio of counted to estimated input, or `undefined` before any run reported usage. */
  get ratio(): number | undefined {
    return this.#max;
  }
}
